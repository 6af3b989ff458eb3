"""Paths in a root filesystem, resolved inside it; and what the host checks there before anything is made.

Apart from the builder (rootfs.py), which runs in the setup process: the
host needs these before the fork, and the builder's modules are imported by
the setup process itself while the host runs post_clone (process.py).
"""

from __future__ import annotations

import os
import stat

from .errors import ContainerError


def secure_join(root: str, unsafe: str) -> str:
    """``root`` + ``unsafe`` with every symlink resolved as if ``root`` were "/".

    ``..`` never climbs above ``root``; an absolute symlink restarts at
    ``root``.  Components that do not exist are kept as they are.
    """
    pending = [c for c in unsafe.split("/") if c]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except OSError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 40:
                raise ContainerError("mounts", f"{unsafe}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending = [c for c in target.split("/") if c] + pending
        else:
            resolved.append(part)
    return os.path.join(root, *resolved)


# -- checked on the host, before anything is made --------------------------------------

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SPECIAL_DIRS = ("proc", "sys", "dev")  # made in the rootfs when missing (check_special_dirs)


def command_problem(rootfs: str, command: str, env: list[str], mount_points: list[str]) -> str | None:
    """Why ``command`` cannot be found in ``rootfs``, before anything is set up; None when it is (or may be).

    Looked up as the setup process will (in the container's PATH, symlinks
    resolved inside the rootfs), so that an empty or wrong directory is one
    line naming it, not a failure further on with the rootfs half-prepared.
    A command under one of ``mount_points`` may come with that mount: not
    judged here.
    """
    for candidate in command_candidates(command, env):
        if under_any(candidate, mount_points):
            return None
        try:
            if os.path.exists(secure_join(rootfs, candidate)):
                return None
        except ContainerError:
            return None  # a symlink loop: the setup process will say so
    try:
        # Only a config (and what nsinit writes beside it): no root filesystem there.
        empty = not set(os.listdir(rootfs)) - {"container.json", "container.yaml", "container.yml", "pid", "start",
                                               "state.json"}
    except OSError as e:
        return f"{rootfs}: {e.strerror}"
    where = f"{rootfs}, which is empty: is it a root filesystem?" if empty else rootfs
    # The words runc uses, which podman reads to choose 127 (libpod's ExecErrorCodeNotFound).
    if "/" in command:
        return f"{command}: no such file or directory in the root filesystem {where}"
    return f"{command}: executable file not found in $PATH of the root filesystem {where}"


def command_candidates(command: str, env: list[str]) -> list[str]:
    """Where the setup process looks ``command`` up in the container, in order: itself when it has a
    slash, else each directory of the environment's PATH (DEFAULT_PATH without one)."""
    if "/" in command:
        return [command if command.startswith("/") else "/" + command]
    path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
    return [os.path.join(d or "/", command) for d in path.split(":")]


def under_any(path: str, mount_points: list[str]) -> bool:
    """Whether ``path`` is one of ``mount_points`` or under one (a mount may bring it)."""
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mount_points)


def missing_special_dirs(rootfs: str) -> list[str]:
    """The /proc, /sys and /dev directories a start would make in ``rootfs`` (removed again if it fails)."""
    return [os.path.join(rootfs, d) for d in SPECIAL_DIRS if not os.path.lexists(os.path.join(rootfs, d))]


def remove_made_dirs(paths: list[str]) -> None:
    """Remove directories a failed start made, if they are still empty: the rootfs as it was."""
    for path in paths:
        try:
            os.rmdir(path)
        except OSError:
            pass
