"""Lifecycle faults: forged state, PID 1 death, nsinit SIGKILLed at each setup point, a cgroup name taken twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from libcontainer import state as st
from libcontainer.testing.fixtures import DEFAULT_ENV, SAMPLE_NAMESPACES, nsinit_command

pytestmark = pytest.mark.privileged

PREFIX = "lctest-secb"  # every cgroup and interface these tests make starts with it (or "lctsb")
STATE_FILES = ("pid", "start", "state.json")


# -- helpers -------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has ended)."""
    return st.process_start_time(pid) is not None


def _exists(pid: int) -> bool:
    """True while ``pid`` has an entry in /proc, zombie or not."""
    return os.path.exists(f"/proc/{pid}")


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def _pids_in_pid_namespace(ns: str) -> list[int]:
    """Host pids of every process whose pid namespace is ``ns`` ("pid:[4026532...]")."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def _zombies_of(parents: set[int]) -> list[int]:
    """Zombie processes whose parent is one of ``parents``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] == b"Z" and int(fields[1]) in parents:
            found.append(int(entry))
    return found


def _start_of(pid: int) -> str:
    start = st.process_start_time(pid)
    assert start is not None
    return start


@pytest.fixture
def host_sleep():
    """An unrelated host process (a sleep of the test's) that no container command may touch."""
    proc = subprocess.Popen(["sleep", "120"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _forge_state(root: Path, pid: int, start: str, **fields) -> None:
    """Write pid, start and state.json as nsinit would, naming ``pid``."""
    doc = {"pid": pid, "start": start, "id": "forged", "rootfs": str(root), "config": {}, "namespaces": {},
           "resources": {}, "nsinit_pid": 0, "nsinit_start": ""}
    doc.update(fields)
    (root / "state.json").write_text(json.dumps(doc))
    (root / "start").write_text(start + "\n")
    (root / "pid").write_text(f"{pid}\n")


def _remove_state(root: Path) -> None:
    for name in STATE_FILES:
        (root / name).unlink(missing_ok=True)


# -- forged and reused pids ------------------------------------------------------------


def test_pid_file_naming_a_host_process_is_neither_joined_nor_killed(container, host_sleep):
    container.write_config()
    (container.path / "pid").write_text(f"{host_sleep.pid}\n")
    (container.path / "start").write_text(_start_of(host_sleep.pid) + "\n")
    try:
        r = container.exec("sh", "-c", "echo $$")
        assert r.returncode == 125
        assert r.stderr.strip().endswith("names a process that is not this container's; remove it if no container "
                                         "runs here"), r.stderr
        r = container.nsinit("stats")
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert _alive(host_sleep.pid)
    finally:
        _remove_state(container.path)


def test_reused_pid_whose_start_time_differs_is_stale_and_not_killed(container, host_sleep):
    """A dead container's state whose pid now belongs to a host process: cleaned up, the process left alone."""
    container.write_config()
    _forge_state(container.path, host_sleep.pid, "1")  # start time 1: not the sleep's
    r = container.exec("sh", "-c", "echo $$")
    assert (r.returncode, r.stdout.strip()) == (0, "1"), r.stderr  # a new container
    assert _alive(host_sleep.pid)
    assert not any((container.path / n).exists() for n in STATE_FILES)


@pytest.mark.xfail(strict=True, reason="state.json is trusted: a forged nsinit_pid makes the next command kill "
                                        "the named process; patch 3 in /work/notes/security-b-patches.md")
def test_forged_state_naming_a_host_process_with_its_start_time_is_not_killed(container, host_sleep):
    container.write_config()
    _forge_state(container.path, host_sleep.pid, _start_of(host_sleep.pid),
                 nsinit_pid=2 ** 22 - 1, nsinit_start="1")  # "its nsinit died": the orphan-killing path
    try:
        container.exec("true")
        assert _alive(host_sleep.pid)
    finally:
        _remove_state(container.path)


@pytest.mark.xfail(strict=True, reason="state.json is trusted: a forged state naming a host process and its parent "
                                        "is LIVE and joined; patch 3 in /work/notes/security-b-patches.md")
def test_forged_state_naming_a_host_process_and_its_parent_is_not_joined(container, host_sleep):
    container.write_config()
    _forge_state(container.path, host_sleep.pid, _start_of(host_sleep.pid),
                 nsinit_pid=os.getpid(), nsinit_start=_start_of(os.getpid()))
    try:
        r = container.exec("sh", "-c", "readlink /proc/self/ns/mnt")
        assert r.stdout.strip() != os.readlink("/proc/self/ns/mnt")  # never in the host's namespaces
        assert r.returncode == 125, (r.stdout, r.stderr)
        assert _alive(host_sleep.pid)
    finally:
        _remove_state(container.path)


@pytest.fixture
def victim_cgroup(host_sleep):
    """A host cgroup (pids controller) holding the unrelated host sleep: no container command may touch it."""
    path = Path(f"/sys/fs/cgroup/pids/{PREFIX}-victim-{uuid.uuid4().hex[:8]}")
    path.mkdir()
    try:
        (path / "cgroup.procs").write_text(f"{host_sleep.pid}\n")
        yield path
    finally:
        host_sleep.kill()
        host_sleep.wait()
        if path.is_dir():
            _wait_until(lambda: not (path / "cgroup.procs").read_text().strip(), 5)
            path.rmdir()


@pytest.mark.xfail(strict=True, reason="the container can rewrite /state.json (its rootfs is its directory) and the "
                                        "next command trusts the resources in it; patches 3 and 4 in "
                                        "/work/notes/security-b-patches.md")
def test_state_forged_from_inside_the_container_cannot_make_the_next_command_kill_host_processes(
        container, host_sleep, victim_cgroup):
    container.write_config()
    forged = {"pid": 2 ** 22 - 1, "start": "1", "id": "forged", "rootfs": "/", "config": {"cgroups": {}},
              "namespaces": {}, "nsinit_pid": 0, "nsinit_start": "",
              "resources": {"cgroups": {"driver": "v1", "paths": {"pids": str(victim_cgroup)},
                                        "created": [str(victim_cgroup)]}}}
    script = f"echo '{json.dumps(forged)}' > /state.json && echo ready; sleep 30"
    first = container.popen("sh", "-c", script)
    container.wait_running()
    assert first.stdout.readline().strip() == "ready", first.stderr
    container.exec("true")  # the operator's next command, meant to join the container
    assert _alive(host_sleep.pid)
    assert victim_cgroup.is_dir()


# -- PID 1 death ---------------------------------------------------------------------------


# PID 1 starts children and double-forked orphans (reparented to PID 1), then waits for "go".
FAMILY = ("sleep 60 & sleep 60 & (sleep 60 &) ; (sh -c 'sleep 60 & sleep 60 &' &) ; "
          "echo ready; read x; exit 3")


@pytest.mark.parametrize("how", ["exits", "sigkill"])
def test_pid_1_death_ends_every_process_within_a_second_and_leaves_no_zombies(container, how):
    container.write_config()
    first = container.popen("sh", "-c", FAMILY, stdin=subprocess.PIPE)
    pid1 = container.wait_running()
    assert first.stdout.readline().strip() == "ready"
    joined = container.popen("sh", "-c", "sleep 60 & (sleep 60 &); echo joined; sleep 60")
    assert joined.stdout.readline().strip() == "joined"
    ns = os.readlink(f"/proc/{pid1}/ns/pid")
    members = _pids_in_pid_namespace(ns)
    assert len(members) >= 10, members  # PID 1, 6 sleeps of its own, the joined sh and its 3
    if how == "exits":
        first.stdin.write("go\n")
        first.stdin.close()
    else:
        os.kill(pid1, signal.SIGKILL)
    began = time.monotonic()
    assert _wait_until(lambda: not any(_exists(p) for p in members), 1.0), \
        [p for p in members if _exists(p)]
    assert time.monotonic() - began < 1.0
    assert first.wait(timeout=10) == (3 if how == "exits" else 137)
    assert joined.wait(timeout=10) == 137  # SIGKILLed with the pid namespace
    nsinits = {first.pid, joined.pid, os.getpid(), 1}
    assert _zombies_of(nsinits) == []
    assert not any((container.path / n).exists() for n in STATE_FILES)
