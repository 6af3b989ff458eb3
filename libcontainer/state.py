"""The files that mark a running container: ``pid``, ``start`` and ``state.json``.

``pid`` holds the host pid of the container's first process, as libcontainer
wrote it; ``start`` holds that process's start time (field 22 of
/proc/PID/stat), so a pid file whose process died and whose pid was reused is
recognised as stale.  ``state.json`` holds what later commands need: the
config used, the namespaces, and what each plugin created (``resources``).

The copies in the container's directory are for people and tools: that
directory is often the container's own root filesystem, where root in the
container can rewrite them.  The copy nsinit trusts, to join, to kill and to
clean up after, lives on the host in a directory only its user can write
(``/run/nsinit/<id>``; runc keeps its own in /run/runc/<id> for the same
reason).  A container is *live* only when that state names a running process
with the recorded start time, namespaces and supervising nsinit.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import field, fields
from pathlib import Path
from typing import Any

from . import ids
from .errors import StateError
from .ids import RUN_DIR, container_id  # noqa: F401  (the names this module always offered)
from .records import record

PID_FILE = "pid"
START_FILE = "start"
STATE_FILE = "state.json"


@record
class State:
    """The content of state.json."""

    pid: int  # host pid of the container's first process
    start: str  # its start time in clock ticks since boot (/proc/PID/stat field 22)
    id: str  # the container's id
    rootfs: str  # the root filesystem
    config: dict[str, Any]  # the canonical config the container was started with
    namespaces: dict[str, str] = field(default_factory=dict)  # kind -> "mnt:[4026531840]" of PID 1
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # per plugin, what it created
    nsinit_pid: int = 0  # the supervising nsinit
    nsinit_start: str = ""  # its start time, to tell it from a process that reused its pid
    root: str = ""  # the container's directory (its real path), checked when read back

    def to_json(self) -> str:
        # Field by field, not dataclasses.asdict: asdict deep-copies the whole
        # config (~9,500 calls, 1.1 ms a write), and every field is JSON already.
        # Compact: json's C encoder is used only without indent.
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)}, sort_keys=True)


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat, or None when there is no such process (or only its zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    rest = data[data.rindex(b")") + 2 :].split()
    if rest[0] in (b"Z", b"X"):
        return None  # a zombie has ended: only its exit status is left to collect
    return rest[19].decode()


def _parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return int(data[data.rindex(b")") + 2 :].split()[1])


def namespace_ids(pid: int) -> dict[str, str]:
    """The namespace identities of a process ("mnt" -> "mnt:[4026531840]")."""
    out = {}
    for name in ("user", "mnt", "uts", "ipc", "pid", "net", "cgroup", "time"):
        try:
            out[name] = os.readlink(f"/proc/{pid}/ns/{name}")
        except OSError:
            pass
    return out


def private_dir(root: Path) -> Path:
    """Where nsinit keeps the state it trusts for the container in ``root`` (see ids.private_dir)."""
    return Path(ids.private_dir(root))


def _make_private(path: Path) -> None:
    """Create ``path`` and its parent as directories only we can write, refusing anything else found there."""
    for directory in (path.parent, path):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        found = os.lstat(directory)
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid() or found.st_mode & 0o022:
            raise StateError(f"{directory} is not a directory that only uid {os.geteuid()} can write; "
                             "refusing to keep container state there")


def write_state(root: Path, state: State) -> str:
    """Write the trusted state, then state.json, start and pid: the pid file appears last, complete.

    A state without a process yet (pid 0: what pre_clone made) is only kept
    where nsinit trusts it, for the next command to clean up after a SIGKILL.

    Returns the text written, for :func:`update_resources`.
    """
    state.root = os.path.realpath(root)
    text = state.to_json()
    private = private_dir(root)
    _make_private(private)
    _atomic_write(private / STATE_FILE, text + "\n")
    if state.pid <= 0:
        return text  # being created, no process yet: nothing for the directory to show
    _atomic_write(root / STATE_FILE, text + "\n")
    _atomic_write(root / START_FILE, state.start + "\n")
    _atomic_write(root / PID_FILE, f"{state.pid}\n")
    return text


def update_resources(root: Path, state: State, written: str) -> None:
    """Write the state again if plugins recorded more since ``written``."""
    text = state.to_json()
    if text != written:
        _atomic_write(private_dir(root) / STATE_FILE, text + "\n")
        _atomic_write(root / STATE_FILE, text + "\n")


def read_state(root: Path) -> State | None:
    """The trusted state of the container in ``root``; None when absent, unreadable or another directory's."""
    try:
        doc = json.loads((private_dir(root) / STATE_FILE).read_text())
        state = State(**doc)
    except (OSError, ValueError, TypeError):
        return None
    return state if state.root == os.path.realpath(root) else None


