"""The v1 driver against this machine's real per-controller hierarchies (root)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from cgroups_harness import PARENT, cgroup_dir, read, require_root, wait_for
from libcontainer.errors import ContainerError
import libcontainer_cgroups
from libcontainer_cgroups import manager
from libcontainer_cgroups.probe import Hierarchies, probe

pytestmark = [pytest.mark.privileged, pytest.mark.needs_host("cgroup-v1")]

MB = 1024 * 1024

# Allocates 64 MiB a MiB at a time, touching every page, then exits 0.
HOG = "x = []\nfor i in range(64):\n    x.append(bytearray(1 << 20))\nprint('survived')"


@pytest.fixture(autouse=True)
def _root():
    require_root()


# -- memory and the OOM killer -----------------------------------------------------


def test_memory_hog_is_oom_killed_under_32m_and_reported(harness):
    ctx = harness.container({"memory": "32M"})
    child = harness.python(ctx, HOG)
    status = child.wait()
    assert status == 137
    assert read(os.path.join(cgroup_dir(ctx, "memory"), "memory.limit_in_bytes")) == str(32 * MB)
    assert harness.call("exit_reason", ctx, status=status) == ["killed by the OOM killer"]


def test_without_a_memory_limit_the_hog_is_not_killed(harness):
    ctx = harness.container({"cpu_shares": 512})
    child = harness.python(ctx, HOG)
    status, out, _ = child.output()
    assert (status, out.strip()) == (0, "survived")
    assert harness.call("exit_reason", ctx, status=status) == []


def test_sigkill_that_is_not_an_oom_is_not_reported_as_oom(harness):
    ctx = harness.container({"memory": "32M"})
    child = harness.start(ctx, "sleep", "30")
    child.proc.kill()
    assert child.wait() == 137
    assert harness.call("exit_reason", ctx, status=137) == []


# -- pids ---------------------------------------------------------------------------


def test_fork_bomb_is_held_at_pids_limit_and_host_is_unaffected(harness):
    ctx = harness.container({"pids_limit": 20})
    harness.start(ctx, "sh", "-c", "f() { f & f & wait; }; f")
    pids_dir = cgroup_dir(ctx, "pids")
    # The bomb hits the limit quickly; forks beyond it fail (pids.events counts them).
    assert wait_for(lambda: int(read(f"{pids_dir}/pids.events").split()[1]) > 0, timeout=5)
    time.sleep(0.3)
    assert int(read(f"{pids_dir}/pids.current")) <= 20
    assert subprocess.run(["true"]).returncode == 0  # the host can still fork
    harness.call("post_exit", ctx)  # teardown kills the bomb
    assert not os.path.exists(pids_dir)


def test_without_pids_limit_forks_all_succeed_beside_a_limited_container(harness, tmp_path):
    ctx = harness.container({"pids_limit": 10})
    other = harness.container({"cpu_shares": 1024})
    spawn = "for i in $(seq 30); do sleep 30 & done; wait"
    harness.start(ctx, "sh", "-c", f"exec 2>{tmp_path}/err; {spawn}")
    free = harness.start(other, "sh", "-c", spawn)
    assert wait_for(lambda: len(manager.recorded(other).pids()) >= 31)
    assert wait_for(lambda: int(read(f"{cgroup_dir(ctx, 'pids')}/pids.events").split()[1]) > 0)
    assert len(manager.recorded(ctx).pids()) <= 10
    assert "fork" in (tmp_path / "err").read_text().lower()  # sh: Cannot fork
    assert free.proc.poll() is None


# -- freezer ------------------------------------------------------------------------


COUNTER = "import time\ni = 0\nwhile True:\n    i += 1\n    open({path!r}, 'w').write(str(i))\n    time.sleep(0.005)"


def counter_value(path) -> int:
    try:
        return int(open(path).read() or 0)
    except (OSError, ValueError):
        return 0


def test_pause_stops_a_counter_and_resume_restarts_it(harness, tmp_path):
    counter = str(tmp_path / "count")
    ctx = harness.container({})
    harness.python(ctx, COUNTER.format(path=counter))
    assert wait_for(lambda: counter_value(counter) > 5)
    assert harness.call("pause", ctx) == [True]
    assert read(f"{cgroup_dir(ctx, 'freezer')}/freezer.state") == "FROZEN"
    before = counter_value(counter)
    time.sleep(0.3)
    assert counter_value(counter) == before
    assert harness.call("resume", ctx) == [True]
    assert wait_for(lambda: counter_value(counter) > before + 5)


def test_joining_a_paused_container_is_refused(harness):
    ctx = harness.container({})
    harness.start(ctx, "sleep", "30")
    harness.call("pause", ctx)
    joiner = harness.spawn("true")
    with pytest.raises(ContainerError, match="paused"):
        harness.call("join", ctx, pid=joiner.pid)
    harness.call("resume", ctx)


def test_pause_without_freezer_reports_it_by_name(harness):
    ctx = harness.container({})
    ctx.record("cgroups", driver="v1", paths={"memory": "/nonexistent"}, created=[])
    with pytest.raises(ContainerError, match="freezer cgroup controller is not mounted"):
        harness.call("pause", ctx)


def test_freezer_frozen_starts_the_container_paused(harness, tmp_path):
    counter = str(tmp_path / "count")
    ctx = harness.container({"freezer": "FROZEN"})
    child = harness.python(ctx, COUNTER.format(path=counter))
    harness.call("post_start", ctx, pid=child.pid)
    assert read(f"{cgroup_dir(ctx, 'freezer')}/freezer.state") == "FROZEN"
    harness.call("resume", ctx)
    assert wait_for(lambda: counter_value(counter) > 0)


# -- cpu ------------------------------------------------------------------------------


def cpu_share(ctx, seconds: float = 1.0) -> float:
    usage = f"{cgroup_dir(ctx, 'cpuacct')}/cpuacct.usage"
    start, t0 = int(read(usage)), time.monotonic()
    time.sleep(seconds)
    return (int(read(usage)) - start) / 1e9 / (time.monotonic() - t0)


def test_cpu_quota_holds_a_busy_loop_near_20_percent(harness):
    ctx = harness.container({"cpu_quota": 20000, "cpu_period": 100000})
    harness.start(ctx, "sh", "-c", "while :; do :; done")
    time.sleep(0.2)
    share = cpu_share(ctx)
    assert 0.10 <= share <= 0.35, share
    assert read(f"{cgroup_dir(ctx, 'cpu')}/cpu.cfs_quota_us") == "20000"
    assert manager.recorded(ctx).stats()["cpu"]["throttling"]["throttled_periods"] > 0


def test_without_cpu_quota_a_busy_loop_uses_a_whole_cpu(harness):
    ctx = harness.container({"cpu_shares": 1024})
    harness.start(ctx, "sh", "-c", "while :; do :; done")
    time.sleep(0.2)
    assert cpu_share(ctx) > 0.45  # well above the 0.35 bound of the quota test, even on a busy host


def test_cpuset_pins_the_container_to_a_cpu(harness):
    ctx = harness.container({"cpuset_cpus": "0"})
    child = harness.start(ctx, "sleep", "30")
    assert wait_for(lambda: "Cpus_allowed_list:\t0\n" in open(f"/proc/{child.pid}/status").read())


def test_kernel_rejecting_a_value_reports_the_file_and_value(harness):
    ctx = harness.container({"cpuset_cpus": "99"})  # valid syntax, no such CPU here
    with pytest.raises(ContainerError) as info:
        harness.call("pre_clone", ctx)
    message = str(info.value)
    assert "cpuset.cpus '99'" in message and message.startswith("cgroups: /sys/fs/cgroup/cpuset/")


# -- devices ----------------------------------------------------------------------------

OPEN_DEVICES = """
import os
import signal
for path, mode in (("/dev/zero", os.O_RDONLY), ("/dev/full", os.O_WRONLY)):
    try:
        os.close(os.open(path, mode))
        print(path, "ok")
    except OSError as e:
        print(path, e.errno)
