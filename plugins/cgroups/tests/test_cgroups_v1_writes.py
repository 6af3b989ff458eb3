"""What the v1 driver writes, and in which order, recorded without a kernel (no root needed)."""

from __future__ import annotations

import errno

import pytest

from libcontainer.errors import ContainerError
from libcontainer_cgroups import v1
from libcontainer_cgroups.config import parse_cgroups
from libcontainer_cgroups.files import write_value

MB = 1024 * 1024


@pytest.fixture
def writes(monkeypatch, tmp_path):
    """A V1Driver over plain directories; every write is recorded as (controller/file, value)."""
    log: list[tuple[str, str]] = []
    paths = {}
    for controller in ("memory", "cpu", "cpuset", "pids", "devices", "blkio"):
        d = tmp_path / controller
        d.mkdir()
        paths[controller] = str(d)
    (tmp_path / "memory" / "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")
    (tmp_path / "blkio" / "blkio.bfq.weight").write_text("100\n")

    def record(path, value):
        log.append((path[len(str(tmp_path)) + 1:], str(value)))

    monkeypatch.setattr(v1, "write_value", record)

    def apply(section):
        log.clear()
        v1.V1Driver(paths).apply(parse_cgroups(section))
        return log

    apply.tmp = tmp_path
    return apply


def test_device_rules_deny_everything_then_allow_each(writes):
    log = writes({"allowed_devices": [{"type": 99, "major_number": 1, "minor_number": 5},
                                      {"type": 98, "major_number": -1, "minor_number": -1,
                                       "cgroup_permissions": "m"}]})
    assert log == [("devices/devices.deny", "a"), ("devices/devices.allow", "c 1:5 rwm"),
                   ("devices/devices.allow", "b *:* m")]


