"""A description of the machine a run was made on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

from .workloads import Tools


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "not installed"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def describe(tools: Tools) -> dict[str, str]:
    """nproc, memory, CPU, kernel, Python and each peer's version."""
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "memory": _memory(),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "runc": _first_line([tools.runc, "--version"]) if tools.runc else "not installed",
        "bwrap": _first_line([tools.bwrap, "--version"]) if tools.bwrap else "not installed",
        "unshare": _first_line([tools.unshare, "--version"]) if tools.unshare else "not installed",
        "cgroups": "v1 (per controller)" if os.path.isdir("/sys/fs/cgroup/memory") else "v2",
    }