"""

ZERO_ONLY = [{"type": 99, "major_number": 1, "minor_number": 5, "cgroup_permissions": "rwm"}]


def test_device_rules_allow_dev_zero_and_deny_dev_full(harness):
    ctx = harness.container({"allowed_devices": ZERO_ONLY})
    status, out, err = harness.python(ctx, OPEN_DEVICES).output()
    assert status == 0, err
    assert out.split("\n")[:2] == ["/dev/zero ok", "/dev/full 1"]  # EPERM
    assert read(f"{cgroup_dir(ctx, 'devices')}/devices.list") == "c 1:5 rwm"


def test_allow_and_deny_rules_in_order_allow_dev_zero_and_deny_dev_full(harness):
    ctx = harness.container({"devices": [{"allow": False, "access": "rwm"},
                                         {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                                         {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
                                         {"allow": False, "type": "c", "major": 1, "minor": 7, "access": "rwm"}]})
    status, out, err = harness.python(ctx, OPEN_DEVICES).output()
    assert status == 0, err
    assert out.split("\n")[:2] == ["/dev/zero ok", "/dev/full 1"]  # EPERM: denied after the allow


def test_allow_all_devices_lets_dev_full_open(harness):
    ctx = harness.container({"allowed_devices": ZERO_ONLY, "allow_all_devices": True})
    status, out, err = harness.python(ctx, OPEN_DEVICES).output()
    assert status == 0, err
    assert out.split("\n")[:2] == ["/dev/zero ok", "/dev/full ok"]


def test_default_device_rules_are_libcontainers(harness):
    ctx = harness.container({})
    harness.call("pre_clone", ctx)
    rules = read(f"{cgroup_dir(ctx, 'devices')}/devices.list").splitlines()
    assert "c 1:3 rwm" in rules and "c *:* m" in rules and "c 136:* rwm" in rules
    assert "a *:* rwm" not in rules


# -- stats, join, lifecycle -----------------------------------------------------------------


def test_stats_fields_are_present_and_sane(harness):
    ctx = harness.container({"memory": "64M", "pids_limit": 50, "cpu_quota": 50000})
    harness.start(ctx, "sh", "-c", "sleep 30 & i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; wait")
    assert wait_for(lambda: len(manager.recorded(ctx).pids()) == 2)
    time.sleep(0.2)
    (stats,) = harness.call("stats", ctx)
    memory, cpu, pids = stats["memory"], stats["cpu"], stats["pids"]
    assert memory["limit"] == 64 * MB
    assert 0 < memory["usage"] <= memory["max_usage"] <= 64 * MB
    assert memory["failcnt"] >= 0 and "cache" in memory["stat"] and "rss" in memory["stat"]
    assert cpu["usage"]["total"] > 0
    assert len(cpu["usage"]["percpu"]) == os.cpu_count()
    assert sum(cpu["usage"]["percpu"]) >= cpu["usage"]["total"] * 0.9
    assert cpu["throttling"]["periods"] >= 0
    assert pids == {"current": 2, "limit": 50}
    assert isinstance(stats["blkio"]["io_service_bytes"], list)


def test_joining_process_joins_the_same_cgroups(harness):
    ctx = harness.container({"pids_limit": 50})
    harness.start(ctx, "sleep", "30")
    joiner = harness.spawn("sleep", "30")
    harness.call("join", ctx, pid=joiner.pid)
    own = open(f"/proc/{joiner.pid}/cgroup").read()
    for controller in ("pids", "memory", "freezer", "cpuacct"):
        assert f":{controller}:/{PARENT}/{ctx.id}\n" in own, own


def test_first_process_is_in_every_cgroup_before_it_runs(harness, tmp_path):
    ctx = harness.container({"memory": "64M"})
    status, out, _ = harness.start(ctx, "cat", "/proc/self/cgroup").output()
    assert status == 0
    for controller in ("memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer", "blkio"):
        assert f":{controller}:/{PARENT}/{ctx.id}\n" in out, out


def test_cgroups_are_removed_after_post_exit_even_with_processes_left(harness):
    ctx = harness.container({"memory": "64M"})
    harness.start(ctx, "sh", "-c", "sleep 30 & sleep 30 & wait")
    dirs = list(ctx.resources["cgroups"]["paths"].values())
    assert all(os.path.isdir(d) for d in dirs)
    harness.call("post_exit", ctx)
    assert not any(os.path.exists(d) for d in dirs)
    assert not any(os.path.exists(os.path.dirname(d)) for d in dirs)  # the parent we made too
    harness.call("post_exit", ctx)  # a second cleanup (stale) tolerates what is gone


def test_stale_cleanup_kills_a_paused_container_and_removes_it(harness):
    ctx = harness.container({})
    child = harness.start(ctx, "sleep", "30")
    harness.call("pause", ctx)
    ctx.stale = True
    harness.call("post_exit", ctx)
    assert child.wait() == 137
    assert not os.path.exists(cgroup_dir(ctx, "freezer"))


def test_a_running_cgroup_name_is_refused(harness):
    first = harness.container({})
    harness.start(first, "sleep", "30")
    second = harness.container({"name": first.id})
    with pytest.raises(ContainerError, match=f"a container with cgroup name {first.id} is already running"):
        harness.call("pre_clone", second)
    assert "cgroups" not in second.resources  # nothing recorded: cleanup cannot touch the first
    assert manager.recorded(first).pids()


def test_missing_controller_is_reported_by_name(harness):
    ctx = harness.container({"pids_limit": 10})
    hosts = probe()
    hosts.v1.pop("pids")
    with pytest.raises(ContainerError, match=r"the pids cgroup controller is not mounted \(needed for pids_limit\)"):
        manager.set_up(ctx, hosts)


def test_rootless_is_refused_with_a_clear_message(harness):
    ctx = harness.container({"memory": "32M"})
    os.seteuid(65534)
    try:
        with pytest.raises(ContainerError) as info:
            harness.call("pre_clone", ctx)
    finally:
        os.seteuid(0)
    assert str(info.value) == "cgroups: cgroups need root (rootless containers cannot set cgroup limits on cgroup v1)"


def test_no_cgroup_filesystem_is_reported(harness):
    ctx = harness.container({})
    with pytest.raises(ContainerError, match="no cgroup hierarchy is mounted"):
        manager.set_up(ctx, Hierarchies())


def test_default_parent_is_libcontainer(harness):
    ctx = harness.container({"parent": ""})
    harness.call("pre_clone", ctx)
    assert cgroup_dir(ctx, "memory") == f"/sys/fs/cgroup/memory/libcontainer/{ctx.id}"
    harness.call("post_exit", ctx)
    assert not os.path.exists(cgroup_dir(ctx, "memory"))


def test_stale_cleanup_leaves_a_new_container_of_the_same_name_alone(harness):
    dead = harness.container({})
    harness.call("pre_clone", dead)  # its nsinit was killed before cleaning up: the empty cgroup stays
    alive = harness.container({"name": dead.id})
    child = harness.start(alive, "sleep", "30")  # same name: the leftover is made afresh
    dead.stale = True
    harness.call("post_exit", dead)
    assert child.proc.poll() is None
    assert manager.recorded(alive).pids() == [child.pid]


def test_stale_cleanup_of_the_same_container_still_removes_it(harness):
    ctx = harness.container({})
    child = harness.start(ctx, "sleep", "30")
    ctx.stale = True
    harness.call("post_exit", ctx)
    assert child.wait() == 137 and not os.path.exists(cgroup_dir(ctx, "memory"))


def a_block_device() -> str:
    """"major:minor" of a block device of this machine."""
    for name in sorted(os.listdir("/sys/block")):
        path = f"/sys/block/{name}/dev"
        if os.path.exists(path):
            return read(path)
    pytest.skip("no block device")


def test_blkio_throttle_is_written_for_a_real_device(harness):
    major, minor = map(int, a_block_device().split(":"))
    ctx = harness.container({"blkio_throttle_read_bps_device": [{"major": major, "minor": minor, "rate": "1M"}]})
    harness.call("pre_clone", ctx)
    assert read(f"{cgroup_dir(ctx, 'blkio')}/blkio.throttle.read_bps_device") == f"{major}:{minor} 1048576"


def test_blkio_throttle_on_a_missing_device_reports_file_and_value(harness):
    ctx = harness.container({"blkio_throttle_read_bps_device": [{"major": 254, "minor": 99, "rate": 1024}]})
    with pytest.raises(ContainerError, match=r"blkio.throttle.read_bps_device '254:99 1024': No such device"):
        harness.call("pre_clone", ctx)


def test_a_cgroup_name_that_climbs_is_refused_even_unvalidated(harness):
    ctx = harness.container({})
    ctx.config.sections["cgroups"]["name"] = "../../escape"  # past the config checks, as a buggy caller might
    with pytest.raises(ContainerError, match="must not climb out of its parent"):
        harness.call("pre_clone", ctx)
    assert not os.path.exists("/sys/fs/cgroup/memory/escape")


def _moved_child(ctx, move: bool) -> int:
    """A forked, single-threaded child that (optionally) runs process_created on itself, then waits."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            if move:
                libcontainer_cgroups.libcontainer_process_created(container=ctx)
            os.write(w, b"x")
            time.sleep(30)
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"x"
    os.close(r)
    return pid


