"""The cgroups plugin end to end: ``nsinit exec`` in a busybox container (root, cgroup v1 host)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from cgroups_harness import PARENT, read, require_root, wait_for
from libcontainer.container import Container
from libcontainer.testing.fixtures import DEFAULT_ENV, SAMPLE_NAMESPACES
from libcontainer_cgroups.probe import probe
from libcontainer_cgroups.v1 import V1Driver

pytestmark = [pytest.mark.privileged, pytest.mark.needs_host("cgroup-v1")]

# Doubles a shell string 25 times: 32 MiB of text, with copies about 100 MiB of memory.
HOG = 'x=a; i=0; while [ $i -lt 25 ]; do x=$x$x; i=$((i+1)); done; echo ${#x}'
SPAWN = "for i in $(seq 20); do sleep 1 & done; wait; echo done"


@pytest.fixture
def box(container):
    """A busybox container whose config gets a ``cgroups`` key under our test parent."""
    require_root()
    name = f"{PARENT}-{uuid.uuid4().hex[:8]}"

    def configure(**cgroups):
        container.write_config({"namespaces": dict(SAMPLE_NAMESPACES), "environment": list(DEFAULT_ENV),
                                "cgroups": {"parent": PARENT, "name": name, **cgroups}})
        return container

    configure.name = name
    configure.dir = lambda controller: f"/sys/fs/cgroup/{controller}/{PARENT}/{name}"
    try:
        yield configure
    finally:
        try:
            stop(container)
        finally:
            force_remove(name)


def stop(container) -> None:
    """Kill nsinit and the container's first process, and wait until that one is gone.

    A SIGKILLed nsinit leaves PID 1 running as an orphan, which the engine then
    refuses to clean up as "not this container's"; with both gone, the next
    look at the state is a clean STALE.
    """
    for proc in container._procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    pid = container.pid()
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"))
    Container(container.path).state()  # cleans up a stale container


def force_remove(name: str) -> None:
    """Last resort so that a failed test leaves no cgroup: kill what is in ours and rmdir it."""
    hosts = probe()
    paths = {c: f"{m}/{PARENT}/{name}" for c, m in hosts.v1.items()}
    driver = V1Driver({c: p for c, p in paths.items() if os.path.isdir(p)})
    if driver.paths:
        driver.kill_all()
        driver.remove([os.path.dirname(p) for p in driver.paths.values()])


def test_oom_killed_container_exits_137_with_the_reason(box):
    result = box(memory="32M").exec("sh", "-c", HOG)
    assert result.returncode == 137
    assert "nsinit: container killed by the OOM killer" in result.stderr
    assert not os.path.exists(box.dir("memory"))


def test_without_a_memory_limit_the_same_hog_finishes(box):
    result = box(cpu_shares=1024).exec("sh", "-c", HOG)
    assert (result.returncode, result.stdout.strip()) == (0, str(1 << 25))
    assert "OOM" not in result.stderr


def test_pids_limit_refuses_forks_in_the_container(box):
    result = box(pids_limit=10).exec("sh", "-c", SPAWN)
    assert "can't fork" in result.stderr
    assert not os.path.exists(box.dir("pids"))


def test_without_pids_limit_the_same_forks_succeed(box):
    result = box(memory="64M").exec("sh", "-c", SPAWN)
    assert result.returncode == 0 and "can't fork" not in result.stderr
    assert result.stdout.strip() == "done"


def test_kernel_refusal_reports_file_and_value(box):
    result = box(cpuset_cpus="99").exec("true")
    assert result.returncode == 125
    assert "cpuset.cpus '99': " in result.stderr  # and the kernel's reason (ERANGE here)
    assert not os.path.exists(box.dir("cpuset"))


def test_running_container_stats_pause_resume_and_join(box):
    c = box(memory="64M", pids_limit=50)
    c.popen("sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.01; done")
    c.wait_running()
    counter = c.path / "tmp" / "count"
    count = lambda: int(counter.read_text() or 0) if counter.exists() else 0  # noqa: E731
    assert wait_for(lambda: count() > 3)
    shown = c.nsinit("stats")
    assert shown.returncode == 0, shown.stderr
    stats = json.loads(shown.stdout)
    assert stats["memory"]["limit"] == 64 << 20 and stats["memory"]["usage"] > 0
    assert stats["pids"]["limit"] == 50 and stats["pids"]["current"] >= 1
    assert stats["cpu"]["usage"]["total"] > 0 and len(stats["cpu"]["usage"]["percpu"]) == os.cpu_count()
    assert {"periods", "throttled_periods", "throttled_time"} <= set(stats["cpu"]["throttling"])
    assert "io_service_bytes" in stats["blkio"]
    assert c.nsinit("pause").returncode == 0
    assert read(f"{box.dir('freezer')}/freezer.state") == "FROZEN"
    before = count()
    time.sleep(0.3)
    assert count() == before
    assert c.nsinit("resume").returncode == 0
    assert wait_for(lambda: count() > before + 3)
    joined = c.exec("cat", "/proc/self/cgroup")
    assert f":memory:/{PARENT}/{box.name}\n" in joined.stdout, joined.stderr


def test_cgroups_of_a_sigkilled_nsinit_show_stopped_and_are_removed_by_delete(box):
    c = box(memory="64M")
    proc = c.popen("sh", "-c", "sleep 30 & sleep 30")
    pid = c.wait_running()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    os.kill(pid, signal.SIGKILL)  # the container dies with it: its pid namespace takes the other sleep
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"))
    assert os.path.isdir(box.dir("memory"))  # nobody cleaned up yet
    assert Container(c.path).status() == "stopped"  # what it left waits for delete ...
    assert os.path.isdir(box.dir("memory"))
    Container(c.path).delete()
    assert Container(c.path).status() is None
    assert not os.path.exists(box.dir("memory"))  # ... which ran post_exit: the cgroups are gone
    assert not os.path.exists(os.path.dirname(box.dir("memory")))


def _devices(*, full: bool) -> list[dict]:
    """mknod of any node (the engine makes /dev's nodes after the child joined its cgroups),
    /dev/null and /dev/zero, and /dev/full only when asked."""
    rules = [{"type": 99, "major_number": -1, "minor_number": -1, "cgroup_permissions": "m"},
             {"type": 99, "major_number": 1, "minor_number": 3, "cgroup_permissions": "rwm"},
             {"type": 99, "major_number": 1, "minor_number": 5, "cgroup_permissions": "rwm"}]
    if full:
        rules.append({"type": 99, "major_number": 1, "minor_number": 7, "cgroup_permissions": "rwm"})
    return rules


def test_device_not_allowed_cannot_be_opened_in_the_container(box):
    result = box(allowed_devices=_devices(full=False)).exec("sh", "-c", "head -c 1 /dev/zero >/dev/null && "
                                                                        "echo zero-ok; echo x > /dev/full")
    assert "zero-ok" in result.stdout
    assert "/dev/full" in result.stderr and "Operation not permitted" in result.stderr


def test_allowed_device_opens_in_the_container(box):
    result = box(allowed_devices=_devices(full=True)).exec("sh", "-c", "echo x > /dev/full")
    assert "No space left on device" in result.stderr  # opened: the write itself fails, as on the host
    assert "Operation not permitted" not in result.stderr


def test_freezer_frozen_starts_paused_until_nsinit_resume(box):
    c = box(freezer="FROZEN")
    c.popen("sh", "-c", "while :; do date +%s%N > /tmp/tick; sleep 0.01; done")
    c.wait_running()
    assert wait_for(lambda: read(f"{box.dir('freezer')}/freezer.state") == "FROZEN")
    tick = c.path / "tmp" / "tick"
    before = tick.read_text() if tick.exists() else ""
    time.sleep(0.3)
    assert (tick.read_text() if tick.exists() else "") == before
    assert c.nsinit("resume").returncode == 0
    assert wait_for(lambda: tick.exists() and tick.read_text() != before)


def test_fork_bomb_is_held_at_pids_limit_and_torn_down(box):
    c = box(pids_limit=20)
    # busybox sh exits when a fork fails, so PID 1 starts the bomb and execs sleep: it never forks again.
    proc = c.popen("sh", "-c", "f() { f & f & wait; }; f 2>/dev/null & exec sleep 30")
    pid = c.wait_running()
    events = f"{box.dir('pids')}/pids.events"
    assert wait_for(lambda: int(read(events).split()[1]) > 0, timeout=10)  # forks are being refused
    stats = json.loads(c.nsinit("stats").stdout)
    assert stats["pids"]["limit"] == 20 and stats["pids"]["current"] <= 20
    assert subprocess.run(["true"]).returncode == 0  # the host still forks
    os.kill(pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == 137
    assert not os.path.exists(box.dir("pids"))
