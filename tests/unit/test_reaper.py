"""The init of ``"init": true`` (libcontainer/reaper.py), run here without a container: any user, any host.

A forked process of the test calls ``fork_command`` as the setup process
does at its last step; its child execs a command, and it stays as the
reaper (not PID 1 here: a child subreaper, so the command's orphans come to
it all the same).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from libcontainer import reaper
from libcontainer import syscalls as sc
from libcontainer.config import Config
from libcontainer.configfile import parse_config
from libcontainer.errors import ConfigError
from libcontainer.plugins import get_plugin_manager


def _start(*command: str) -> tuple[int, int]:
    """(the reaper's pid, the command's): the reaper forked from the test, the command exec'd by its child."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            reaper.fork_command(sc.real(), tty=False)
            os.write(ready_w, str(os.getpid()).encode())  # the command's pid, then its exec
            os.close(ready_w)
            os.execv(command[0], list(command))
        finally:
            os._exit(127)
    os.close(ready_w)
    with os.fdopen(ready_r) as f:
        child = int(f.read())
    return pid, child


def _exit_status(pid: int, timeout: float = 10) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_a_signal_is_passed_on_and_the_commands_death_by_it_is_the_reapers_128_plus_n():
    pid, child = _start("/bin/sleep", "60")
    time.sleep(0.2)
    os.kill(pid, signal.SIGTERM)
    assert _exit_status(pid) == 143


def test_the_commands_own_exit_status_is_the_reapers():
    pid, _ = _start("/bin/sh", "-c", "exit 7")
    assert _exit_status(pid) == 7


def test_orphans_of_the_command_are_reaped():
    pid, child = _start("/bin/sh", "-c", "(sleep 0.1 &); exec sleep 60")
    try:
        time.sleep(1)
        # The orphaned sleep came to the reaper and ended: reaped, no zombie among its children.
        assert _children(pid) == [child]
        assert _state(child) == "S"
    finally:
        os.kill(pid, signal.SIGTERM)
        assert _exit_status(pid) == 143


def test_the_reaper_holds_no_fd_is_not_dumpable_and_leads_no_group_of_the_commands():
    pid, child = _start("/bin/sleep", "60")
    try:
        time.sleep(0.2)
        assert os.listdir(f"/proc/{pid}/fd") == []
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":\t", 1) for line in f)
        assert status["Uid"].split()[0] == str(os.getuid())
        assert os.getpgid(child) == child != os.getpgid(pid)
        if os.geteuid() != 0:
            # Non-dumpable: its /proc files belong to root (proc(5)), even for its own user.
            assert os.stat(f"/proc/{pid}/environ").st_uid == 0
    finally:
        os.kill(pid, signal.SIGKILL)
        _exit_status(pid)


def test_the_command_dies_with_its_reaper():
    """Its parent-death signal: as a pid namespace's processes die with its init."""
    pid, child = _start("/bin/sleep", "60")
    time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    _exit_status(pid)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{child}") and _state(child) != "Z":
        time.sleep(0.01)
    assert not os.path.exists(f"/proc/{child}") or _state(child) == "Z"


def test_every_catchable_signal_is_waited_for_except_the_faults():
    assert {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD, signal.SIGWINCH, signal.SIGTSTP,
            signal.SIGRTMIN, signal.SIGRTMAX} <= reaper.WAITED
    assert not {signal.SIGKILL, signal.SIGSTOP, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,
                signal.SIGSYS} & reaper.WAITED


@pytest.mark.parametrize("value", [True, False])
def test_init_is_a_boolean_core_key(value):
    config = parse_config({"init": value}, "c.json", get_plugin_manager())
    assert config.init is value
    assert Config.from_dict({"init": value}).to_dict() == {"init": value}


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_init_that_is_not_a_boolean_is_refused_at_its_path(value):
    with pytest.raises(ConfigError) as e:
        parse_config({"init": value}, "c.json", get_plugin_manager())
    assert [p.path for p in e.value.problems] == ["$.init"]
