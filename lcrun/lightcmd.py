"""The commands clients call most, without the engine: ``state``, ``kill``, ``list``, and ``delete``'s first look.

They read the state through libcontainer.state (its status checked against
the kernel, "paused" from the freezer a plugin recorded: state.paused) and
signal through a pidfd; no plugin manager, no pluggy, no config model.  Only
``kill --all`` of a container without a pid namespace of its own asks the
engine (the cgroups plugin knows its processes), and ``delete`` hands a
container that exists to the engine for its plugins' cleanup.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from libcontainer import ids
from libcontainer import state as st

from .cli import SPEC_VERSION, Failure, Globals


def state_dir(g: Globals, id: str) -> Path:
    problem = ids.check_id(id)
    if problem:
        raise Failure(problem)
    return Path(g.root) / id


def read(g: Globals, id: str) -> st.State:
    found = st.read_state(state_dir(g, id))
    if found is None:
        raise Failure(f"container {id} does not exist")
    return found


def oci_status(found: st.State) -> str:
    """runtime.md's status (creating, created, running, stopped), and runc's "paused" when frozen."""
    now = st.status(found)
    if now in (st.CREATED, st.RUNNING) and st.paused(found):
        return "paused"
    return now


def oci_state(found: st.State, owner: bool = False) -> dict[str, Any]:
    """The state of state-schema.json (and runc's rootfs, created and owner)."""
    status = oci_status(found)
    doc: dict[str, Any] = {"ociVersion": SPEC_VERSION, "id": found.id,
                           "pid": found.pid if status != st.STOPPED else 0, "status": status,
                           "bundle": found.root, "rootfs": found.rootfs, "created": found.created,
                           "owner": _owner(found.owner) if owner else ""}
    if found.annotations:
        doc["annotations"] = found.annotations
    return doc


def _owner(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return str(uid)


def _json(doc: Any) -> str:
    import json

    return json.dumps(doc, indent=2)


def cmd_state(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    sys.stdout.write(_json(oci_state(read(g, pos[0]))) + "\n")
    return 0


def cmd_list(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    fmt = opts.get("format") or "table"
    if fmt not in ("table", "json"):
        raise Failure(f"--format: expected table or json, got {fmt!r}")
    found = [state for _, state in st.list_states(Path(g.root)) if state is not None]
    if opts.get("quiet"):
        sys.stdout.write("".join(f"{s.id}\n" for s in found))
        return 0
    docs = [oci_state(s, owner=True) for s in found]
    if fmt == "json":
        sys.stdout.write(_json(docs) + "\n")
        return 0
    rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    rows += [[d["id"], str(d["pid"]), d["status"], d["bundle"], d["created"], d["owner"]] for d in docs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        sys.stdout.write("   ".join(c.ljust(w) for c, w in zip(r, widths)) + "   " + r[-1] + "\n")
    return 0


def parse_signal(text: str) -> int:
    """SIGKILL, KILL, kill or 9; one line naming it when it is none."""
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        value = getattr(signal.Signals, name, None) if name.isidentifier() else None
        if isinstance(value, signal.Signals):
            return int(value)
    raise Failure(f"unknown signal {text!r} (a name such as TERM or SIGKILL, or a number 1-{signal.NSIG - 1})")


def cmd_kill(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    id = pos[0]
    sig = parse_signal(pos[1] if len(pos) > 1 else "SIGTERM")
    directory = state_dir(g, id)
    try:
        with st.Lock(directory):
            found = st.read_state(directory)
            if found is None:
                raise Failure(f"container {id} does not exist")
            now = st.status(found)
            if now not in (st.CREATED, st.RUNNING):
                raise Failure(f"container {id} is {now}: container not running")
            if not st.same_process(found):
                raise Failure(f"the process recorded for container {id} (pid {found.pid}) is no longer in its "
                              "namespaces; refusing to signal it")
            pids = [found.pid]
            if opts.get("all"):
                own = found.namespaces.get("pid")
                if not own or own == os.readlink("/proc/self/ns/pid"):
                    return _kill_all_through_the_engine(g, id, sig)
                pids += [p for p in _pids_in_pid_namespace(own) if p != found.pid]
            for pid in pids:
                _send(pid, found.start if pid == found.pid else None, sig)
    except st.NoSuchContainer:
        raise Failure(f"container {id} does not exist") from None
    return 0


def _kill_all_through_the_engine(g: Globals, id: str, sig: int) -> int:
    """``kill --all`` of a container sharing our pid namespace: its processes are the cgroups plugin's to know."""
    from libcontainer.container import Container

    Container.load(id, g.root).kill(sig, all=True)
    return 0


def _pids_in_pid_namespace(ns: str) -> list[int]:
    """Host pids of every process whose pid namespace is ``ns``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def _send(pid: int, start: str | None, sig: int) -> None:
    """Signal ``pid`` through a pidfd (with ``start``: only if it is still the process that started then)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if start is not None and not st.alive(pid, start):
            return
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)


def cmd_delete(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    """runc's: ``--force`` of a container that does not exist is no error (clients delete twice)."""
    id = pos[0]
    directory = state_dir(g, id)
    force = bool(opts.get("force"))
    if not os.path.isdir(directory):
        if force:
            return 0
        raise Failure(f"container {id} does not exist")
    if st.read_state(directory) is None:  # a directory left without a state (a creator killed early)
        if force:
            st.remove_state(directory)
            return 0
        raise Failure(f"container {id} does not exist")
    from .commands import delete_container

    return delete_container(g, id, force)
