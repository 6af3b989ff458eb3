"""containerd (Debian 12's 1.6, started by the fixture) driving the runtime under test through ``ctr --runc-binary``.

``ctr run --rootfs DIR`` takes the root filesystem as it is: no image, so no
image config either, and the process gets an empty environment (no PATH):
commands are given by full path.  Each assertion states what runc does.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from ociclients import cgroup_dirs, command_of

pytestmark = pytest.mark.privileged


def test_run_rm_relays_output_and_the_exit_status(ctr):
    result = ctr.run("/bin/sh", "-c", "echo out; echo err >&2; exit 42")

    assert result.returncode == 42, result.stderr
    assert result.stdout == "out\n"
    assert "err\n" in result.stderr
    assert ctr("container", "ls", "--quiet").stdout == ""  # --rm


def test_tty_is_a_pty(ctr):
    # ctr insists on a terminal of its own for --tty; containerd-shim passes
    # the runtime a console socket and relays the pty master it receives.
    status, output = ctr.in_terminal(ctr.run_argv(ctr.new_id(), ["/bin/sh", "-c", "tty; exit 5"], ["--tty"]))

    assert status == 5, output
    assert "/dev/pts/0" in output
    assert any("--console-socket" in argv for argv in ctr.calls())


def test_a_task_killed_by_a_signal_exits_128_plus_the_signal(ctr):
    cid = ctr.new_id()
    run = subprocess.Popen(ctr.run_argv(cid, ["/bin/sleep", "1000"]), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: ctr.task_status(cid) == "RUNNING"), run.stderr
        assert ctr("task", "kill", "--signal", "SIGKILL", cid).returncode == 0
        _, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()

    assert run.returncode == 137, err
    assert ["kill", cid, "9"] in [argv[argv.index("kill"):] for argv in ctr.calls() if command_of(argv) == "kill"]


def test_task_exec_joins_the_running_task(ctr):
    cid = ctr.start("/bin/sleep", "1000")

    joined = ctr.exec(cid, "e1", "/bin/sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; exit 3")
    as_user = ctr.exec(cid, "e2", "/bin/sh", "-c", "id -u; pwd", options=["--user", "1000", "--cwd", "/tmp"])
    status, with_tty = ctr.in_terminal(ctr.exec_argv(cid, "e3", ["/bin/tty"], ["--tty"]))

    assert joined.returncode == 3, joined.stderr
    assert joined.stdout.strip() == "/bin/sleep 1000"
    assert as_user.stdout.split() == ["1000", "/tmp"], as_user.stderr
    assert status == 0 and "/dev/pts/" in with_tty, with_tty
    assert ctr.task_status(cid) == "RUNNING"  # the execs are gone, the task lives on


def test_task_kill_then_task_delete_leaves_nothing(ctr):
    cid = ctr.start("/bin/sleep", "1000")
    pid = ctr.task_pid(cid)
    assert cgroup_dirs(ctr.cgroup(cid))  # ctr's cgroup: /NAMESPACE/ID

    # SIGTERM to a PID 1 without a handler is ignored (pid namespaces), SIGKILL is not.
    assert ctr("task", "kill", "--signal", "SIGTERM", cid).returncode == 0
    time.sleep(0.2)
    assert ctr.task_status(cid) == "RUNNING"
    assert ctr("task", "kill", "--signal", "SIGKILL", cid).returncode == 0
    assert _wait_for(lambda: ctr.task_status(cid) == "STOPPED")

    deleted = ctr("task", "delete", cid)
    assert deleted.returncode == 0, deleted.stderr
    assert "exit code 137" in deleted.stderr  # ctr's note of the task's status
    assert ctr.task_status(cid) == ""
    assert not ctr.state_dir(cid).exists()
    assert not cgroup_dirs(ctr.cgroup(cid))
    assert not _alive(pid)
    assert ctr("container", "delete", cid).returncode == 0


def test_task_delete_force_ends_a_running_task(ctr):
    cid = ctr.start("/bin/sleep", "1000")
    pid = ctr.task_pid(cid)

    assert ctr("task", "delete", cid).returncode != 0  # containerd refuses a running task
    assert ctr("task", "delete", "--force", cid).returncode == 0

    assert ctr.task_status(cid) == ""
    assert not ctr.state_dir(cid).exists()
    assert not cgroup_dirs(ctr.cgroup(cid))
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_for(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
