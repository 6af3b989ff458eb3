"""The network plugin's keys through the real config loader: samples, formats and every clear error."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from libcontainer.configfile import parse_config
from libcontainer.errors import ConfigError
from libcontainer_network import plan, schema
from libcontainer_network.config import parse_network
from libcontainer_network.strategies.veth import host_interface_name
from network_harness import LOOPBACK, bridge_network, config_doc

SAMPLES = Path(__file__).resolve().parents[3] / "sample_configs"


def problems(plugins, doc) -> list[str]:
    try:
        parse_config(doc, "c.json", plugins)
    except ConfigError as e:
        return [str(p) for p in e.problems]
    return []


@pytest.mark.parametrize("name", ["attach_to_bridge.json", "minimal.json"])
def test_reference_samples_load_unchanged(plugins, name):
    path = SAMPLES / name
    doc = json.loads(path.read_text())
    config = parse_config(copy.deepcopy(doc), str(path), plugins)
    assert config.sections["networks"] == doc["networks"]


def test_sample_loopback_placeholders_are_accepted_and_ignored():
    net = parse_network(LOOPBACK)
    assert net.addresses()[0].with_prefixlen == "127.0.0.1/0"
    assert net.gateways() == []


def test_2014_and_later_spellings_name_the_same_bridge_and_prefix():
    old = parse_network({"type": "veth", "context": {"bridge": "br0", "prefix": "lct"}})
    new = parse_network({"type": "veth", "bridge": "br0", "veth_prefix": "lct"})
    assert (old.host_bridge, old.host_prefix) == (new.host_bridge, new.host_prefix) == ("br0", "lct")
    assert parse_network({"type": "veth", "bridge": "br0"}).host_prefix == "veth"


def test_netns_name_resolves_under_var_run_netns():
    assert parse_network({"type": "netns", "ns_path": "blue"}).netns_path == "/var/run/netns/blue"
    assert parse_network({"type": "netns", "context": {"nspath": "/proc/1/ns/net"}}).netns_path == "/proc/1/ns/net"


def test_valid_veth_config_has_no_problem(plugins):
    routes = [{"destination": "10.0.0.0/8", "gateway": "198.18.0.1"}, {"destination": "2001:db8:1::/48", "interface_name": "eth0"}]
    doc = config_doc(LOOPBACK, bridge_network("198.18.0.2/24", ipv6_address="2001:db8::2/64", mac_address="02:42:C6:12:00:02"), routes=routes)
    config = parse_config(doc, "c.json", plugins)
    assert config.sections["networks"][1]["mac_address"] == "02:42:c6:12:00:02"


def test_malformed_address_is_refused_naming_the_field(plugins):
    found = problems(plugins, config_doc(bridge_network("198.18.0.300/24")))
    assert found == ["$.networks[0].address: expected an address with a prefix length such as 198.18.0.2/24, got '198.18.0.300/24'"]


def test_address_without_prefix_is_refused(plugins):
    assert problems(plugins, config_doc(bridge_network("198.18.0.2")))[0].startswith("$.networks[0].address: expected an address with a prefix")


def test_malformed_gateway_mac_and_route_are_refused(plugins):
    doc = config_doc(bridge_network("198.18.0.2/24", gateway="gw", mac_address="02:42"),
                     routes=[{"destination": "nowhere", "source": "x"}])
    found = problems(plugins, doc)
    assert "$.networks[0].gateway: expected a gateway IP address such as 198.18.0.1, got 'gw'" in found
    assert "$.networks[0].mac_address: expected a MAC address such as 02:42:c6:12:00:02, got '02:42'" in found
    assert any(p.startswith("$.routes[0].destination: expected an address with a prefix length") for p in found)
    assert "$.routes[0].source: expected an IP address such as 198.18.0.1, got 'x'" in found


def test_too_long_interface_name_is_refused_naming_it(plugins):
    found = problems(plugins, config_doc(bridge_network("198.18.0.2/24", name="lctaveryverylong")))
    assert found == ["$.networks[0].name: interface name 'lctaveryverylong' is longer than 15 characters (IFNAMSIZ)"]


def test_too_long_bridge_and_prefix_are_refused(plugins):
    net = {"type": "veth", "address": "198.18.0.2/24", "bridge": "lctaveryverylongbr", "veth_prefix": "lctprefix"}
    found = problems(plugins, config_doc(net))
    assert "$.networks[0]: bridge name 'lctaveryverylongbr' is longer than 15 characters (IFNAMSIZ)" in found
    assert any("veth prefix 'lctprefix' is longer than 8 characters" in p for p in found)


def test_fifteen_character_name_is_accepted(plugins):
    assert problems(plugins, config_doc(bridge_network("198.18.0.2/24", name="lct456789012345"))) == []


def test_unknown_type_lists_the_known_ones(plugins):
    found = problems(plugins, config_doc({"type": "lctnotatype"}))
    assert found == ["$.networks[0].type: unknown network type 'lctnotatype' (known: loopback, netns, veth)"]


def test_unknown_key_suggests_the_closest(plugins):
    net = bridge_network("198.18.0.2/24")
    net["mac_adress"] = "02:42:c6:12:00:02"
    assert problems(plugins, config_doc(net)) == ["$.networks[0].mac_adress: unknown key for a veth network (did you mean mac_address?)"]


def test_veth_without_bridge_is_refused(plugins):
    net = {"type": "veth", "address": "198.18.0.2/24"}
    assert problems(plugins, config_doc(net)) == ["$.networks[0]: a veth network needs a bridge (bridge, or context.bridge in the 2014 spelling)"]


def test_veth_without_new_network_namespace_is_refused(plugins):
    found = problems(plugins, config_doc(bridge_network("198.18.0.2/24"), newnet=False))
    assert found == ["$.networks[0]: a veth network needs a new network namespace: set namespaces.NEWNET to true"]


def test_gateway_outside_the_address_network_is_refused(plugins):
    found = problems(plugins, config_doc(bridge_network("198.18.0.2/24", gateway="198.19.0.1")))
    assert found == ["$.networks[0].gateway: gateway 198.19.0.1 is outside 198.18.0.0/24: the kernel cannot reach it"]


def test_ipv6_gateway_without_ipv6_address_is_refused(plugins):
    found = problems(plugins, config_doc(bridge_network("198.18.0.2/24", ipv6_gateway="2001:db8::1")))
    assert found == ["$.networks[0].ipv6_gateway: gateway 2001:db8::1 is IPv6 but the network has no IPv6 address"]


def test_small_mtu_with_ipv6_is_refused(plugins):
    found = problems(plugins, config_doc(bridge_network("2001:db8::2/64", gateway=None, mtu=1000)))
    assert found == ["$.networks[0].mtu: mtu 1000 is below 1280, the smallest the addresses allow"]


def test_duplicate_interface_names_are_refused(plugins):
    found = problems(plugins, config_doc(bridge_network("198.18.0.2/24", name="eth1"), bridge_network("198.18.1.2/24", gateway=None)))
    assert found == ["$.networks[1].name: interface name eth1 is already given to networks[0]"]


def test_route_problems_name_the_route(plugins):
    routes = [{"destination": "10.0.0.0/8"}, {"destination": "10.0.0.0/8", "gateway": "2001:db8::1"},
              {"destination": "10.0.0.0/8", "interface_name": "eth7"}]
    found = problems(plugins, config_doc(bridge_network("198.18.0.2/24"), routes=routes))
    assert found == [
        "$.routes[0]: a route needs a gateway or an interface_name",
        "$.routes[1].gateway: 2001:db8::1 is not IPv4 like the destination 10.0.0.0/8",
        "$.routes[2].interface_name: no network gives an interface named eth7 (the container has lo, eth0)",
    ]


def test_routes_without_new_network_namespace_are_refused(plugins):
    doc = {"routes": [{"destination": "10.0.0.0/8", "interface_name": "lo"}]}
    assert problems(plugins, doc) == ["$.routes: routes are added in the container's own network namespace: set namespaces.NEWNET to true"]


def test_netns_network_conflicting_with_a_new_network_namespace_is_refused(plugins):
    found = problems(plugins, config_doc({"type": "netns", "ns_path": "lctblue"}))
    assert found == ["$.networks[0]: joins /var/run/netns/lctblue but namespaces.NEWNET asks a new network namespace: "
                     "drop NEWNET or set it to /var/run/netns/lctblue"]


def test_netns_network_with_the_same_path_in_namespaces_is_accepted(plugins):
    assert problems(plugins, config_doc({"type": "netns", "ns_path": "/var/run/netns/lctblue"}, newnet="/var/run/netns/lctblue")) == []


def test_netns_network_without_path_is_refused(plugins):
    assert problems(plugins, config_doc({"type": "netns"}, newnet=False)) == [
        "$.networks[0]: a netns network needs ns_path (a namespace file, or a name under /var/run/netns)"]


def test_every_problem_is_reported_at_once(plugins):
    doc = config_doc({"type": "veth", "address": "198.18.0.2/24", "name": "lctaveryverylong"}, {"type": "lctnotatype"})
    assert len(problems(plugins, doc)) == 3


def test_default_interface_names_count_interface_networks_only(plugins):
    config = parse_config(config_doc(LOOPBACK, bridge_network("198.18.0.2/24"), bridge_network("198.18.1.2/24", gateway=None)), "c", plugins)
    assert [net.name for _, net, _ in plan(config.sections, plugins.pm.hook)] == [None, "eth0", "eth1"]


def test_host_interface_names_are_unique_and_fit_ifnamsiz():
    names = {host_interface_name("lctveth_") for _ in range(200)}
    assert len(names) == 200
    assert all(n.startswith("lctveth_") and len(n) == 15 for n in names)


@pytest.mark.parametrize("value", ["198.18.0.2/24", "2001:db8::2/64", "127.0.0.1/0"])
def test_cidr_format_keeps_valid_values(value):
    assert schema.check_cidr(value) == value


@pytest.mark.parametrize("value", ["198.18.0.2", "198.18.0.2/33", "lct/24", "", 5])
def test_cidr_format_refuses_bad_values(value):
    with pytest.raises(ValueError, match="expected an address with a prefix length"):
        schema.check_cidr(value)
