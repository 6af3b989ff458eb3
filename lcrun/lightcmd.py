"""The commands clients call most, without the plugin manager: ``state``, ``kill``, ``list``, ``start``, ``delete``.

They read the state through libcontainer.state (its status checked against
the kernel, "paused" from the freezer a plugin recorded: state.paused) and
signal through a pidfd; no plugin manager, no pluggy, no config model, no
dataclasses or pathlib: each is an interpreter start and a few files read.

``start`` and ``delete`` go without the engine only when no plugin's hook
has work that only the plugin can do.  ``create`` records which of its
active plugins implement post_start and post_exit, and what each plugin
says those hooks will do for the container, as data
(``libcontainer_hook_plan``; :data:`HOOKS_KEY` among the state's
resources, commands.record_hooks).  A container without that record (made
by an older lcrun, or half-made), or a hook whose plugin gave no plan for
it, goes through the engine, which loads the plugins:

- ``start``: every recorded post_start is idle: the start message is sent
  as the engine sends it;
- ``delete`` of a stopped container: every recorded post_exit is idle or
  removes directories, which is done here (:func:`remove_directories`).  A
  directory that will not go (a process left in a cgroup), or a plan not
  understood here: the engine, and every plugin's post_exit.

No plugin is known here by name.

Only ``kill --all`` of a container without a pid namespace of its own asks
the engine (the cgroups plugin knows its processes).
"""

from __future__ import annotations

import os
import sys

from libcontainer import ids
from libcontainer import state as st

from .cli import SPEC_VERSION, Failure, Globals

TYPE_CHECKING = False  # typing, pathlib and signal (enum) are not imported: ~5 ms of every command
if TYPE_CHECKING:
    from typing import Any

# Where create records, among the state's resources, the container's active
# plugins that implement each of these hooks (commands.record_hooks).
HOOKS_KEY = "lcrun"
RECORDED_HOOKS = ("post_start", "post_exit")


def state_dir(g: Globals, id: str) -> str:
    problem = ids.check_id(id)
    if problem:
        raise Failure(problem)
    return os.path.join(g.root, id)


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
    found = [state for _, state in st.list_states(g.root) if state is not None]
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
    import signal

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
    import signal

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


# -- start and delete without the plugins ----------------------------------------------------


def recorded_hooks(found: st.State, hook: str) -> list[str] | None:
    """The container's active plugins implementing ``hook``, as create recorded them; None when not recorded."""
    record = found.resources.get(HOOKS_KEY)
    names = record.get(hook) if isinstance(record, dict) else None
    return names if isinstance(names, list) and all(isinstance(n, str) for n in names) else None


def planned(found: st.State, name: str, hook: str) -> Any:
    """What plugin ``name`` said its ``hook`` will do for the container (libcontainer_hook_plan); None: unknown."""
    record = found.resources.get(HOOKS_KEY)
    plans = record.get("plans") if isinstance(record, dict) else None
    plan = plans.get(name) if isinstance(plans, dict) else None
    return plan.get(hook) if isinstance(plan, dict) else None


def start_needs_plugins(found: st.State) -> bool:
    """True unless create recorded every post_start of the container and each is idle for it."""
    names = recorded_hooks(found, "post_start")
    return names is None or not all(planned(found, n, "post_start") == "idle" for n in names)


def cmd_start(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    id = pos[0]
    directory = state_dir(g, id)
    found = st.read_state(directory)
    if found is None or start_needs_plugins(found):
        from .commands import cmd_start as start_through_the_engine

        return start_through_the_engine(g, opts, pos, tail)
    try:
        with st.Lock(directory):
            found = st.read_state(directory)
            if found is None:
                raise Failure(f"container {id} does not exist")
            if start_needs_plugins(found):  # made again meanwhile
                raise st.NoSuchContainer(id)
            send_start(directory, id, found)
    except st.NoSuchContainer:
        from .commands import cmd_start as start_through_the_engine

        return start_through_the_engine(g, opts, pos, tail)
    return 0


def send_start(directory: str, id: str, found: st.State) -> None:
    """What the engine's Container.start does, its post_start hooks idle: START on the start socket, the exec seen.

    Under the state directory's lock; the same errors as the engine's.
    """
    from libcontainer import channel as msg
    from libcontainer.errors import ContainerError, StateError

    now = st.status(found)
    if now != st.CREATED:
        raise StateError(f"cannot start container {id}: it is {now}, not created")
    try:
        for _ in msg.start_steps(os.path.join(directory, st.START_SOCKET), id, (found.args or ["the command"])[0]):
            pass  # a blocking socket: each read waits
    except EOFError:
        raise ContainerError("exec", f"container {id}'s process ended before it exec'd its command") from None


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
    try:
        with st.Lock(directory):
            done = delete_without_plugins(directory)
    except st.NoSuchContainer:
        done = False  # deleted meanwhile: the engine says so as it always has
    if done:
        return 0
    from .commands import delete_container

    return delete_container(g, id, force)


def delete_without_plugins(directory: str) -> bool:
    """Under the lock: delete a stopped container whose recorded post_exit hooks need no plugin; False: not done.

    Done only when the first process has ended and every recorded post_exit
    has a plan that is done here (:func:`remove_directories`); the state
    goes last, as in the engine.
    """
    found = st.read_state(directory)
    if found is None or st.status(found) != st.STOPPED or st.alive(found.pid, found.start):
        return False
    names = recorded_hooks(found, "post_exit")
    if names is None:
        return False
    plans = [planned(found, name, "post_exit") for name in names]
    if not all(isinstance(plan, dict) for plan in plans):
        return False
    if not all(remove_directories(plan) for plan in plans):
        return False
    st.remove_state(directory, found.root if found.publish else None)
    return True


def remove_directories(plan: dict[str, Any]) -> bool:
    """A post_exit that only removes directories (libcontainer_hook_plan), done here; False: the plugin's to finish.

    Nothing when one of ``unless_replaced`` has another inode now (another
    container made it again); else each of ``rmdir`` must go, in order (a
    busy one, a process left in a cgroup, is for the plugin, which kills
    it), then each of ``rmdir_if_unused``, left when busy.
    """
    replaced, own, parents = plan.get("unless_replaced", {}), plan.get("rmdir", []), plan.get("rmdir_if_unused", [])
    if not (isinstance(replaced, dict) and isinstance(own, list) and isinstance(parents, list)):
        return False
    for directory, inode in replaced.items():
        try:
            if os.stat(directory).st_ino != inode:
                return True  # not ours any more
        except FileNotFoundError:
            continue
        except (OSError, TypeError, ValueError):
            return False
    for directory in own:
        try:
            os.rmdir(directory)
        except FileNotFoundError:
            continue
        except (OSError, TypeError, ValueError):
            return False
    for directory in parents:
        try:
            os.rmdir(directory)
        except (OSError, TypeError, ValueError):
            pass  # busy: another container still uses it
    return True
