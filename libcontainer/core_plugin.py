"""The core's own keys of container.json, declared like a plugin's: schema, formats, cross-field checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import mountopts
from .errors import ConfigProblem
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .config import Config

# -- formats: value -> canonical value, or ValueError saying what was expected ----

# Size suffixes, all powers of 1024 as in docker's and runc's memory options:
# "64k", "512M", "1.5G", "100MiB", "2gb" (case-insensitive).
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50, "e": 1 << 60}
_SIZE_FORMS = 'an integer number of bytes or a string such as "512M", "1.5G", "64k" or "100MiB"'


def parse_bytes(value: Any) -> int:
    """A size: an int (kept, so -1 can mean "unlimited"), or "512M" -> 536870912 (floor)."""
    if isinstance(value, bool):
        raise ValueError(f"expected {_SIZE_FORMS}, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"expected {_SIZE_FORMS}, got {value!r}")
    text = value.strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz").strip()
    unit = text[len(number):].strip()
    if unit.endswith("ib"):
        unit = unit[:-2]  # "MiB" -> "m"
    elif unit.endswith("b") and len(unit) == 2:
        unit = unit[:-1]  # "MB" -> "m": binary too, as docker reads it
    whole, _, fraction = number.partition(".")
    if unit not in _SIZE_UNITS or not number.isascii() or not whole.isdigit() or not (fraction == "" or fraction.isdigit()):
        raise ValueError(f"expected {_SIZE_FORMS}, got {value!r}")
    scale = _SIZE_UNITS[unit]
    # Integer arithmetic, so "1.1G" is exact and never a float approximation.
    return int(whole) * scale + (int(fraction or "0") * scale) // (10 ** len(fraction))


def parse_absolute_path(value: Any) -> str:
    """A path that starts with "/", has no ".." component and no NUL byte; kept as written."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"expected an absolute path (starting with '/'), got {value!r}")
    if "\0" in value:
        raise ValueError(f"a path cannot contain a NUL byte, got {value!r}")
    if ".." in value.split("/"):
        raise ValueError(f"a path cannot contain a '..' component, got {value!r}")
    return value


def parse_env_entry(value: Any) -> str:
    """"KEY=value" with a non-empty KEY without NUL bytes (environ(7))."""
    if not isinstance(value, str) or "=" not in value:
        raise ValueError(f'expected "KEY=value", got {value!r}')
    key = value.partition("=")[0]
    if not key:
        raise ValueError(f'expected "KEY=value" with a non-empty KEY, got {value!r}')
    if "\0" in value:
        raise ValueError(f"an environment entry cannot contain a NUL byte, got {value!r}")
    return value


# Device types as libcontainer writes them: the character code of 'c' or 'b'.
_DEVICE_TYPES = {"c": ord("c"), "b": ord("b")}


