"""Statistics of a container's cgroups as JSON-ready data (v1 and v2 give the same shape)."""

from __future__ import annotations

import os
from typing import Any

from .files import read_int, read_keyed, read_text

USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
NS_PER_TICK = 1_000_000_000 // USER_HZ

# v1 reports "no limit" as the largest page-aligned signed 64-bit value.
_V1_UNLIMITED = 0x7FFFFFFFFFFFF000


def _limit(value: int | None) -> int | None:
    """A limit, or None when unlimited."""
    return None if value is None or value >= _V1_UNLIMITED else value


def parse_blkio(text: str | None) -> list[dict[str, Any]]:
    """v1 blkio lines "8:0 Read 4096" -> [{"major": 8, "minor": 0, "op": "Read", "value": 4096}]."""
    out = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, minor = parts[0].split(":")
            out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return out


def parse_io_stat(text: str | None) -> list[dict[str, Any]]:
    """v2 io.stat "8:0 rbytes=1 wbytes=2 ..." -> the v1 shape, one entry per key."""
    names = {"rbytes": "Read", "wbytes": "Write", "rios": "ReadIos", "wios": "WriteIos",
             "dbytes": "Discard", "dios": "DiscardIos"}
    out = []
    for line in (text or "").splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, minor = parts[0].split(":")
        for item in parts[1:]:
            key, _, value = item.partition("=")
            out.append({"major": int(major), "minor": int(minor), "op": names.get(key, key), "value": int(value)})
    return out


def v1_stats(paths: dict[str, str]) -> dict[str, Any]:
    """Memory, cpu, pids and blkio statistics from the v1 directories."""
    out: dict[str, Any] = {}
    if "memory" in paths:
        m = paths["memory"]
        out["memory"] = {
            "usage": read_int(f"{m}/memory.usage_in_bytes"),
            "max_usage": read_int(f"{m}/memory.max_usage_in_bytes"),
            "limit": _limit(read_int(f"{m}/memory.limit_in_bytes")),
            "failcnt": read_int(f"{m}/memory.failcnt"),
            "swap_usage": read_int(f"{m}/memory.memsw.usage_in_bytes"),
            "oom_kill": read_keyed(f"{m}/memory.oom_control").get("oom_kill"),
            "stat": read_keyed(f"{m}/memory.stat"),
        }
    cpu: dict[str, Any] = {}
    if "cpuacct" in paths:
        a = paths["cpuacct"]
        ticks = read_keyed(f"{a}/cpuacct.stat")
        cpu["usage"] = {
            "total": read_int(f"{a}/cpuacct.usage"),  # nanoseconds
            "percpu": [int(x) for x in (read_text(f"{a}/cpuacct.usage_percpu") or "").split()],
            "user": ticks.get("user", 0) * NS_PER_TICK,
            "system": ticks.get("system", 0) * NS_PER_TICK,
        }
    if "cpu" in paths:
        c = read_keyed(f"{paths['cpu']}/cpu.stat")
        cpu["throttling"] = {
            "periods": c.get("nr_periods", 0),
            "throttled_periods": c.get("nr_throttled", 0),
            "throttled_time": c.get("throttled_time", 0),  # nanoseconds
        }
    if cpu:
        out["cpu"] = cpu
    if "pids" in paths:
        p = paths["pids"]
        out["pids"] = {"current": read_int(f"{p}/pids.current"), "limit": read_int(f"{p}/pids.max")}
    if "blkio" in paths:
        b = paths["blkio"]
        out["blkio"] = {
            "io_service_bytes": parse_blkio(read_text(f"{b}/blkio.throttle.io_service_bytes_recursive")),
            "io_serviced": parse_blkio(read_text(f"{b}/blkio.throttle.io_serviced_recursive")),
        }
    return out


def v2_stats(path: str) -> dict[str, Any]:
    """The same document from a cgroup2 directory (missing controllers give null values)."""
    events = read_keyed(f"{path}/memory.events")
    cpu_stat = read_keyed(f"{path}/cpu.stat")
    io = parse_io_stat(read_text(f"{path}/io.stat"))
    return {
        "memory": {
            "usage": read_int(f"{path}/memory.current"),
            "max_usage": read_int(f"{path}/memory.peak"),
            "limit": read_int(f"{path}/memory.max"),
            "failcnt": events.get("max"),  # times the limit was hit
            "swap_usage": read_int(f"{path}/memory.swap.current"),
            "oom_kill": events.get("oom_kill"),
            "stat": read_keyed(f"{path}/memory.stat"),
        },
        "cpu": {
            "usage": {
                "total": cpu_stat.get("usage_usec", 0) * 1000,  # nanoseconds, as on v1
                "percpu": [],  # cgroup v2 has no per-CPU accounting
                "user": cpu_stat.get("user_usec", 0) * 1000,
                "system": cpu_stat.get("system_usec", 0) * 1000,
            },
            "throttling": {
                "periods": cpu_stat.get("nr_periods", 0),
                "throttled_periods": cpu_stat.get("nr_throttled", 0),
                "throttled_time": cpu_stat.get("throttled_usec", 0) * 1000,
            },
        },
        "pids": {"current": read_int(f"{path}/pids.current"), "limit": read_int(f"{path}/pids.max")},
        "blkio": {
            "io_service_bytes": [e for e in io if not e["op"].endswith("Ios")],
            "io_serviced": [e for e in io if e["op"].endswith("Ios")],
        },
    }
