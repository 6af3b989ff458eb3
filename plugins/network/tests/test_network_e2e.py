"""End to end: ``nsinit exec`` run inside the throwaway host namespace, with the busybox rootfs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from libcontainer.testing.fixtures import DEFAULT_ENV, SAMPLE_NAMESPACES, add_netns, delete_netns, nsinit_command
from network_harness import LOOPBACK, bridge_network

pytestmark = pytest.mark.privileged


def nsinit_in(host, box, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``ip netns exec HOST nsinit exec CMD`` in the container directory."""
    return subprocess.run(["ip", "netns", "exec", host.name, *nsinit_command(), "exec", "--", *cmd], cwd=box.path,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def popen_in(host, box, *cmd: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["ip", "netns", "exec", host.name, *nsinit_command(), "exec", "--", *cmd], cwd=box.path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def write(box, *networks, **keys) -> None:
    box.write_config({"namespaces": dict(SAMPLE_NAMESPACES), "environment": list(DEFAULT_ENV),
                      "networks": list(networks), **keys})


@pytest.fixture
def running(host, container):
    """Start ``nsinit exec CMD`` in the background in the host namespace; killed (and cleaned) afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(*cmd: str) -> subprocess.Popen[str]:
        proc = popen_in(host, container, *cmd)
        started.append(proc)
        _wait_running(container, proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=20)
        if (container.path / "state.json").exists():
            nsinit_in(host, container, "true")  # the next command cleans up after a killed nsinit


def _wait_running(box, proc, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if box.pid() and (box.path / "state.json").exists():
            return
        if proc.poll() is not None:
            raise AssertionError(f"nsinit exited {proc.returncode}: {proc.communicate()[1]}")
        time.sleep(0.02)
    raise AssertionError("the container did not start in time")


def _wait_gone(pid: int, timeout: float = 10) -> None:
    """Wait for ``pid`` to be reaped; reap it ourselves when it was reparented to us.

    An orphan goes to the nearest child subreaper: this pytest process, when
    an earlier test ran the Container API in it.
    """
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.02)


def test_nsinit_container_on_bridge_pings_the_bridge_and_host_end_is_gone_after_exit(host, container):
    write(container, LOOPBACK, bridge_network("198.18.0.2/24", mtu=1400))
    result = nsinit_in(host, container, "sh", "-c", "ip -o link show eth0; ping -c1 -W2 198.18.0.1")
    assert result.returncode == 0, result.stderr
    assert "mtu 1400" in result.stdout
    assert "1 packets received" in result.stdout
    assert host.veths() == []


def test_nsinit_container_without_network_cannot_reach_the_bridge(host, container):
    write(container, LOOPBACK)
    result = nsinit_in(host, container, "ping", "-c1", "-W1", "198.18.0.1")
    assert result.returncode != 0
    assert host.veths() == []


def test_nsinit_host_end_exists_while_the_container_runs(host, container, running):
    write(container, LOOPBACK, bridge_network("198.18.0.2/24"))
    running("sleep", "30")
    veths = host.veths()
    assert len(veths) == 1 and veths[0].startswith("lct")
    assert host.link(veths[0])["master"] == "lctbr0"
    # state.json records it, for a later nsinit to remove after a SIGKILL.
    state = json.loads((container.path / "state.json").read_text())
    assert state["resources"]["network"]["host_interfaces"] == veths


def test_nsinit_joining_process_gets_no_new_interface(host, container, running):
    write(container, LOOPBACK, bridge_network("198.18.0.2/24"))
    running("sleep", "30")
    result = nsinit_in(host, container, "ip", "-o", "link")
    assert result.returncode == 0, result.stderr
    names = [line.split(":")[1].strip().split("@")[0] for line in result.stdout.splitlines()]
    assert names == ["lo", "eth0"]
    assert len(host.veths()) == 1


def test_nsinit_two_containers_ping_each_other(host, container, running, rootfs_template, tmp_path):
    from libcontainer.testing.fixtures import ContainerDir, copy_rootfs

    write(container, bridge_network("198.18.0.2/24"))
    running("sleep", "30")
    other = ContainerDir(copy_rootfs(rootfs_template, tmp_path / "other"))
    write(other, bridge_network("198.18.0.3/24"))
    result = nsinit_in(host, other, "ping", "-c1", "-W2", "198.18.0.2")
    assert result.returncode == 0, result.stderr + result.stdout


def test_nsinit_missing_bridge_is_refused_and_creates_nothing(host, container):
    write(container, LOOPBACK, bridge_network("198.18.0.2/24", bridge="lctnobr"))
    result = nsinit_in(host, container, "true")
    assert result.returncode == 125
    assert result.stderr.strip() == "nsinit: network: bridge lctnobr does not exist (networks[1])"
    assert host.veths() == []
    assert not (container.path / "state.json").exists()


def test_nsinit_failure_inside_after_the_veth_was_made_removes_it(host, container):
    routes = [{"destination": "10.99.0.0/16", "gateway": "192.0.2.1"}]
    write(container, LOOPBACK, bridge_network("198.18.0.2/24"), routes=routes)
    result = nsinit_in(host, container, "true")
    assert result.returncode == 125
    assert "network: add route 10.99.0.0/16 via 192.0.2.1: Network is unreachable" in result.stderr
    assert host.veths() == []


def test_nsinit_killed_leaves_nothing_after_the_next_command(host, container, running):
    write(container, LOOPBACK, bridge_network("198.18.0.2/24"))
    proc = running("sleep", "30")
    assert len(host.veths()) == 1
    # SIGKILL nsinit itself (ip netns exec execs it: same pid).
    pid = container.pid()
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=20)
    # The container dies of its parent-death signal; until it is reaped the
    # engine sees a live process that is no longer nsinit's child.
    _wait_gone(pid)
    result = nsinit_in(host, container, "true")
    assert result.returncode == 0, result.stderr
    assert host.veths() == []
    assert not (container.path / "state.json").exists()


def test_nsinit_joins_a_named_network_namespace(host, container):
    name = f"{host.name}-j"
    add_netns(name)
    try:
        namespaces = {k: v for k, v in SAMPLE_NAMESPACES.items() if k != "NEWNET"}
        container.write_config({"namespaces": namespaces, "environment": list(DEFAULT_ENV),
                                "networks": [{"type": "netns", "ns_path": name}]})
        result = nsinit_in(host, container, "readlink", "/proc/self/ns/net")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"net:[{os.stat(f'/var/run/netns/{name}').st_ino}]"
    finally:
        delete_netns(name)


def test_nsinit_missing_named_network_namespace_is_reported_by_name(host, container):
    namespaces = {k: v for k, v in SAMPLE_NAMESPACES.items() if k != "NEWNET"}
    container.write_config({"namespaces": namespaces, "environment": list(DEFAULT_ENV),
                            "networks": [{"type": "netns", "ns_path": "lctest-nope"}]})
    result = nsinit_in(host, container, "true")
    assert result.returncode == 125
    assert "lctest-nope" in result.stderr and "does not exist" in result.stderr