def parse_device_type(value: Any) -> int:
    """99 or "c" (character device) -> 99; 98 or "b" (block device) -> 98."""
    if isinstance(value, str) and value.lower() in _DEVICE_TYPES:
        return _DEVICE_TYPES[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and value in (ord("c"), ord("b")):
        return value
    raise ValueError(f"expected a device type: 99 or 'c' (character device), 98 or 'b' (block device); got {value!r}")


def parse_file_mode(value: Any) -> int:
    """Permission bits: an int (438) or an octal string ("0666", "0o666") -> int."""
    mode = value
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        mode = int(text, 8) if text and all(c in "01234567" for c in text) else None
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
        raise ValueError(f'expected permission bits: an integer 0..4095 (438 = 0o666) or an octal string such as "0666"; got {value!r}')
    return mode


def parse_label(value: Any) -> str:
    """A context value: strings as written; YAML's true/false/numbers become their JSON text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


# (uid_t)-1 means "leave unchanged" to setresuid(2): the largest usable id is one less.
MAX_ID = 2**32 - 2


def parse_user(value: Any) -> str:
    """"name", "uid", "uid:gid" or "name:group", with numeric ids that fit uid_t and gid_t."""
    user, _, group = str(value).partition(":")
    for part, what in ((user, "uid"), (group, "gid")):
        if part.isdigit() and int(part) > MAX_ID:
            raise ValueError(f"{what} {part} is out of range (0 to {MAX_ID})")
    return value


def parse_umask(value: Any) -> int:
    """A umask: an int (18) or an octal string ("022", "0o022") -> int, at most 0o777."""
    mode = value
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        mode = int(text, 8) if text and all(c in "01234567" for c in text) else None
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o777:
        raise ValueError(f'expected a umask: an integer 0..511 (18 = 0o022) or an octal string such as "022"; '
                         f"got {value!r}")
    return mode


def parse_mount_option(value: Any) -> str:
    """One option string of mount(8) or the OCI table, or a filesystem's own ("size=64m"); kept as written."""
    if not isinstance(value, str):
        raise ValueError(f"expected a mount option string, got {value!r}")
    problem = mountopts.option_problem(value)
    if problem:
        raise ValueError(problem)
    return value


FORMATS = {
    "user": parse_user,
    "bytes": parse_bytes,
    "absolute-path": parse_absolute_path,
    "env-entry": parse_env_entry,
    "device-type": parse_device_type,
    "file-mode": parse_file_mode,
    "label": parse_label,
    "umask": parse_umask,
    "mount-option": parse_mount_option,
}

# -- schema ---------------------------------------------------------------------

_PATH = {"type": "string", "format": "absolute-path", "minLength": 1}
_LABEL = {"type": ["string", "boolean", "number"], "format": "label"}


def device_schema(path_required: bool = True) -> dict[str, Any]:
    """A device entry as libcontainer writes it; plugins (cgroups rules) may reuse it."""
    return {
        "type": "object",
        "title": "a device",
        "description": "A device node; also a rule of the device cgroup.",
        "properties": {
            "type": {
                "type": ["integer", "string"],
                "format": "device-type",
                "description": "99 (or \"c\") for a character device, 98 (or \"b\") for a block device.",
            },
            "path": {**_PATH, "description": "Where the node is, under /dev."},
            "major_number": {"type": "integer", "minimum": -1, "description": "Device major; -1 means any."},
            "minor_number": {"type": "integer", "minimum": -1, "description": "Device minor; -1 means any."},
            "cgroup_permissions": {
                "type": "string",
                "pattern": "^[rwm]{1,3}$",
                "title": "a subset of \"rwm\" (read, write, mknod)",
                "description": "What the device cgroup allows: r(ead), w(rite), m(knod).",
            },
            "file_mode": {
                "type": ["integer", "string"],
                "format": "file-mode",
                "description": "Permission bits of the node, e.g. 438 (0o666) or \"0666\".",
            },
            "uid": {"type": "integer", "minimum": 0, "description": "Owner of the node in the container."},
            "gid": {"type": "integer", "minimum": 0, "description": "Group of the node in the container."},
        },
        "additionalProperties": False,
        "required": ["path"] if path_required else [],
    }


MOUNT_TYPES = ("bind", "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup")
ROOTFS_PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")

MOUNT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "a mount",
    "properties": {
        "type": {"enum": list(MOUNT_TYPES),
                 "description": "\"bind\" (a host path, the default), or a filesystem made for the container: "
                                "tmpfs, proc, sysfs, devpts, mqueue, or cgroup (the container's own cgroups)."},
        "source": {"type": "string", "minLength": 1,
                   "description": "The host path of a bind mount (absolute); for the others, the name shown."},
        "destination": {**_PATH, "description": "Where it is mounted in the container (absolute)."},
        "writable": {"type": "boolean", "description": "Read-write when true, otherwise read-only (without options)."},
        "private": {"type": "boolean", "description": "Private propagation instead of slave (without options)."},
        "data": {"type": "string", "description": "Mount options, e.g. \"size=64m,mode=1777\" for tmpfs."},
        "options": {"type": "array", "items": {"type": "string", "format": "mount-option"},
                    "description": "Option strings of mount(8), in order: ro, nosuid, nodev, noexec, relatime, "
                                   "bind or rbind, a propagation (rprivate, rslave ...), recursive ones (rro ...), "
                                   "tmpcopyup, and the filesystem's own (size=64m); instead of writable and private."},
    },
    "additionalProperties": False,
    "required": ["destination"],
}

