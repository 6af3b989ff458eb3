"""The ``cgroups`` key of container.json as typed data."""

from __future__ import annotations

import re
from typing import Any

from libcontainer.records import fields, record

DEFAULT_PARENT = "libcontainer"  # parent cgroup when the config names none

# Device types in libcontainer's format: ord("c"), ord("b"), ord("a") (all).
DEVICE_TYPES = {99: "c", 98: "b", 97: "a"}

_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


@record(frozen=True)
class DeviceRule:
    """One entry of ``allowed_devices``: a device cgroup rule (libcontainer's Device)."""

    type: int = 99  # 99 "c" character, 98 "b" block, 97 "a" every device
    major_number: int = -1  # device major; -1 means any
    minor_number: int = 0  # device minor; -1 means any; absent is 0 as in libcontainer (/dev/tty0 is 4:0)
    cgroup_permissions: str = "rwm"  # subset of "rwm": read, write, mknod

    def rule(self) -> str:
        """The line for devices.allow: ``c 1:3 rwm``, ``c *:* m``."""
        kind = DEVICE_TYPES.get(self.type, "a")
        if kind == "a":
            return "a"
        major = "*" if self.major_number == -1 else str(self.major_number)
        minor = "*" if self.minor_number == -1 else str(self.minor_number)
        return f"{kind} {major}:{minor} {self.cgroup_permissions or 'rwm'}"


# libcontainer's default allowed devices, used when the config lists none:
# mknod of any node, and the usual nodes a process expects in /dev.
DEFAULT_DEVICES = (
    DeviceRule(99, -1, -1, "m"),  # mknod of any character device
    DeviceRule(98, -1, -1, "m"),  # mknod of any block device
    DeviceRule(99, 1, 3, "rwm"),  # /dev/null
    DeviceRule(99, 1, 5, "rwm"),  # /dev/zero
    DeviceRule(99, 1, 7, "rwm"),  # /dev/full
    DeviceRule(99, 1, 8, "rwm"),  # /dev/random
    DeviceRule(99, 1, 9, "rwm"),  # /dev/urandom
    DeviceRule(99, 5, 0, "rwm"),  # /dev/tty
    DeviceRule(99, 5, 1, "rwm"),  # /dev/console
    DeviceRule(99, 5, 2, "rwm"),  # /dev/ptmx
    DeviceRule(99, 136, -1, "rwm"),  # /dev/pts/*
    DeviceRule(99, 10, 200, "rwm"),  # /dev/net/tun
)


@record(frozen=True)
class DeviceAccess:
    """One entry of ``devices``: allow or deny access to devices, applied in order (OCI's resources.devices)."""

    allow: bool  # true: written to devices.allow; false: to devices.deny
    type: str = "a"  # "c" character, "b" block, "a" every device
    major: int = -1  # device major; -1 means any
    minor: int = -1  # device minor; -1 means any
    access: str = "rwm"  # subset of "rwm": read, write, mknod

    def rule(self) -> str:
        """The line for devices.allow or devices.deny: ``c 1:3 rwm``, ``c 136:* rwm``, ``a``."""
        if self.type == "a":
            return "a"  # every device, every access (Documentation/admin-guide/cgroup-v1/devices.rst)
        major = "*" if self.major == -1 else str(self.major)
        minor = "*" if self.minor == -1 else str(self.minor)
        return f"{self.type} {major}:{minor} {self.access or 'rwm'}"


@record(frozen=True)
class ThrottleDevice:
    """A rate limit on one block device (runc's ThrottleDevice)."""

    major: int  # block device major number (see /sys/block/<dev>/dev)
    minor: int  # block device minor number
    rate: int  # bytes or operations per second; 0 removes the limit

    def line(self) -> str:
        """The v1 line: ``8:0 1048576``."""
        return f"{self.major}:{self.minor} {self.rate}"


# Throttle fields: the v1 file each writes, and the key of v2's io.max line.
THROTTLES = {
    "blkio_throttle_read_bps_device": ("blkio.throttle.read_bps_device", "rbps"),
    "blkio_throttle_write_bps_device": ("blkio.throttle.write_bps_device", "wbps"),
    "blkio_throttle_read_iops_device": ("blkio.throttle.read_iops_device", "riops"),
    "blkio_throttle_write_iops_device": ("blkio.throttle.write_iops_device", "wiops"),
}