def remove_state(root: Path) -> None:
    """Remove the pid file first, so no reader sees a pid without its state; then the trusted state."""
    private = private_dir(root)
    for path in (root / PID_FILE, root / START_FILE, root / STATE_FILE, private / STATE_FILE):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    # The join server's socket, and the temporary name it is bound under
    # until it listens (control.PID), left when the server was killed before
    # its rename.
    try:
        names = os.listdir(private)
    except OSError:
        names = []
    for name in names:
        if name == ids.CONTROL_SOCKET or name.startswith(ids.CONTROL_SOCKET + "."):
            try:
                os.unlink(private / name)
            except FileNotFoundError:
                pass
    try:
        os.rmdir(private)
    except OSError:
        pass


# What inspect() found in a container directory.
NONE = "none"  # no pid file: no container
LIVE = "live"  # a running container, safe to join
STALE = "stale"  # its process is gone (or its pid was reused): clean up
FORGED = "forged"  # the pid names a live process that is not this container's


def stable_namespace_ids(pid: int) -> dict[str, str]:
    """Namespace ids that stay fixed once the process is set up (cgroup and time may still change)."""
    return {k: v for k, v in namespace_ids(pid).items() if k not in ("cgroup", "time")}


def inspect(root: Path) -> tuple[State | None, str]:
    """The state of the container in ``root`` and a verdict: NONE, LIVE, STALE or FORGED.

    Only the trusted state counts: live means it names a process that exists,
    started at the recorded time, is the child of the recorded (running)
    nsinit and is in the namespaces recorded when it started.  A recorded
    process that is gone is STALE (clean up); one whose parent or namespaces
    do not match is FORGED and never joined or killed.  Without a trusted
    state, a pid file in the directory (which anyone who can write there could
    have made) naming a live process is FORGED too.
    """
    state = read_state(root)
    if state is None:
        try:
            pid = int((root / PID_FILE).read_text().strip())
        except (OSError, ValueError):
            return None, STALE if (root / STATE_FILE).exists() else NONE
        return None, FORGED if pid > 0 and process_start_time(pid) is not None else STALE
    if state.pid <= 0:
        # Being created (pre_clone ran, no process yet): nothing to join while
        # its nsinit lives; once that nsinit is gone, clean up what pre_clone recorded.
        alive = state.nsinit_pid > 0 and process_start_time(state.nsinit_pid) == state.nsinit_start
        return None, NONE if alive else STALE
    if process_start_time(state.pid) != state.start:
        return None, STALE  # the recorded process is gone: ours died
    if state.nsinit_pid and process_start_time(state.nsinit_pid) != state.nsinit_start:
        # Its nsinit was killed and PID 1 has not died of it yet (the
        # parent-death signal is on its way): clean up, killing it if need be.
        return None, STALE
    if state.nsinit_pid and _parent_pid(state.pid) != state.nsinit_pid:
        return None, FORGED  # the container's PID 1 is always its nsinit's child
    current = namespace_ids(state.pid)
    if not state.namespaces or any(current.get(k) != v for k, v in state.namespaces.items()):
        return None, FORGED
    return state, LIVE


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
