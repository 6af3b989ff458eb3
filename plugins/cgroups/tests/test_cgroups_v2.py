"""The v2 driver: what it writes into a fixture tree of cgroup files, and a real controller-less cgroup2."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from cgroups_harness import PARENT, read, require_root, wait_for
from libcontainer.errors import ContainerError
from libcontainer_cgroups import manager
from libcontainer_cgroups.probe import Hierarchies, probe
from libcontainer_cgroups.v2 import blkio_to_io_weight, shares_to_weight

MB = 1024 * 1024
LEAF_FILES = ("memory.max", "memory.low", "memory.swap.max", "cpu.weight", "cpu.max", "cpuset.cpus",
              "cpuset.mems", "pids.max", "io.weight", "cgroup.procs", "cgroup.freeze", "cgroup.kill",
              "cgroup.subtree_control", "io.max")


def fake_cgroupfs(root: Path, controllers: str, monkeypatch) -> None:
    """A cgroup2 root in tmp_path: like the kernel, every mkdir below it comes with its control files."""
    from libcontainer_cgroups import v2

    (root / "cgroup.controllers").write_text(controllers + "\n")
    (root / "cgroup.subtree_control").write_text("")
    real_make_dirs = v2.make_dirs

    def make_dirs(path, top):
        made = real_make_dirs(path, top)
        for directory in made:
            for f in LEAF_FILES:
                Path(directory, f).write_text("")
            Path(directory, "cgroup.events").write_text("populated 0\nfrozen 1\n")
        return made

    monkeypatch.setattr(v2, "make_dirs", make_dirs)


@pytest.fixture
def tree(tmp_path, harness, monkeypatch):
    """A fake cgroup2 root and a function setting up a container's cgroup in it."""
    root = tmp_path / "cgroup2"
    root.mkdir()
    made = []

    def set_up(section, controllers="cpuset cpu io memory pids"):
        ctx = harness.container(section)
        made.append(ctx)
        fake_cgroupfs(root, controllers, monkeypatch)
        manager.set_up(ctx, Hierarchies(unified=str(root)))
        return ctx, root / PARENT / ctx.id

    set_up.root = root
    yield set_up
    for ctx in made:  # plain directories with files: tmp_path removes them, not post_exit
        ctx.resources.pop("cgroups", None)


def written(leaf: Path) -> dict[str, str]:
    return {f: (leaf / f).read_text() for f in LEAF_FILES if (leaf / f).read_text()}


# -- fixture tree: what is written --------------------------------------------------


def test_v2_writes_unified_limits(tree):
    ctx, leaf = tree({"memory": "64M", "memory_swap": "96M", "memory_reservation": "16M", "cpu_shares": 512,
                      "cpu_quota": 20000, "cpu_period": 50000, "cpuset_cpus": "0", "cpuset_mems": "0",
                      "pids_limit": 100, "blkio_weight": 500})
    assert written(leaf) == {
        "memory.max": str(64 * MB),
        "memory.swap.max": str(32 * MB),  # memory_swap is memory + swap; swap.max is swap alone
        "memory.low": str(16 * MB),
        "cpu.weight": str(shares_to_weight(512)),
        "cpu.max": "20000 50000",
        "cpuset.cpus": "0",
        "cpuset.mems": "0",
        "pids.max": "100",
        "io.weight": str(blkio_to_io_weight(500)),
    }
    assert ctx.resources["cgroups"]["driver"] == "v2"
    assert ctx.resources["cgroups"]["paths"] == {"unified": str(leaf)}


