"""The ``cgroups`` key: schema, parsing, cross-field checks, host probing (no root needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cgroups_harness import load
from libcontainer.errors import ConfigError
from libcontainer_cgroups.config import DEFAULT_DEVICES, DeviceRule, controllers_needed, parse_cgroups, valid_cpuset
from libcontainer_cgroups.probe import parse_mountinfo
from libcontainer_cgroups.validate import check_section
from libcontainer_cgroups.v1 import missing_controllers

SAMPLES = Path(__file__).resolve().parents[3] / "sample_configs"


def problems(section):
    with pytest.raises(ConfigError) as info:
        load({"cgroups": section})
    return [str(p) for p in info.value.problems]


def test_sample_config_cgroups_section_is_accepted_and_parsed():
    doc = json.loads((SAMPLES / "minimal.json").read_text())
    cfg = parse_cgroups(load({"cgroups": doc["cgroups"]}).section("cgroups"))
    assert cfg.cgroup_path("ignored") == "docker/docker-koye"
    rules = [d.rule() for d in cfg.device_rules]
    assert rules[:2] == ["c *:* m", "b *:* m"]
    assert "c 1:3 rwm" in rules and "c 136:* rwm" in rules
    # libcontainer wrote no minor for /dev/tty0 (4:0) and /dev/tty (5:0): absent is 0, not "any".
    assert "c 4:0 rwm" in rules and "c 5:0 rwm" in rules


def test_sizes_are_normalised_to_bytes():
    cfg = parse_cgroups(load({"cgroups": {"memory": "32M", "memory_swap": -1}}).section("cgroups"))
    assert cfg.memory == 32 * 1024 * 1024
    assert cfg.memory_swap == -1


def test_bad_size_is_refused_naming_the_field():
    found = problems({"memory": "lots"})
    assert any(p.startswith("$.cgroups.memory") for p in found), found


def test_defaults_are_libcontainer_parent_and_container_id():
    cfg = parse_cgroups({})
    assert cfg.cgroup_path("abc") == "libcontainer/abc"
    assert cfg.device_rules == list(DEFAULT_DEVICES)
    assert not cfg.restricts_devices


def test_go_zero_values_mean_unset():
    cfg = parse_cgroups({"memory": 0, "cpu_shares": 0, "cpuset_cpus": "", "parent": ""})
    assert cfg.memory is None and cfg.cpu_shares is None and cfg.cpuset_cpus is None
    assert cfg.parent == "libcontainer"
    assert controllers_needed(cfg) == []


def test_cpu_quota_without_period_is_fine():
    assert load({"cgroups": {"cpu_quota": 20000}}).section("cgroups") == {"cpu_quota": 20000}


def test_memory_swap_below_memory_is_refused():
    found = problems({"memory": "64M", "memory_swap": "32M"})
    assert found == ["$.cgroups.memory_swap: 33554432 is less than memory (67108864): memory_swap is "
                     "memory plus swap, so it must be at least memory (or -1 for unlimited swap)"]


def test_memory_swap_unlimited_with_memory_is_fine():
    assert load({"cgroups": {"memory": "64M", "memory_swap": -1}}).section("cgroups") == {"memory": 64 << 20,
                                                                                           "memory_swap": -1}


@pytest.mark.parametrize("name", ["a/b", "..", "."])
def test_cgroup_name_of_more_than_one_component_is_refused(name):
    found = problems({"name": name})
    assert len(found) == 1 and "$.cgroups.name" in found[0] and repr(name) in found[0]


def test_parent_may_nest_but_not_climb():
    load({"cgroups": {"parent": "machine/containers"}})
    assert "$.cgroups.parent" in problems({"parent": "machine/../../etc"})[0]


@pytest.mark.parametrize("text,ok", [("0", True), ("0-3", True), ("0-1,4,6-7", True), ("3-1", False),
                                     ("0,", False), ("a", False), ("0 1", False)])
def test_cpuset_syntax(text, ok):
    assert valid_cpuset(text) is ok


def test_bad_cpuset_is_refused_naming_the_field():
    assert "$.cgroups.cpuset_cpus" in problems({"cpuset_cpus": "0-"})[0]


def test_cpu_quota_below_a_millisecond_is_refused():
    assert "$.cgroups.cpu_quota" in problems({"cpu_quota": 500})[0]


def test_unknown_field_is_refused():
    assert any("memroy" in p for p in problems({"memroy": 1}))


def test_device_rule_lines():
    assert DeviceRule(99, 1, 3, "rwm").rule() == "c 1:3 rwm"
    assert DeviceRule(98, -1, -1, "m").rule() == "b *:* m"
    assert DeviceRule(97).rule() == "a"


def test_bad_device_permissions_are_refused():
    found = problems({"allowed_devices": [{"type": 99, "major_number": 1, "minor_number": 3,
                                           "cgroup_permissions": "rwx"}]})
    assert any("allowed_devices[0].cgroup_permissions" in p for p in found), found


MOUNTINFO_V1 = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

MOUNTINFO_V2 = """\
25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""


