"""The container config: types only, a comment on every field.

The format is libcontainer's ``container.json``.  The core owns the keys typed
here; every other top-level key belongs to one plugin and is kept, already
validated and normalised, in :attr:`Config.sections` for that plugin to read.
A field left as None was absent from the document and is not written back, so
JSON -> Config -> JSON gives the document back.
"""

from __future__ import annotations

from typing import Any

from .records import field, fields, record

# Keys of container.json owned by the core (the engine itself).
CORE_KEYS = (
    "hostname", "rootfs", "readonly_fs", "no_pivot_root", "user", "working_dir", "environment", "init",
    "tty", "context", "mounts", "device_nodes", "default_mounts", "masked_paths", "readonly_paths",
    "rootfs_propagation", "domainname", "umask", "additional_gids", "no_new_keyring",
)


@record
class Mount:
    """A mount into the container (``mounts``)."""

    # "bind" (a host path), or a filesystem made for the container: "tmpfs", "proc", "sysfs", "devpts",
    # "mqueue", or "cgroup" (the container's own cgroups: a cgroup2 mount in its cgroup namespace, or on
    # a cgroup v1 host a tmpfs holding a read-only bind of each of its hierarchies' directories).
    type: str = "bind"
    source: str | None = None  # host path for bind mounts; must exist.  Others: shown in /proc/mounts
    destination: str = ""  # absolute path inside the container; symlinks resolved inside the rootfs
    # The libcontainer form: without ``options``, a bind mount is recursive, read-only unless
    # ``writable``, and slave unless ``private``.
    writable: bool | None = None  # read-write when true; otherwise read-only
    private: bool | None = None  # propagation private instead of the default (slave)
    data: str | None = None  # filesystem options, such as "size=64m,mode=1777" for tmpfs
    # The OCI form, instead of writable and private: option strings of mount(8), in order ("ro",
    # "nosuid", "rbind", "rprivate", "rro", "tmpcopyup", "size=64m" ...; libcontainer/mountopts.py).
    # A bind is read-write unless "ro", recursive only with "rbind", and keeps its propagation unless
    # one is named.  Options that are no flag are passed as filesystem data, after ``data``.
    options: list[str] | None = None


@record
class DeviceNode:
    """A device node created in the container's /dev (``device_nodes``); also a cgroup rule."""

    type: int = 99  # ord("c") = 99 character device, ord("b") = 98 block device
    path: str | None = None  # e.g. "/dev/null"; rules for the device cgroup may have none
    major_number: int = 0  # device major; -1 means any (cgroup rules only)
    minor_number: int | None = None  # device minor; absent means 0 (as libcontainer read it), -1 means any
    cgroup_permissions: str | None = None  # "rwm" subset, for the device cgroup
    file_mode: int | None = None  # permission bits of the node (438 = 0o666)
    uid: int | None = None  # owner of the node inside the container
    gid: int | None = None  # group of the node inside the container


@record
class Context:
    """``context``: labels and restrictions (string values, as libcontainer wrote them)."""

    mount_label: str | None = None  # SELinux label for mounts (unused without SELinux)
    process_label: str | None = None  # SELinux/AppArmor label for the process (unused)
    restrictions: str | None = None  # "true": /proc/sys etc. read-only, /proc/kcore masked, /sys read-only
    extra: dict[str, str] = field(default_factory=dict)  # other keys, kept as given

    @property
    def restricted(self) -> bool:
        return str(self.restrictions).lower() in ("true", "1", "yes")


@record
class Config:
    """A whole container.json."""

    hostname: str | None = None  # set in a new UTS namespace
    rootfs: str | None = None  # root filesystem; default: the container's directory
    readonly_fs: bool | None = None  # mount the root read-only (bind mounts keep their mode)
    no_pivot_root: bool | None = None  # MS_MOVE + chroot instead of pivot_root (for ramfs roots)
    no_new_keyring: bool | None = None  # keep the session keyring it inherits (runc's --no-new-keyring)
    user: str | None = None  # "name", "uid", "uid:gid" or "name:group", looked up in the rootfs
    working_dir: str | None = None  # absolute path inside the container; default "/"
    environment: list[str] | None = None  # the process's environment, "KEY=value" (HOME from passwd if absent)
    tty: bool | None = None  # give the process a new pseudo-terminal
    # PID 1 is a minimal reaper (reaper.py) that passes signals on to the command, its child,
    # reaps orphans and exits with the command's status (docker --init); a join is not affected
    init: bool | None = None
    context: Context | None = None  # labels and restrictions
    mounts: list[Mount] | None = None  # extra mounts, in order
    device_nodes: list[DeviceNode] | None = None  # nodes in /dev; a default set when absent
    # false: the engine mounts no /proc, /sys and /dev of its own, only ``mounts``, in order (the
    # OCI form lists them); the device nodes and the /dev symlinks are still made once they are mounted.
    default_mounts: bool | None = None
    masked_paths: list[str] | None = None  # hidden (/dev/null or a read-only tmpfs); replaces the restrictions' list
    readonly_paths: list[str] | None = None  # made read-only; replaces the restrictions' list
    rootfs_propagation: str | None = None  # of the root mount: private (default), slave, shared, unbindable (r-)
    domainname: str | None = None  # NIS domain name, set in a new UTS namespace
    umask: int | None = None  # the process's umask (umask(2)); absent: nsinit's
    additional_gids: list[int] | None = None  # supplementary groups besides those /etc/group gives the user
    sections: dict[str, Any] = field(default_factory=dict)  # plugin-owned keys, canonical JSON values

    # -- conversion -----------------------------------------------------------
    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Config:
        """Build from a document that has already passed validation."""
        cfg = cls()
        for key, value in doc.items():
            if key == "context":
                known = {f.name for f in fields(Context)} - {"extra"}
                cfg.context = Context(
                    **{k: v for k, v in value.items() if k in known},
                    extra={k: v for k, v in value.items() if k not in known},
                )
            elif key == "mounts":
                cfg.mounts = [Mount(**m) for m in value]
            elif key == "device_nodes":
                cfg.device_nodes = [DeviceNode(**d) for d in value]
            elif key in CORE_KEYS:
                setattr(cfg, key, value)
            else:
                cfg.sections[key] = value
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """The canonical document: libcontainer's keys, sorted, absent fields omitted."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "sections":
                out.update(value)
            elif value is None:
                continue
            elif f.name == "context":
                ctx = {k: v for k, v in _plain(value).items() if k != "extra"}
                ctx.update(value.extra)
                out["context"] = ctx
            elif f.name in ("mounts", "device_nodes"):
                out[f.name] = [_plain(v) for v in value]
            else:
                out[f.name] = value
        return {k: out[k] for k in sorted(out)}

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), indent=4, sort_keys=True) + "\n"

    # -- effective values -----------------------------------------------------
    def section(self, key: str, default: Any = None) -> Any:
        """The value of a plugin-owned key, or ``default``."""
        return self.sections.get(key, default)

    @property
    def env(self) -> list[str]:
        return list(self.environment or [])

    @property
    def cwd(self) -> str:
        return self.working_dir or "/"

    @property
    def restricted(self) -> bool:
        """True when paths are to be masked or made read-only: context.restrictions, masked_paths, readonly_paths."""
        return bool(self.context and self.context.restricted) or bool(self.masked_paths or self.readonly_paths)

    @property
    def mounts_defaults(self) -> bool:
        """True when the engine mounts /proc, /sys and /dev itself (the ``default_mounts`` key, default true)."""
        return self.default_mounts is not False


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj) if getattr(obj, f.name) is not None}
