"""Mount option strings (mount(8), the OCI runtime spec's table) and what each does to a mount.

Pure tables and one parser: ``parse_options(["ro", "nosuid", "rbind",
"rprivate"])`` gives the flags of mount(2), what the options turn off (``rw``
clears MS_RDONLY on a remount), the propagation, the attributes set on a
whole tree with mount_setattr(2) (``rro``, ``rnosuid`` ...), and the
filesystem-specific options (``size=64m``, ``mode=1777``) passed as mount
data.  The config's checks (core_plugin.py), the filesystem builder
(rootfs.py) and lcrun's features document all read these tables, so what is
accepted, what is done and what is advertised cannot drift apart.
"""

from __future__ import annotations


from . import syscalls as sc
from .records import field, record

# Option -> (MS_* flags it sets, MS_* flags it clears), as mount(8) reads them.
FLAG_OPTIONS: dict[str, tuple[int, int]] = {
    "defaults": (0, 0),
    "ro": (sc.MS_RDONLY, 0),
    "rw": (0, sc.MS_RDONLY),
    "nosuid": (sc.MS_NOSUID, 0),
    "suid": (0, sc.MS_NOSUID),
    "nodev": (sc.MS_NODEV, 0),
    "dev": (0, sc.MS_NODEV),
    "noexec": (sc.MS_NOEXEC, 0),
    "exec": (0, sc.MS_NOEXEC),
    "sync": (sc.MS_SYNCHRONOUS, 0),
    "async": (0, sc.MS_SYNCHRONOUS),
    "dirsync": (sc.MS_DIRSYNC, 0),
    "noatime": (sc.MS_NOATIME, 0),
    "atime": (0, sc.MS_NOATIME),
    "nodiratime": (sc.MS_NODIRATIME, 0),
    "diratime": (0, sc.MS_NODIRATIME),
    "relatime": (sc.MS_RELATIME, 0),
    "norelatime": (0, sc.MS_RELATIME),
    "strictatime": (sc.MS_STRICTATIME, 0),
    "nostrictatime": (0, sc.MS_STRICTATIME),
    "silent": (sc.MS_SILENT, 0),
    "loud": (0, sc.MS_SILENT),
    "iversion": (sc.MS_I_VERSION, 0),
    "noiversion": (0, sc.MS_I_VERSION),
    "lazytime": (sc.MS_LAZYTIME, 0),
    "nolazytime": (0, sc.MS_LAZYTIME),
    "nosymfollow": (sc.MS_NOSYMFOLLOW, 0),
    "symfollow": (0, sc.MS_NOSYMFOLLOW),
}

# The access-time flags: an option naming one of them decides all of them.
ATIME_FLAGS = sc.MS_NOATIME | sc.MS_RELATIME | sc.MS_STRICTATIME
ATIME_OPTIONS = frozenset({"noatime", "atime", "relatime", "norelatime", "strictatime", "nostrictatime"})

# Propagation of the mount (mount_namespaces(7), "Shared subtrees"); the r- forms apply to every mount below it.
PROPAGATION_OPTIONS: dict[str, int] = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

