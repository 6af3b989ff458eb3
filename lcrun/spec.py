"""``lcrun spec``: a default config.json for a bundle whose root filesystem is ./rootfs.

The container it describes runs ``sh`` on a terminal as root, with a
read-only root, new pid, network, IPC, UTS, mount and cgroup namespaces,
three capabilities, no new privileges, every device denied but the
defaults, and the engine's own masked and read-only paths.  With
``rootless`` it is one an unprivileged user can run: a user namespace
mapping root to that user, no network namespace of its own (it could not
be configured), /sys bound from the host, no cgroups.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from libcontainer.errors import LibcontainerError

from .oci import OCI_VERSION

CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def _mounts() -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ]


def default_spec(rootless: bool = False, uid: int | None = None, gid: int | None = None) -> dict[str, Any]:
    """The config.json document; ``rootless`` maps root to ``uid``/``gid`` (default: the caller's)."""
    from libcontainer.rootfs import MASKED_PATHS, READONLY_PROC

    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": list(CAPABILITIES), "effective": list(CAPABILITIES),
                             "permitted": list(CAPABILITIES)},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "lcrun",
        "mounts": _mounts(),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PROC),
        },
    }
    if rootless:
        _make_rootless(spec, os.geteuid() if uid is None else uid, os.getegid() if gid is None else gid)
    return spec


def _make_rootless(spec: dict[str, Any], uid: int, gid: int) -> None:
    linux = spec["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] not in ("network", "cgroup")]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": gid, "size": 1}]
    del linux["resources"]  # cgroups need root on a v1 host, delegation on v2
    mounts = []
    for m in spec["mounts"]:
        if m["destination"] == "/sys/fs/cgroup":
            continue
        if m["destination"] == "/sys":
            # sysfs belongs to the network namespace's owner: the host's, bound read-only.
            m = {"destination": "/sys", "type": "none", "source": "/sys",
                 "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
        elif m["type"] == "devpts":
            # gid 5 (tty) is not mapped in a user namespace of one id.
            m = {**m, "options": [o for o in m["options"] if o != "gid=5"]}
        mounts.append(m)
    spec["mounts"] = mounts


def spec_json(rootless: bool = False) -> str:
    return json.dumps(default_spec(rootless), indent=2) + "\n"


class SpecExists(LibcontainerError):
    """The bundle already has a config.json."""


def write_spec(bundle: str | os.PathLike[str] = ".", rootless: bool = False) -> Path:
    """Write BUNDLE/config.json; refused when one is there (as runc: remove it first)."""
    path = Path(bundle) / "config.json"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise SpecExists(f"{path} exists; remove it first") from None
    except OSError as e:
        raise SpecExists(f"{path}: {e.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(spec_json(rootless))
    return path
