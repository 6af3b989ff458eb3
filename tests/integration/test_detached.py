"""Containers that outlive the process that made them: created, started, waited for and deleted by others."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from libcontainer import state as st
from libcontainer.container import Container
from libcontainer.errors import NotRunning, StateError
from libcontainer.testing.fixtures import nsinit_command, reap_orphans

pytestmark = pytest.mark.privileged

# Each step is a Python process of its own, which exits when the step is done.
CREATE = """
import sys
from libcontainer.container import Container
Container(sys.argv[1]).create(sys.argv[2:], detach=True)
"""
CREATE_WITHOUT_KEEPER = CREATE.replace("detach=True", "detach=True, keeper=False")
START = "import sys\nfrom libcontainer.container import Container\nContainer(sys.argv[1]).start()\n"
WAIT = "import sys\nfrom libcontainer.container import Container\nprint(Container(sys.argv[1]).wait(timeout=30))\n"
DELETE = "import sys\nfrom libcontainer.container import Container\nContainer(sys.argv[1]).delete()\n"


def _step(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one step in a process of its own.  Its output goes to a file, not a pipe: a container
    keeps its creator's stdio and outlives it, and a pipe would never end."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        r = subprocess.run([sys.executable, "-c", script, *args], stdout=out, stderr=err, timeout=60,
                           stdin=subprocess.DEVNULL)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(r.args, r.returncode, out.read(), err.read())


def _listed(root) -> list[dict]:
    r = subprocess.run(nsinit_command() + ["list", "--format", "json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [c for c in json.loads(r.stdout) if c["root"] == os.path.realpath(root)]


def _host(box) -> dict[str, set[str]]:
    """What ``box``'s container may leave on the host: mounts, cgroups, interfaces, its state."""
    from pathlib import Path

    with open("/proc/self/mountinfo") as f:
        mounts = {line.split()[4] for line in f}
    name = Container(box).id
    cgroups = {str(d) for d in Path("/sys/fs/cgroup").glob(f"*/libcontainer/{name}")}
    return {"mounts": mounts, "cgroups": cgroups, "interfaces": set(os.listdir("/sys/class/net")),
            "state": {name} if os.path.exists(os.path.join(st.RUN_DIR, name)) else set()}


@pytest.fixture
def box(container):
    container.write_config(hostname="detached", cgroups={"memory": "64M", "pids_limit": 64},
                           networks=[{"type": "loopback", "address": "127.0.0.1/0", "gateway": "localhost", "mtu": 1500}])
    yield container
    subprocess.run([sys.executable, "-c", "import sys\nfrom libcontainer.container import Container\n"
                    "Container(sys.argv[1]).delete(force=True)", str(container.path)], capture_output=True)
    reap_orphans()


@pytest.mark.needs_host("cgroup-memory")
def test_created_by_one_process_started_by_a_second_listed_running_deleted_by_a_third(box):
    before = _host(box.path)
    assert _step(CREATE, str(box.path), "sh", "-c", "sleep 0.5; exit 3").returncode == 0
    # The creator has exited; its process waits to exec, in every namespace, cgroup and interface.
    created = Container(box.path).state()
    assert created.status == st.CREATED and st.alive(created.pid, created.start)
    assert [c["status"] for c in _listed(box.path)] == ["created"]
    r = _step(START, str(box.path))
    assert r.returncode == 0, r.stderr
    assert [c["status"] for c in _listed(box.path)] == ["running"]
    # wait from yet another process: the keeper recorded the exit status.
    r = _step(WAIT, str(box.path))
    assert (r.returncode, r.stdout.strip()) == (0, "3"), r.stderr
    assert [c["status"] for c in _listed(box.path)] == ["stopped"]
    assert _host(box.path) != before  # stopped, not deleted: its cgroups are still there ...
    r = _step(DELETE, str(box.path))
    assert r.returncode == 0, r.stderr
    assert _listed(box.path) == []
    assert _host(box.path) == before  # ... until delete removed everything
    assert not any((box.path / n).exists() for n in ("pid", "start", "state.json"))


def test_without_a_keeper_the_creators_subreaper_reaps_and_the_status_is_unknown(box):
    """As runc under containerd-shim: the kernel gives the process to the nearest child subreaper, here us."""
    from libcontainer import syscalls as sc

    sc.real().set_child_subreaper(True)
    try:
        assert _step(CREATE_WITHOUT_KEEPER, str(box.path), "sh", "-c", "exit 5").returncode == 0
        pid = Container(box.path).state().pid
        assert _step(START, str(box.path)).returncode == 0
        _, status = os.waitpid(pid, 0)  # ours to reap: the exit status is this process's to know
        assert os.waitstatus_to_exitcode(status) == 5
        assert Container(box.path).status() == st.STOPPED
        assert Container(box.path).wait(timeout=5) is None  # no reaper of the engine recorded it
    finally:
        sc.real().set_child_subreaper(False)
    assert _step(DELETE, str(box.path)).returncode == 0


def test_a_created_container_is_started_once(box):
    assert _step(CREATE, str(box.path), "true").returncode == 0
    assert _step(START, str(box.path)).returncode == 0
    with pytest.raises(StateError, match="cannot start container .*: it is (running|stopped), not created"):
        Container(box.path).start()


