"""Pure helpers of the namespaces plugin: names, join paths, id maps."""

from __future__ import annotations

import os
from typing import Any

from libcontainer.context import NAMESPACE_KINDS, Namespace
from libcontainer.errors import ContainerError
from libcontainer.records import record

# Spellings accepted for each namespace: NEWNET, CLONE_NEWNET, net, network.
_ALIASES = {"NETWORK": "NEWNET", "MOUNT": "NEWNS", "MNT": "NEWNS"}
for _kind, (_proc, _flag) in NAMESPACE_KINDS.items():
    _ALIASES[_proc.upper()] = _kind


@record(frozen=True)
class IdMap:
    """One line of a uid_map or gid_map."""

    container_id: int  # first id inside the user namespace
    host_id: int  # first id outside
    size: int  # how many consecutive ids


def normalise_namespace_name(name: Any) -> str:
    """``"clone_newnet"``, ``"net"`` -> ``"NEWNET"``; anything else is a ValueError listing the valid names."""
    if not isinstance(name, str):
        raise ValueError("expected a namespace name")
    upper = name.strip().upper()
    upper = upper.removeprefix("CLONE_")
    if upper in NAMESPACE_KINDS:
        return upper
    if upper in _ALIASES:
        return _ALIASES[upper]
    import difflib

    valid = ", ".join(NAMESPACE_KINDS)
    close = difflib.get_close_matches(upper, list(NAMESPACE_KINDS), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise ValueError(f"unknown namespace {name!r}{hint} (valid: {valid})")


def requested(spaces: dict[str, Any]) -> list[Namespace]:
    """The Namespace items a ``namespaces`` section asks for (false entries dropped)."""
    out = []
    for kind, value in spaces.items():
        if value is True:
            out.append(Namespace(kind))
        elif isinstance(value, str) and value:
            out.append(Namespace(kind, path=value))
    return out


NO_NEW_NAMESPACES = (
    "no new namespaces: the command shares nsinit's namespaces (the host's processes, network and mounts) "
    'but for any it joins; ask for new ones under "namespaces", such as {"NEWNS": true, "NEWPID": true, "NEWNET": true}'
)


def warnings(spaces: dict[str, Any]) -> list[str]:
    """What a ``namespaces`` section allows but is seldom meant: no new namespace at all (absent, false or joins)."""
    return [] if any(value is True for value in spaces.values()) else [NO_NEW_NAMESPACES]


def check_kernel_has(kind: str) -> None:
    proc = NAMESPACE_KINDS[kind][0]
    if not os.path.exists(f"/proc/self/ns/{proc}"):
        raise ContainerError("namespaces", f"{kind}: this kernel has no {proc} namespaces")


def check_join_path(kind: str, path: str) -> None:
    """The file at ``path`` must be a namespace of this kind (an nsfs file)."""
    proc = NAMESPACE_KINDS[kind][0]
    try:
        os.stat(path)
    except OSError as e:
        raise ContainerError("namespaces", f"{kind}: cannot join {path}: {e.strerror}") from None
    found = _namespace_inode_kind(path)
    if found is None:
        raise ContainerError("namespaces", f"{kind}: {path} is not a namespace file")
    if found != proc:
        raise ContainerError("namespaces", f"{kind}: {path} is a {found} namespace, not a {proc} namespace")


def _namespace_inode_kind(path: str) -> str | None:
    """The namespace type of an nsfs file ("net"), or None when it is not one."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        # NS_GET_NSTYPE (ioctl_ns(2)) returns the CLONE_NEW* flag of the namespace.
        nstype = fcntl.ioctl(fd, 0xB703)
    except OSError:
        return None
    finally:
        os.close(fd)
    for _kind, (proc, flag) in NAMESPACE_KINDS.items():
        if flag == nstype:
            return proc
    return None


def id_maps_for(config: Any, euid: int, egid: int) -> tuple[list[IdMap], list[IdMap]]:
    """The uid and gid maps to write; without a config, map root to the caller (as ``unshare -r``)."""
    uids = [IdMap(**m) for m in config.section("uid_mappings") or []]
    gids = [IdMap(**m) for m in config.section("gid_mappings") or []]
    return uids or [IdMap(0, euid, 1)], gids or [IdMap(0, egid, 1)]


def map_file_text(maps: list[IdMap]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
