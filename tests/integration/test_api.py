"""The lifecycle as a Python API: steps, a threaded caller, many containers from one process."""

from __future__ import annotations

import errno
import os
import subprocess
import threading

import pytest

from libcontainer import keeper
from libcontainer import syscalls as sc
from libcontainer.container import Container
from libcontainer.errors import ContainerError, SyscallError

pytestmark = pytest.mark.privileged


@pytest.fixture(autouse=True)
def not_a_subreaper_afterwards():
    """The API leaves its caller as it found it: not a child subreaper (it is one only while it adopts)."""
    assert not sc.real().child_subreaper()
    yield
    assert not sc.real().child_subreaper()


def _read_all(fd: int) -> bytes:
    out = b""
    while chunk := os.read(fd, 4096):
        out += chunk
    return out


def test_create_start_wait_are_separate_steps(container):
    container.write_config(hostname="api")
    box = Container(container.path)
    proc = box.create(["/bin/sh", "-c", "exit 7"])
    try:
        assert (container.path / "pid").read_text().strip() == str(proc.pid)
        # Created, not started: the process has not exec'd the command yet.
        assert os.readlink(f"/proc/{proc.pid}/exe") != "/bin/busybox"
        proc.start()
        assert proc.wait() == 7
    finally:
        proc.close()
    assert not (container.path / "pid").exists()


def test_process_that_is_never_started_is_torn_down_by_close(container):
    container.write_config()
    proc = Container(container.path).create(["/bin/true"])
    pid = proc.pid
    proc.close()
    assert not os.path.exists(f"/proc/{pid}")
    assert not (container.path / "pid").exists()


def test_a_command_missing_from_the_rootfs_is_raised_from_create_with_127(container):
    container.write_config()
    with pytest.raises(ContainerError) as info:
        Container(container.path).create(["/nonexistent"])
    assert info.value.exit_code == 127
    assert str(info.value) == f"exec: /nonexistent: no such file or directory in the root filesystem {container.path}"
    assert Container(container.path).status() is None


def test_exec_failure_is_raised_from_start_with_exit_code(container):
    container.write_config()
    proc = Container(container.path).create(["/etc/passwd"])  # there, but not executable
    with pytest.raises(ContainerError) as info:
        proc.start()
    assert info.value.exit_code == 126
    assert str(info.value) == "exec: /etc/passwd: Permission denied"
    assert not (container.path / "pid").exists()


def test_threaded_caller_creates_through_a_fresh_keeper(container, monkeypatch):
    container.write_config(hostname="threaded")
    used = []
    real = keeper.spawn_keeper

    def spy(*args, **kwargs):
        used.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(keeper, "spawn_keeper", spy)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        r, w = os.pipe()
        saved = os.dup(1)
        os.dup2(w, 1)
        try:
            status = Container(container.path).run(["/bin/sh", "-c", "hostname; echo $$"]).returncode
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(w)
        out = _read_all(r).decode()
        os.close(r)
    finally:
        stop.set()
        worker.join()
    assert used == [True]
    assert status == 0
    assert out.split() == ["threaded", "1"]
    assert not (container.path / "pid").exists()


def test_unthreaded_caller_forks_without_a_new_interpreter_or_keeper(container, monkeypatch):
    container.write_config()
    monkeypatch.setattr(keeper, "spawn_keeper", lambda *a, **k: pytest.fail("spawned an interpreter"))
    monkeypatch.setattr(keeper, "fork_keeper", lambda *a, **k: pytest.fail("forked a keeper"))
    assert Container(container.path).run(["/bin/true"]).returncode == 0


def test_many_containers_from_one_process_leave_no_fds(container):
    container.write_config()
    box = Container(container.path)
    assert box.run(["/bin/true"]).returncode == 0
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        assert box.run(["/bin/true"]).returncode == 0
    assert len(os.listdir("/proc/self/fd")) == before


# -- the pid namespace made by the caller (container._pid_namespace_made_here) ----------


def _pid_namespace_of_a_new_child() -> str:
    return subprocess.run(["readlink", "/proc/self/ns/pid"], capture_output=True, text=True, check=True).stdout.strip()