# Recursive attributes, set with mount_setattr(2) and AT_RECURSIVE on the mount and all below it
# (Linux 5.12): option -> (MOUNT_ATTR_* set, MOUNT_ATTR_* cleared).
RECURSIVE_OPTIONS: dict[str, tuple[int, int]] = {
    "rro": (sc.MOUNT_ATTR_RDONLY, 0),
    "rrw": (0, sc.MOUNT_ATTR_RDONLY),
    "rnosuid": (sc.MOUNT_ATTR_NOSUID, 0),
    "rsuid": (0, sc.MOUNT_ATTR_NOSUID),
    "rnodev": (sc.MOUNT_ATTR_NODEV, 0),
    "rdev": (0, sc.MOUNT_ATTR_NODEV),
    "rnoexec": (sc.MOUNT_ATTR_NOEXEC, 0),
    "rexec": (0, sc.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (sc.MOUNT_ATTR_NODIRATIME, 0),
    "rdiratime": (0, sc.MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (sc.MOUNT_ATTR_NOSYMFOLLOW, 0),
    "rsymfollow": (0, sc.MOUNT_ATTR_NOSYMFOLLOW),
    # The access-time setting is one value of three: clear them all, set one.
    "rnoatime": (sc.MOUNT_ATTR_NOATIME, sc.MOUNT_ATTR__ATIME),
    "rrelatime": (sc.MOUNT_ATTR_RELATIME, sc.MOUNT_ATTR__ATIME),
    "rstrictatime": (sc.MOUNT_ATTR_STRICTATIME, sc.MOUNT_ATTR__ATIME),
}

# bind: a bind mount of the source alone; rbind: with every mount below it.
# tmpcopyup (tmpfs only): the new tmpfs starts with a copy of what the directory held.
OTHER_OPTIONS = frozenset({"bind", "rbind", "tmpcopyup"})

# Known to mount(8) or the OCI table, refused with a reason rather than passed on as data.
REFUSED_OPTIONS: dict[str, str] = {
    "remount": "a container's mounts are new mounts; remounting one is not supported",
    "mand": "mandatory locking is gone from Linux (5.15)",
    "nomand": "mandatory locking is gone from Linux (5.15)",
    "idmap": "id-mapped mounts are not supported",
    "ridmap": "id-mapped mounts are not supported",
    "ratime": "use rrelatime, rnoatime or rstrictatime",
    "rnorelatime": "use rrelatime, rnoatime or rstrictatime",
    "rnostrictatime": "use rrelatime, rnoatime or rstrictatime",
}

# Every option string with a meaning of its own (the rest are filesystem-specific data).
KNOWN_OPTIONS = frozenset(FLAG_OPTIONS) | frozenset(PROPAGATION_OPTIONS) | frozenset(RECURSIVE_OPTIONS) | OTHER_OPTIONS


@record(frozen=True)
class MountOptions:
    """What a list of option strings asks of one mount."""

    flags: int = 0  # MS_* flags to set (mount(2) and the bind remount)
    cleared: int = 0  # MS_* flags the options turn off explicitly (rw, suid, dev, exec ...)
    propagation: int = 0  # MS_PRIVATE/MS_SLAVE/MS_SHARED/MS_UNBINDABLE, with MS_REC for the r- forms; 0: unchanged
    bind: bool = False  # "bind" or "rbind" was given
    recursive: bool = False  # "rbind": every mount below the source too
    attr_set: int = 0  # MOUNT_ATTR_* set on the whole tree (mount_setattr, AT_RECURSIVE)
    attr_clr: int = 0  # MOUNT_ATTR_* cleared on the whole tree
    tmpcopyup: bool = False  # a tmpfs that starts with a copy of the directory's content
    data: tuple[str, ...] = field(default_factory=tuple)  # filesystem-specific options, in order
    atime_given: bool = False  # an option decided the access-time flags


def option_problem(option: str) -> str | None:
    """Why an option string cannot be used at all, or None (data options are fine here)."""
    if option in REFUSED_OPTIONS:
        return f"{option!r}: {REFUSED_OPTIONS[option]}"
    if not option:
        return "an empty option"
    if "," in option:
        return f"{option!r}: one option per string (no ',')"
    return None


def parse_options(options: list[str] | tuple[str, ...] | None) -> MountOptions:
    """Fold the options in order: a later one wins over an earlier one it contradicts (ro, then rw: rw)."""
    flags = cleared = propagation = attr_set = attr_clr = 0
    bind = recursive = tmpcopyup = atime_given = False
    data: list[str] = []
    for option in options or ():
        if option in FLAG_OPTIONS:
            on, off = FLAG_OPTIONS[option]
            if option in ATIME_OPTIONS:
                atime_given = True
                if on:  # one access-time flag replaces the others (mount(8))
                    flags &= ~ATIME_FLAGS
            flags = (flags | on) & ~off
            cleared = (cleared | off) & ~on
        elif option in PROPAGATION_OPTIONS:
            propagation = PROPAGATION_OPTIONS[option]
        elif option in RECURSIVE_OPTIONS:
            on, off = RECURSIVE_OPTIONS[option]
            attr_set = (attr_set & ~off) | on
            attr_clr = (attr_clr | off) & ~on
        elif option == "bind":
            bind = True
        elif option == "rbind":
            bind = recursive = True
        elif option == "tmpcopyup":
            tmpcopyup = True
        else:
            data.append(option)
    return MountOptions(flags=flags, cleared=cleared, propagation=propagation, bind=bind, recursive=recursive,
                        attr_set=attr_set, attr_clr=attr_clr, tmpcopyup=tmpcopyup, data=tuple(data),
                        atime_given=atime_given)
