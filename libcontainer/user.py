"""Resolving the configured ``user`` against the container's /etc/passwd and /etc/group."""

from __future__ import annotations

import os

from .errors import ContainerError
from .records import field, record


@record
class ExecUser:
    """The ids and home directory the container's process runs with."""

    uid: int  # user id inside the container
    gid: int  # primary group id
    groups: list[int] = field(default_factory=list)  # supplementary group ids
    home: str = "/"  # home directory, from passwd


def _read(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    return [ln.split(":") for ln in lines if ln and not ln.startswith("#")]


def resolve_user(spec: str | None, passwd: str = "/etc/passwd", group: str = "/etc/group", *,
                 additional_gids: list[int] | None = None) -> ExecUser:
    """``name``, ``uid``, ``uid:gid``, ``name:group`` (or empty for root) to ids.

    Names must exist in the container's files; numeric ids need not (as with
    runc).  Supplementary groups are those of /etc/group that list the user,
    then ``additional_gids`` (the config's, OCI's additionalGids) not already there.
    """
    spec = (spec or "").strip()
    if not spec:
        spec = "0"
    user_part, _, group_part = spec.partition(":")
    users = _read(passwd)
    groups = _read(group)

    name = None
    uid = gid = None
    home = "/"
    for row in users:
        if len(row) < 4:
            continue
        if row[0] == user_part or (user_part.isdigit() and row[2] == user_part):
            name, uid, gid, home = row[0], int(row[2]), int(row[3]), (row[5] if len(row) > 5 else "/")
            break
    if uid is None:
        if not user_part.isdigit():
            raise ContainerError("user", f"unable to find user {user_part}: no matching entry in /etc/passwd")
        uid, gid = int(user_part), 0

    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            match = [row for row in groups if len(row) >= 3 and row[0] == group_part]
            if not match:
                raise ContainerError("user", f"unable to find group {group_part}: no matching entry in /etc/group")
            gid = int(match[0][2])

    extra: list[int] = []
    if name is not None:
        for row in groups:
            if len(row) >= 4 and name in row[3].split(",") and row[2].isdigit():
                g = int(row[2])
                if g != gid and g not in extra:
                    extra.append(g)
    for g in additional_gids or ():
        if g not in extra:
            extra.append(g)
    return ExecUser(uid=uid, gid=gid if gid is not None else 0, groups=extra, home=home)


def set_umask(mask: int | None) -> None:
    """The process's umask (umask(2)), inherited through execve; None leaves nsinit's."""
    if mask is not None:
        os.umask(mask)