def _nspid(pid: int) -> list[int]:
    with open(f"/proc/{pid}/status") as f:
        return [int(x) for line in f if line.startswith("NSpid:") for x in line.split()[1:]]


def test_pid_1_is_born_in_its_namespace_and_the_callers_later_children_are_in_the_callers(container):
    container.write_config()
    ours = os.readlink("/proc/self/ns/pid")
    proc = Container(container.path).create(["/bin/true"])
    try:
        assert _nspid(proc.pid) == [proc.pid, 1]
        assert os.readlink(f"/proc/{proc.pid}/ns/pid") != ours
        # unshare(CLONE_NEWPID) changed where our children are born; it was set back after the fork.
        assert _pid_namespace_of_a_new_child() == ours
        proc.start()
        assert proc.wait() == 0
    finally:
        proc.close()
    assert _pid_namespace_of_a_new_child() == ours


def test_without_setting_back_a_callers_next_child_goes_to_the_new_pid_namespace():
    """The twin: after unshare(CLONE_NEWPID) alone, a child is born outside its parent's pid namespace."""
    pid = os.fork()
    if pid == 0:
        try:
            sc.real().unshare(sc.CLONE_NEWPID)
            os._exit(0 if _pid_namespace_of_a_new_child() != os.readlink("/proc/self/ns/pid") else 1)
        finally:
            os._exit(2)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


class _FailingDoor(sc.Syscalls):
    """The real kernel door, but nsinit's own unshare(CLONE_NEWPID) or its setns back fails."""

    def __init__(self, fail: str) -> None:
        super().__init__()
        self.fail = fail
        self.caller = os.getpid()

    def unshare(self, flags: int) -> None:
        if self.fail == "unshare" and flags == sc.CLONE_NEWPID and os.getpid() == self.caller:
            raise SyscallError("unshare", "CLONE_NEWPID", errno.EPERM)
        super().unshare(flags)

    def setns(self, fd: int, nstype: int = 0, what: str = "") -> None:
        super().setns(fd, nstype, what)  # always set back for real: the test process must not stay changed
        if self.fail == "setns" and what == "nsinit's own pid namespace":
            raise SyscallError("setns", what, errno.EINVAL)


@pytest.mark.needs_host("cgroup-memory")
@pytest.mark.parametrize("fail, cause", [("unshare", "unshare CLONE_NEWPID: Operation not permitted"),
                                          ("setns", "setns nsinit's own pid namespace: Invalid argument")])
def test_a_pid_namespace_nsinit_cannot_make_or_leave_is_one_error_and_leaves_nothing(container, fail, cause):
    container.write_config(cgroups={"memory": "64M"})
    ours = os.readlink("/proc/self/ns/pid")
    with pytest.raises(ContainerError) as raised:
        Container(container.path, syscalls=_FailingDoor(fail)).create(["/bin/true"])
    assert str(raised.value) == f"namespaces: {cause}"
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # the child forked before the failed setns is killed and reaped
    assert not (container.path / "pid").exists() and not (container.path / "state.json").exists()
    assert _pid_namespace_of_a_new_child() == ours


def test_the_library_reaps_only_its_own_processes_and_leaves_the_caller_as_it_was(container):
    """A program with a child of its own runs a container that serves joins: its child's status is still its own."""
    from libcontainer.container import Container

    container.write_config(namespaces={"NEWNS": True, "NEWPID": True, "NEWUSER": True},
                           uid_mappings=[{"container_id": 0, "host_id": 0, "size": 1}],
                           gid_mappings=[{"container_id": 0, "host_id": 0, "size": 1}])  # an intermediate to adopt
    own = subprocess.Popen(["sh", "-c", "sleep 0.3; exit 7"])
    proc = Container(container.path).create(["sh", "-c", "sleep 0.5"])
    try:
        proc.start()
        proc.serve_joins(lambda e: 125)
        assert proc.wait() == 0
    finally:
        proc.close()
    # Nothing of the engine took our child's status (waitpid(-1) would have), nor made us a subreaper.
    assert own.wait(timeout=10) == 7
    assert not sc.real().child_subreaper()
