"""The cgroup v2 driver: one directory in the unified hierarchy, <mount>/<parent>/<name>."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from libcontainer.errors import ContainerError

from .config import THROTTLES, CgroupsConfig, controllers_needed
from .files import STEP, make_dirs, read_int, read_keyed, read_pids, read_text, remove_dir, write_value

# v1 controller names as the unified hierarchy spells them; None: built in (cgroup.freeze).
V2_NAME = {"memory": "memory", "cpu": "cpu", "cpuset": "cpuset", "pids": "pids", "blkio": "io", "freezer": None,
           "devices": None}

DEFAULT_PERIOD = 100000  # cpu.max period in microseconds when the config gives none
FREEZE_TIMEOUT = 5.0

DEVICES_REFUSED = ("allowed_devices cannot be enforced on cgroup v2: device rules there need an eBPF "
                   "program, which this plugin does not load (set allow_all_devices, or use a cgroup v1 host)")


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2-262144) to cpu.weight (1-10000), mapping the ends and the default 1024 to ~100."""
    shares = min(max(shares, 2), 262144)
    return 1 + (shares - 2) * 9999 // 262142


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight (10-1000) to io.weight (1-10000), linearly."""
    weight = min(max(weight, 10), 1000)
    return 1 + (weight - 10) * 9999 // 990


def controllers_v2(cfg: CgroupsConfig) -> list[str]:
    """The unified-hierarchy controllers the config needs enabled."""
    names = (V2_NAME[c] for c in controllers_needed(cfg))
    return [n for n in dict.fromkeys(names) if n]


def unsupported(cfg: CgroupsConfig) -> list[str]:
    """Config fields that v2 cannot honour, each with the reason; refused rather than ignored."""
    problems = []
    if cfg.restricts_devices:
        problems.append(DEVICES_REFUSED if cfg.devices is None else DEVICES_REFUSED.replace("allowed_devices", "devices"))
    if cfg.memory_swappiness is not None:
        problems.append("memory_swappiness does not exist on cgroup v2")
    if cfg.oom_kill_disable:
        problems.append("oom_kill_disable does not exist on cgroup v2")
    if cfg.memory_swap not in (None, -1) and cfg.memory is None:
        problems.append("memory_swap on cgroup v2 needs memory too (memory.swap.max is swap beyond memory)")
    return problems


def limits(cfg: CgroupsConfig, cpu_period: int | None = None) -> list[tuple[str, str]]:
    """The (file, value) writes for the config's limits, in order."""
    writes: list[tuple[str, str]] = []
    if cfg.memory is not None:
        writes.append(("memory.max", str(cfg.memory)))
    if cfg.memory_swap is not None:
        # v1's memory_swap is memory plus swap; v2's memory.swap.max is swap alone.
        swap = "max" if cfg.memory_swap == -1 else str(max(cfg.memory_swap - (cfg.memory or 0), 0))
        writes.append(("memory.swap.max", swap))
    if cfg.memory_reservation is not None:
        writes.append(("memory.low", str(cfg.memory_reservation)))
    if cfg.cpu_shares is not None:
        writes.append(("cpu.weight", str(shares_to_weight(cfg.cpu_shares))))
    if cfg.cpu_quota is not None or cfg.cpu_period is not None:
        quota = "max" if cfg.cpu_quota in (None, -1) else str(cfg.cpu_quota)
        writes.append(("cpu.max", f"{quota} {cfg.cpu_period or cpu_period or DEFAULT_PERIOD}"))
    if cfg.cpuset_cpus is not None:
        writes.append(("cpuset.cpus", cfg.cpuset_cpus))
    if cfg.cpuset_mems is not None:
        writes.append(("cpuset.mems", cfg.cpuset_mems))
    if cfg.pids_limit is not None:
        writes.append(("pids.max", "max" if cfg.pids_limit < 0 else str(cfg.pids_limit)))
    if cfg.blkio_weight is not None:
        writes.append(("io.weight", str(blkio_to_io_weight(cfg.blkio_weight))))
    writes += [("io.max", line) for line in io_max_lines(cfg)]
    return writes


def io_max_lines(cfg: CgroupsConfig) -> list[str]:
    """One io.max line per device: "8:0 rbps=1048576 wiops=100" (0 is v2's "max")."""
    per_device: dict[tuple[int, int], list[str]] = {}
    for key, (_, v2_key) in THROTTLES.items():
        for d in getattr(cfg, key) or []:
            per_device.setdefault((d.major, d.minor), []).append(f"{v2_key}={d.rate or 'max'}")
    return [f"{major}:{minor} {' '.join(keys)}" for (major, minor), keys in per_device.items()]


def ancestors(root: str, path: str) -> list[str]:
    """The directories from ``root`` down to the parent of ``path``, outermost first."""
    out = [root]
    rel = os.path.relpath(os.path.dirname(path), root)
    if rel != ".":
        for part in rel.split(os.sep):
            out.append(os.path.join(out[-1], part))
    return out


