"""The cgroup v1 driver: a directory per controller, /sys/fs/cgroup/<controller>/<parent>/<name>."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from libcontainer.errors import ContainerError

from .config import THROTTLES, CgroupsConfig, controllers_needed
from .files import STEP, make_dirs, read_int, read_keyed, read_pids, read_text, remove_dir, write_value
from .probe import V1_CONTROLLERS

# The config fields each controller serves, to name them when it is missing.
FIELDS_OF = {
    "memory": "memory, memory_reservation, memory_swap",
    "cpu": "cpu_shares, cpu_quota, cpu_period",
    "cpuset": "cpuset_cpus, cpuset_mems",
    "pids": "pids_limit",
    "blkio": "blkio_weight, blkio_throttle_*",
    "devices": "allowed_devices, devices",
    "freezer": "freezer",
}

FREEZE_TIMEOUT = 5.0  # seconds a freeze may take before it is undone and reported


def missing_controllers(cfg: CgroupsConfig, mounts: dict[str, str]) -> list[str]:
    """The controllers the config needs that the host has not mounted."""
    return [c for c in controllers_needed(cfg) if c not in mounts]


def plan_paths(mounts: dict[str, str], rel: str) -> dict[str, str]:
    """The container's directory in every mounted v1 hierarchy it joins."""
    return {c: os.path.join(mounts[c], rel) for c in V1_CONTROLLERS if c in mounts}


