"""sysctl end to end: the values are read back inside the container, and the host's stay as they were."""

from __future__ import annotations

import pytest

from libcontainer.testing.fixtures import require_root

pytestmark = pytest.mark.privileged

NS = {"NEWNS": True, "NEWUTS": True, "NEWIPC": True, "NEWPID": True, "NEWNET": True}


@pytest.fixture
def box(container):
    require_root()
    return container


def host_value(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read().strip()


def test_namespaced_parameters_are_set_inside_and_the_hosts_are_unchanged(box):
    before = {k: host_value(k) for k in ("net.ipv4.ip_forward", "kernel.msgmax", "kernel.shmmni")}
    box.write_config(namespaces=NS, environment=["PATH=/bin"],
                     sysctl={"net.ipv4.ip_forward": "1", "kernel.msgmax": 9000, "kernel.shmmni": "1234",
                             "kernel.domainname": "sysctl.test"})
    r = box.exec("sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax /proc/sys/kernel/shmmni "
                             "/proc/sys/kernel/domainname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "9000", "1234", "sysctl.test"]
    assert {k: host_value(k) for k in before} == before


def test_proc_sys_is_still_read_only_for_the_command_with_the_restrictions(box):
    box.write_config(namespaces=NS, environment=["PATH=/bin"], context={"restrictions": "true"},
                     sysctl={"kernel.msgmax": "9001"})
    r = box.exec("sh", "-c", "cat /proc/sys/kernel/msgmax; echo 5 > /proc/sys/kernel/msgmax")
    assert r.stdout.split() == ["9001"]
    assert "Read-only file system" in r.stderr


def test_a_parameter_the_kernel_lacks_is_one_line_and_nothing_is_left(box):
    box.write_config(namespaces=NS, environment=["PATH=/bin"], sysctl={"net.ipv4.no_such_knob": "1"})
    r = box.exec("true")
    assert r.returncode == 125
    assert r.stderr.strip() == ("nsinit: sysctl: net.ipv4.no_such_knob: no such kernel parameter here "
                                "(/proc/sys/net/ipv4/no_such_knob)")
    assert not (box.path / "pid").exists() and not (box.path / "state.json").exists()


def test_a_machine_wide_parameter_is_refused_before_anything_runs(box):
    before = host_value("vm.swappiness")
    box.write_config(namespaces=NS, environment=["PATH=/bin"], sysctl={"vm.swappiness": "1"})
    r = box.exec("true")
    assert r.returncode == 125 and "$.sysctl['vm.swappiness']: vm.swappiness is not namespaced" in r.stderr
    assert host_value("vm.swappiness") == before