def test_a_start_cannot_change_the_command_a_container_was_created_with(box):
    """Its process made its user, directory and environment ready while it waited: the start refuses new ones,
    in the starter, and the container stays created.  (A pool's containers, created without a command, take
    theirs at the start: test_pool.py.)"""
    assert _step(CREATE, str(box.path), "sh", "-c", "echo created-command > /dev/null").returncode == 0
    box_ = Container(box.path)
    with pytest.raises(ValueError, match=r"created with its command: its start takes no args, user$"):
        box_.start(args=["true"], user="nobody")
    assert box_.status() == st.CREATED
    box_.start()
    assert box_.wait(timeout=30) == 0


def test_a_start_that_brings_a_command_anyway_is_refused_by_the_process(box):
    """Twin, below the API: START with args sent on the socket itself (as a runtime could) is refused by the
    waiting process, with the step's name; nothing runs."""
    from libcontainer import channel as msg
    from libcontainer.errors import ContainerError

    assert _step(CREATE, str(box.path), "true").returncode == 0
    box_ = Container(box.path)
    with pytest.raises(ContainerError, match="the start cannot change its args") as e:
        for _ in msg.start_steps(str(box_.state_dir / st.START_SOCKET), box_.id, "true", args=["sh"]):
            pass
    assert e.value.step == "start"
    assert _wait_until(lambda: box_.status() == st.STOPPED)


def test_kill_of_a_created_container_ends_it_and_delete_removes_it(box):
    assert _step(CREATE, str(box.path), "sleep", "60").returncode == 0
    box_ = Container(box.path)
    pid = box_.state().pid
    box_.kill(signal.SIGTERM)  # PID 1 of a pid namespace: it waits with handlers set, so it ends
    assert _wait_until(lambda: not st.alive(pid, box_.state().start))
    assert box_.status() == st.STOPPED
    box_.delete()
    assert box_.status() is None


def test_delete_refuses_a_running_container_without_force(box):
    assert _step(CREATE, str(box.path), "sleep", "60").returncode == 0
    assert _step(START, str(box.path)).returncode == 0
    with pytest.raises(StateError, match="it is running .stop it first, or delete it by force."):
        Container(box.path).delete()
    assert Container(box.path).status() == st.RUNNING
    Container(box.path).delete(force=True)
    assert Container(box.path).status() is None


def _wait_until(predicate, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# -- concurrent calls on one container ------------------------------------------------------------


def _race(*calls) -> list[object]:
    """Run ``calls`` at once, each in a process of its own; what each returned or raised (as text)."""
    script = """
import signal, sys
from libcontainer.container import Container
box = Container(sys.argv[1])
try:
    result = eval(sys.argv[2])
    print("ok", result)
except Exception as e:
    print("error", type(e).__name__, e)
"""
    procs = [subprocess.Popen([sys.executable, "-c", script, root, call], stdout=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL) for root, call in calls]
    return [p.communicate(timeout=60)[0].strip() for p in procs]


def test_two_deletes_at_once_one_deletes_the_other_is_told_there_is_none(box):
    assert _step(CREATE, str(box.path), "true").returncode == 0
    assert _step(START, str(box.path)).returncode == 0
    Container(box.path).wait(timeout=10)
    answers = sorted(_race((str(box.path), "box.delete()"), (str(box.path), "box.delete()")))
    assert answers[0].startswith("error NoSuchContainer no container in "), answers
    assert answers[1] == "ok None", answers


def test_a_start_racing_a_kill_gets_a_clear_answer(box):
    for _ in range(3):
        assert _step(CREATE, str(box.path), "sleep", "30").returncode == 0
        answers = _race((str(box.path), "box.start()"), (str(box.path), "box.kill(signal.SIGKILL)"))
        # Serialised: either the start came first (then the kill ends the running command), or the
        # kill did: then the start is refused (the container is stopped), or, when the process
        # has not died of the signal yet, finds it dead before its exec.
        assert answers[1] == "ok None", answers
        assert answers[0] == "ok None" or answers[0].startswith(
            ("error StateError cannot start container", "error ContainerError exec: container",
             "error ContainerError start: container")), answers
        assert _wait_until(lambda: Container(box.path).status() == st.STOPPED)
        Container(box.path).delete()


def test_a_join_during_a_delete_gets_a_clear_answer(box):
    assert _step(CREATE, str(box.path), "sleep", "30").returncode == 0
    assert _step(START, str(box.path)).returncode == 0
    answers = _race((str(box.path), "box.delete(force=True)"),
                    (str(box.path), "(lambda p: (p.start(), p.wait()))(box.join(['true']))[1]"))
    assert answers[0] == "ok None", answers
    # The join either ran before the delete (and ended, killed or done) or was told there is no container.
    assert answers[1].startswith(("ok ", "error NotRunning", "error ContainerError")), answers
    assert Container(box.path).status() is None


def test_a_threaded_program_creates_detached_through_a_fresh_keeper(box):
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        proc = Container(box.path).create(["sh", "-c", "exit 4"], detach=True)
        proc.start()
        assert proc.wait() == 4
        assert Container(box.path).wait(timeout=10) == 4  # recorded for any process
    finally:
        stop.set()
        worker.join()
    Container(box.path).delete()
    assert Container(box.path).status() is None


def test_joining_a_created_container_is_refused(box):
    assert _step(CREATE, str(box.path), "sleep", "30").returncode == 0
    with pytest.raises(NotRunning):
        Container(box.path).join(["true"])