def test_probe_picks_v1_when_controller_hierarchies_are_mounted():
    found = parse_mountinfo(MOUNTINFO_V1)
    assert found.driver == "v1"
    assert found.v1 == {"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                        "memory": "/sys/fs/cgroup/memory"}
    assert found.unified == "/sys/fs/cgroup/unified"


def test_probe_picks_v2_on_a_unified_host():
    found = parse_mountinfo(MOUNTINFO_V2)
    assert found.driver == "v2" and found.unified == "/sys/fs/cgroup" and found.v1 == {}


def test_probe_finds_no_driver_without_cgroup_mounts():
    assert parse_mountinfo("22 1 0:5 / /proc rw - proc proc rw\n").driver is None


def test_missing_controller_is_named():
    cfg = parse_cgroups({"pids_limit": 10, "memory": 1 << 25})
    assert missing_controllers(cfg, parse_mountinfo(MOUNTINFO_V1).v1) == ["pids"]


def test_throttle_rates_take_sizes():
    cfg = parse_cgroups(load({"cgroups": {"blkio_throttle_write_bps_device": [
        {"major": 8, "minor": 0, "rate": "2M"}]}}).section("cgroups"))
    assert [d.line() for d in cfg.blkio_throttle_write_bps_device] == ["8:0 2097152"]
    assert controllers_needed(cfg) == ["blkio"]


def test_throttle_without_minor_is_refused():
    found = problems({"blkio_throttle_read_iops_device": [{"major": 8, "rate": 10}]})
    assert any("blkio_throttle_read_iops_device[0]" in p and "minor" in p for p in found), found


def test_device_rules_are_not_mixed_with_the_allow_list():
    assert [str(p) for p in check_section({"devices": [{"allow": True}], "allowed_devices": []})] == [
        "$.cgroups.allowed_devices: give either devices (allow and deny rules in order) or allowed_devices, not both"]


def test_a_rule_for_every_device_takes_every_access_on_v1():
    assert [str(p) for p in check_section({"devices": [{"allow": False, "type": "a", "access": "m"}]})] == [
        "$.cgroups.devices[0].access: a rule for every device (type a) covers every access on cgroup v1: give rwm, "
        "or a type"]


def test_taking_part_of_a_wider_rule_back_is_refused_as_v1_cannot_apply_it():
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "access": "rwm"},
             {"allow": False, "type": "c", "major": 1, "minor": 7}]
    assert [str(p) for p in check_section({"devices": rules})] == [
        "$.cgroups.devices[2]: cannot deny c 1:7 rwm after the wider c 1:* rwm: the v1 device cgroup takes back "
        "only a whole earlier rule"]
    rules[2]["minor"] = -1  # twin: the whole rule taken back
    assert check_section({"devices": rules}) == []
