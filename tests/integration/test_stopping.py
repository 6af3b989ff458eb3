"""Stopping a container from outside (issue 19 item 2): a second SIGINT or SIGTERM, and ``"init": true``.

A shell or sleep as PID 1 of a pid namespace ignores every signal it has no
handler for (pid_namespaces(7)): nsinit passes SIGINT and SIGTERM on, and a
second one within KILL_WITHIN seconds kills every process of the container;
with ``init``, PID 1 is a reaper (libcontainer/reaper.py) that passes
signals on to the command, its child, and reaps orphans.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from libcontainer.container import Container
from libcontainer.testing.fixtures import nsinit_command, read_terminal

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


def test_two_sigints_half_a_second_apart_end_a_sleep_as_pid_1(container):
    """The issue's case: `nsinit exec sleep 60`, Ctrl-C twice."""
    container.write_config(capabilities=CAPS)
    p, pid = _running(container, "sleep", "60")
    started = time.monotonic()
    p.send_signal(signal.SIGINT)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=10) == 137
    assert time.monotonic() - started < 3
    assert p.stderr.read() == KILL_MESSAGE
    assert _left_behind(container, [pid], []) == []


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


def test_without_init_one_sigterm_does_not_end_a_sleep_as_pid_1(container):
    """Twin of the init test below."""
    container.write_config(capabilities=CAPS)
    p, pid = _running(container, "sleep", "60")
    p.send_signal(signal.SIGTERM)
    time.sleep(1)
    assert p.poll() is None and _alive(pid)


# -- "init": true -----------------------------------------------------------------------------


def test_with_init_one_sigterm_ends_sleep_at_once_with_143(container):
    container.write_config(init=True, capabilities=CAPS)
    p, pid = _running(container, "sleep", "60")
    started = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 143
    assert time.monotonic() - started < 1
    assert p.stderr.read() == ""
    assert _left_behind(container, [pid], []) == []


def test_with_init_a_sigint_ends_sleep_with_130(container):
    container.write_config(init=True, capabilities=CAPS)
    p, _ = _running(container, "sleep", "60")
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=10) == 130


def test_with_init_the_command_is_pid_2_under_an_init_and_its_exit_status_is_nsinits(container):
    container.write_config(init=True, capabilities=CAPS)
    r = container.exec("sh", "-c", "echo $$ $PPID; tr '\\0' ' ' < /proc/1/cmdline; echo; exit 3")
    assert (r.returncode, r.stderr) == (3, "")
    ids, init = r.stdout.splitlines()
    assert ids == "2 1"
    assert "nsinit exec" in init
    r = container.exec("sh", "-c", "kill -KILL $$")
    assert r.returncode == 137


def test_with_init_signals_the_command_handles_reach_it(container):
    container.write_config(init=True, capabilities=CAPS)
    p, _ = _running(container, "sh", "-c", "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 7' TERM; "
                                           "echo ready; while :; do sleep 0.05; done")
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGUSR1)
    assert p.stdout.readline() == "got-usr1\n"
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 7
    assert p.stdout.read() == "got-term\n"


ZOMBIES = "grep -l zombie /proc/[0-9]*/status | wc -l"


@pytest.mark.parametrize("init", [True, False], ids=["init", "no-init"])
def test_orphans_of_a_double_fork_are_reaped_only_with_init(container, init):
    """The orphan's parent becomes PID 1: the init reaps it; a sleep as PID 1 (twin) leaves a zombie."""
    container.write_config(capabilities=CAPS, **({"init": True} if init else {}))
    # The subshell forks the short sleep and exits: the sleep is orphaned, then ends.
    p, _ = _running(container, "sh", "-c", "(sleep 0.2 &); echo ready; exec sleep 60")
    assert p.stdout.readline() == "ready\n"
    time.sleep(1)
    r = container.exec("sh", "-c", ZOMBIES)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("0" if init else "1")


def test_with_init_nothing_of_the_setup_process_stays_open_in_pid_1(container):
    """The reaper closes every fd: the start channel's EOF came from the command's exec, stdio is the command's."""
    container.write_config(init=True, capabilities=CAPS)
    p, pid = _running(container, "sleep", "60")
    assert os.listdir(f"/proc/{pid}/fd") == []
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 143


def test_with_init_a_failed_exec_is_nsinits_126_and_leaves_nothing(container):
    container.write_config(init=True, capabilities=CAPS)
    (container.path / "bin" / "garbage").write_text("garbage\n")
    os.chmod(container.path / "bin" / "garbage", 0o755)
    r = container.exec("/bin/garbage")
    assert r.returncode == 126
    assert r.stderr.strip() == "nsinit: exec: /bin/garbage: Exec format error"
    assert _left_behind(container, [], []) == []


def test_with_init_and_a_tty_the_command_leads_the_terminals_foreground_group(container):
    """The terminal stays the command's controlling one; ^C typed there goes to the command, not to PID 1 as well."""
    import pty

    container.write_config(init=True, tty=True, capabilities=CAPS)
    script = ("trap 'echo got-int; exit 5' INT; set -- $(cat /proc/self/stat); "
              "echo sid=$6 tty=$7 pgrp=$5 fg=$8; echo ready; while :; do sleep 0.05; done")
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.chdir(container.path)
            os.execv(nsinit_command()[0], nsinit_command() + ["exec", "sh", "-c", script])
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + 20
    while b"ready" not in out and time.monotonic() < deadline:
        out += os.read(master, 4096)
    os.write(master, b"\x03")
    out += read_terminal(master)
    _, status = os.waitpid(pid, 0)
    os.close(master)
    text = out.decode().replace("\r\n", "\n")
    assert os.waitstatus_to_exitcode(status) == 5, text
    fields = dict(w.split("=") for w in text.split("ready")[0].split() if "=" in w)
    assert fields["sid"] == "1"  # the reaper's session: the terminal is still the command's controlling one
    assert fields["tty"] != "0"
    assert fields["pgrp"] == fields["fg"] != "1"  # cat is in the command's group, the foreground one
    assert text.count("got-int") == 1
