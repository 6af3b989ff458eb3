"""A container's state: where it is kept, what it records, and what the kernel says of it.

Every container has a *state directory* that only its user can write,
``<state root>/<id>`` (``/run/nsinit/<id>`` for root, see ids.py; runc keeps
``/run/runc/<id>`` for the same reason).  It holds:

``state.json``
    What later commands need: the config the container runs with, its
    namespaces, what each plugin created (``resources``), the pid and start
    time of its first process, and the last phase the engine recorded.
``start``
    While the container is *created*: the socket its first process waits on
    for the start (process.py).  The starter removes it before it sends the
    start: its absence is what tells a started container from a created one.
``control``
    While nsinit supervises it: the socket of served joins (control.py).

The directory itself is the lock that serialises commands on one container
(:class:`Lock`).  A container made by ``nsinit`` in a directory also shows
``pid``, ``start`` and ``state.json`` there, for people and tools, written
once, when it is created; those copies are never trusted: that directory is
often the container's own root filesystem, where root in the container can
rewrite them.

The status (runtime.md's four) is derived, never read: the phase recorded
says whether the engine has made the container yet, the start socket
whether it was started, and the kernel whether its process still runs
(:func:`status`).
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from . import ids
from .errors import StateError
from .ids import RUN_DIR, container_id  # noqa: F401  (the names this module always offered)

# Neither dataclasses nor pathlib: lcrun's state, kill, list and delete import
# this module and little else, and those two cost ~9 ms of every such command
# (dataclasses through inspect).  Paths are taken as str or os.PathLike.
TYPE_CHECKING = False  # typing (~2 ms) is not imported either
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Iterator

PID_FILE = "pid"
START_FILE = "start"
STATE_FILE = "state.json"
START_SOCKET = "start"  # in the state directory, while created

# The statuses of runtime.md ("State"), and the phases the engine records.
CREATING = "creating"  # being set up; its creator still runs
CREATED = "created"  # set up, its first process waits for the start
RUNNING = "running"  # started (never recorded: the start socket is gone), and its process has not ended
STOPPED = "stopped"  # its first process has ended (or its creation failed half-way)


_REQUIRED = object()  # a field without a default

# State's fields in order: (name, default, factory); factory() makes a fresh default for each instance.
_FIELDS: tuple[tuple[str, Any, Any], ...] = (
    ("id", _REQUIRED, None),  # the container's id
    ("status", _REQUIRED, None),  # the last phase the engine recorded (CREATING, CREATED, RUNNING, STOPPED); see status()
    ("pid", _REQUIRED, None),  # host pid of the container's first process; 0 until it exists
    ("start", _REQUIRED, None),  # its start time in clock ticks since boot (/proc/PID/stat field 22)
    ("root", _REQUIRED, None),  # the container's directory (nsinit) or bundle (lcrun), as a real path
    ("rootfs", _REQUIRED, None),  # the root filesystem
    ("config", _REQUIRED, None),  # the canonical config the container runs with
    ("created", "", None),  # when creation began, RFC 3339 in UTC
    ("namespaces", None, dict),  # kind -> "mnt:[4026531840]" of the first process
    ("resources", None, dict),  # per plugin, what it created
    ("creator_pid", 0, None),  # the process that creates the container (its status while CREATING)
    ("creator_start", "", None),  # its start time, to tell it from a process that reused its pid
    ("attached", True, None),  # the first process dies with its creator (parent-death signal): nsinit exec
    ("reaper_pid", 0, None),  # our process that reaps the first process and records its exit; 0: not ours
    ("reaper_start", "", None),
    ("exit_status", None, None),  # the first process's exit status (128+N for signal N), once recorded
    ("annotations", None, dict),  # arbitrary metadata (OCI annotations)
    ("owner", -1, None),  # the effective uid of the creator
    ("publish", False, None),  # pid, start and state.json are copied into ``root`` (nsinit's containers)
    ("args", None, list),  # the first process's command, as created
    ("directory", "", None),  # the state directory it was read from (not written: where it is read, it is)
)
_NAMES = tuple(name for name, _, _ in _FIELDS)
_WRITTEN = tuple(name for name in _NAMES if name != "directory")


class State:
    """The content of state.json, the state the engine trusts (the fields: ``_FIELDS``).

    A plain class, not a dataclass: keyword (or positional) construction,
    attribute access, ``==`` and ``repr`` as a dataclass gives them.
    """

    __hash__ = None  # type: ignore[assignment]  # mutable and comparable, as a dataclass

    id: str
    status: str
    pid: int
    start: str
    root: str
    rootfs: str
    config: dict[str, Any]
    created: str
    namespaces: dict[str, str]
    resources: dict[str, dict[str, Any]]
    creator_pid: int
    creator_start: str
    attached: bool
    reaper_pid: int
    reaper_start: str
    exit_status: int | None
    annotations: dict[str, str]
    owner: int
    publish: bool
    args: list[str]
    directory: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(_FIELDS):
            raise TypeError(f"State() takes {len(_FIELDS)} positional arguments but {len(args)} were given")
        for name, value in zip(_NAMES, args):
            if name in kwargs:
                raise TypeError(f"State() got multiple values for argument {name!r}")
            kwargs[name] = value
        values = self.__dict__
        for name, default, factory in _FIELDS:
            if name in kwargs:
                values[name] = kwargs.pop(name)
            elif factory is not None:
                values[name] = factory()
            elif default is not _REQUIRED:
                values[name] = default
            else:
                raise TypeError(f"State() missing required argument: {name!r}")
        if kwargs:
            raise TypeError(f"State() got an unexpected keyword argument {next(iter(kwargs))!r}")

    def __repr__(self) -> str:
        return "State(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in _NAMES) + ")"

    def __eq__(self, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _NAMES)

    def to_json(self) -> str:
        # Compact: json's C encoder is used only without indent.
        return json.dumps({name: getattr(self, name) for name in _WRITTEN}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, directory: str = "") -> State:
        doc = json.loads(text)
        return cls(**{k: v for k, v in doc.items() if k in _WRITTEN}, directory=directory)


# -- processes -------------------------------------------------------------------------


def read_bytes(path: str) -> bytes:
    """A whole small file, through os.read: a file object costs four system calls more (fstat, ioctl,
    two lseeks), and the state and /proc/PID/stat are read several times per container."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _stat_fields(pid: int) -> list[bytes] | None:
    """Fields 3 on of /proc/PID/stat, or None when there is no such process."""
    try:
        data = read_bytes(f"/proc/{pid}/stat")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return data[data.rindex(b")") + 2 :].split()


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat, or None when there is no such process (or only its zombie)."""
    rest = _stat_fields(pid)
    if rest is None or rest[0] in (b"Z", b"X"):
        return None  # a zombie has ended: only its exit status is left to collect
    return rest[19].decode()


def alive(pid: int, start: str) -> bool:
    """True when ``pid`` runs and is the process that started at ``start`` (not a zombie, not a reused pid)."""
    return pid > 0 and bool(start) and process_start_time(pid) == start


def namespace_ids(pid: int) -> dict[str, str]:
    """The namespace identities of a process ("mnt" -> "mnt:[4026531840]")."""
    out = {}
    for name in ("user", "mnt", "uts", "ipc", "pid", "net", "cgroup", "time"):
        try:
            out[name] = os.readlink(f"/proc/{pid}/ns/{name}")
        except OSError:
            pass
    return out


def stable_namespace_ids(pid: int) -> dict[str, str]:
    """Namespace ids that stay fixed once the process is set up (cgroup and time may still change)."""
    return {k: v for k, v in namespace_ids(pid).items() if k not in ("cgroup", "time")}


def status(state: State) -> str:
    """What the container is now: the recorded phase, checked against the kernel.

    Creating while its creator runs; created or running while its first
    process runs (started at the recorded time, not a zombie); stopped
    otherwise, whatever the file says.  An attached container whose creator
    is gone is stopped too: its first process has a parent-death signal, on
    its way if it has not killed it yet.
    """
    creator_alive = alive(state.creator_pid, state.creator_start)
    if state.status == CREATING:
        return CREATING if creator_alive else STOPPED
    if state.status == STOPPED or not alive(state.pid, state.start) or (state.attached and not creator_alive):
        return STOPPED
    if state.status == CREATED and state.directory and not os.path.lexists(os.path.join(state.directory, START_SOCKET)):
        return RUNNING
    return state.status


def paused(state: State) -> bool:
    """True when a plugin's freezer says the container's processes are frozen (runc's "paused").

    A plugin that can pause records ``freeze_file`` and ``frozen`` (what the
    file reads while frozen) among its resources (hookspecs: ``libcontainer_pause``);
    read here, so that the answer is the kernel's and no plugin is imported.
    """
    for found in state.resources.values():
        path = found.get("freeze_file") if isinstance(found, dict) else None
        if isinstance(path, str) and path:
            try:
                with open(path) as f:
                    return f.read().strip() == found.get("frozen")
            except OSError:
                return False
    return False


def same_process(state: State) -> bool:
    """True when the recorded first process is still in the namespaces recorded when it was made.

    A trusted state whose pid and start time name a live process in other
    namespaces was not written by us for that process: neither join it nor
    signal it.
    """
    current = namespace_ids(state.pid)
    return bool(state.namespaces) and all(current.get(k) == v for k, v in state.namespaces.items())


# -- the state directory -------------------------------------------------------------------


def make_private(path: str | os.PathLike[str]) -> None:
    """Create ``path`` and its parent as directories only we can write, refusing anything else found there."""
    path = os.path.normpath(path)
    for directory in (os.path.dirname(path) or ".", path):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        found = os.lstat(directory)
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid() or found.st_mode & 0o022:
            raise StateError(f"{directory} is not a directory that only uid {os.geteuid()} can write; "
                             "refusing to keep container state there")


def read_state(directory: str | os.PathLike[str]) -> State | None:
    """The trusted state in ``directory``; None when absent or unreadable."""
    try:
        return State.from_json(read_bytes(os.path.join(directory, STATE_FILE)), os.fspath(directory))
    except (OSError, ValueError, TypeError):
        return None


def write_state(directory: str | os.PathLike[str], state: State, text: str | None = None) -> str:
    """Write the trusted state (or ``text``, its JSON made earlier: :func:`as_created`); returns the text
    written, for :func:`update_resources`."""
    text = state.to_json() if text is None else text
    make_private(directory)
    _atomic_write(os.path.join(directory, STATE_FILE), text + "\n", exchange=True)
    state.directory = os.fspath(directory)
    return text


def as_created(state: State) -> str:
    """The JSON of ``state`` once the container is created (the status its creator records at READY)."""
    recorded = state.status
    state.status = CREATED
    try:
        return state.to_json()
    finally:
        state.status = recorded


def publish(state: State, text: str | None = None) -> None:
    """The copies in the container's directory, when it has them: state.json (``text``: :func:`as_created`),
    start, then pid.

    Written once, as the state will be when the container is created, by the
    creator while the setup process builds the container (it would only
    wait: three renames off the start's path); removed with the state.
    """
    if not state.publish:
        return
    root = state.root
    _atomic_write(os.path.join(root, STATE_FILE), (text or as_created(state)) + "\n")
    _atomic_write(os.path.join(root, START_FILE), state.start + "\n")
    _atomic_write(os.path.join(root, PID_FILE), f"{state.pid}\n")


def update_resources(directory: str | os.PathLike[str], state: State, written: str) -> str:
    """Write the state again if plugins recorded more since ``written``; the text now on disk."""
    if state.to_json() != written:
        return write_state(directory, state)
    return written


def remove_copies(root: str | os.PathLike[str]) -> None:
    """Remove the pid, start and state.json copies in a container's directory, pid first."""
    for name in (PID_FILE, START_FILE, STATE_FILE):
        try:
            os.unlink(os.path.join(root, name))
        except FileNotFoundError:
            pass


def remove_state(directory: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> None:
    """Remove the copies in ``root`` first (no reader sees a pid without its state), then the state directory."""
    if root is not None:
        remove_copies(root)
    try:
        names = os.listdir(directory)
    except OSError:
        names = []
    for name in names:
        # Only what the engine puts there: the state (and a temporary name of
        # it), the start socket, the join server's socket and the temporary
        # name it is bound under until it listens (control.py).  A directory
        # holding anything else is left, with that in it.
        if name in (STATE_FILE, START_SOCKET, ids.CONTROL_SOCKET) or name.startswith(
                (f".{STATE_FILE}.", ids.CONTROL_SOCKET + ".")):
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass
    try:
        os.rmdir(directory)
    except OSError:
        pass


def list_states(state_root: str | os.PathLike[str]) -> Iterator[tuple[str, State | None]]:
    """(id, state) of every container under ``state_root``; None for a directory without a readable state."""
    try:
        names = sorted(os.listdir(state_root))
    except OSError:
        return
    for name in names:
        directory = os.path.join(state_root, name)
        if os.path.isdir(directory):
            yield name, read_state(directory)


def untrusted_pid(root: str | os.PathLike[str]) -> int | None:
    """The pid file in a container's directory (anyone who can write there may have made it)."""
    try:
        with open(os.path.join(root, PID_FILE)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class Lock:
    """An exclusive flock on a container's state directory: one command at a time on one container.

    ``create``: make the directory when it is missing (a container being
    created); otherwise a missing directory is :class:`NoSuchContainer`.  A
    directory removed while we waited for it (a delete that went first) is
    noticed after the lock is taken: looked up again, or reported missing.
    """

    def __init__(self, directory: str | os.PathLike[str], create: bool = False) -> None:
        self.directory = directory
        self.create = create
        self.fd = -1

    def __enter__(self) -> Lock:
        while True:
            if self.create:
                make_private(self.directory)
            try:
                fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise NoSuchContainer(os.path.basename(self.directory)) from None
            except OSError as e:
                raise StateError(f"{self.directory}: {e.strerror}") from None
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                current = os.stat(self.directory)
            except FileNotFoundError:
                current = None
            if held.st_nlink > 0 and current is not None and current.st_ino == held.st_ino:
                self.fd = fd
                return self
            os.close(fd)  # removed (and maybe made again) while we waited
            if not self.create:
                raise NoSuchContainer(os.path.basename(self.directory))

    def __exit__(self, *exc: Any) -> None:
        if self.create:
            try:
                os.rmdir(self.directory)  # made for a container that was not made after all: left empty
            except OSError:
                pass
        os.close(self.fd)
        self.fd = -1


class NoSuchContainer(StateError):
    """No state directory for this id: there is no such container (any more)."""

    def __init__(self, id: str) -> None:
        super().__init__(f"container {id} does not exist")


def _atomic_write(path: str, text: str, exchange: bool = False) -> None:
    """Replace ``path`` with ``text``: a reader sees the old file or the new one, never part of one.

    ``exchange`` (our private state directory only): swap the new file in
    with RENAME_EXCHANGE and remove the old one.  A rename over an existing
    file makes ext4 write the new one's data out first (its auto_da_alloc):
    108 us a write where /run is ext4, against 7 us for the swap (a tmpfs
    /run does neither); the state is written four times per container.
    """
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    if exchange:
        from . import syscalls as sc  # the engine's, loaded already; the light commands never write
        from .errors import LibcontainerError

        try:
            sc.real().exchange(tmp, path)
        except LibcontainerError:
            pass  # no file yet (ENOENT), a file system without the swap (EINVAL), an unknown machine: a rename
        else:
            os.unlink(tmp)  # the old content, under the temporary name now
            return
    try:
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise


def state_dir(state_root: str | os.PathLike[str], id: str) -> Path:
    from pathlib import Path

    return Path(state_root) / id


def private_dir(root: Path) -> Path:
    """The state directory of nsinit's container in directory ``root`` (see ids.private_dir)."""
    from pathlib import Path

    return Path(ids.private_dir(root))
