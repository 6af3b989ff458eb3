"""Which cgroup hierarchies the host has mounted, and so which driver to use."""

from __future__ import annotations

import os

from libcontainer.records import field, record

# The v1 controllers a container joins when they are mounted.
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer", "blkio")


@record
class Hierarchies:
    """The cgroup mounts of the host, as seen in /proc/self/mountinfo."""

    v1: dict[str, str] = field(default_factory=dict)  # controller -> mount point
    unified: str | None = None  # mount point of the cgroup2 hierarchy, if any
    unified_controllers: list[str] = field(default_factory=list)  # its cgroup.controllers

    @property
    def driver(self) -> str | None:
        """"v1" when per-controller hierarchies exist, else "v2" when cgroup2 is, else None."""
        if any(c in self.v1 for c in V1_CONTROLLERS):
            return "v1"
        if self.unified:
            return "v2"
        return None


def parse_mountinfo(text: str) -> Hierarchies:
    """Read cgroup and cgroup2 mounts from mountinfo text (proc(5) format)."""
    found = Hierarchies()
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fstype, _source, super_opts = (post.split() + ["", "", ""])[:3]
        mount_point = _unescape(pre.split()[4])
        if fstype == "cgroup":
            for opt in super_opts.split(","):
                if opt in V1_CONTROLLERS:
                    found.v1.setdefault(opt, mount_point)
        elif fstype == "cgroup2":
            # Prefer /sys/fs/cgroup itself when cgroup2 is mounted several times.
            if found.unified is None or mount_point == "/sys/fs/cgroup":
                found.unified = mount_point
    return found


def _unescape(path: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040)."""
    return path.encode().decode("unicode_escape") if "\\" in path else path


def probe(mountinfo: str = "/proc/self/mountinfo") -> Hierarchies:
    """The host's cgroup hierarchies, with the controllers the cgroup2 root offers."""
    with open(mountinfo) as f:
        found = parse_mountinfo(f.read())
    if found.unified:
        try:
            with open(os.path.join(found.unified, "cgroup.controllers")) as f:
                found.unified_controllers = f.read().split()
        except OSError:
            pass
    return found


def kernel_supports(fstype: str, filesystems: str = "/proc/filesystems") -> bool:
    """True when /proc/filesystems lists ``fstype`` (cgroup or cgroup2)."""
    try:
        with open(filesystems) as f:
            return any(line.split()[-1] == fstype for line in f if line.strip())
    except OSError:
        return False


def no_driver_message() -> str:
    """Why no cgroup driver can be used, for the error."""
    if kernel_supports("cgroup2") or kernel_supports("cgroup"):
        return "no cgroup hierarchy is mounted (mount cgroup2 on /sys/fs/cgroup, or the v1 controllers)"
    return "this kernel has no cgroup support (neither cgroup nor cgroup2 in /proc/filesystems)"