def test_allow_and_deny_rules_are_written_in_order_to_their_files(writes):
    """OCI's resources.devices as podman sends them: deny everything, then allow some."""
    log = writes({"devices": [{"allow": False, "access": "rwm"},
                              {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
                              {"allow": True, "type": "c", "major": 136, "access": "rw"},
                              {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "m"}]})
    assert log == [("devices/devices.deny", "a"), ("devices/devices.allow", "c 10:229 rwm"),
                   ("devices/devices.allow", "c 136:* rw"), ("devices/devices.deny", "c 10:229 m")]


def test_allow_all_devices_writes_a_to_devices_allow(writes):
    assert writes({"allow_all_devices": True}) == [("devices/devices.allow", "a")]


def test_memory_then_memsw_when_lowering_from_unlimited(writes):
    log = writes({"memory": "32M", "memory_swap": "64M", "memory_reservation": "16M"})
    assert log[:3] == [("memory/memory.limit_in_bytes", str(32 * MB)),
                       ("memory/memory.memsw.limit_in_bytes", str(64 * MB)),
                       ("memory/memory.soft_limit_in_bytes", str(16 * MB))]


def test_memsw_first_when_raising_memory_above_the_current_memsw(writes):
    (writes.tmp / "memory" / "memory.memsw.limit_in_bytes").write_text(f"{16 * MB}\n")
    log = writes({"memory": "32M", "memory_swap": "64M"})
    assert log[:2] == [("memory/memory.memsw.limit_in_bytes", str(64 * MB)),
                       ("memory/memory.limit_in_bytes", str(32 * MB))]


def test_memory_swap_without_swap_accounting_is_refused(writes):
    (writes.tmp / "memory" / "memory.memsw.limit_in_bytes").unlink()
    with pytest.raises(ContainerError, match="memory_swap needs swap accounting"):
        writes({"memory": "32M", "memory_swap": "64M"})


def test_cpu_period_is_written_before_quota(writes):
    log = writes({"cpu_quota": 20000, "cpu_period": 50000, "cpu_shares": 512})
    assert log[:3] == [("cpu/cpu.shares", "512"), ("cpu/cpu.cfs_period_us", "50000"),
                       ("cpu/cpu.cfs_quota_us", "20000")]


def test_unlimited_pids_is_max(writes):
    assert ("pids/pids.max", "max") in writes({"pids_limit": -1})


def test_blkio_weight_falls_back_to_bfq(writes):
    assert ("blkio/blkio.bfq.weight", "500") in writes({"blkio_weight": 500})


def test_blkio_weight_without_a_weight_file_is_refused(writes):
    (writes.tmp / "blkio" / "blkio.bfq.weight").unlink()
    with pytest.raises(ContainerError, match="blkio_weight is not supported here"):
        writes({"blkio_weight": 500})


def test_a_refused_write_reports_the_file_and_the_value():
    # /dev/full refuses every write (ENOSPC), as a cgroup file refuses a bad value.
    with pytest.raises(ContainerError) as info:
        write_value("/dev/full", 42)
    assert str(info.value) == "cgroups: /dev/full '42': No space left on device"
    assert info.value.errno == errno.ENOSPC


def test_a_missing_control_file_is_reported_by_name(tmp_path):
    with pytest.raises(ContainerError, match=f"cgroups: {tmp_path}/pids.max: No such file or directory"):
        write_value(str(tmp_path / "pids.max"), 10)


def test_throttles_write_one_device_per_line(writes):
    log = writes({"blkio_throttle_read_bps_device": [{"major": 8, "minor": 0, "rate": "1M"},
                                                     {"major": 8, "minor": 16, "rate": 0}],
                  "blkio_throttle_write_iops_device": [{"major": 8, "minor": 0, "rate": 100}]})
    assert [w for w in log if w[0].startswith("blkio/")] == [
                   ("blkio/blkio.throttle.read_bps_device", "8:0 1048576"),
                   ("blkio/blkio.throttle.read_bps_device", "8:16 0"),
                   ("blkio/blkio.throttle.write_iops_device", "8:0 100")]


# -- concurrent containers sharing the default parent ---------------------------

def test_a_parent_removed_between_two_mkdirs_is_made_again(monkeypatch, tmp_path):
    """Another container's teardown rmdirs the shared parent after our mkdir found it there."""
    from libcontainer_cgroups import files

    (tmp_path / "libcontainer").mkdir()
    real_mkdir = files.os.mkdir
    raced = []

    def mkdir(path, *a, **kw):
        if path.endswith("/box") and not raced:  # the other container's rmdir wins the race once
            raced.append(path)
            (tmp_path / "libcontainer").rmdir()
        return real_mkdir(path, *a, **kw)

    monkeypatch.setattr(files.os, "mkdir", mkdir)
    made = files.make_dirs(str(tmp_path / "libcontainer" / "box"), str(tmp_path))
    assert raced and (tmp_path / "libcontainer" / "box").is_dir()
    assert made == [str(tmp_path / "libcontainer"), str(tmp_path / "libcontainer" / "box")]


def test_a_parent_that_keeps_vanishing_is_one_error_naming_the_directory(monkeypatch, tmp_path):
    from libcontainer_cgroups import files

    def mkdir(path, *a, **kw):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)

    monkeypatch.setattr(files.os, "mkdir", mkdir)
    with pytest.raises(ContainerError, match=r"cannot create .*/libcontainer: its parent vanished 20 times"):
        files.make_dirs(str(tmp_path / "libcontainer" / "box"), str(tmp_path))


def test_a_shared_cpuset_parent_still_empty_is_filled_before_the_child(tmp_path):
    """A concurrent container made the parent and has not written its cpus yet:
    copying its empty value into ours would make our cgroup refuse every task (ENOSPC)."""
    root = tmp_path / "cpuset"
    (root / "libcontainer" / "box").mkdir(parents=True)
    for d, cpus, mems in ((root, "0-1", "0"), (root / "libcontainer", "", ""), (root / "libcontainer" / "box", "", "")):
        (d / "cpuset.cpus").write_text(cpus + "\n")
        (d / "cpuset.mems").write_text(mems + "\n")
    v1.V1Driver._init_cpuset(str(root), str(root / "libcontainer" / "box"))
    for d in (root / "libcontainer", root / "libcontainer" / "box"):
        assert (d / "cpuset.cpus").read_text().strip() == "0-1"
        assert (d / "cpuset.mems").read_text().strip() == "0"
