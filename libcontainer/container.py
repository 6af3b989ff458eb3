"""The lifecycle as a Python API: create, start, wait, signal, join, destroy.

::

    box = Container("/srv/box")                 # reads /srv/box/container.json
    proc = box.create(["/bin/sh", "-c", "echo hi"])   # set up, waiting to exec
    proc.start()                                 # exec the command
    status = proc.wait()                         # exit code, 128+N for signal N

The container's first process is forked from the running interpreter (no
re-exec of Python); when the caller has other threads, a fresh interpreter
runs the setup instead, since forking a threaded process is unsafe.
nsinit (the caller) becomes the child subreaper of what it starts, so it can
reap the container's PID 1 after the intermediate setup process exits.  When
nsinit may create the container's pid namespace itself (see
_pid_namespace_made_here), its child is PID 1 from birth and there is no
intermediate process.
"""

from __future__ import annotations

import fcntl
import functools
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

from . import channel as msg
from . import state as st
from . import syscalls as sc
from .channel import Channel
from .config import Config
from .context import ContainerContext, Namespace, Process
from .errors import ContainerError, LibcontainerError, NotRunning, StateError
from .plugins import Plugins
from .process import Hooks, Step

_subreaper_set = False


@functools.lru_cache(maxsize=1)
def default_plugins() -> Plugins:
    """The installed plugins, discovered once per process."""
    from .plugins import get_plugin_manager

    return get_plugin_manager(lazy=True)


def _become_subreaper(ctx: ContainerContext) -> None:
    global _subreaper_set
    if not _subreaper_set:
        ctx.syscalls.set_child_subreaper()
        _subreaper_set = True