def test_container_process_moves_itself_into_every_hierarchy(harness):
    """process_created: the container's own thread writes 0 to tasks, so post_clone has nothing left to do."""
    from libcontainer_cgroups.manager import recorded

    ctx = harness.container({"memory": "64M", "pids_limit": 10})
    harness.call("pre_clone", ctx)
    pid = _moved_child(ctx, move=True)
    try:
        driver = recorded(ctx)
        assert driver.missing(pid) == []
        own = open(f"/proc/{pid}/cgroup").read()
        for controller in ("memory", "pids", "freezer"):
            assert f":{controller}:/{PARENT}/{ctx.id}\n" in own, own
        harness.call("post_clone", ctx, pid=pid)  # finds nothing to move
        assert driver.missing(pid) == []
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_without_process_created_post_clone_moves_the_process(harness):
    """Twin: a process that did not move itself is in none of the cgroups until post_clone puts it there."""
    from libcontainer_cgroups.manager import recorded

    ctx = harness.container({"memory": "64M"})
    harness.call("pre_clone", ctx)
    pid = _moved_child(ctx, move=False)
    try:
        driver = recorded(ctx)
        assert driver.missing(pid) == driver.dirs()
        harness.call("post_clone", ctx, pid=pid)
        assert driver.missing(pid) == []
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
