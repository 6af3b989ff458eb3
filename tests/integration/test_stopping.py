"""Stopping a container from outside (issue 19 item 2): a second SIGINT or SIGTERM.

A shell or sleep as PID 1 of a pid namespace ignores every signal it has no
handler for (pid_namespaces(7)): nsinit passes SIGINT and SIGTERM on, and a
second one within KILL_WITHIN seconds kills every process of the container.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from libcontainer import state as st
from libcontainer.container import Container

pytestmark = pytest.mark.privileged

# Docker's default set: a config without a capabilities list gets a warning on stderr.
CAPS = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
        "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"]
KILL_MESSAGE = "nsinit: a second SIGINT or SIGTERM within 5 s: killing every process of the container\n"


def _running(container, *cmd: str) -> tuple[subprocess.Popen[str], int]:
    p = container.popen(*cmd)
    pid = container.wait_running()
    return p, pid


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _left_behind(container, pids: list[int], cgroups: list[str]) -> list[str]:
    """What of the container is still there: its processes, cgroups, mounts, state."""
    left = [f"process {pid}" for pid in pids if _alive(pid)]
    left += [f"cgroup {path}" for path in cgroups if os.path.exists(path)]
    with open("/proc/self/mountinfo") as f:
        left += [f"mount {line.split()[4]}" for line in f if str(container.path) in line.split()[4]]
    left += [f"file {name}" for name in ("pid", "start", "state.json") if (container.path / name).exists()]
    box = Container(container.path)
    if box.state_dir.exists():
        left.append(f"state {box.state_dir}")
    return left


# -- a second SIGINT or SIGTERM ---------------------------------------------------------------


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_within_seconds_kills_the_whole_container_and_leaves_nothing(container, second):
    container.write_config(capabilities=CAPS)
    p, pid = _running(container, "sh", "-c", "trap '' INT TERM; sleep 60 & sleep 60 & echo ready; wait")
    assert p.stdout.readline() == "ready\n"
    pids = Container(container.path).processes()
    assert len(pids) == 3
    started = time.monotonic()
    p.send_signal(signal.SIGINT)
    time.sleep(0.5)
    p.send_signal(second)
    status = p.wait(timeout=10)
    assert time.monotonic() - started < 5
    assert status == 137  # PID 1 was SIGKILLed
    assert p.stderr.read() == KILL_MESSAGE
    assert _left_behind(container, pids, []) == []


@pytest.mark.needs_host("cgroup-memory")
def test_without_a_pid_namespace_the_second_signal_kills_the_cgroups_processes(container):
    """Killing PID 1 kills a pid namespace; without one, the cgroups plugin's list names the processes."""
    namespaces = {"NEWNS": True, "NEWUTS": True, "NEWIPC": True, "NEWNET": True}
    container.write_config(namespaces=namespaces, cgroups={"memory": "64M"}, capabilities=CAPS)
    p, pid = _running(container, "sh", "-c", "trap '' INT TERM; sleep 60 & sleep 60 & echo ready; wait")
    assert p.stdout.readline() == "ready\n"
    box = Container(container.path)
    pids = box.processes()
    cgroups = list(box.state().resources["cgroups"]["paths"].values())
    assert len(pids) == 3 and cgroups
    p.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert all(_alive(q) for q in pids)  # the first only passed on, and ignored
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 137
    assert p.stderr.read() == KILL_MESSAGE
    assert _left_behind(container, pids, cgroups) == []


def test_a_single_sigint_is_only_passed_on(container):
    """Twin: one SIGINT reaches PID 1, which ignores it; the container runs on."""
    container.write_config(capabilities=CAPS)
    p, pid = _running(container, "sleep", "60")
    p.send_signal(signal.SIGINT)
    time.sleep(1)
    assert p.poll() is None and _alive(pid)


def test_two_signals_further_apart_than_the_window_are_each_only_passed_on(container):
    """Twin: the window is what makes the second one a kill."""
    from nsinit.exec_cmd import KILL_WITHIN

    container.write_config(capabilities=CAPS)
    p, pid = _running(container, "sleep", "60")
    p.send_signal(signal.SIGINT)
    time.sleep(KILL_WITHIN + 0.5)
    p.send_signal(signal.SIGINT)
    time.sleep(1)
    assert p.poll() is None and _alive(pid)


def test_one_sigterm_does_not_end_a_sleep_as_pid_1(container):
    """Twin: passed on, and ignored."""
    container.write_config(capabilities=CAPS)
    p, pid = _running(container, "sleep", "60")
    p.send_signal(signal.SIGTERM)
    time.sleep(1)
    assert p.poll() is None and _alive(pid)
