"""The JSON Schema fragment of the ``cgroups`` key."""

from __future__ import annotations

from typing import Any

# 536870912 or "512M"; the core's "bytes" format turns both into an int, then minimum applies.
_SIZE = {"type": ["integer", "string"], "format": "bytes", "minimum": 0}
_SIZE_OR_UNLIMITED = {"type": ["integer", "string"], "format": "bytes", "minimum": -1}  # -1: unlimited

DEVICE_RULE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"enum": [97, 98, 99]},  # "a", "b", "c" as their character codes
        "path": {"type": "string"},  # informative only for a cgroup rule
        "major_number": {"type": "integer", "minimum": -1},  # -1: any
        "minor_number": {"type": "integer", "minimum": -1},  # -1: any
        "cgroup_permissions": {"type": "string", "pattern": "^[rwm]{0,3}$"},
        "file_mode": {"type": "integer"},
        "uid": {"type": "integer"},
        "gid": {"type": "integer"},
    },
    "required": ["type"],
}

# OCI's linux.resources.devices entry: allow or deny, applied in order.
DEVICE_ACCESS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "allow": {"type": "boolean", "description": "true: allowed; false: denied"},
        "type": {"enum": ["a", "b", "c"], "description": "a (every device), b (block) or c (character)"},
        "major": {"type": "integer", "minimum": -1, "description": "-1 or absent: any"},
        "minor": {"type": "integer", "minimum": -1, "description": "-1 or absent: any"},
        "access": {"type": "string", "pattern": "^[rwm]{1,3}$", "description": "a subset of rwm"},
    },
    "required": ["allow"],
}

THROTTLE_DEVICE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "major": {"type": "integer", "minimum": 0},
        "minor": {"type": "integer", "minimum": 0},
        "rate": _SIZE,  # bytes (or operations) per second: 1048576 or "1M"
    },
    "required": ["major", "minor", "rate"],
}
_THROTTLES = {"type": "array", "items": THROTTLE_DEVICE}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "parent": {"type": "string"},
        "allow_all_devices": {"type": "boolean"},
        "allowed_devices": {"type": "array", "items": DEVICE_RULE},
        "devices": {"type": "array", "items": DEVICE_ACCESS},
        "memory": _SIZE,
        "memory_reservation": _SIZE,
        "memory_swap": _SIZE_OR_UNLIMITED,
        "memory_swappiness": {"type": "integer", "minimum": 0, "maximum": 100},
        "oom_kill_disable": {"type": "boolean"},
        "cpu_shares": {"type": "integer", "minimum": 0},
        "cpu_quota": {"type": "integer", "minimum": -1},
        "cpu_period": {"type": "integer", "minimum": 0, "maximum": 1000000},
        "cpuset_cpus": {"type": "string"},
        "cpuset_mems": {"type": "string"},
        "pids_limit": {"type": "integer", "minimum": -1},
        "blkio_weight": {"type": "integer", "minimum": 0, "maximum": 1000},
        "blkio_throttle_read_bps_device": _THROTTLES,
        "blkio_throttle_write_bps_device": _THROTTLES,
        "blkio_throttle_read_iops_device": _THROTTLES,
        "blkio_throttle_write_iops_device": _THROTTLES,
        "freezer": {"enum": ["", "FROZEN", "THAWED"]},
        "slice": {"type": "string"},
    },
}
