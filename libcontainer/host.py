"""The host side of bringing a process into a container: fork it, answer it, adopt it.

:func:`launch` is the one way a setup process comes to life, for a first
process and for a join: the caller (container.py) has run the hooks that
come before the fork and describes, in an :class:`~libcontainer.process.Entry`,
how the process enters the container; ``launch`` forks it, maps its ids
when it makes a user namespace, and returns the pid that will run the
command, adopted (our child) by then.  The caller then runs the hooks that
need that pid and sends CONFIGURED.

The caller must be single-threaded (forking a threaded process is unsafe,
fork(2)): a program with threads creates its containers through a keeper
process (keeper.py).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from . import channel as msg
from . import state as st
from . import syscalls as sc
from .channel import Channel
from .context import NAMESPACE_KINDS, NAMESPACE_ORDER
from .errors import ContainerError, NotRunning
from .hooks import Hooks, Step
from .process import Entry, needs_fork, setup_process

if TYPE_CHECKING:
    from .context import ContainerContext, Namespace


def launch(ctx: ContainerContext, hooks: Hooks, entry: Entry, pids: list[int]) -> tuple[int, Channel]:
    """Fork the setup process and see it into its namespaces: (the pid that runs the command, its channel).

    ``pids`` receives every process made, as it is made, for the caller to
    kill and reap when a later step fails (:func:`abandon`).
    """
    parent_chan, child_chan = Channel.pair()
    try:
        with _adopting(ctx.syscalls, needs_fork(ctx, entry)):
            setup_pid = _fork(ctx, hooks, child_chan, entry)
            pids.append(setup_pid)
            child_chan.close()
            while True:
                m = parent_chan.recv(msg.USERNS, msg.PID)
                if m["kind"] == msg.USERNS:
                    hooks("map_ids", pid=setup_pid)
                    parent_chan.send(msg.IDS_MAPPED)
                    continue
                pid = int(m["pid"]) or setup_pid  # 0: the process we forked runs the command
                if pid != setup_pid:
                    pids.append(pid)
                    # The intermediate process forked it and exits; reaping it
                    # makes its child ours (we adopt orphans meanwhile).
                    waitpid(setup_pid)
                    pids.remove(setup_pid)
                return pid, parent_chan
    except BaseException:
        child_chan.close()
        parent_chan.close()
        raise


@contextmanager
def _adopting(sysc: sc.KernelDoor, needed: bool) -> Iterator[None]:
    """Be a child subreaper while an intermediate process may leave us its child (prctl(2)).

    Only for as long as that takes: a library's caller must not keep
    adopting the orphans of its other children (it would have to reap them).
    """
    if not needed or sysc.child_subreaper():
        yield
        return
    sysc.set_child_subreaper(True)
    try:
        yield
    finally:
        sysc.set_child_subreaper(False)


def _fork(ctx: ContainerContext, hooks: Hooks, chan: Channel, entry: Entry) -> int:
    """Fork the setup process; with ``entry.pid_namespace_made``, as PID 1 of a pid namespace made here."""
    sys.stdout.flush()
    sys.stderr.flush()
    # The fd of where our children are born now, opened first: whatever
    # interrupts us from the unshare on (an error, a Ctrl-C), the finally
    # below sets it back.
    ours = None
    if entry.pid_namespace_made:
        ours = os.open("/proc/self/ns/pid_for_children", os.O_RDONLY | os.O_CLOEXEC)
    pid = -1
    try:
        if ours is not None:
            _new_pid_namespace_for_children(ctx)
        pid = os.fork()
        if pid == 0:
            try:
                # No collection in the setup process: it execs soon, and a
                # collection would walk, and so copy, every page it shares
                # with us (its first touch of each is a copy-on-write fault).
                gc.disable()
                setup_process(ctx, hooks.plugins, hooks.active, chan, entry)
            finally:
                os._exit(125)
    finally:
        if ours is not None:
            _pid_namespace_for_children_back(ctx, ours, pid if pid > 0 else None)
    return pid


def pid_namespace_made_here(ctx: ContainerContext) -> bool:
    """True when the creator makes the container's new pid namespace, so that its child is PID 1 from birth.

    That saves the setup process a fork and the creator the reaping of an
    intermediate process (docs/benchmarks.md: 14.4 -> 12.8 ms per container
    through the API).  Not with a new user namespace, which must own the pid
    namespace and is made by the child; not with a time namespace, which
    also applies to children only, so the child forks anyway and the
    intermediate would be the pid namespace's init; not without root.
    """
    return (not ctx.rootless and ctx.new_namespace("NEWPID")
            and not ctx.has_namespace("NEWUSER") and not ctx.has_namespace("NEWTIME"))


def _new_pid_namespace_for_children(ctx: ContainerContext) -> None:
    """unshare(CLONE_NEWPID) here: our next child is the new namespace's PID 1.

    Our own pid namespace does not change, only the one our children are born
    in (pid_namespaces(7)); _pid_namespace_for_children_back sets that back.
    """
    with Step("namespaces"):
        ctx.syscalls.unshare(sc.CLONE_NEWPID)


def _pid_namespace_for_children_back(ctx: ContainerContext, ours: int, child: int | None) -> None:
    """Children born from now on are born where they were before (setns(2) to the caller's own is allowed).

    Without this, every later fork of the caller (a join server, another
    container, a library user's subprocess) would land in the container's
    pid namespace, and fail once its PID 1 is gone.
    """
    try:
        with Step("namespaces"):
            ctx.syscalls.setns(ours, sc.CLONE_NEWPID, what="nsinit's own pid namespace")
    except ContainerError:
        if child is not None:
            kill_and_reap([child])
        raise
    finally:
        os.close(ours)


def join_entry(state: st.State) -> Entry:
    """How a new process enters the running container of ``state``: a pidfd of its PID 1, its namespaces, its root.

    Opened here, on the host, before anything is forked; the pidfd pins the
    process, so the namespaces entered are its own even if it ends meanwhile
    and its pid is reused (setns(2) then fails).
    """
    try:
        pidfd = os.pidfd_open(state.pid)
    except ProcessLookupError:
        raise NotRunning(f"container {state.id} is not running") from None
    try:
        flags = 0
        for kind in NAMESPACE_ORDER:
            name, flag = NAMESPACE_KINDS[kind]
            try:
                theirs = os.readlink(f"/proc/{state.pid}/ns/{name}")
                ours = os.readlink(f"/proc/self/ns/{name}")
            except FileNotFoundError:
                continue  # the kernel lacks this namespace type
            if theirs != ours:
                flags |= flag
        root = os.open(f"/proc/{state.pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        os.close(pidfd)
        raise NotRunning(f"container {state.id} is not running") from None
    # What was read above is PID 1's if it still runs now that it is pinned.
    if not st.alive(state.pid, state.start):
        os.close(pidfd)
        os.close(root)
        raise NotRunning(f"container {state.id} is not running")
    return Entry(join_pid=state.pid, join_pidfd=pidfd, join_flags=flags, join_root=root)


def close_entry(entry: Entry) -> None:
    """Close the fds the host opened for an entry (the setup process has its own copies)."""
    for fd in (entry.join_pidfd, entry.join_root):
        if fd is not None:
            os.close(fd)


def bind_start_socket(directory: os.PathLike[str] | str) -> int:
    """The listening start socket in a state directory; its fd, inherited by the setup process (process.py)."""
    import _socket

    path = os.path.join(directory, st.START_SOCKET)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    old = os.umask(0o177)  # the directory is 0700 already: a second lock on the door
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    sock.listen(8)
    return sock.detach()


def collect_namespaces(hooks: Hooks) -> list[Namespace]:
    """The namespaces the plugins ask for; the same kind asked for twice, differently, is an error."""
    chosen: dict[str, Namespace] = {}
    for result in hooks("namespaces"):
        for ns in result:
            prior = chosen.get(ns.kind)
            if prior is not None and prior != ns:
                raise ContainerError("namespaces", f"{ns.kind} is asked for twice, differently: "
                                     f"{prior.path or 'new'} and {ns.path or 'new'}")
            chosen[ns.kind] = ns
    return list(chosen.values())


def recv_ready(chan: Channel) -> int | None:
    """Wait for READY; the tty master fd that comes with it, if any."""
    # os.wait4 imports resource at its first call (~0.3 ms, for its result's
    # type): now, while the setup process builds the container and we would
    # only wait, rather than once the command has ended.
    import resource  # noqa: F401

    _, fds = chan.recv_with_fds(msg.READY)
    return fds[0] if fds else None


def abandon(error: BaseException, pids: list[int], *chans: Channel | None) -> str | None:
    """A setup that failed: close the channels, kill and reap its processes; how they ended, if they
    closed the channel without a word (``error`` is EOFError)."""
    why = why_gone(pids[-1]) if isinstance(error, EOFError) and pids else None
    for chan in chans:
        if chan is not None:
            chan.close()
    kill_and_reap(pids)
    return why


def why_gone(pid: int, patience: float = 0.2) -> str | None:
    """How the setup process ended, when it closed the channel without a word; None if it has not.

    A process killed by the kernel (a seccomp filter's SIGSYS, the OOM
    killer's SIGKILL) cannot report its own end: its wait status can.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            break
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.valid_signals() else str(sig)
        hint = " (a seccomp filter refused a system call the setup still makes)" if sig == signal.SIGSYS else ""
        return f"the container's process was killed by {name} before exec{hint}"
    return f"the container's process exited with status {os.WEXITSTATUS(status)} before exec, without saying why"


def kill_and_reap(pids: list[int]) -> None:
    for pid in reversed(pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in reversed(pids):
        try:
            waitpid(pid)
        except ChildProcessError:
            pass


def waitpid(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except InterruptedError:
            continue


def debug_pause(point: str) -> None:
    """Stop here when NSINIT_DEBUG_PAUSE names this point: fault-injection tests.

    The security suite SIGKILLs nsinit at each point of the setup (after the
    cgroups, after the veth pair, after start) and checks that the next nsinit
    command removes everything.  Nothing is paused unless asked for; the
    process announces where it waits on stderr so the test knows when to kill.
    """
    if os.environ.get("NSINIT_DEBUG_PAUSE") == point:
        sys.stderr.write(f"nsinit: paused at {point} (pid {os.getpid()})\n")
        sys.stderr.flush()
        while True:
            signal.pause()