def test_v2_enables_controllers_in_every_ancestor_but_not_the_leaf(tree):
    _, leaf = tree({"memory": "64M", "pids_limit": 10})
    assert (tree.root / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (leaf.parent / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (leaf / "cgroup.subtree_control").read_text() == ""


def test_v2_unlimited_values_are_max(tree):
    _, leaf = tree({"memory": "64M", "memory_swap": -1, "cpu_quota": -1, "pids_limit": -1})
    assert written(leaf) == {"memory.max": str(64 * MB), "memory.swap.max": "max", "cpu.max": "max 100000",
                             "pids.max": "max"}


def test_v2_quota_alone_gets_the_default_period(tree):
    _, leaf = tree({"cpu_quota": 20000})
    assert written(leaf) == {"cpu.max": "20000 100000"}


def test_v2_throttles_become_one_io_max_line_per_device(tree, monkeypatch):
    from libcontainer_cgroups import v2
    from libcontainer_cgroups.config import parse_cgroups
    from libcontainer_cgroups.v2 import io_max_lines

    log = []
    real_write = v2.write_value
    monkeypatch.setattr(v2, "write_value", lambda path, value: (log.append((os.path.basename(path), value)),
                                                                real_write(path, value)))

    section = {"blkio_throttle_read_bps_device": [{"major": 8, "minor": 0, "rate": "1M"}],
               "blkio_throttle_write_iops_device": [{"major": 8, "minor": 0, "rate": 100},
                                                    {"major": 8, "minor": 16, "rate": 0}]}
    assert io_max_lines(parse_cgroups(section)) == ["8:0 rbps=1048576 wiops=100", "8:16 wiops=max"]
    tree(section)
    assert [w for w in log if w[0] == "io.max"] == [("io.max", "8:0 rbps=1048576 wiops=100"),
                                                    ("io.max", "8:16 wiops=max")]
    assert (tree.root / "cgroup.subtree_control").read_text() == "+io"


def test_v2_weights_map_the_v1_ranges():
    assert shares_to_weight(2) == 1 and shares_to_weight(262144) == 10000
    assert 30 <= shares_to_weight(1024) <= 100
    assert blkio_to_io_weight(10) == 1 and blkio_to_io_weight(1000) == 10000


def test_v2_refuses_device_rules_it_cannot_enforce(tree):
    with pytest.raises(ContainerError, match="allowed_devices cannot be enforced on cgroup v2"):
        tree({"allowed_devices": [{"type": 99, "major_number": 1, "minor_number": 3}]})


def test_v2_allow_all_devices_is_accepted(tree):
    ctx, leaf = tree({"allow_all_devices": True, "allowed_devices": [{"type": 99, "major_number": 1}]})
    assert ctx.resources["cgroups"]["driver"] == "v2" and written(leaf) == {}


def test_v2_reports_a_controller_the_root_lacks(tree):
    with pytest.raises(ContainerError, match=r"the pids cgroup controller is not available in .*cgroup2 "
                                             r"\(cgroup.controllers: cpu memory\)"):
        tree({"pids_limit": 10}, controllers="cpu memory")


@pytest.mark.parametrize("section,field", [({"memory_swappiness": 10}, "memory_swappiness"),
                                           ({"oom_kill_disable": True}, "oom_kill_disable")])
def test_v2_refuses_v1_only_fields(tree, section, field):
    with pytest.raises(ContainerError, match=f"{field} does not exist on cgroup v2"):
        tree(section)


def test_v2_freeze_writes_cgroup_freeze_and_waits_for_frozen(tree, harness):
    ctx, leaf = tree({})
    assert harness.call("pause", ctx) == [True]
    assert (leaf / "cgroup.freeze").read_text() == "1"
    assert harness.call("resume", ctx) == [True]
    assert (leaf / "cgroup.freeze").read_text() == "0"


def test_v2_oom_is_read_from_memory_events(tree, harness):
    ctx, leaf = tree({"memory": "32M"})
    assert harness.call("exit_reason", ctx, status=137) == []
    (leaf / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    assert harness.call("exit_reason", ctx, status=137) == ["killed by the OOM killer"]
    assert harness.call("exit_reason", ctx, status=1) == []


def test_v2_stats_from_unified_files(tree, harness):
    ctx, leaf = tree({"memory": "32M"})
    (leaf / "memory.current").write_text("1048576\n")
    (leaf / "memory.peak").write_text("2097152\n")
    (leaf / "memory.max").write_text(f"{32 * MB}\n")
    (leaf / "memory.stat").write_text("anon 4096\nfile 8192\n")
    (leaf / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
                                   "nr_periods 10\nnr_throttled 3\nthrottled_usec 700\n")
    (leaf / "pids.current").write_text("2\n")
    (leaf / "pids.max").write_text("max\n")
    (leaf / "io.stat").write_text("8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n")
    (stats,) = harness.call("stats", ctx)
    assert stats["memory"] | {"stat": None} == {"usage": MB, "max_usage": 2 * MB, "limit": 32 * MB,
                                                "failcnt": None, "swap_usage": None, "oom_kill": None,
                                                "stat": None}
    assert stats["memory"]["stat"] == {"anon": 4096, "file": 8192}
    assert stats["cpu"]["usage"]["total"] == 1_500_000
    assert stats["cpu"]["throttling"] == {"periods": 10, "throttled_periods": 3, "throttled_time": 700_000}
    assert stats["pids"] == {"current": 2, "limit": None}
    assert {"major": 8, "minor": 0, "op": "Read", "value": 4096} in stats["blkio"]["io_service_bytes"]
    assert {"major": 8, "minor": 0, "op": "ReadIos", "value": 1} in stats["blkio"]["io_serviced"]


# -- the real cgroup2 mount of this machine (its controllers unused) ----------------------


@pytest.fixture
def unified():
    """The host's cgroup2 mount; the tests using it say so with needs_host("cgroup2")."""
    require_root()
    hosts = probe()
    assert hosts.unified, "no cgroup2 mount: mark the test needs_host('cgroup2')"
    return Hierarchies(unified=hosts.unified, unified_controllers=hosts.unified_controllers)


@pytest.fixture
def bare(unified):
    """A cgroup2 directory offering no controller, whatever the host's root offers: the child
    of a cgroup whose cgroup.subtree_control is empty (cgroup-v2.rst, "Enabling and Disabling")."""
    outer = os.path.join(unified.unified, f"{PARENT}-bare")
    inner = os.path.join(outer, "root")
    os.makedirs(inner)
    try:
        yield Hierarchies(unified=inner)
    finally:
        for path in (inner, outer):
            if os.path.isdir(path):
                os.rmdir(path)


COUNTER = "import time\ni = 0\nwhile True:\n    i += 1\n    open({path!r}, 'w').write(str(i))\n    time.sleep(0.005)"


def count(path) -> int:
    try:
        return int(open(path).read() or 0)
    except (OSError, ValueError):
        return 0


@pytest.mark.privileged
@pytest.mark.needs_host("cgroup2")
def test_v2_real_procs_freeze_and_kill(harness, unified, tmp_path):
    counter = str(tmp_path / "count")
    ctx = harness.container({})
    child = harness.start(ctx, "python3", "-c", COUNTER.format(path=counter), hosts=unified)
    leaf = ctx.resources["cgroups"]["paths"]["unified"]
    assert leaf == os.path.join(unified.unified, PARENT, ctx.id)
    assert read(f"{leaf}/cgroup.procs").split() == [str(child.pid)]
    assert f"0::/{PARENT}/{ctx.id}\n" in open(f"/proc/{child.pid}/cgroup").read()
    assert wait_for(lambda: count(counter) > 5)
    # cgroup.freeze stops it, cgroup.events confirms ...
    harness.call("pause", ctx)
    assert "frozen 1" in read(f"{leaf}/cgroup.events")
    before = count(counter)
    time.sleep(0.3)
    assert count(counter) == before
    # ... and thawing restarts it.
    harness.call("resume", ctx)
    assert wait_for(lambda: count(counter) > before + 5)
    # cgroup.kill ends every process; the directories go.
    harness.call("post_exit", ctx)
    assert child.wait() == 137
    assert not os.path.exists(leaf) and not os.path.exists(os.path.dirname(leaf))


@pytest.mark.privileged
@pytest.mark.needs_host("cgroup2")
def test_v2_real_join_puts_a_process_in_the_same_cgroup(harness, unified):
    ctx = harness.container({})
    harness.start(ctx, "sleep", "30", hosts=unified)
    joiner = harness.spawn("sleep", "30")
    harness.call("join", ctx, pid=joiner.pid)
    assert str(joiner.pid) in read(f"{ctx.resources['cgroups']['paths']['unified']}/cgroup.procs").split()


@pytest.mark.privileged
@pytest.mark.needs_host("cgroup2")
def test_v2_real_refuses_a_limit_without_its_controller(harness, bare):
    ctx = harness.container({"memory": "32M"})
    with pytest.raises(ContainerError, match=rf"the memory cgroup controller is not available in "
                                             rf"{re.escape(bare.unified)} \(cgroup.controllers: none\)"):
        manager.set_up(ctx, bare)
    assert not os.path.exists(os.path.join(bare.unified, PARENT))


@pytest.mark.privileged
@pytest.mark.needs_host("cgroup2")
def test_v2_real_running_cgroup_name_is_refused(harness, unified):
    first = harness.container({})
    harness.start(first, "sleep", "30", hosts=unified)
    second = harness.container({"name": first.id})
    with pytest.raises(ContainerError, match="is already running"):
        manager.set_up(second, unified)