CORE_SCHEMA: dict[str, Any] = {
    "hostname": {
        "type": "string",
        "maxLength": 64,  # HOST_NAME_MAX (sethostname(2))
        "description": "The hostname, set in a new UTS namespace.",
    },
    "rootfs": {**_PATH, "description": "The root filesystem; default: the container's directory."},
    "readonly_fs": {"type": "boolean", "description": "Mount the root filesystem read-only."},
    "no_pivot_root": {"type": "boolean", "description": "Use MS_MOVE and chroot instead of pivot_root (ramfs roots)."},
    "no_new_keyring": {"type": "boolean",
                       "description": "Keep the inherited session keyring instead of a new one of the container's own."},
    "user": {
        "type": "string",
        "format": "user",
        "pattern": "^[^:\\s]+(:[^:\\s]+)?$",
        "title": "a user: \"name\", \"uid\", \"uid:gid\" or \"name:group\"",
        "description": "The user the process runs as, looked up in the rootfs.",
    },
    "working_dir": {**_PATH, "description": "The working directory in the container (absolute); default \"/\"."},
    "environment": {
        "type": "array",
        "items": {"type": "string", "format": "env-entry"},
        "description": "The process's environment, as \"KEY=value\" entries (HOME from passwd when absent).",
    },
    "tty": {"type": "boolean", "description": "Give the process a new pseudo-terminal."},
    "init": {
        "type": "boolean",
        "description": "Run a minimal init as PID 1: it passes signals on to the command (its child), reaps "
                       "orphans and exits with the command's exit status.",
    },
    "context": {
        "type": "object",
        "properties": {
            "mount_label": {**_LABEL, "description": "SELinux label for mounts."},
            "process_label": {**_LABEL, "description": "SELinux or AppArmor label of the process."},
            "restrictions": {**_LABEL, "description": "\"true\": /proc/sys read-only, /proc/kcore masked, /sys read-only."},
        },
        "additionalProperties": _LABEL,
        "description": "Labels and restrictions; values are strings.",
    },
    "mounts": {"type": "array", "items": MOUNT_SCHEMA, "description": "Extra mounts, in order."},
    "device_nodes": {
        "type": "array",
        "items": device_schema(path_required=True),
        "description": "Device nodes created in the container's /dev.",
    },
    "default_mounts": {
        "type": "boolean",
        "description": "false: mount no /proc, /sys and /dev of the engine's, only the mounts listed, in order "
                       "(device nodes and /dev symlinks are still made); default true.",
    },
    "masked_paths": {
        "type": "array", "items": _PATH,
        "description": "Paths hidden in the container (a file by /dev/null, a directory by an empty read-only "
                       "tmpfs); replaces the list that context.restrictions masks.",
    },
    "readonly_paths": {
        "type": "array", "items": _PATH,
        "description": "Paths made read-only in the container; replaces the list that context.restrictions uses.",
    },
    "rootfs_propagation": {
        "enum": list(ROOTFS_PROPAGATIONS),
        "description": "Propagation of the container's root mount: private (the default), slave (receives the "
                       "host's mounts), shared (a new peer group, never the host's), unbindable; r- forms too.",
    },
    "domainname": {
        "type": "string",
        "maxLength": 64,  # __NEW_UTS_LEN (setdomainname(2))
        "description": "The NIS domain name, set in a new UTS namespace.",
    },
    "umask": {
        "type": ["integer", "string"],
        "format": "umask",
        "description": "The process's umask, e.g. 18 or \"022\"; absent: nsinit's own.",
    },
    "additional_gids": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
        "description": "Supplementary groups of the process, besides those /etc/group gives its user.",
    },
}

# -- cross-field checks (pure) ----------------------------------------------------


# What the engine mounts itself unless default_mounts is false.
ENGINE_MOUNTS = ("/proc", "/sys", "/dev")


