"""The files that mark a running container: ``pid``, ``start`` and ``state.json``.

``pid`` holds the host pid of the container's first process, as libcontainer
wrote it; ``start`` holds that process's start time (field 22 of
/proc/PID/stat), so a pid file whose process died and whose pid was reused is
recognised as stale.  ``state.json`` holds what later commands need: the
config used, the namespaces, and what each plugin created (``resources``).
A container is *live* only when all three agree with the running process.
"""

from __future__ import annotations

import json
import os
from dataclasses import field, fields
from pathlib import Path
from typing import Any

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


def write_state(root: Path, state: State) -> str:
    """Write state.json, then start, then pid: the pid file appears last, complete.

    Returns the text written to state.json, for :func:`update_resources`.
    """
    text = state.to_json()
    _atomic_write(root / STATE_FILE, text + "\n")
    _atomic_write(root / START_FILE, state.start + "\n")
    _atomic_write(root / PID_FILE, f"{state.pid}\n")
    return text


def update_resources(root: Path, state: State, written: str) -> None:
    """Write state.json again if plugins recorded more since ``written``."""
    text = state.to_json()
    if text != written:
        _atomic_write(root / STATE_FILE, text + "\n")


def read_state(root: Path) -> State | None:
    """state.json as written, or None when absent or unreadable."""
    try:
        doc = json.loads((root / STATE_FILE).read_text())
        return State(**doc)
    except (OSError, ValueError, TypeError):
        return None


def remove_state(root: Path) -> None:
    """Remove the pid file first, so no reader sees a pid without its state."""
    for name in (PID_FILE, START_FILE, STATE_FILE):
        try:
            os.unlink(root / name)
        except FileNotFoundError:
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

    Live means: the pid file, the start file and state.json name the same
    process, which exists, started at the recorded time, and is in the
    namespaces recorded when it started.  A pid file whose process died (or
    whose pid was reused) is STALE; one naming a live process whose start
    time or namespaces do not match state.json is FORGED and never joined.
    """
    has_pid = (root / PID_FILE).exists()
    state = read_state(root)
    if not has_pid and state is None:
        return None, NONE
    try:
        pid = int((root / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        pid = -1
    try:
        start = (root / START_FILE).read_text().strip()
    except OSError:
        start = ""
    if state is None:
        # A pid file without state: forged if it names a live process.
        return None, FORGED if pid > 0 and process_start_time(pid) is not None else STALE
    if process_start_time(state.pid) != state.start:
        return None, STALE  # the recorded process is gone: ours died
    if state.pid != pid or state.start != start:
        return None, FORGED
    if state.nsinit_pid and process_start_time(state.nsinit_pid) != state.nsinit_start:
        # Its nsinit was killed and PID 1 has not died of it yet (the
        # parent-death signal is on its way): clean up, killing it if need be.
        return None, STALE
    if state.nsinit_pid and _parent_pid(state.pid) != state.nsinit_pid:
        return None, FORGED  # the container's PID 1 is always its nsinit's child
    current = namespace_ids(state.pid)
    if any(current.get(k) != v for k, v in state.namespaces.items()):
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
