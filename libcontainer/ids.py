"""A container's name on this host and where nsinit keeps what it trusts about it.

Only ``os``: the join client (libcontainer/control.py) needs these paths on
the per-join path, before anything heavier is imported.
"""

from __future__ import annotations

import os

RUN_DIR = "/run/nsinit"  # root's trusted states, one directory per container
CONTROL_SOCKET = "control"  # in the private directory: the supervisor's join socket (control.py)

# Characters kept in the name part of an id; any other becomes "-".
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def container_id(root: str | os.PathLike[str]) -> str:
    """A name unique on this host for the container in ``root``: its name and a hash of its real path."""
    real = os.path.realpath(root)
    name = "".join(c if c in _NAME_CHARS else "-" for c in os.path.basename(real))
    base = name.strip(".-") or "root"
    return f"{base[:40]}-{_fnv1a32(os.fsencode(real)):08x}"


def _fnv1a32(data: bytes) -> int:
    """FNV-1a, 32 bits: tells directories with the same name apart.

    Not hashlib: importing OpenSSL costs 2-4 ms and 3.7 MiB of resident memory
    per nsinit command, for 8 hex digits that need no cryptographic strength
    (a cgroup or interface that already exists is refused, not shared, and
    the trusted state records the directory it belongs to).
    """
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def state_root() -> str:
    """Where this user's container states live: /run/nsinit for root.

    An unprivileged user gets $XDG_RUNTIME_DIR/nsinit, else /tmp/nsinit-<uid>
    (as runc does for rootless containers).
    """
    if os.geteuid() == 0:
        return RUN_DIR
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return os.path.join(runtime, "nsinit") if runtime else f"/tmp/nsinit-{os.geteuid()}"


def private_dir(root: str | os.PathLike[str]) -> str:
    """Where nsinit keeps the state it trusts for the container in directory ``root``."""
    return os.path.join(state_root(), container_id(root))


# An id names a directory under the state root, a cgroup and interfaces: a
# file name of the safe characters, not "." or "..", and not too long for
# them (runc allows [\w+-\.]+ of any length; NAME_MAX is 255).
MAX_ID = 200


def check_id(id: str) -> str | None:
    """Why ``id`` cannot name a container, or None when it can."""
    if not id:
        return "a container id cannot be empty"
    if len(id) > MAX_ID:
        return f"a container id is at most {MAX_ID} characters, got {len(id)}"
    if id in (".", "..") or not set(id) <= _NAME_CHARS:
        return f"invalid container id {id!r}: use letters, digits, '_', '.' and '-' only (not '/' nor '..')"
    return None