class V1Driver:
    """The container's cgroups on v1: one directory per controller (co-mounted ones share one)."""

    name = "v1"

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = dict(paths)  # controller -> the container's directory

    # -- helpers ---------------------------------------------------------------
    def dirs(self) -> list[str]:
        """Each directory once (cpu and cpuacct may be one co-mounted hierarchy)."""
        return list(dict.fromkeys(self.paths.values()))

    def _file(self, controller: str, name: str) -> str:
        return os.path.join(self.paths[controller], name)

    def _has(self, controller: str, name: str) -> bool:
        return controller in self.paths and os.path.exists(self._file(controller, name))

    # -- creation --------------------------------------------------------------
    def create(self, mounts: dict[str, str]) -> list[str]:
        """Make the directories; returns those created, outermost first, for removal."""
        created: list[str] = []
        for controller, path in self.paths.items():
            made = [d for d in make_dirs(path, mounts[controller]) if d not in created]
            if controller == "cpuset":
                self._init_cpuset(mounts[controller], path)
            created.extend(made)
        return created

    @staticmethod
    def _init_cpuset(root: str, path: str) -> None:
        # A new v1 cpuset has empty cpus and mems and refuses tasks (ENOSPC)
        # until both are set (cpuset(7)): copy each parent's, outermost first.
        # Every level below the mount, not only those made here: a shared parent
        # that a concurrent container has just made may not have its own yet.
        current = root
        for part in os.path.relpath(path, root).split(os.sep):
            parent, current = current, os.path.join(current, part)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not read_text(os.path.join(current, name)):
                    write_value(os.path.join(current, name), read_text(os.path.join(parent, name)) or "")

    def apply(self, cfg: CgroupsConfig, devices: bool = True) -> None:
        """Write the config's limits; tasks are added only afterwards (``devices``: the device rules too)."""
        self._apply_memory(cfg)
        if "cpu" in self.paths:
            if cfg.cpu_shares is not None:
                write_value(self._file("cpu", "cpu.shares"), cfg.cpu_shares)
            # The period first: the kernel checks a quota against the current period.
            if cfg.cpu_period is not None:
                write_value(self._file("cpu", "cpu.cfs_period_us"), cfg.cpu_period)
            if cfg.cpu_quota is not None:
                write_value(self._file("cpu", "cpu.cfs_quota_us"), cfg.cpu_quota)
        if "cpuset" in self.paths:
            if cfg.cpuset_cpus is not None:
                write_value(self._file("cpuset", "cpuset.cpus"), cfg.cpuset_cpus)
            if cfg.cpuset_mems is not None:
                write_value(self._file("cpuset", "cpuset.mems"), cfg.cpuset_mems)
        if "pids" in self.paths and cfg.pids_limit is not None:
            write_value(self._file("pids", "pids.max"), "max" if cfg.pids_limit < 0 else cfg.pids_limit)
        if cfg.blkio_weight is not None:
            self._apply_blkio_weight(cfg.blkio_weight)
        for key, (name, _) in THROTTLES.items():
            for device in getattr(cfg, key) or []:
                write_value(self._file("blkio", name), device.line())  # one device per write
        if "devices" in self.paths and devices:
            self._apply_devices(cfg)

    def _apply_memory(self, cfg: CgroupsConfig) -> None:
        if "memory" not in self.paths:
            return
        writes = []
        if cfg.memory is not None:
            writes.append(("memory.limit_in_bytes", cfg.memory))
        if cfg.memory_swap is not None:
            if not self._has("memory", "memory.memsw.limit_in_bytes"):
                if cfg.memory_swap != -1:
                    raise ContainerError(STEP, "memory_swap needs swap accounting, which this kernel lacks "
                                               "(no memory.memsw.limit_in_bytes: boot with swapaccount=1)")
            else:
                writes.append(("memory.memsw.limit_in_bytes", cfg.memory_swap))
                # The kernel keeps memsw >= memory at every moment (EINVAL otherwise):
                # when the new memory limit exceeds the current memsw limit, raise memsw first.
                current = read_int(self._file("memory", "memory.memsw.limit_in_bytes"))
                if cfg.memory is not None and current is not None and cfg.memory > current:
                    writes.reverse()
        if cfg.memory_reservation is not None:
            writes.append(("memory.soft_limit_in_bytes", cfg.memory_reservation))
        if cfg.memory_swappiness is not None:
            writes.append(("memory.swappiness", cfg.memory_swappiness))
        if cfg.oom_kill_disable:
            writes.append(("memory.oom_control", 1))
        for name, value in writes:
            write_value(self._file("memory", name), value)

    def _apply_blkio_weight(self, weight: int) -> None:
        # CFQ offered blkio.weight; since 5.0 only BFQ remains, with blkio.bfq.weight.
        for name in ("blkio.weight", "blkio.bfq.weight"):
            if self._has("blkio", name):
                write_value(self._file("blkio", name), weight)
                return
        raise ContainerError(STEP, "blkio_weight is not supported here: no blkio.weight nor blkio.bfq.weight "
                                   "(the weight needs the BFQ I/O scheduler)")

    def _apply_devices(self, cfg: CgroupsConfig) -> None:
        allow = self._file("devices", "devices.allow")
        if cfg.allow_all_devices:
            write_value(allow, "a")
            return
        if cfg.devices is not None:
            # In order, each to devices.allow or devices.deny: from the state the
            # cgroup inherited, as OCI's resources.devices are applied.
            deny = self._file("devices", "devices.deny")
            for access in cfg.devices:
                write_value(allow if access.allow else deny, access.rule())
            return
        # Deny everything first, then allow each rule: the v1 device cgroup is a
        # whitelist that "a" in devices.deny empties (Documentation/admin-guide/cgroup-v1/devices.rst).
        write_value(self._file("devices", "devices.deny"), "a")
        for rule in cfg.device_rules:
            write_value(allow, rule.rule())

    # -- processes -------------------------------------------------------------
    def add(self, pid: int) -> None:
        """Move ``pid`` (and its threads) into every hierarchy's directory."""
        for directory in self.dirs():
            write_value(os.path.join(directory, "cgroup.procs"), pid)

    def add_self(self) -> bool:
        """Move the calling thread into every directory; False when the kernel refused one.

        Writing 0 to ``tasks`` moves the writer alone, which the kernel does
        without the threadgroup lock that a write to cgroup.procs takes
        (its RCU grace period is ~10 ms on cgroup v1).  For a single-threaded
        process, as the container's freshly forked process is, that is the
        whole process, and the children it forks are born in the cgroups.
        """
        for directory in self.dirs():
            try:
                fd = os.open(os.path.join(directory, "tasks"), os.O_WRONLY | os.O_CLOEXEC)
            except OSError:
                return False
            try:
                os.write(fd, b"0")
            except OSError:
                return False
            finally:
                os.close(fd)
        return True

    def missing(self, pid: int) -> list[str]:
        """The directories ``pid`` is not in."""
        return [d for d in self.dirs() if pid not in read_pids(d)]

    def pids(self) -> list[int]:
        """Every process in any of the container's directories."""
        found: dict[int, None] = {}
        for directory in self.dirs():
            found.update(dict.fromkeys(read_pids(directory)))
        return list(found)

    def freeze(self) -> None:
        """Freeze every process, waiting until the kernel reports FROZEN."""
        state = self._require_freezer()
        deadline = time.monotonic() + FREEZE_TIMEOUT
        while True:
            # FREEZING may stay while new tasks keep arriving: write FROZEN again each round.
            write_value(state, "FROZEN")
            if read_text(state) == "FROZEN":
                return
            if time.monotonic() > deadline:
                write_value(state, "THAWED")
                raise ContainerError(STEP, f"{state} did not reach FROZEN within {FREEZE_TIMEOUT:g}s")
            time.sleep(0.01)

    def thaw(self) -> None:
        write_value(self._require_freezer(), "THAWED")

    def frozen(self) -> bool:
        return "freezer" in self.paths and read_text(self._file("freezer", "freezer.state")) == "FROZEN"

    def freeze_file(self) -> tuple[str, str] | None:
        """The file telling whether the container is frozen, and what it reads then."""
        return (self._file("freezer", "freezer.state"), "FROZEN") if "freezer" in self.paths else None

    def _require_freezer(self) -> str:
        if "freezer" not in self.paths:
            raise ContainerError(STEP, "the freezer cgroup controller is not mounted (needed to pause)")
        return self._file("freezer", "freezer.state")

    def kill_all(self, timeout: float = 2.0) -> None:
        """SIGKILL every process left and wait until the cgroups are empty."""
        if not self.pids():
            # The usual end: PID 1 exited and was reaped, and without a live
            # member nothing can fork into the cgroups.  Skips the freeze and
            # thaw round trips and the second pass (~1.3 ms a container).
            return
        can_freeze = self._has("freezer", "freezer.state")
        # Frozen, nothing can fork between reading cgroup.procs and the kill;
        # a SIGKILL is delivered to a frozen task as soon as it is thawed.
        if can_freeze:
            try:
                self.freeze()
            except ContainerError:
                pass
        for pid in self.pids():
            _kill(pid)
        if can_freeze:
            self.thaw()
        deadline = time.monotonic() + timeout
        while self.pids() and time.monotonic() < deadline:
            for pid in self.pids():
                _kill(pid)
            time.sleep(0.01)

    # -- teardown --------------------------------------------------------------
    def remove(self, created: list[str]) -> list[str]:
        """rmdir the container's directories, then the parents this container created; what stays."""
        left = [d for d in self.dirs() if not remove_dir(d)]
        for directory in sorted(set(created) - set(self.dirs()), key=len, reverse=True):
            remove_dir(directory, retries=0.1)  # busy: another container still uses it
        return left

    # -- reporting ---------------------------------------------------------------
    def oom_kills(self) -> int | None:
        """How many processes the OOM killer took in this cgroup (memory.oom_control oom_kill)."""
        if "memory" not in self.paths:
            return None
        control = read_keyed(self._file("memory", "memory.oom_control"))
        if "oom_kill" in control:
            return control["oom_kill"]
        return None

    def failcnt(self) -> int | None:
        return read_int(self._file("memory", "memory.failcnt")) if "memory" in self.paths else None

    def usage(self) -> dict[str, Any]:
        """CPU seconds (cpuacct.usage) and the memory peak (memory.max_usage_in_bytes), where mounted."""
        out: dict[str, Any] = {}
        if "cpuacct" in self.paths:
            ns = read_int(self._file("cpuacct", "cpuacct.usage"))
            out["cpu_time"] = ns / 1e9 if ns is not None else None
        if "memory" in self.paths:
            out["memory_peak"] = read_int(self._file("memory", "memory.max_usage_in_bytes"))
        return out

    def stats(self) -> dict:
        from .stats import v1_stats

        return v1_stats(self.paths)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
