"""The lifecycle as a Python API: steps, a threaded caller, many containers from one process."""

from __future__ import annotations

import os
import threading

import pytest

from libcontainer import spawn
from libcontainer.container import Container
from libcontainer.errors import ContainerError

pytestmark = pytest.mark.privileged


@pytest.fixture(autouse=True)
def not_a_subreaper_afterwards():
    """The API makes its caller a child subreaper; undo it so later tests see orphans reaped by init."""
    from libcontainer import container as engine
    from libcontainer import syscalls as sc

    yield
    sc.real().prctl(sc.PR_SET_CHILD_SUBREAPER, 0, what="PR_SET_CHILD_SUBREAPER")
    engine._subreaper_set = False


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


def test_exec_failure_is_raised_from_start_with_exit_code(container):
    container.write_config()
    proc = Container(container.path).create(["/nonexistent"])
    with pytest.raises(ContainerError) as info:
        proc.start()
    assert info.value.exit_code == 127
    assert not (container.path / "pid").exists()


def test_threaded_caller_gets_a_fresh_interpreter_for_setup(container, monkeypatch):
    container.write_config(hostname="threaded")
    used = []
    real = spawn.spawn_setup

    def spy(*args, **kwargs):
        used.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(spawn, "spawn_setup", spy)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        r, w = os.pipe()
        saved = os.dup(1)
        os.dup2(w, 1)
        try:
            status = Container(container.path).run(["/bin/sh", "-c", "hostname; echo $$"])
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


def test_unthreaded_caller_forks_without_a_new_interpreter(container, monkeypatch):
    container.write_config()
    monkeypatch.setattr(spawn, "spawn_setup", lambda *a, **k: pytest.fail("spawned an interpreter"))
    assert Container(container.path).run(["/bin/true"]) == 0


def test_many_containers_from_one_process_leave_no_fds(container):
    container.write_config()
    box = Container(container.path)
    assert box.run(["/bin/true"]) == 0
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        assert box.run(["/bin/true"]) == 0
    assert len(os.listdir("/proc/self/fd")) == before