def check_mounts(config: Config) -> list[ConfigProblem]:
    problems = []
    for i, mount in enumerate(config.mounts or []):
        where = f"$.mounts[{i}]"
        dest = "/" + "/".join(c for c in mount.destination.split("/") if c and c != ".")
        if dest == "/":
            problems.append(ConfigProblem(f"{where}.destination", "cannot mount over '/': it would hide the rootfs"))
        if mount.type == "bind" and not mount.source:
            problems.append(ConfigProblem(where, f"a bind mount needs a 'source' (the host path to mount at {mount.destination})"))
        elif mount.type == "bind" and not mount.source.startswith("/"):
            problems.append(ConfigProblem(f"{where}.source", f"the source of a bind mount must be an absolute path, "
                                                             f"got {mount.source!r}"))
        if mount.type == "proc" and dest != "/proc":
            problems.append(ConfigProblem(f"{where}.destination", f"proc can only be mounted on /proc, not {dest} "
                                                                  "(a procfs elsewhere would escape the masks)"))
        if config.mounts_defaults and (dest in ENGINE_MOUNTS or dest.startswith("/proc/")):
            problems.append(ConfigProblem(f"{where}.destination",
                                          f"mounting over {dest} is not allowed: the engine mounts it (set "
                                          "default_mounts to false to list /proc, /sys and /dev yourself)"
                                          if dest in ENGINE_MOUNTS else f"mounting over {dest} is not allowed "
                                          "(it is in the engine's /proc)"))
        if mount.options is not None:
            problems += _option_problems(where, mount)
    return problems


def _option_problems(where: str, mount: Any) -> list[ConfigProblem]:
    problems = []
    for key in ("writable", "private"):
        if getattr(mount, key) is not None:
            problems.append(ConfigProblem(f"{where}.{key}", f"give either options or {key}, not both (options "
                                                            "say ro/rw and the propagation)"))
    for j, option in enumerate(mount.options):
        at = f"{where}.options[{j}]"
        if option in ("bind", "rbind") and mount.type != "bind":
            problems.append(ConfigProblem(at, f"{option!r} makes a bind mount, but the type is {mount.type!r}"))
        elif option == "tmpcopyup" and mount.type != "tmpfs":
            problems.append(ConfigProblem(at, "'tmpcopyup' applies to tmpfs mounts only"))
        elif option not in mountopts.KNOWN_OPTIONS and mount.type in ("bind", "cgroup"):
            problems.append(ConfigProblem(at, f"{option!r} is no mount flag, and a {mount.type} mount takes no "
                                              "filesystem options"))
    return problems


def check_device_nodes(config: Config) -> list[ConfigProblem]:
    problems = []
    seen: dict[str, int] = {}
    for i, node in enumerate(config.device_nodes or []):
        where = f"$.device_nodes[{i}].path"
        path = node.path or ""
        if not path.startswith("/dev/") or path.rstrip("/") == "/dev" or ".." in path.split("/"):
            problems.append(ConfigProblem(where, f"a device node must be under /dev (such as /dev/null), got {path!r}"))
        elif path in seen:
            problems.append(ConfigProblem(where, f"{path} is already created by $.device_nodes[{seen[path]}]"))
        seen.setdefault(path, i)
    return problems


def check_environment(config: Config) -> list[ConfigProblem]:
    problems = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(config.environment or []):
        key = entry.partition("=")[0]
        if key in seen:
            problems.append(ConfigProblem(f"$.environment[{i}]", f"{key} is set twice (also at [{seen[key]}])"))
        seen.setdefault(key, i)
    return problems


# -- hooks ------------------------------------------------------------------------


@hookimpl
def libcontainer_config_schema() -> dict[str, dict[str, Any]]:
    return CORE_SCHEMA


@hookimpl
def libcontainer_config_formats() -> dict[str, Any]:
    return FORMATS


def check_propagation(config: Config) -> list[ConfigProblem]:
    if config.no_pivot_root and config.rootfs_propagation in ("private", "rprivate", "unbindable", "runbindable"):
        # MS_MOVE of the rootfs over "/" needs "/" not private (libcontainer's msMoveRoot).
        return [ConfigProblem("$.rootfs_propagation", f"{config.rootfs_propagation} cannot be used with "
                                                      "no_pivot_root, which moves the rootfs over a slave '/'")]
    return []


@hookimpl
def libcontainer_validate_config(config: Config) -> list[ConfigProblem]:
    return (check_mounts(config) + check_device_nodes(config) + check_environment(config)
            + check_propagation(config))