@record
class CgroupsConfig:
    """The ``cgroups`` section: where the container's cgroup is and its limits."""

    name: str = ""  # the container's cgroup, under parent; default: the container id
    parent: str = DEFAULT_PARENT  # path of the parent cgroup, relative to each hierarchy's root
    allow_all_devices: bool = False  # no device restriction at all (v1: "a" written to devices.allow)
    allowed_devices: list[DeviceRule] | None = None  # deny every device, then allow these; None: defaults
    devices: list[DeviceAccess] | None = None  # allow and deny rules applied in order, instead of allowed_devices
    memory: int | None = None  # hard memory limit in bytes (v1 memory.limit_in_bytes, v2 memory.max)
    memory_reservation: int | None = None  # soft limit in bytes (v1 soft_limit_in_bytes, v2 memory.low)
    memory_swap: int | None = None  # memory plus swap limit in bytes, -1 unlimited; must be >= memory
    memory_swappiness: int | None = None  # 0-100, v1 only (memory.swappiness)
    oom_kill_disable: bool | None = None  # v1 only: processes wait instead of being OOM-killed
    cpu_shares: int | None = None  # relative CPU weight (v1 cpu.shares, v2 cpu.weight converted)
    cpu_quota: int | None = None  # microseconds of CPU per period, -1 unlimited (cfs_quota_us)
    cpu_period: int | None = None  # length of the quota period in microseconds (cfs_period_us)
    cpuset_cpus: str | None = None  # CPUs the container may run on, e.g. "0-2,4"
    cpuset_mems: str | None = None  # memory nodes it may allocate from, e.g. "0"
    pids_limit: int | None = None  # most tasks (processes and threads) at once; -1 unlimited
    blkio_weight: int | None = None  # relative block I/O weight 10-1000 (v2 io.weight converted)
    blkio_throttle_read_bps_device: list[ThrottleDevice] | None = None  # read bytes/s per device
    blkio_throttle_write_bps_device: list[ThrottleDevice] | None = None  # write bytes/s per device
    blkio_throttle_read_iops_device: list[ThrottleDevice] | None = None  # read operations/s per device
    blkio_throttle_write_iops_device: list[ThrottleDevice] | None = None  # write operations/s per device
    freezer: str | None = None  # "FROZEN": start the container paused; "THAWED" or absent: running
    slice: str | None = None  # systemd slice; only a systemd driver uses it (this plugin has none)

    @property
    def restricts_devices(self) -> bool:
        """True when the config asks for an explicit device allow-list, or allow and deny rules."""
        return not self.allow_all_devices and (self.allowed_devices is not None or self.devices is not None)

    @property
    def device_rules(self) -> list[DeviceRule]:
        """The allow-list to enforce (the defaults when the config gives none)."""
        if self.allowed_devices is None:
            return list(DEFAULT_DEVICES)
        return list(self.allowed_devices)

    def cgroup_path(self, container_id: str) -> str:
        """The container's cgroup relative to a hierarchy root: ``libcontainer/<id>``."""
        parent = (self.parent or DEFAULT_PARENT).strip("/")
        name = self.name or container_id
        return f"{parent}/{name}" if parent else name


def parse_size(value: Any) -> int:
    """``"512M"`` -> 536870912, ints kept: the core's "bytes" format, for sections not yet normalised."""
    from libcontainer.core_plugin import parse_bytes

    return parse_bytes(value)


def valid_cpuset(text: str) -> bool:
    """True for "0", "0-3", "0-1,4,6-7" with every range ascending."""
    if not _CPUSET.match(text):
        return False
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if hi and int(hi) < int(lo):
            return False
    return True


_SIZE_FIELDS = ("memory", "memory_reservation", "memory_swap")


def parse_cgroups(section: dict[str, Any] | None) -> CgroupsConfig:
    """Build a CgroupsConfig from ``config.sections["cgroups"]`` (already schema-checked)."""
    section = dict(section or {})
    known = {f.name for f in fields(CgroupsConfig)}
    values: dict[str, Any] = {k: v for k, v in section.items() if k in known}
    for key in _SIZE_FIELDS:
        if values.get(key) is not None:
            values[key] = parse_size(values[key])
    # Go's zero values in libcontainer's JSON meant "unset"; keep that reading.
    for key in ("memory", "memory_reservation", "memory_swap", "cpu_shares", "cpu_quota", "cpu_period",
                "pids_limit", "blkio_weight"):
        if values.get(key) == 0:
            values[key] = None
    for key in ("cpuset_cpus", "cpuset_mems", "freezer", "slice"):
        if values.get(key) == "":
            values[key] = None
    values["name"] = values.get("name") or ""
    if values.get("parent") in (None, ""):
        values["parent"] = DEFAULT_PARENT
    devices = values.get("allowed_devices")
    if devices is not None:
        values["allowed_devices"] = [
            DeviceRule(
                type=d.get("type", 99),
                major_number=d.get("major_number", -1),
                minor_number=d.get("minor_number") if d.get("minor_number") is not None else 0,
                cgroup_permissions=d.get("cgroup_permissions") or "rwm",
            )
            for d in devices
        ]
    if values.get("devices") is not None:
        values["devices"] = [DeviceAccess(allow=d["allow"], type=d.get("type", "a"), major=d.get("major", -1),
                                          minor=d.get("minor", -1), access=d.get("access") or "rwm")
                             for d in values["devices"]]
    for key in THROTTLES:
        if values.get(key) is not None:
            values[key] = [ThrottleDevice(d["major"], d["minor"], parse_size(d["rate"])) for d in values[key]]
    values["allow_all_devices"] = bool(values.get("allow_all_devices"))
    return CgroupsConfig(**values)


def controllers_needed(cfg: CgroupsConfig) -> list[str]:
    """The v1 controllers that the config sets a value in (each must be mounted)."""
    need = []
    if any(getattr(cfg, k) is not None for k in ("memory", "memory_reservation", "memory_swap",
                                                  "memory_swappiness", "oom_kill_disable")):
        need.append("memory")
    if any(getattr(cfg, k) is not None for k in ("cpu_shares", "cpu_quota", "cpu_period")):
        need.append("cpu")
    if cfg.cpuset_cpus is not None or cfg.cpuset_mems is not None:
        need.append("cpuset")
    if cfg.pids_limit is not None:
        need.append("pids")
    if cfg.blkio_weight is not None or any(getattr(cfg, k) for k in THROTTLES):
        need.append("blkio")
    if cfg.restricts_devices:
        need.append("devices")
    if cfg.freezer == "FROZEN":
        need.append("freezer")
    return need
