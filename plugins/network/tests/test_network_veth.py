"""veth networks on a bridge, driven through the hooks in a throwaway host namespace."""

from __future__ import annotations

import json

import pytest

from libcontainer.errors import ContainerError
from network_harness import LOOPBACK, bridge_network, config_doc, start

pytestmark = pytest.mark.privileged


def test_container_on_bridge_pings_the_bridge_address(host, boxes):
    box, hooks = boxes(config_doc(LOOPBACK, bridge_network("198.18.0.2/24")))
    start(host, box, hooks)
    assert box.ping("198.18.0.1")
    assert box.ping("127.0.0.1")


def test_container_without_network_hooks_cannot_ping_the_bridge(host, boxes):
    box, _ = boxes(config_doc(LOOPBACK, bridge_network("198.18.0.2/24")))
    assert not box.ping("198.18.0.1")
    assert list(box.links()) == ["lo"]


def test_two_containers_on_the_bridge_ping_each_other(host, boxes):
    a, hooks_a = boxes(config_doc(bridge_network("198.18.0.2/24")))
    b, hooks_b = boxes(config_doc(bridge_network("198.18.0.3/24")))
    start(host, a, hooks_a)
    start(host, b, hooks_b)
    assert a.ping("198.18.0.3")
    assert b.ping("198.18.0.2")
    assert len(host.veths()) == 2


def test_container_on_another_subnet_cannot_ping(host, boxes):
    a, hooks_a = boxes(config_doc(bridge_network("198.18.0.2/24")))
    b, hooks_b = boxes(config_doc(bridge_network("198.19.0.3/24", gateway=None)))
    start(host, a, hooks_a)
    start(host, b, hooks_b)
    assert not b.ping("198.18.0.2")


def test_host_end_is_named_with_the_prefix_attached_and_up(host, boxes):
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24", mtu=1400)))
    start(host, box, hooks)
    recorded = box.ctx.resources["network"]["host_interfaces"]
    assert host.veths() == recorded
    (name,) = recorded
    assert name.startswith("lct") and len(name) <= 15
    link = host.link(name)
    assert link["master"] == "lctbr0"
    assert "UP" in link["flags"]
    assert link["mtu"] == 1400


def test_mtu_is_set_on_both_ends(host, boxes):
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24", mtu=1400)))
    start(host, box, hooks)
    assert box.links()["eth0"]["mtu"] == 1400
    assert host.link(box.ctx.resources["network"]["host_interfaces"][0])["mtu"] == 1400


def test_mtu_mac_and_txqueuelen_left_out_keep_the_kernel_defaults(host, boxes):
    net = bridge_network("198.18.0.2/24")
    del net["mtu"]
    box, hooks = boxes(config_doc(net))
    start(host, box, hooks)
    eth0 = box.links()["eth0"]
    assert eth0["mtu"] == 1500
    assert eth0["address"] != "02:42:c6:12:00:02"
    assert eth0["txqlen"] == 1000


def test_address_mac_txqueuelen_and_default_gateway_are_set_inside(host, boxes):
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24", mac_address="02:42:C6:12:00:02", txqueuelen=500)))
    start(host, box, hooks)
    eth0 = box.links()["eth0"]
    assert eth0["address"] == "02:42:c6:12:00:02"
    assert eth0["txqlen"] == 500
    assert "UP" in eth0["flags"]
    assert [(a["local"], a["prefixlen"]) for a in eth0["addr_info"] if a["family"] == "inet"] == [("198.18.0.2", 24)]
    default = [r for r in box.routes() if r["dst"] == "default"]
    assert default == [default[0]] and default[0]["gateway"] == "198.18.0.1" and default[0]["dev"] == "eth0"


def test_later_spelling_bridge_and_veth_prefix_is_accepted(host, boxes):
    net = {"type": "veth", "address": "198.18.0.2/24", "gateway": "198.18.0.1", "bridge": "lctbr0", "veth_prefix": "lctv"}
    box, hooks = boxes(config_doc(net))
    start(host, box, hooks)
    assert host.veths()[0].startswith("lctv")
    assert box.ping("198.18.0.1")


def test_several_networks_give_eth0_and_eth1(host, boxes):
    host.add_bridge("lctbr1", "198.18.1.1/24")
    box, hooks = boxes(config_doc(
        LOOPBACK,
        bridge_network("198.18.0.2/24"),
        bridge_network("198.18.1.2/24", bridge="lctbr1", gateway=None),
    ))
    start(host, box, hooks)
    links = box.links()
    assert sorted(links) == ["eth0", "eth1", "lo"]
    assert [a["local"] for a in links["eth1"]["addr_info"] if a["family"] == "inet"] == ["198.18.1.2"]
    assert box.ping("198.18.0.1") and box.ping("198.18.1.1")
    assert len(host.veths()) == 2


def test_one_network_gives_no_eth1(host, boxes):
    host.add_bridge("lctbr1", "198.18.1.1/24")
    # No gateway: otherwise the host (which owns 198.18.1.1) answers through eth0.
    box, hooks = boxes(config_doc(LOOPBACK, bridge_network("198.18.0.2/24", gateway=None)))
    start(host, box, hooks)
    assert sorted(box.links()) == ["eth0", "lo"]
    assert not box.ping("198.18.1.1")


def test_named_interface_replaces_the_default_name(host, boxes):
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24", name="lctin0")))
    start(host, box, hooks)
    assert sorted(box.links()) == ["lctin0", "lo"]


