"""What hooks receive: the container being run and the process being started."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import syscalls as _syscalls
from .records import field, record

if TYPE_CHECKING:
    from .config import Config


# Namespace kinds: name in container.json, file under /proc/PID/ns, clone flag.
NAMESPACE_KINDS: dict[str, tuple[str, int]] = {
    "NEWUSER": ("user", _syscalls.CLONE_NEWUSER),
    "NEWNS": ("mnt", _syscalls.CLONE_NEWNS),
    "NEWUTS": ("uts", _syscalls.CLONE_NEWUTS),
    "NEWIPC": ("ipc", _syscalls.CLONE_NEWIPC),
    "NEWPID": ("pid", _syscalls.CLONE_NEWPID),
    "NEWNET": ("net", _syscalls.CLONE_NEWNET),
    "NEWCGROUP": ("cgroup", _syscalls.CLONE_NEWCGROUP),
    "NEWTIME": ("time", _syscalls.CLONE_NEWTIME),
}

# The order in which namespaces are created or joined.  The user namespace is
# first: it owns every namespace created after it, and joining it first gives
# the capabilities needed to join the rest (user_namespaces(7), setns(2)).
# The mount namespace is joined last among the others, since the /proc paths
# of the rest are opened before any setns.
NAMESPACE_ORDER = ["NEWUSER", "NEWIPC", "NEWUTS", "NEWNET", "NEWPID", "NEWCGROUP", "NEWTIME", "NEWNS"]


@record(frozen=True)
class Namespace:
    """One namespace of the container."""

    kind: str  # a key of NAMESPACE_KINDS, e.g. "NEWNET"
    path: str | None = None  # join this namespace file instead of creating one

    @property
    def proc_name(self) -> str:
        return NAMESPACE_KINDS[self.kind][0]

    @property
    def flag(self) -> int:
        return NAMESPACE_KINDS[self.kind][1]


@record
class Process:
    """The process being started: the container's first, or a joining one."""

    args: list[str]  # argv; args[0] is looked up in the container's PATH
    env: list[str]  # the environment the process gets ("K=V"); HOME from passwd is added when absent
    cwd: str = "/"  # working directory inside the container
    user: str = ""  # "name", "uid", "uid:gid" or "name:group"; "" is root
    tty: bool = False  # give it a new pseudo-terminal as stdio
    joining: bool = False  # joins a running container instead of starting one
    attached: bool = True  # dies with the process that made it (parent-death signal)
    preserve_fds: int = 0  # the creator's fds 3..3+N-1 go on to the command (OCI --preserve-fds, LISTEN_FDS)
    additional_gids: list[int] | None = None  # instead of the config's additional_gids (lcrun exec --process)
    pid: int | None = None  # host pid, once it exists


@record
class ContainerContext:
    """The container as hooks see it, on the host and inside."""

    config: Config  # the validated config
    root: Path  # the container's directory: config, pid and state files
    rootfs: Path  # the root filesystem (often the same as root)
    id: str  # a name unique on this host, derived from root
    process: Process  # the process being started or joined
    syscalls: _syscalls.KernelDoor = field(default_factory=_syscalls.real, repr=False)  # the kernel door
    namespaces: list[Namespace] = field(default_factory=list)  # as the plugins asked
    pid: int | None = None  # host pid of the container's first process
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # per plugin: what it created
    stale: bool = False  # True when cleaning up after a killed nsinit
    # The plugin manager's hook relay (pluggy's ``pm.hook``), as pytest hands
    # ``config.hook`` to plugins: for a plugin to call hooks that other plugins
    # implement (the network plugin's network types).
    hook: Any = field(default=None, repr=False, compare=False)
    # The engine's: while set (during pre_clone), called when a plugin records
    # for the first time, to write the state before record() returns.
    on_first_record: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    @property
    def rootless(self) -> bool:
        """True when nsinit runs without host root privileges."""
        return os.geteuid() != 0

    def has_namespace(self, kind: str) -> bool:
        """True when the container gets a namespace of this kind (new or joined)."""
        return any(ns.kind == kind for ns in self.namespaces)

    def new_namespace(self, kind: str) -> bool:
        """True when the container gets a new namespace of this kind."""
        return any(ns.kind == kind and ns.path is None for ns in self.namespaces)

    def record(self, plugin: str, **items: Any) -> dict[str, Any]:
        """Record what ``plugin`` created (or is about to create), for cleanup and later commands.

        A plugin's first record during pre_clone is on disk when this returns:
        record what you will create, enough to remove it, before creating it,
        and a SIGKILL of nsinit at any later point leaves a state that the next
        command cleans up.
        """
        entry = self.resources.get(plugin)
        first = entry is None
        if first:
            entry = self.resources[plugin] = {}
        entry.update(items)
        if first and self.on_first_record is not None:
            self.on_first_record()
        return entry
