"""Loopback-only containers: lo up through ioctl, no other interface, pyroute2 never imported."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from libcontainer_network import ifreq
from network_harness import LOOPBACK, bridge_network, config_doc

pytestmark = pytest.mark.privileged

# Runs in a fresh interpreter in a new network namespace: the whole lifecycle
# of the network hooks for one config, then what the namespace and the
# interpreter look like.
SCRIPT = textwrap.dedent("""
    import json, socket, sys, tempfile
    from pathlib import Path
    from libcontainer.configfile import parse_config
    from libcontainer.context import ContainerContext, Process
    from libcontainer.errors import ContainerError
    from libcontainer.plugins import get_plugin_manager
    from libcontainer_network import ifreq

    plugins = get_plugin_manager()
    doc = json.loads(sys.argv[1])
    config = parse_config(doc, "<test>", plugins)
    error = None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ctx = ContainerContext(config=config, root=root, rootfs=root, id="lctest",
                               process=Process(args=["true"], env=[]))
        active = plugins.active(doc)
        try:
            for hook in ("namespaces", "pre_clone", "container_init", "post_exit"):
                plugins.call("libcontainer_" + hook, active, container=ctx)
        except ContainerError as e:
            error = str(e)
    print(json.dumps({
        "links": [name for _, name in socket.if_nameindex()],
        "lo_up": bool(ifreq.link_flags("lo") & ifreq.IFF_UP),
        "pyroute2": "pyroute2" in sys.modules,
        "error": error,
    }))
""")


def run_lifecycle(doc: dict) -> dict:
    out = subprocess.run(["unshare", "--net", sys.executable, "-c", SCRIPT, json.dumps(doc)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_loopback_only_container_has_only_lo_up_and_no_pyroute2():
    found = run_lifecycle(config_doc(LOOPBACK))
    assert found["error"] is None
    assert found["links"] == ["lo"]
    assert found["lo_up"]
    assert found["pyroute2"] is False


def test_veth_container_imports_pyroute2():
    found = run_lifecycle(config_doc(LOOPBACK, bridge_network("198.18.0.2/24")))
    assert found["pyroute2"] is True
    assert found["error"] == "network: bridge lctbr0 does not exist (networks[1])"


def test_without_a_loopback_network_lo_stays_down():
    found = run_lifecycle({"namespaces": {"NEWNET": True}, "networks": []})
    assert found["links"] == ["lo"]
    assert found["lo_up"] is False


def test_loopback_mtu_is_set(boxes):
    box, hooks = boxes(config_doc(dict(LOOPBACK, mtu=1500)))
    box.inside(hooks, "container_init")
    lo = box.links()["lo"]
    assert lo["mtu"] == 1500 and "UP" in lo["flags"]


def test_loopback_in_a_shared_network_namespace_is_left_alone(boxes):
    # NEWNET false: the namespace is nsinit's, not the container's to change.
    box, hooks = boxes(config_doc(dict(LOOPBACK, mtu=1500), newnet=False))
    box.inside(hooks, "container_init")
    lo = box.links()["lo"]
    assert lo["mtu"] == 65536 and "UP" not in lo["flags"]


def test_set_link_up_on_a_missing_interface_reports_it_by_name(boxes):
    box, _ = boxes(config_doc(LOOPBACK))
    with pytest.raises(Exception, match=r"SIOCGIFFLAGS lctnone: No such device"):
        box.inside(ifreq.set_link_up, "lctnone")