class V2Driver:
    """The container's cgroup in the unified hierarchy."""

    name = "v2"

    def __init__(self, path: str) -> None:
        self.path = path  # the container's directory
        self.paths = {"unified": path}

    def dirs(self) -> list[str]:
        return [self.path]

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    # -- creation --------------------------------------------------------------
    def check(self, cfg: CgroupsConfig, root: str) -> None:
        """Refuse what v2 cannot do, and name a controller the root does not offer."""
        problems = unsupported(cfg)
        if problems:
            raise ContainerError(STEP, problems[0])
        offered = (read_text(os.path.join(root, "cgroup.controllers")) or "").split()
        for controller in controllers_v2(cfg):
            if controller not in offered:
                raise ContainerError(STEP, f"the {controller} cgroup controller is not available in {root} "
                                           f"(cgroup.controllers: {' '.join(offered) or 'none'})")

    def create(self, root: str, cfg: CgroupsConfig) -> list[str]:
        """Make the directory and enable the controllers it needs in every ancestor."""
        created = make_dirs(self.path, root)
        # A controller's files appear in a cgroup only when its parent lists the
        # controller in cgroup.subtree_control, level by level from the root (cgroup-v2.rst,
        # "Enabling and Disabling").  Only the ancestors get it: a leaf holding processes
        # cannot enable controllers for children ("no internal process" rule).
        wanted = controllers_v2(cfg)
        if wanted:
            for ancestor in ancestors(root, self.path):
                self._enable(ancestor, wanted)
        return created

    @staticmethod
    def _enable(directory: str, controllers: list[str]) -> None:
        control = os.path.join(directory, "cgroup.subtree_control")
        enabled = (read_text(control) or "").split()
        missing = [c for c in controllers if c not in enabled]
        if missing:
            write_value(control, " ".join(f"+{c}" for c in missing))

    def apply(self, cfg: CgroupsConfig, devices: bool = True) -> None:
        """Write the config's limits (v2 has no device files: ``devices`` changes nothing)."""
        if cfg.blkio_weight is not None and not os.path.exists(self._file("io.weight")):
            if os.path.exists(self._file("io.bfq.weight")):
                write_value(self._file("io.bfq.weight"), blkio_to_io_weight(cfg.blkio_weight))
                cfg = _without_blkio(cfg)
        for name, value in limits(cfg):
            write_value(self._file(name), value)

    # -- processes -------------------------------------------------------------
    def add(self, pid: int) -> None:
        write_value(self._file("cgroup.procs"), pid)

    def pids(self) -> list[int]:
        return read_pids(self.path)

    def freeze(self) -> None:
        write_value(self._file("cgroup.freeze"), "1")
        deadline = time.monotonic() + FREEZE_TIMEOUT
        # The write only starts freezing; cgroup.events says "frozen 1" when it is done.
        while read_keyed(self._file("cgroup.events")).get("frozen") != 1:
            if time.monotonic() > deadline:
                write_value(self._file("cgroup.freeze"), "0")
                raise ContainerError(STEP, f"{self._file('cgroup.events')} did not report frozen within "
                                           f"{FREEZE_TIMEOUT:g}s")
            time.sleep(0.01)

    def thaw(self) -> None:
        write_value(self._file("cgroup.freeze"), "0")

    def frozen(self) -> bool:
        return read_text(self._file("cgroup.freeze")) == "1"

    def freeze_file(self) -> tuple[str, str] | None:
        """The file telling whether the container is frozen, and what it reads then."""
        return self._file("cgroup.freeze"), "1"

    def kill_all(self, timeout: float = 2.0) -> None:
        """cgroup.kill (5.14+) SIGKILLs every process at once; older kernels: freeze, kill, thaw."""
        if os.path.exists(self._file("cgroup.kill")):
            write_value(self._file("cgroup.kill"), "1")
        elif os.path.exists(self._file("cgroup.freeze")):
            self.freeze()
            for pid in self.pids():
                _kill(pid)
            self.thaw()
        deadline = time.monotonic() + timeout
        while read_keyed(self._file("cgroup.events")).get("populated") and time.monotonic() < deadline:
            for pid in self.pids():
                _kill(pid)
            time.sleep(0.01)

    # -- teardown --------------------------------------------------------------
    def remove(self, created: list[str]) -> list[str]:
        left = [] if remove_dir(self.path) else [self.path]
        for directory in sorted(set(created) - {self.path}, key=len, reverse=True):
            remove_dir(directory, retries=0.1)  # busy: another container still uses it
        return left

    # -- reporting ---------------------------------------------------------------
    def oom_kills(self) -> int | None:
        return read_keyed(self._file("memory.events")).get("oom_kill")

    def failcnt(self) -> int | None:
        return read_keyed(self._file("memory.events")).get("max")

    def usage(self) -> dict[str, Any]:
        """CPU seconds (cpu.stat usage_usec) and the memory peak (memory.peak, Linux 5.19)."""
        usec = read_keyed(self._file("cpu.stat")).get("usage_usec")
        return {"cpu_time": usec / 1e6 if usec is not None else None, "memory_peak": read_int(self._file("memory.peak"))}

    def stats(self) -> dict:
        from .stats import v2_stats

        return v2_stats(self.path)


def _without_blkio(cfg: CgroupsConfig) -> CgroupsConfig:
    from libcontainer.records import replace

    return replace(cfg, blkio_weight=None)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
