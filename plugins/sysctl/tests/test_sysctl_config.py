"""The sysctl key without root: names, values, and which parameters a container's namespaces allow."""

from __future__ import annotations

import pytest

import libcontainer_sysctl
from libcontainer.configfile import parse_config
from libcontainer.errors import ConfigError
from libcontainer.plugins import get_plugin_manager
from libcontainer_sysctl import rules

ALL_NEW = {"NEWNET": True, "NEWIPC": True, "NEWUTS": True, "NEWNS": True}


def load(section, namespaces=ALL_NEW):
    import libcontainer_namespaces

    plugins = get_plugin_manager(extra=[("sysctl", libcontainer_sysctl), ("namespaces", libcontainer_namespaces)],
                                 entry_points=False)
    return parse_config({"namespaces": namespaces, "sysctl": section}, "<test>", plugins)


def problems(section, namespaces=ALL_NEW) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(section, namespaces)
    return [f"{p.path}: {p.message}" for p in info.value.problems]


def test_values_become_text_and_keys_stay_as_written():
    config = load({"net.ipv4.ip_forward": 1, "kernel.shmmax": "65536", "net/ipv4/conf/eth0.100/forwarding": "0",
                   "fs.mqueue.msg_max": "20", "kernel.domainname": "example.test"})
    assert config.sections["sysctl"] == {"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536",
                                         "net/ipv4/conf/eth0.100/forwarding": "0", "fs.mqueue.msg_max": "20",
                                         "kernel.domainname": "example.test"}


@pytest.mark.parametrize("key, path", [
    ("net.ipv4.ip_forward", "net/ipv4/ip_forward"),
    ("net/ipv4/conf/eth0.100/forwarding", "net/ipv4/conf/eth0.100/forwarding"),
    ("kernel..shmmax", None), ("../../etc/passwd", None), ("net/../../x", None), ("net.ipv4.ip forward", None),
])
def test_a_key_is_a_path_beneath_proc_sys_or_nothing(key, path):
    assert rules.proc_path(key) == path


def test_a_parameter_of_the_whole_machine_is_refused_naming_it():
    assert problems({"vm.swappiness": "10", "kernel.pid_max": 100}) == [
        f"$.sysctl['{key}']: {key} is not namespaced: setting it would change the host's (only net.*, the IPC "
        "limits kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, and kernel.hostname and kernel.domainname can "
        "be set for a container)" for key in ("vm.swappiness", "kernel.pid_max")]


@pytest.mark.parametrize("key, namespace, what", [
    ("net.core.somaxconn", "NEWNET", "needs a network namespace of the container's (add NEWNET to namespaces)"),
    ("kernel.msgmax", "NEWIPC", "needs a new IPC namespace (add NEWIPC: true to namespaces)"),
    ("fs.mqueue.queues_max", "NEWIPC", "needs a new IPC namespace (add NEWIPC: true to namespaces)"),
    ("kernel.hostname", "NEWUTS", "needs a new UTS namespace (add NEWUTS: true to namespaces)"),
])
def test_a_namespaced_parameter_needs_its_namespace(key, namespace, what):
    spaces = {k: v for k, v in ALL_NEW.items() if k != namespace}
    assert problems({key: "1"}, spaces) == [f"$.sysctl[{key!r}]: {key} {what}: it would change the host's"]
    assert load({key: "1"}).sections["sysctl"] == {key: "1"}  # twin: with it, accepted


def test_net_parameters_with_a_joined_network_namespace_are_accepted_unless_it_is_the_hosts(tmp_path):
    from libcontainer.errors import ContainerError

    config = load({"net.ipv4.ip_forward": "1"}, {**ALL_NEW, "NEWNET": "/proc/self/ns/net"})
    with pytest.raises(ContainerError, match="the network namespace /proc/self/ns/net is the host's"):
        rules.check_joined_network(config.sections["sysctl"], config.sections["namespaces"])
    rules.check_joined_network(config.sections["sysctl"], {"NEWNET": True})  # a new one: nothing to check


@pytest.mark.parametrize("value, message", [(True, "expected a string"), ("1\n2", "one line"), ([1], "a string")])
def test_bad_values_are_named(value, message):
    assert any(message in p for p in problems({"net.ipv4.ip_forward": value}))
