"""The measured setups: one busybox rootfs, and the nsinit, runc, bubblewrap and unshare configurations around it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The capabilities of the reference's minimal sample (sample_configs/minimal.json).
SAMPLE = REPO / "sample_configs" / "minimal.json"
NAMESPACES = {"NEWNS": True, "NEWUTS": True, "NEWIPC": True, "NEWPID": True, "NEWNET": True}
MEMORY_LIMIT = 64 * 1024 * 1024  # the memory cgroup limit of every runtime that has one
CGROUP_PARENT = "lcbench"  # nsinit's containers: /sys/fs/cgroup/<controller>/lcbench/<id>
RUNC_CGROUP_PARENT = "lcbench-runc"  # runc's: /sys/fs/cgroup/<controller>/lcbench-runc/<id>
RUNC_RUN_ID = "lcbench-run"  # the container `runc run` creates and deletes each time
RUNC_JOIN_ID = "lcbench-join"  # the long-running runc container `runc exec` joins
SLEEP = ["/bin/sleep", "1000000"]  # first process of the containers that are joined


def sample_capabilities() -> list[str]:
    return list(json.loads(SAMPLE.read_text())["capabilities"])


def nsinit_config(rootfs: Path, cgroups: bool) -> dict:
    """container.json: the sample namespaces and capabilities, and a 64M memory cgroup unless ``cgroups`` is false."""
    doc = {
        "rootfs": str(rootfs),
        "namespaces": dict(NAMESPACES),
        "capabilities": sample_capabilities(),
        "environment": ["HOME=/", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
    }
    if cgroups:
        doc["cgroups"] = {"parent": CGROUP_PARENT, "memory": MEMORY_LIMIT}
    return doc


def runc_config(spec: dict, rootfs: Path, args: list[str], container_id: str) -> dict:
    """``runc spec``'s output made equivalent to nsinit_config: rootfs, args, no terminal, caps, memory limit.

    Kept from the spec, as a runc user gets them: the mounts (/proc, /dev,
    /dev/pts, /dev/shm, /dev/mqueue, /sys: the same set nsinit mounts), masked
    and read-only paths, rlimits and no_new_privs.
    """
    caps = [f"CAP_{c}" for c in sample_capabilities()]
    spec = json.loads(json.dumps(spec))
    spec["root"] = {"path": str(rootfs), "readonly": False}
    process = spec["process"]
    process.update(args=list(args), terminal=False, env=["HOME=/", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
    process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps}
    linux = spec["linux"]
    linux["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]
    linux.setdefault("resources", {})["memory"] = {"limit": MEMORY_LIMIT}
    linux["cgroupsPath"] = f"/{RUNC_CGROUP_PARENT}/{container_id}"
    return spec


def bwrap_argv(bwrap: str, rootfs: Path) -> list[str]:
    """bubblewrap with the same namespaces and capabilities (it has no cgroup support)."""
    argv = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-ipc",
            "--bind", str(rootfs), "/", "--proc", "/proc", "--dev", "/dev", "--cap-drop", "ALL"]
    for cap in sample_capabilities():
        argv += ["--cap-add", f"CAP_{cap}"]
    return argv + ["/bin/true"]


def unshare_argv(unshare: str, rootfs: Path) -> list[str]:
    """The floor: new namespaces and a chroot, nothing else."""
    return [unshare, "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "chroot", str(rootfs), "/bin/true"]


@dataclass
class Tools:
    """The peers found on this machine; None when missing."""

    runc: str | None = field(default_factory=lambda: shutil.which("runc"))
    bwrap: str | None = field(default_factory=lambda: shutil.which("bwrap"))
    unshare: str | None = field(default_factory=lambda: shutil.which("unshare"))

    def without(self, names: list[str]) -> Tools:
        """The same, as if ``names`` were not installed (``bench/run --skip``)."""
        for name in names:
            setattr(self, name, None)
        return self

    def missing(self) -> list[str]:
        return [name for name in ("runc", "bwrap", "unshare") if getattr(self, name) is None]


def nsinit_command() -> list[str]:
    """The nsinit console script of the interpreter running the bench (what a user types)."""
    script = Path(sys.executable).parent / "nsinit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "nsinit"]


@dataclass
class Workspace:
    """Everything the bench creates, under one temporary directory, and how to remove it."""

    base: Path
    rootfs: Path = field(init=False)
    cold: Path = field(init=False)  # nsinit container directory for `nsinit exec` runs
    api: Path = field(init=False)  # the Python API's container directory
    join: Path = field(init=False)  # the long-running nsinit container that is joined
    runc_root: Path = field(init=False)  # runc --root: its state, apart from any other runc user's
    runc_run: Path = field(init=False)  # bundle of `runc run` /bin/true
    runc_join: Path = field(init=False)  # bundle of the long-running runc container

    def __post_init__(self) -> None:
        self.rootfs = self.base / "rootfs"
        self.cold = self.base / "nsinit-cold"
        self.api = self.base / "nsinit-api"
        self.join = self.base / "nsinit-join"
        self.runc_root = self.base / "runc-state"
        self.runc_run = self.base / "runc-run"
        self.runc_join = self.base / "runc-join"

    def build(self, cgroups: bool) -> None:
        from libcontainer.testing.rootfs import build_busybox_rootfs

        build_busybox_rootfs(self.rootfs)
        self.write_nsinit_configs(cgroups)

    def write_nsinit_configs(self, cgroups: bool) -> None:
        for d in (self.cold, self.api, self.join):
            d.mkdir(exist_ok=True)
            (d / "container.json").write_text(json.dumps(nsinit_config(self.rootfs, cgroups), indent=2))

    def build_runc(self, runc: str) -> None:
        self.runc_root.mkdir()
        for bundle, args, cid in ((self.runc_run, ["/bin/true"], RUNC_RUN_ID), (self.runc_join, SLEEP, RUNC_JOIN_ID)):
            bundle.mkdir()
            subprocess.run([runc, "spec"], cwd=bundle, check=True)
            spec = json.loads((bundle / "config.json").read_text())
            (bundle / "config.json").write_text(json.dumps(runc_config(spec, self.rootfs, args, cid), indent=2))

    def runc(self, runc: str, *args: str) -> list[str]:
        return [runc, "--root", str(self.runc_root), *args]