class ContainerProcess:
    """A process of the container: created and waiting, then started, then ended."""

    def __init__(self, container: Container, ctx: ContainerContext, hooks: Hooks, chan: Channel, pid: int,
                 master: int | None, first: bool) -> None:
        self.container = container
        self.ctx = ctx
        self.hooks = hooks
        self.chan: Channel | None = chan
        self.pid = pid  # host pid
        self.tty_master = master  # our end of the process's terminal, when it has one
        self.first = first  # the container's first process (its end ends the container)
        self.status: int | None = None
        self.reason: str | None = None  # why it ended, when a plugin knows (OOM ...)
        self.join_server: int | None = None  # pid of the server of joins (control.py), while it runs

    def start(self) -> None:
        """Let the process exec its command; raises when exec fails (126/127)."""
        chan = self._take_channel()
        try:
            chan.send(msg.START)
            chan.wait_for_exec()
        except (ContainerError, EOFError) as e:
            why = _why_gone(self.pid) if isinstance(e, EOFError) or e.step == "sync" else None
            self._abort()
            if why:
                raise ContainerError("exec", why) from None
            if isinstance(e, EOFError):
                raise ContainerError("exec", "the container process died before exec") from None
            raise
        finally:
            chan.close()
        if self.first:
            self.hooks("post_start", pid=self.pid)
            _debug_pause("after_start")

    def _take_channel(self) -> Channel:
        if self.chan is None:
            raise StateError("process already started")
        chan, self.chan = self.chan, None
        return chan

    def signal(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def serve_joins(self, report: Callable[[LibcontainerError], int]) -> None:
        """Serve ``nsinit exec`` joins from this process until the container ends (see control.py).

        ``report`` prints a failed join's error for the joining user and
        returns its exit status.  Only for the first process, once started.
        """
        if not self.first or self.status is not None or self.join_server is not None:
            raise StateError("only a started first process serves joins")
        threading = sys.modules.get("threading")
        if threading is not None and threading.active_count() > 1:
            raise StateError("serving joins forks the caller, which is unsafe with threads (fork(2))")
        from .control import start_server

        self.join_server = start_server(self, report)

    def _stop_join_server(self) -> None:
        # Before the teardown: a join accepted now would find the container
        # half gone.  Joins already handed over run on and see it end.
        if self.join_server is not None:
            _kill_and_reap([self.join_server])
            self.join_server = None

    def _collect_join_handlers(self) -> None:
        """Reap the stopped server's handlers, which we adopted as its subreaper, as they end.

        With a pid namespace every joined process died with PID 1, so each
        handler is about to report its status and exit: waiting a moment for
        them leaves no zombie to whoever adopts us next.  Without one, joined
        processes outlive PID 1, as they do when joined locally; their
        handlers go on to the next reaper.
        """
        if not any(ns.kind == "NEWPID" and not ns.path for ns in self.ctx.namespaces):
            return
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                time.sleep(0.002)

    def wait(self) -> int:
        """Reap the process; for the first process, tear the container down too."""
        if self.status is None:
            status = _waitpid(self.pid)
            served = self.join_server is not None
            self._stop_join_server()
            code = os.waitstatus_to_exitcode(status)
            self.status = 128 - code if code < 0 else code
            if self.first:
                try:
                    found = self.hooks("exit_reason", status=self.status)
                    self.reason = found[0] if found else None
                finally:
                    self.container._teardown(self.ctx, self.hooks)
                    if served:
                        self._collect_join_handlers()
        return self.status

    def _abort(self) -> None:
        """Kill a process that will not be started; tear down if it was the first."""
        self.signal(signal.SIGKILL)
        try:
            _waitpid(self.pid)
        except ChildProcessError:
            pass
        self.status = 137
        if self.first:
            self.container._teardown(self.ctx, self.hooks)

    def close(self) -> None:
        self._stop_join_server()
        if self.chan is not None:
            self._abort()
            self.chan.close()
            self.chan = None
        if self.tty_master is not None:
            os.close(self.tty_master)
            self.tty_master = None


def _debug_pause(point: str) -> None:
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


def _waitpid(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except InterruptedError:
            continue


class Container:
    """The container in a directory: its config, state, and processes."""

    def __init__(self, root: str | os.PathLike[str], config: Config | None = None, plugins: Plugins | None = None,
                 syscalls: Any = None) -> None:
        self.root = Path(os.path.abspath(root))
        self.plugins = plugins or default_plugins()
        self._config = config
        self._syscalls = syscalls
        self.id = st.container_id(self.root)

    # -- config and state ----------------------------------------------------------
    @property
    def config(self) -> Config:
        if self._config is None:
            from .configfile import load_config

            self._config = load_config(self.root, self.plugins)
        return self._config

    def state(self) -> st.State | None:
        """The running container's state, or None (a stale one is cleaned up)."""
        found, _ = self._inspect_and_recover()
        return found

    def recover(self) -> bool:
        """Clean up after an nsinit that was killed: True when there was something to clean."""
        _, verdict = st.inspect(self.root)
        if verdict != st.STALE:
            return False
        self._clean_up_stale()
        return True

    def _inspect_and_recover(self) -> tuple[st.State | None, str]:
        """st.inspect, after cleaning up a stale state (which leaves none: NONE)."""
        found, verdict = st.inspect(self.root)
        if verdict != st.STALE:
            return found, verdict
        self._clean_up_stale()
        return None, st.NONE

    def _clean_up_stale(self) -> None:
        old = st.read_state(self.root)
        if old is not None:
            _kill_orphan(old)
            cfg = Config.from_dict(old.config)
            ctx = self._context(cfg, Process(args=[], env=[]))
            ctx.resources = old.resources
            ctx.stale = True
            ctx.pid = old.pid
            hooks = Hooks(self.plugins, self.plugins.active(old.config), ctx)
            try:
                hooks.cleanup()
            finally:
                st.remove_state(self.root)
        else:
            st.remove_state(self.root)

    def _context(self, config: Config, process: Process) -> ContainerContext:
        rootfs = Path(config.rootfs) if config.rootfs else self.root
        ctx = ContainerContext(config=config, root=self.root, rootfs=rootfs, id=self.id, process=process,
                               hook=self.plugins.pm.hook)
        if self._syscalls is not None:
            ctx.syscalls = self._syscalls
        return ctx

    def _process(self, args: list[str], config: Config, tty: bool | None, joining: bool) -> Process:
        if not args:
            raise ContainerError("exec", "no command given")
        return Process(args=list(args), env=config.env, cwd=config.cwd, user=config.user or "",
                       tty=bool(config.tty) if tty is None else tty, joining=joining)

    # -- the first process -----------------------------------------------------------
    def create(self, args: list[str], tty: bool | None = None) -> ContainerProcess:
        """Set the container up to just before ``args`` is exec'd; the process waits."""
        config = self.config
        with _locked(self.root):
            found, verdict = self._inspect_and_recover()
            if found is not None:
                raise StateError(f"a container is already running in {self.root} (pid {found.pid})")
            if verdict == st.FORGED:
                raise StateError(f"{self.root / st.PID_FILE} names a process that is not this container's; "
                                 "remove it if no container runs here")
            ctx = self._context(config, self._process(args, config, tty, joining=False))
            active = self.plugins.active(config.to_dict().keys())
            hooks = Hooks(self.plugins, active, ctx)
            return self._create_locked(ctx, hooks)

    def _create_locked(self, ctx: ContainerContext, hooks: Hooks) -> ContainerProcess:
        ctx.namespaces = _collect_namespaces(hooks)
        parent_chan = child_chan = None
        pids: list[int] = []
        try:
            # A plugin's first record is written at once (pid 0: no process
            # yet; see state.inspect), so that a SIGKILL between its mkdir and
            # the end of pre_clone leaves a state the next command cleans up.
            ctx.on_first_record = lambda: st.write_state(self.root, self._state(ctx, 0))
            try:
                hooks("pre_clone")
            finally:
                ctx.on_first_record = None
            # All that pre_clone made is on disk before anything can kill us.
            st.write_state(self.root, self._state(ctx, 0))
            _debug_pause("after_pre_clone")
            _become_subreaper(ctx)
            parent_chan, child_chan = Channel.pair()
            setup_pid = _spawn_setup(ctx, hooks, child_chan, target=None)
            pids.append(setup_pid)
            child_chan.close()
            child_chan = None
            pid = self._sync_namespaces(ctx, hooks, parent_chan, setup_pid)
            pids[:] = [pid]
            ctx.pid = pid
            hooks("post_clone", pid=pid)
            state = self._state(ctx, pid)
            written = st.write_state(self.root, state)
            _debug_pause("after_post_clone")
            parent_chan.send(msg.CONFIGURED)
            master = _recv_ready(parent_chan)
            # Plugins may have recorded more while the child set up.
            st.update_resources(self.root, state, written)
        except BaseException as e:
            why = _abandon_setup(e, pids, parent_chan, child_chan)
            self._teardown(ctx, hooks)
            if isinstance(e, EOFError):
                raise ContainerError("setup", why or str(e)) from None
            raise
        return ContainerProcess(self, ctx, hooks, parent_chan, pid, master, first=True)

    def _sync_namespaces(self, ctx: ContainerContext, hooks: Hooks, chan: Channel, setup_pid: int) -> int:
        """Answer USERNS with the id maps; return the pid of the container's process."""
        while True:
            m = chan.recv(msg.USERNS, msg.PID)
            if m["kind"] == msg.USERNS:
                hooks("map_ids", pid=setup_pid)
                chan.send(msg.IDS_MAPPED)
                continue
            pid = int(m["pid"]) or setup_pid  # 0: the process we forked runs the command
            if pid != setup_pid:
                # The intermediate process forked PID 1 and exits; reaping it
                # makes PID 1 our child (we are its subreaper).
                _waitpid(setup_pid)
            return pid

    def _state(self, ctx: ContainerContext, pid: int) -> st.State:
        return st.State(pid=pid, start=st.process_start_time(pid) or "", id=ctx.id, rootfs=str(ctx.rootfs),
                        config=ctx.config.to_dict(), namespaces=st.stable_namespace_ids(pid),
                        resources=ctx.resources, nsinit_pid=os.getpid(),
                        nsinit_start=st.process_start_time(os.getpid()) or "")

    def _teardown(self, ctx: ContainerContext, hooks: Hooks) -> None:
        try:
            hooks.cleanup()
        finally:
            st.remove_state(self.root)

    def run(self, args: list[str], tty: bool | None = None) -> int:
        """create, start and wait: the exit status of ``args``."""
        proc = self.create(args, tty=tty)
        proc.start()
        return proc.wait()

    # -- joining -----------------------------------------------------------------------
    def join(self, args: list[str], tty: bool | None = None) -> ContainerProcess:
        """A new process in the running container, created and waiting to exec."""
        with _locked(self.root):
            found, verdict = self._inspect_and_recover()
        if found is None:
            if verdict == st.FORGED:
                raise StateError(f"{self.root / st.PID_FILE} names a process that is not this container's; "
                                 "refusing to join it")
            raise NotRunning(f"no container is running in {self.root}")
        config = Config.from_dict(found.config)
        ctx = self._context(config, self._process(args, config, tty, joining=True))
        ctx.pid = found.pid
        ctx.resources = found.resources
        active = self.plugins.active(found.config.keys())
        hooks = Hooks(self.plugins, active, ctx)
        parent_chan = child_chan = None
        pids: list[int] = []
        try:
            hooks("pre_join")
            _become_subreaper(ctx)
            parent_chan, child_chan = Channel.pair()
            setup_pid = _spawn_setup(ctx, hooks, child_chan, target=found.pid)
            pids.append(setup_pid)
            child_chan.close()
            child_chan = None
            hooks("join", pid=setup_pid)
            parent_chan.send(msg.CONFIGURED)
            pid = int(parent_chan.recv(msg.PID)["pid"]) or setup_pid  # 0: the process we forked
            if pid != setup_pid:
                _waitpid(setup_pid)
                pids[:] = [pid]
            parent_chan.send(msg.ADOPTED)
            master = _recv_ready(parent_chan)
        except BaseException as e:
            why = _abandon_setup(e, pids, parent_chan, child_chan)
            if isinstance(e, EOFError):
                raise ContainerError("join", why or str(e)) from None
            raise
        return ContainerProcess(self, ctx, hooks, parent_chan, pid, master, first=False)

    # -- the running container ----------------------------------------------------------
    def _running_context(self) -> tuple[ContainerContext, Hooks]:
        found = self.state()
        if found is None:
            raise NotRunning(f"no container is running in {self.root}")
        config = Config.from_dict(found.config)
        ctx = self._context(config, Process(args=[], env=[]))
        ctx.pid = found.pid
        ctx.resources = found.resources
        return ctx, Hooks(self.plugins, self.plugins.active(found.config.keys()), ctx)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the container's first process."""
        ctx, _ = self._running_context()
        os.kill(ctx.pid or 0, sig)

    def stats(self) -> dict[str, Any]:
        ctx, hooks = self._running_context()
        out: dict[str, Any] = {"id": ctx.id, "pid": ctx.pid}
        for part in hooks("stats"):
            out.update(part)
        return out

    def pause(self) -> None:
        ctx, hooks = self._running_context()
        if not hooks("pause"):
            raise ContainerError("pause", "no active plugin can pause this container (it needs the cgroups key)")

    def resume(self) -> None:
        ctx, hooks = self._running_context()
        if not hooks("resume"):
            raise ContainerError("resume", "no active plugin can resume this container (it needs the cgroups key)")

    def destroy(self) -> None:
        """Kill the container's first process (and with it the container)."""
        try:
            self.signal(signal.SIGKILL)
        except (StateError, ProcessLookupError):
            pass


def _collect_namespaces(hooks: Hooks) -> list[Namespace]:
    chosen: dict[str, Namespace] = {}
    for result in hooks("namespaces"):
        for ns in result:
            prior = chosen.get(ns.kind)
            if prior is not None and prior != ns:
                raise ContainerError("namespaces", f"{ns.kind} is asked for twice, differently: "
                                     f"{prior.path or 'new'} and {ns.path or 'new'}")
            chosen[ns.kind] = ns
    return list(chosen.values())


def _recv_ready(chan: Channel) -> int | None:
    """Wait for READY; the tty master fd that comes with it, if any."""
    _, fds = chan.recv_with_fds(msg.READY)
    return fds[0] if fds else None


def _spawn_setup(ctx: ContainerContext, hooks: Hooks, chan: Channel, target: int | None) -> int:
    """Start the setup process: a fork, or a fresh interpreter when we have threads."""
    # Only a program that imported threading can have other threads.
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        from .spawn import spawn_setup

        return spawn_setup(ctx, hooks, chan, target)
    from .process import setup_first_process, setup_joining_process

    sys.stdout.flush()
    sys.stderr.flush()
    # The fd of where our children are born now, opened first: whatever
    # interrupts us from the unshare on (an error, a Ctrl-C), the finally
    # below sets it back.
    ours = None
    if target is None and _pid_namespace_made_here(ctx):
        ours = os.open("/proc/self/ns/pid_for_children", os.O_RDONLY | os.O_CLOEXEC)
    pid = -1
    try:
        if ours is not None:
            _new_pid_namespace_for_children(ctx)
        pid = os.fork()
        if pid == 0:
            try:
                if target is None:
                    setup_first_process(ctx, hooks.plugins, hooks.active, chan, pid_namespace_made=ours is not None)
                else:
                    setup_joining_process(ctx, hooks.plugins, hooks.active, chan, target)
            finally:
                os._exit(125)
    finally:
        if ours is not None:
            _pid_namespace_for_children_back(ctx, ours, pid if pid > 0 else None)
    return pid


def _pid_namespace_made_here(ctx: ContainerContext) -> bool:
    """True when nsinit creates the container's new pid namespace, so that its child is PID 1 from birth.

    That saves the setup process a fork and nsinit the reaping of an
    intermediate process.  Not with a new user namespace, which must own the
    pid namespace and is created by the child; not with a time namespace,
    which also applies to children only, so the child forks anyway and the
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
            _kill_and_reap([child])
        raise
    finally:
        os.close(ours)


def _kill_orphan(old: st.State) -> None:
    """Kill the recorded PID 1 if it still runs (its nsinit was killed), and wait until it is gone."""
    if old.pid <= 0:
        return  # no process yet; and os.kill(0) is our own process group, os.kill(-1) every process
    if st.process_start_time(old.pid) != old.start:
        return
    try:
        os.kill(old.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(200):  # a SIGKILLed process is gone within milliseconds
        try:
            os.waitpid(old.pid, os.WNOHANG)  # ours when we are its subreaper
        except ChildProcessError:
            pass
        if st.process_start_time(old.pid) != old.start:
            return
        time.sleep(0.01)


def _abandon_setup(error: BaseException, pids: list[int], *chans: Channel | None) -> str | None:
    """A setup that failed: close the channel's ends, kill and reap its processes; how they ended, if they
    closed the channel without a word (``error`` is EOFError)."""
    why = _why_gone(pids[-1]) if isinstance(error, EOFError) and pids else None
    for chan in chans:
        if chan is not None:
            chan.close()
    _kill_and_reap(pids)
    return why


def _why_gone(pid: int, patience: float = 0.2) -> str | None:
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


def _kill_and_reap(pids: list[int]) -> None:
    for pid in reversed(pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in reversed(pids):
        try:
            _waitpid(pid)
        except ChildProcessError:
            pass


class _locked:
    """An exclusive flock on the container's directory while state is read or written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fd = -1

    def __enter__(self) -> None:
        try:
            self.fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise LibcontainerError(f"{self.root}: {e.strerror}") from None
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: Any) -> None:
        os.close(self.fd)