def test_ipv6_address_gateway_and_route(host, boxes):
    net = bridge_network("2001:db8::2/64", gateway="2001:db8::1")
    routes = [{"destination": "2001:db8:99::/48", "gateway": "2001:db8::1", "interface_name": "eth0"}]
    box, hooks = boxes(config_doc(net, routes=routes))
    start(host, box, hooks)
    inet6 = [a["local"] for a in box.links()["eth0"]["addr_info"] if a["family"] == "inet6"]
    assert "2001:db8::2" in inet6
    v6 = {r["dst"]: r for r in box.routes("-6")}
    assert v6["default"]["gateway"] == "2001:db8::1"
    assert v6["2001:db8:99::/48"]["gateway"] == "2001:db8::1"
    assert box.ping("2001:db8::1")


def test_ipv4_only_container_cannot_reach_ipv6(host, boxes):
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24")))
    start(host, box, hooks)
    assert not [a for a in box.links()["eth0"]["addr_info"] if a["family"] == "inet6" and a["scope"] == "global"]
    assert not box.ping("2001:db8::1")


def test_dual_stack_with_ipv6_address_key(host, boxes):
    net = bridge_network("198.18.0.2/24", ipv6_address="2001:db8::2/64", ipv6_gateway="2001:db8::1")
    box, hooks = boxes(config_doc(net))
    start(host, box, hooks)
    assert box.ping("198.18.0.1") and box.ping("2001:db8::1")


def test_routes_are_added_as_configured(host, boxes):
    routes = [
        {"destination": "10.99.0.0/16", "gateway": "198.18.0.1", "interface_name": "eth0"},
        {"destination": "10.98.0.0/16", "interface_name": "eth0", "source": "198.18.0.2"},
    ]
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24"), routes=routes))
    start(host, box, hooks)
    found = {r["dst"]: r for r in box.routes()}
    assert found["10.99.0.0/16"]["gateway"] == "198.18.0.1"
    assert found["10.98.0.0/16"]["dev"] == "eth0" and found["10.98.0.0/16"]["prefsrc"] == "198.18.0.2"


def test_route_via_unreachable_gateway_is_reported(host, boxes):
    routes = [{"destination": "10.99.0.0/16", "gateway": "192.0.2.1"}]
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24"), routes=routes))
    host.run(hooks, "pre_clone", ctx=box.ctx)
    host.run(lambda: hooks("post_clone", pid=box.pid), ctx=box.ctx)
    with pytest.raises(ContainerError, match=r"network: add route 10.99.0.0/16 via 192.0.2.1: Network is unreachable"):
        box.inside(hooks, "container_init")
    assert "10.99.0.0/16" not in {r["dst"] for r in box.routes()}


def test_host_end_is_gone_after_post_exit(host, boxes):
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24")))
    start(host, box, hooks)
    assert len(host.veths()) == 1
    host.run(hooks.cleanup, ctx=box.ctx)
    assert host.veths() == []
    assert list(box.links()) == ["lo"]


def test_host_end_stays_while_the_container_runs(host, boxes):
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24")))
    start(host, box, hooks)
    assert host.veths() == box.ctx.resources["network"]["host_interfaces"]


def test_post_exit_tolerates_a_host_end_already_gone(host, boxes):
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24")))
    start(host, box, hooks)
    host.ip("link", "del", host.veths()[0])
    host.run(hooks.cleanup, ctx=box.ctx)
    assert host.veths() == []


def test_stale_cleanup_from_another_process_removes_the_host_end(host, boxes, plugins):
    from network_harness import Hooks, make_context

    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24")))
    start(host, box, hooks)
    # What a later nsinit knows after a SIGKILLed one: the config and state.json's resources.
    later = make_context(plugins, box.ctx.config.to_dict(), box.ctx.root)
    later.resources = json.loads(json.dumps(box.ctx.resources))
    later.stale = True
    host.run(Hooks(plugins, later).cleanup, ctx=later)
    assert host.veths() == []


def test_missing_bridge_is_refused_before_anything_is_created(host, boxes):
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24", bridge="lctnobr")))
    with pytest.raises(ContainerError, match=r"^network: bridge lctnobr does not exist \(networks\[0\]\)$"):
        host.run(hooks, "pre_clone", ctx=box.ctx)
    assert host.veths() == []
    assert "network" not in box.ctx.resources


def test_interface_that_is_not_a_bridge_is_refused(host, boxes):
    host.ip("link", "add", "lctx0", "type", "veth", "peer", "name", "lctx1")
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24", bridge="lctx0")))
    with pytest.raises(ContainerError, match=r"lctx0 is not a bridge but a veth interface"):
        host.run(hooks, "pre_clone", ctx=box.ctx)


def test_failure_after_a_veth_was_made_is_cleaned_by_post_exit(host, boxes):
    host.add_bridge("lctbr1")
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24"), bridge_network("198.18.1.2/24", bridge="lctbr1", gateway=None)))
    host.run(hooks, "pre_clone", ctx=box.ctx)
    host.ip("link", "del", "lctbr1")  # gone between the check and the creation
    with pytest.raises(ContainerError, match=r"^network: bridge lctbr1 does not exist \(networks\[1\]\)$"):
        host.run(lambda: hooks("post_clone", pid=box.pid), ctx=box.ctx)
    assert len(host.veths()) == 1
    assert host.veths()[0] in box.ctx.resources["network"]["host_interfaces"]
    host.run(hooks.cleanup, ctx=box.ctx)
    assert host.veths() == []


def test_missing_net_admin_is_reported(host, boxes):
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24")))

    def as_nobody():
        import os

        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        return hooks("pre_clone")

    with pytest.raises(ContainerError, match=r"^network: creating host interfaces needs CAP_NET_ADMIN on the host: run nsinit as root$"):
        host.run(as_nobody, ctx=box.ctx)


def test_root_passes_the_net_admin_check(host, boxes):
    box, hooks = boxes(config_doc(bridge_network("198.18.0.2/24")))
    host.run(hooks, "pre_clone", ctx=box.ctx)
    assert host.veths() == []
