"""The container's environment is exactly the config's: nothing of nsinit's own environment reaches it."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from libcontainer.testing.fixtures import nsinit_command, read_terminal
from secutil import cmdline, stop_a_join_before_exec

pytestmark = pytest.mark.privileged

CONFIGURED = ["PATH=/bin:/usr/bin", "HOME=/root", "CONFIGURED=yes"]
# What a caller's environment may hold that must never reach the container.
HOSTILE = {
    "SECRET": "hunter2-lctest",
    "LD_PRELOAD": "/nonexistent-lctest.so",
    "LD_LIBRARY_PATH": "/nonexistent-lctest",
    "PYTHONPATH": "/nonexistent-lctest",
    "NSINIT_DEBUG": "1",
    "NSINIT_LCTEST": "leak",
    "data_path": "",  # set below to the container directory: nsinit's own variable
    "TERM": "lctest-term",
    "HOSTNAME": "lctest-host",
}


def _hostile_env(root) -> dict[str, str]:
    env = dict(os.environ, **HOSTILE)
    env["data_path"] = str(root)
    return env


def _nsinit_exec(container, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(nsinit_command() + ["exec", *cmd], cwd=container.path, env=_hostile_env(container.path),
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def _environ_of(pid: int) -> list[str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        return sorted(e.decode() for e in f.read().split(b"\0") if e)


def test_first_process_environment_is_exactly_the_configs(container):
    container.write_config(environment=CONFIGURED)
    r = _nsinit_exec(container, "env")
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == sorted(CONFIGURED)


def test_first_process_environ_seen_from_the_host_is_exactly_the_configs(container):
    """/proc/PID/environ of the running PID 1, read on the host: no copy of nsinit's variables in its memory."""
    container.write_config(environment=CONFIGURED)
    proc = subprocess.Popen(nsinit_command() + ["exec", "sleep", "30"], cwd=container.path,
                            env=_hostile_env(container.path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    container._procs.append(proc)  # killed at teardown
    pid = container.wait_running()
    # The pid file appears before exec: wait for the command itself (not sh, which adds PWD and SHLVL).
    deadline = time.monotonic() + 10
    while cmdline(pid) != b"sleep\x0030\x00" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cmdline(pid) == b"sleep\x0030\x00"
    assert _environ_of(pid) == sorted(CONFIGURED)


def test_joined_process_environment_is_exactly_the_configs(container):
    container.write_config(environment=CONFIGURED)
    first = container.popen("sh", "-c", "echo ready; sleep 30")
    container.wait_running()
    assert first.stdout.readline().strip() == "ready"
    r = _nsinit_exec(container, "sh", "-c", "echo pid=$$; env")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] != "pid=1"  # joined, not a new container
    # sh itself adds PWD (and SHLVL) when it starts; everything else is the config's.
    env = sorted(e for e in lines[1:] if not e.startswith(("PWD=", "SHLVL=")))
    assert env == sorted(CONFIGURED)


def test_empty_environment_gives_only_home(container):
    """Nothing of nsinit's; HOME alone, from the user's passwd entry, as libcontainer and runc set it."""
    container.write_config(environment=[])
    r = _nsinit_exec(container, "/bin/env")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "HOME=/root\n"


def test_configured_variable_arrives(container):
    """The twin: a variable in the config's environment does reach the process (the checks above can see it)."""
    container.write_config(environment=CONFIGURED + ["SECRET=from-the-config"])
    r = _nsinit_exec(container, "env")
    assert "SECRET=from-the-config" in r.stdout.splitlines()
    assert "SECRET=hunter2-lctest" not in r.stdout


def test_ld_preload_of_nsinit_does_not_reach_the_container(container, tmp_path):
    """An LD_PRELOAD that exists inside the rootfs would run in the container if it were passed on."""
    container.write_config(environment=CONFIGURED)
    (container.path / "lctest-preload.so").write_bytes(b"not an ELF object")
    env = _hostile_env(container.path)
    env["LD_PRELOAD"] = "/lctest-preload.so"  # absent on the host, present in the container
    r = subprocess.run(nsinit_command() + ["exec", "sh", "-c", "echo $LD_PRELOAD; env | grep -c LD_ || true"],
                       cwd=container.path, env=env, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0"]  # $LD_PRELOAD empty, no LD_ variable at all


def test_joining_process_before_exec_shows_none_of_nsinits_environment(container):
    container.write_config(environment=CONFIGURED)
    first = container.popen("sh", "-c", "echo ready; sleep 60")
    pid1 = container.wait_running()
    assert first.stdout.readline().strip() == "ready"
    proc, child = stop_a_join_before_exec(container, os.readlink(f"/proc/{pid1}/ns/pid"),
                                                      _hostile_env(container.path))
    try:
        with open(f"/proc/{child}/environ", "rb") as f:
            environ = f.read()
        assert b"hunter2-lctest" not in environ
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait()


def test_container_root_with_sys_ptrace_reads_a_joining_process_environ(container):
    """The twin: the file the check above reads is readable from inside (root with CAP_SYS_PTRACE, the
    default without a capabilities key, passes the non-dumpable check), so what it holds matters."""
    container.write_config(environment=CONFIGURED)
    first = container.popen("sh", "-c", "echo ready; sleep 60")
    pid1 = container.wait_running()
    assert first.stdout.readline().strip() == "ready"
    proc, child = stop_a_join_before_exec(container, os.readlink(f"/proc/{pid1}/ns/pid"),
                                                     dict(_hostile_env(container.path), SECRET="lctest-probe"))
    try:
        inner = next(line.split()[-1] for line in open(f"/proc/{child}/status") if line.startswith("NSpid:"))
        # Joining through another nsinit (not the stopped one), root inside reads the process's environ.
        r = container.exec("sh", "-c", f"cat /proc/{inner}/environ > /dev/null && echo readable")
        assert r.stdout.strip() == "readable", r.stderr
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait()


def test_tty_mode_adds_nothing_to_the_environment(container):
    """With a terminal the engine still passes exactly the config's environment (no TERM of nsinit's)."""
    import pty

    container.write_config(environment=CONFIGURED, tty=True)
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.chdir(container.path)
            env = _hostile_env(container.path)
            del env["LD_PRELOAD"]  # its loader warning for nsinit itself would share the terminal
            os.execve(nsinit_command()[0], nsinit_command() + ["exec", "/bin/env"], env)
        finally:
            os._exit(127)
    out = read_terminal(master)
    _, status = os.waitpid(pid, 0)
    os.close(master)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert sorted(out.decode().replace("\r\n", "\n").split()) == sorted(CONFIGURED)
