"""The lifecycle as a Python API: create, start, wait, kill, join, delete.

::

    box = Container("/srv/box")                 # reads /srv/box/container.json
    proc = box.create(["/bin/sh", "-c", "echo hi"])   # set up, waiting to exec
    proc.start()                                 # exec the command
    status = proc.wait()                         # exit code, 128+N for signal N

A container is *creating*, then *created* (its first process waits to exec),
*running*, and *stopped* (state.py derives which from the kernel).  Each
step may be taken by another process: ``Container(root).start()``,
``.kill(sig)``, ``.wait()`` and ``.delete()`` work from any process of the
container's owner, serialised by a lock on its state directory.

Who reaps the first process (the kernel tells its exit status only to its
parent):

- the process that created it, as long as it lives: ``proc.wait()`` reaps
  it.  By default the container is *attached*: its process dies with its
  creator (a parent-death signal), and ``wait`` tears it down (nsinit exec);
- with ``create(..., detach=True)``, the container outlives its creator.
  A *keeper* (keeper.py), a process of ours forked for it, is its parent
  then: it reaps it and records the exit status, which ``wait()`` from any
  process returns; ``delete()`` tears it down;
- with ``detach=True, keeper=False`` (lcrun, as runc): when the creator
  exits, the kernel gives the process to the creator's nearest child
  subreaper (containerd-shim, conmon), which reaps it; the exit status is
  that reaper's to know.

The first process is forked from the running interpreter (no re-exec of
Python); a caller with other threads creates through a keeper started as a
fresh interpreter, since forking a threaded process is unsafe (fork(2)).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterator

from . import channel as msg
from . import host
from . import ids
from . import state as st
from .channel import Channel
from .config import Config
from .context import ContainerContext, Process
from .errors import ContainerError, LibcontainerError, NotRunning, StateError, container_error
from .hooks import Hooks
from .host import debug_pause
from .plugins import Plugins
from .process import Entry
from .records import field, fields, record
from .rootpaths import command_problem, missing_special_dirs, remove_made_dirs

if TYPE_CHECKING:
    from .popen import ContainerProcess


# The state directories whose lock this process holds (Container._lock); a fork starts with none.
_HELD: set[Path] = set()
os.register_at_fork(after_in_child=_HELD.clear)


@record
class Options:
    """How a process of the container is made, beyond its command (create's and join's keywords)."""

    tty: bool | None = None  # a terminal of its own; None: as the config says
    detach: bool = False  # it outlives the process that made it (no parent-death signal)
    env: list[str] | None = None  # instead of the config's environment
    cwd: str | None = None  # instead of the config's working directory
    user: str | None = None  # instead of the config's user
    preserve_fds: int = 0  # our fds 3..3+N-1 go on to the command
    additional_gids: list[int] | None = None  # instead of the config's supplementary groups
    annotations: dict[str, str] = field(default_factory=dict)  # kept in the state (OCI annotations)
    stdio: list[int] = field(default_factory=list)  # fds for its 0, 1, 2 ([]: ours, inherited)
    args_at_start: bool = False  # the command comes with the start (a warm pool's containers)

    def to_request(self) -> dict[str, Any]:
        """As JSON for a fresh keeper; ``stdio`` goes along as fds."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "stdio"}


@functools.lru_cache(maxsize=1)
def default_plugins() -> Plugins:
    """The installed plugins, discovered once per process."""
    from .plugins import get_plugin_manager

    return get_plugin_manager(lazy=True)


class Container:
    """A container: its config, its state, and its processes.

    ``Container(root)`` is nsinit's container of a directory: its config is
    ``root/container.json`` (or ``config``), its id derived from the
    directory's path.  ``Container(root, config, id=ID, state_root=DIR)``
    names it instead (lcrun: the bundle, its translated config, the OCI id).
    ``Container.load(id)`` is an existing container, from its state.
    """

    def __init__(self, root: str | os.PathLike[str], config: Config | None = None, plugins: Plugins | None = None,
                 syscalls: Any = None, *, id: str | None = None, state_root: str | os.PathLike[str] | None = None
                 ) -> None:
        self.root = Path(os.path.abspath(root))
        self.plugins = plugins or default_plugins()
        self._config = config
        self._syscalls = syscalls
        if id is None:
            self.id = ids.container_id(self.root)
            self.publish = True  # nsinit's: the directory shows pid, start and state.json
        else:
            problem = ids.check_id(id)
            if problem:
                raise StateError(problem)
            self.id = id
            self.publish = False
        self.state_dir = Path(state_root or ids.state_root()) / self.id

    @classmethod
    def from_image(cls, image: str | os.PathLike[str], config: Any = None, id: str | None = None, *,
                   layer: bool = True, state_root: str | os.PathLike[str] | None = None) -> Container:
        """A container of its own on a shared root filesystem ``image``, which it never writes.

        ``config``: a dict, a path to a JSON or YAML file, or None for the
        image's container.json.  ``layer`` (unless the config has the key):
        the container's writes go to a copy-on-write layer of its own, on a
        tmpfs that goes with it (the libcontainer-layer plugin).  ``id``:
        default, the image's name and a random part; the state is kept under
        the state root, nothing is written into the image.
        """
        image = Path(os.path.abspath(image))
        cfg = from_image_config(image, config, layer)
        return cls(image, cfg, id=id or f"{ids.container_id(image)}-{os.urandom(4).hex()}", state_root=state_root)

    @classmethod
    def remove_stale(cls, prefix: str, state_root: str | os.PathLike[str] | None = None) -> list[str]:
        """Delete the stopped containers whose id starts with ``prefix`` (what a killed program left); their ids."""
        removed = []
        for found in list_containers(state_root):
            if found.id.startswith(prefix) and found.status == st.STOPPED:
                try:
                    cls.load(found.id, state_root).delete()
                    removed.append(found.id)
                except LibcontainerError:
                    pass
        return removed

    @classmethod
    def load(cls, id: str, state_root: str | os.PathLike[str] | None = None, plugins: Plugins | None = None,
             syscalls: Any = None) -> Container:
        """The existing container ``id``, from its state (another process made it)."""
        problem = ids.check_id(id)
        if problem:
            raise StateError(problem)
        directory = Path(state_root or ids.state_root()) / id
        found = st.read_state(directory)
        if found is None:
            raise st.NoSuchContainer(id)
        box = cls(found.root, Config.from_dict(found.config), plugins, syscalls, id=id, state_root=directory.parent)
        box.publish = found.publish
        return box

    # -- config and state ----------------------------------------------------------
    @property
    def config(self) -> Config:
        if self._config is None:
            from .configfile import load_config

            self._config = load_config(self.root, self.plugins)
        return self._config

    def state(self) -> st.State | None:
        """The container's state with its status as the kernel says it is now; None when there is none."""
        found = self._trusted()
        if found is not None:
            found.status = st.status(found)
        return found

    def _trusted(self) -> st.State | None:
        """The trusted state; for nsinit's container of a directory, refused when it records another directory.

        Ids are the directory's name and a 32-bit hash of its path (ids.py):
        two directories may meet in one id, and must not take each other's
        container for their own.
        """
        found = st.read_state(self.state_dir)
        if found is not None and self.publish and found.root != os.path.realpath(self.root):
            raise StateError(f"{self.state_dir} holds the state of the container in {found.root}, whose id is "
                             f"also {self.id}; one of the two directories must be renamed")
        return found

    def status(self) -> str | None:
        """One of creating, created, running, stopped; None when there is no container."""
        found = self.state()
        return found.status if found is not None else None

    @contextlib.contextmanager
    def _lock(self, create: bool = False) -> Iterator[None]:
        """The state directory's lock; taken again by the process that holds it (a signal handler's
        kill while a start holds it), it is already held: a second flock would wait for ever."""
        if self.state_dir in _HELD:
            yield
            return
        try:
            with st.Lock(self.state_dir, create=create):
                _HELD.add(self.state_dir)
                try:
                    yield
                finally:
                    _HELD.discard(self.state_dir)
        except st.NoSuchContainer:
            raise self._no_such() from None

    def _read(self) -> st.State:
        found = self._trusted()
        if found is None:
            raise self._no_such()
        return found

    def _no_such(self) -> st.NoSuchContainer:
        error = st.NoSuchContainer(self.id)
        if self.publish:
            error.args = (f"no container in {self.root}",)
        return error

    def _context(self, config: Config, process: Process) -> ContainerContext:
        rootfs = Path(config.rootfs) if config.rootfs else self.root
        ctx = ContainerContext(config=config, root=self.root, rootfs=rootfs, id=self.id, process=process,
                               hook=self.plugins.pm.hook)
        if self._syscalls is not None:
            ctx.syscalls = self._syscalls
        return ctx

    def _context_from_state(self, found: st.State, process: Process | None = None,
                            stale: bool = False) -> tuple[ContainerContext, Hooks]:
        """The context and hooks of a container made earlier, maybe by another process: from its state alone."""
        config = Config.from_dict(found.config)
        ctx = self._context(config, process or Process(args=[], env=[], attached=found.attached))
        ctx.rootfs = Path(found.rootfs)
        ctx.pid = found.pid or None
        ctx.resources = found.resources
        ctx.stale = stale
        return ctx, Hooks(self.plugins, self.plugins.active(found.config.keys()), ctx)

    def _process(self, args: list[str], config: Config, opts: Options, joining: bool) -> Process:
        if not args and not opts.args_at_start:
            raise ContainerError("exec", "no command given")
        return Process(args=list(args), env=list(config.env if opts.env is None else opts.env),
                       cwd=config.cwd if opts.cwd is None else opts.cwd,
                       user=(config.user or "") if opts.user is None else opts.user,
                       tty=bool(config.tty) if opts.tty is None else opts.tty, joining=joining,
                       attached=not opts.detach, preserve_fds=opts.preserve_fds,
                       additional_gids=opts.additional_gids)

    # -- creating ----------------------------------------------------------------------
    def create(self, args: list[str], tty: bool | None = None, *, detach: bool = False, keeper: bool | None = None,
               env: list[str] | None = None, cwd: str | None = None, user: str | None = None,
               stdin: Any = None, stdout: Any = None, stderr: Any = None, text: bool = False,
               preserve_fds: int = 0, annotations: dict[str, str] | None = None) -> ContainerProcess:
        """Set the container up to just before ``args`` is exec'd; its process waits for the start.

        ``env``, ``cwd`` and ``user`` replace the config's for this process;
        ``stdin``, ``stdout`` and ``stderr`` are what ``subprocess.Popen``
        takes (None inherits ours).  ``detach``: the container outlives this
        process (no parent-death signal); with ``keeper`` (the default then)
        a keeper process of ours reaps it and records its exit status;
        without, the caller's child subreaper does (see the module's
        docstring).  ``preserve_fds``: our fds 3..3+N-1 go on to the command.
        """
        from .stdio import Streams

        args, env, tty = _checked(args, env, tty, stdin, stdout, stderr)
        keeper = detach if keeper is None else keeper
        streams = Streams(stdin, stdout, stderr, text=text)
        opts = Options(tty=tty, detach=detach, env=env, cwd=cwd, user=user, preserve_fds=preserve_fds,
                       annotations=dict(annotations or {}), stdio=streams.fds())
        try:
            if keeper or _has_threads():
                proc = self._create_kept(args, opts)
            else:
                proc = self._create(args, opts)
        except BaseException:
            streams.close()
            raise
        streams.given()
        proc.streams = streams
        return proc

    def _create(self, args: list[str], opts: Options, reaper: int = 0) -> ContainerProcess:
        config = self.config
        with self._lock(create=True):
            self._clear_for_create()
            ctx = self._context(config, self._process(args, config, opts, joining=False))
            hooks = Hooks(self.plugins, self.plugins.active(config.to_dict().keys()), ctx)
            return self._create_locked(ctx, hooks, opts, reaper)

    def _create_kept(self, args: list[str], opts: Options) -> ContainerProcess:
        """Create in a keeper (keeper.py): forked from us, or a fresh interpreter when we have threads."""
        steps = self._create_kept_steps(args, opts)
        while True:
            try:
                next(steps)  # a blocking socket: the read waits
            except StopIteration as done:
                return done.value

    def _create_kept_steps(self, args: list[str], opts: Options) -> Generator[int, None, ContainerProcess]:
        """_create_kept as steps: yields the keeper's socket before reading its answer (aio.py awaits it)."""
        from . import keeper

        if not args:
            raise ContainerError("exec", "no command given")
        self.config  # a config error is raised here, before any process is made
        caller, keeper_end = Channel.pair()
        try:
            if _has_threads():
                if self.plugins is not default_plugins():
                    raise StateError("a program with threads creates containers in a fresh interpreter, which "
                                     "loads the installed plugins only; this Container has plugins of its own: "
                                     "create it before starting threads, or install the plugins")
                request = {"root": str(self.root), "config": self.config.to_dict(),
                           "id": None if self.publish else self.id, "state_root": str(self.state_dir.parent),
                           "args": list(args), "options": opts.to_request()}
                keeper_pid = keeper.spawn_keeper(request, keeper_end, caller, opts.stdio)
            else:
                keeper_pid = keeper.fork_keeper(self, keeper_end, caller, args, opts)
            keeper_end.close()
            try:
                yield caller.fileno()
                answer, fds = caller.recv_with_fds(keeper.CREATED)
            except EOFError:
                raise ContainerError("create", "the keeper process ended before the container was created") \
                    from None
            except BaseException:
                caller.close()  # first: a keeper still creating sees our end, and ends what it made
                _reap(keeper_pid)
                raise
        except BaseException:
            caller.close()
            keeper_end.close()
            raise
        found = self._read()
        ctx, hooks = self._context_from_state(found)
        from .popen import KeptProcess

        return KeptProcess(self, ctx, hooks, int(answer["pid"]), fds[0] if fds else None, first=True, state=found,
                           keeper=caller, keeper_pid=keeper_pid)

    def _clear_for_create(self) -> None:
        """Under the lock: remove what a stopped container left; refuse one that lives."""
        found = self._trusted()
        if found is None:
            if self.publish:
                self._refuse_forged_pid_file()
            return
        now = st.status(found)
        if now == st.STOPPED:
            self._delete_locked(found)
            st.make_private(self.state_dir)  # the lock's directory, removed with the state
            return
        where = f"in {self.root}" if self.publish else f"with id {self.id}"
        if now == st.RUNNING:
            raise StateError(f"a container is already running {where} (pid {found.pid})")
        if now == st.CREATED:
            raise StateError(f"a container {where} is created and waits to be started: start it or delete it")
        raise StateError(f"a container {where} is being created by pid {found.creator_pid}")

    def _refuse_forged_pid_file(self) -> None:
        """A pid file in the directory without a trusted state: refuse if it names a live process."""
        pid = st.untrusted_pid(self.root)
        if pid is None:
            return
        if pid > 0 and st.process_start_time(pid) is not None:
            raise StateError(_foreign_pid_file_message(self.root, pid))
        st.remove_copies(self.root)  # left by a container long gone

    def _new_state(self, ctx: ContainerContext, opts: Options) -> st.State:
        me = os.getpid()
        return st.State(id=self.id, status=st.CREATING, pid=0, start="", root=os.path.realpath(self.root),
                        rootfs=str(ctx.rootfs), config=ctx.config.to_dict(),
                        created=_utc_now(),
                        resources=ctx.resources, creator_pid=me, creator_start=st.process_start_time(me) or "",
                        attached=ctx.process.attached, owner=os.geteuid(), publish=self.publish,
                        args=list(ctx.process.args), annotations=opts.annotations)

    def _create_locked(self, ctx: ContainerContext, hooks: Hooks, opts: Options, reaper: int = 0) -> ContainerProcess:
        state = self._new_state(ctx, opts)
        if reaper:  # a keeper (keeper.py): it records the exit status
            state.reaper_pid, state.reaper_start = reaper, st.process_start_time(reaper) or ""
        elif ctx.process.attached:
            state.reaper_pid, state.reaper_start = state.creator_pid, state.creator_start
        chan: Channel | None = None
        listener: int | None = None
        pids: list[int] = []
        made: list[str] = []
        try:
            ctx.namespaces = host.collect_namespaces(hooks)
            made = self._check_rootfs(ctx)
            # A plugin's first record is written at once (pid 0: no process
            # yet), so that a SIGKILL between its mkdir and the end of
            # pre_clone leaves a state the next command cleans up.
            written = ""

            def first_record() -> None:
                nonlocal written
                written = st.write_state(self.state_dir, state)

            ctx.on_first_record = first_record
            try:
                hooks("pre_clone")
            finally:
                ctx.on_first_record = None
            # All that pre_clone made is on disk before anything can kill us
            # (nothing to write when no plugin made anything).
            if state.resources:
                st.update_resources(self.state_dir, state, written)
            debug_pause("after_pre_clone")
            listener = host.bind_start_socket(self.state_dir)
            entry = Entry(pid_namespace_made=host.pid_namespace_made_here(ctx), listener=listener, stdio=opts.stdio)
            pid, chan = host.launch(ctx, hooks, entry, pids)
            os.close(listener)
            listener = None
            ctx.pid = pid
            hooks("post_clone", pid=pid)
            state.pid, state.start = pid, st.process_start_time(pid) or ""
            state.namespaces = st.stable_namespace_ids(pid)
            st.write_state(self.state_dir, state)
            debug_pause("after_post_clone")
            chan.send(msg.CONFIGURED)
            # While the setup process builds the container, and we would only
            # wait: the state as it will be once created (no host hook runs
            # until READY: nothing records meanwhile), its copies, and what
            # the host needs then.  Done after READY, the encoding would
            # also copy every page it touched that the setup process shares.
            created = st.as_created(state)
            st.publish(state, created)
            from .popen import ContainerProcess

            master = host.recv_ready(chan)
            chan.close()
            chan = None
            state.status = st.CREATED
            st.write_state(self.state_dir, state, created)
        except BaseException as e:
            why = host.abandon(e, pids, chan)
            if listener is not None:
                os.close(listener)
            try:
                self._teardown(ctx, hooks)
            finally:
                remove_made_dirs(made)
            if isinstance(e, EOFError):
                raise ContainerError("setup", why or str(e)) from None
            raise
        return ContainerProcess(self, ctx, hooks, pid, master, first=True, state=state)

    def _check_rootfs(self, ctx: ContainerContext) -> list[str]:
        """The command exists in the rootfs (else one line, before anything is made); the directories the
        start will make in it, for a failed start to remove (the rootfs is left as it was)."""
        if any(ns.kind == "NEWNS" and ns.path for ns in ctx.namespaces):
            return []  # a joined mount namespace: its root is not ours to look at
        if not ctx.process.args:
            return missing_special_dirs(os.path.realpath(str(ctx.rootfs))) if ctx.new_namespace("NEWNS") else []
        where = os.path.realpath(str(ctx.rootfs))  # the command comes with the start: checked then
        mounts = [m.destination for m in ctx.config.mounts or []]
        problem = command_problem(where, ctx.process.args[0], ctx.process.env, mounts)
        if problem:
            raise container_error("exec", problem, 127)
        return missing_special_dirs(where) if ctx.new_namespace("NEWNS") else []

    def _teardown(self, ctx: ContainerContext, hooks: Hooks) -> None:
        try:
            hooks.cleanup()
        finally:
            st.remove_state(self.state_dir, self.root if self.publish else None)

    def run(self, args: list[str], *, input: Any = None, capture_output: bool = False, stdin: Any = None,
            stdout: Any = None, stderr: Any = None, timeout: float | None = None, check: bool = False,
            text: bool = False, env: list[str] | None = None, cwd: str | None = None, user: str | None = None,
            tty: bool | None = None) -> Any:
        """Create, start and wait, as ``subprocess.run``: a ``subprocess.CompletedProcess``.

        With ``timeout``, every process of the container is killed when it
        expires, the container torn down, and ``subprocess.TimeoutExpired``
        raised with what was captured so far.  ``check`` raises
        ``subprocess.CalledProcessError`` for a non-zero status.  The result's
        ``usage`` says what the container used (``popen.Usage``).  ``args`` is
        never given to a shell.
        """
        return run_process(lambda **streams: self.create(args, tty=tty, text=text, env=env, cwd=cwd, user=user,
                                                         **streams),
                           args, input=input, capture_output=capture_output, stdin=stdin, stdout=stdout,
                           stderr=stderr, timeout=timeout, check=check)

    async def acreate(self, args: list[str], *, stdin: Any = None, stdout: Any = None, stderr: Any = None,
                      env: list[str] | None = None, cwd: str | None = None, user: str | None = None,
                      tty: bool | None = None) -> Any:
        """``create`` for asyncio: an ``aio.AsyncProcess`` (asyncio streams), made by a keeper process
        while the event loop goes on."""
        from . import aio
        from .stdio import Streams

        args, env, tty = _checked(args, env, tty, stdin, stdout, stderr)
        streams = Streams(stdin, stdout, stderr)
        opts = Options(tty=tty, env=env, cwd=cwd, user=user, stdio=streams.fds())
        try:
            proc = await aio.drive(self._create_kept_steps(args, opts))
        except BaseException:
            streams.close()
            raise
        streams.given()
        proc.streams = streams
        return await aio.AsyncProcess.wrap(proc)

    async def arun(self, args: list[str], *, input: bytes | None = None, capture_output: bool = False,
                   stdin: Any = None, stdout: Any = None, stderr: Any = None, timeout: float | None = None,
                   check: bool = False, env: list[str] | None = None, cwd: str | None = None,
                   user: str | None = None, tty: bool | None = None) -> Any:
        """``run`` for asyncio (bytes only, as asyncio's subprocesses): a ``subprocess.CompletedProcess``."""
        from . import aio

        return await aio.run(lambda **streams: self.acreate(args, env=env, cwd=cwd, user=user, tty=tty, **streams),
                             args, input=input, capture_output=capture_output, stdin=stdin, stdout=stdout,
                             stderr=stderr, timeout=timeout, check=check, text=False)

    # -- starting ------------------------------------------------------------------------
    def start(self, *, args: list[str] | None = None, env: list[str] | None = None, cwd: str | None = None,
              user: str | None = None, stdin: Any = None, stdout: Any = None, stderr: Any = None) -> None:
        """Start the created container: its first process execs its command (from any process).

        ``stdin``, ``stdout`` and ``stderr`` (fds or files) replace the
        streams it was created with.  ``args``, ``env``, ``cwd`` and ``user``
        are for a container created without a command (a warm pool's): one
        created with its command has its user, directory and environment in
        place already, and refuses them (ValueError).
        """
        from .stdio import command_args, environment

        if args is not None:
            args = command_args(args)
        env = environment(env)
        overrides = {k: v for k, v in (("args", args), ("env", env), ("cwd", cwd), ("user", user)) if v is not None}
        streams = [x for x in (stdin, stdout, stderr)]
        if any(x is not None for x in streams):
            overrides["fds"] = [x if isinstance(x, int) else (x.fileno() if x is not None else i)
                                for i, x in enumerate(streams)]
        with self._lock():
            found = self._read()
            now = st.status(found)
            if now != st.CREATED:
                raise StateError(f"cannot start container {self.id}: it is {now}, not created")
            ctx, hooks = self._context_from_state(found)
            try:
                self._start_created(ctx, hooks, found, locked=True, **overrides)
            except EOFError:
                raise ContainerError("exec", f"container {self.id}'s process ended before it exec'd its command") \
                    from None

    def _start_created(self, ctx: ContainerContext, hooks: Hooks, found: st.State, locked: bool = False,
                       fds: list[int] | None = None, **overrides: Any) -> None:
        """Send START (with ``overrides`` and the ``fds`` for 0-2) on the start socket; see the exec through."""
        for _ in self._start_steps(ctx, hooks, found, locked, fds, **overrides):
            pass  # blocking sockets: each read waits

    def _start_steps(self, ctx: ContainerContext, hooks: Hooks, found: st.State, locked: bool,
                     fds: list[int] | None, **overrides: Any) -> Iterator[int]:
        """_start_created as steps: yields an fd before each read that may wait (aio.py awaits it readable)."""
        chosen = msg.start_choices(overrides)
        if found.args and chosen:
            # Its process prepared its user, directory and environment
            # while it waited (process.py); it would refuse them.
            raise ValueError(f"container {self.id} was created with its command: its start takes no "
                             f"{', '.join(chosen)}")
        if not locked:
            with self._lock():
                yield from self._start_steps(ctx, hooks, found, True, fds, **overrides)
            return
        command = (overrides.get("args") or found.args or ["the command"])[0]
        yield from msg.start_steps(str(self.state_dir / st.START_SOCKET), self.id, command, fds, **overrides)
        # Running from here: the start socket is gone (state.status).
        hooks("post_start", pid=found.pid)


    # -- ending ----------------------------------------------------------------------------
    def _ended(self, ctx: ContainerContext, hooks: Hooks, pid: int, status: int, teardown: bool | None = None
               ) -> tuple[str | None, dict[str, Any] | None]:
        """The first process ``pid``, reaped by us, ended with ``status``: its report, then its end recorded."""
        reason, usage = self._exit_report(ctx, hooks, pid, status)
        self._finish(ctx, hooks, pid, status, teardown)
        return reason, usage

    def _exit_report(self, ctx: ContainerContext, hooks: Hooks, pid: int, status: int
                     ) -> tuple[str | None, dict[str, Any] | None]:
        """Why the first process ended when a plugin knows, and what the container used (``libcontainer_usage``),
        read before the teardown removes what they read.  What it left running, without a pid namespace of
        its own to end with it, is killed first: when its status is told, nothing of the container runs."""
        if not ctx.new_namespace("NEWPID"):
            with contextlib.suppress(LibcontainerError):
                left = hooks("processes")
                for other in left[0] if left else []:
                    _send_signal(other, None, signal.SIGKILL)
        reasons = hooks("exit_reason", status=status)
        usage = hooks("usage")
        return (reasons[0] if reasons else None), (usage[0] if usage else None)

    def _finish(self, ctx: ContainerContext, hooks: Hooks, pid: int, status: int, teardown: bool | None = None) -> None:
        """Tear an attached container down (or ``teardown``); record a detached one's exit status.

        A container deleted meanwhile (another process's ``delete --force``)
        is left alone.
        """
        teardown = ctx.process.attached if teardown is None else teardown
        try:
            with self._lock():
                found = st.read_state(self.state_dir)
                if found is None or found.pid != pid:
                    return
                if teardown:
                    self._teardown(ctx, hooks)
                else:
                    found.status, found.exit_status = st.STOPPED, status
                    st.write_state(self.state_dir, found)
        except st.NoSuchContainer:
            pass

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the container's first process to end (from any process); its exit status.

        The status is known when one of our processes reaps it (its creator,
        or its keeper); under another reaper (containerd-shim, init) it is
        None.  Raises TimeoutError after ``timeout`` seconds.
        """
        import select

        deadline = None if timeout is None else time.monotonic() + timeout
        found = self._read()
        if st.status(found) in (st.CREATED, st.RUNNING):
            try:
                pidfd = os.pidfd_open(found.pid)
            except ProcessLookupError:
                pidfd = None
            if pidfd is not None:
                try:
                    if st.alive(found.pid, found.start):
                        left = None if deadline is None else max(0.0, deadline - time.monotonic())
                        if not select.select([pidfd], [], [], left)[0]:
                            raise TimeoutError(f"container {self.id} still runs")
                finally:
                    os.close(pidfd)
        if found.reaper_pid == os.getpid():
            raise StateError(f"this process reaps container {self.id}: wait through its ContainerProcess")
        while True:  # ended: its reaper records the status within moments
            found = st.read_state(self.state_dir)
            if found is None or found.exit_status is not None:
                return None if found is None else found.exit_status
            if not st.alive(found.reaper_pid, found.reaper_start):
                return None
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"container {self.id} ended; its exit status is not recorded yet")
            time.sleep(0.005)

    def kill(self, sig: int = signal.SIGTERM, all: bool = False) -> None:
        """Send ``sig`` to the container's first process (with ``all``, to every process of the container)."""
        with self._lock():
            found = self._read()
            now = st.status(found)
            if now not in (st.CREATED, st.RUNNING):
                raise NotRunning(f"container {self.id} is {now}: no process to signal")
            self._check_same_process(found)
            pids = self._processes(found) if all else [found.pid]
            for pid in pids:
                _send_signal(pid, found.start if pid == found.pid else None, sig)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the container's first process."""
        self.kill(sig)

    def destroy(self) -> None:
        """Kill the container's first process (and with it the container)."""
        try:
            self.kill(signal.SIGKILL)
        except StateError:
            pass

    def processes(self) -> list[int]:
        """Host pids of every process of the running container, its first process first."""
        found = self._read()
        if st.status(found) not in (st.CREATED, st.RUNNING):
            return []
        return self._processes(found)

    def _processes(self, found: st.State) -> list[int]:
        ctx, hooks = self._context_from_state(found)
        for pids in hooks("processes"):
            return [found.pid] + [p for p in pids if p != found.pid]
        if "pid" in found.namespaces and found.namespaces["pid"] != os.readlink("/proc/self/ns/pid"):
            return [found.pid] + [p for p in _pids_in_pid_namespace(found.namespaces["pid"]) if p != found.pid]
        return [found.pid]

    def _check_same_process(self, found: st.State) -> None:
        if not st.same_process(found):
            raise StateError(f"the process recorded for container {self.id} (pid {found.pid}) is no longer in "
                             "the container's namespaces; refusing to act on it")

    def delete(self, force: bool = False) -> None:
        """Remove the container: every plugin's cleanup, then its state (``force``: kill it first if it runs)."""
        with self._lock():
            found = self._read()
            now = st.status(found)
            if now == st.CREATING:
                raise StateError(f"cannot delete container {self.id}: it is being created by pid {found.creator_pid}")
            if now == st.RUNNING and not force:
                raise StateError(f"cannot delete container {self.id}: it is running (stop it first, or delete it by force)")
            self._delete_locked(found)

    def _kill_and_wait(self, found: st.State) -> None:
        """SIGKILL every process of the container; wait until the first process has ended."""
        if st.alive(found.pid, found.start) and st.same_process(found):
            for pid in self._processes(found):
                _send_signal(pid, found.start if pid == found.pid else None, signal.SIGKILL)
            _wait_gone(found.pid, found.start)

    def _delete_locked(self, found: st.State) -> None:
        """Kill what still runs (a created container, or an attached one whose creator died), clean up, remove."""
        self._kill_and_wait(found)
        ctx, hooks = self._context_from_state(found, stale=True)
        try:
            hooks.cleanup()
        finally:
            st.remove_state(self.state_dir, Path(found.root) if found.publish else None)

    # -- joining -----------------------------------------------------------------------
    def join(self, args: list[str], tty: bool | None = None, *, detach: bool = False, env: list[str] | None = None,
             cwd: str | None = None, user: str | None = None, stdin: Any = None, stdout: Any = None,
             stderr: Any = None, text: bool = False, preserve_fds: int = 0,
             additional_gids: list[int] | None = None) -> ContainerProcess:
        """A new process in the running container, created and waiting to exec.

        The keywords are create's (``detach``: it outlives this process, its
        parent; lcrun exec --detach); ``additional_gids`` replaces the
        config's supplementary groups for this process (lcrun exec --process).

        The lock is held while the state is read and PID 1 pinned (a pidfd),
        not while the process is set up: a join that hangs must not hold up
        a delete.  A container deleted meanwhile fails the join (its
        namespaces are gone with PID 1).
        """
        from .stdio import Streams

        args, env, tty = _checked(args, env, tty, stdin, stdout, stderr)
        try:
            with self._lock():
                found = self._trusted()
                if found is None or st.status(found) != st.RUNNING:
                    raise NotRunning(self._not_running())
                self._check_same_process(found)
                entry = host.join_entry(found)
        except st.NoSuchContainer:
            raise NotRunning(self._not_running()) from None
        config = Config.from_dict(found.config)
        chan: Channel | None = None
        pids: list[int] = []
        streams = Streams(stdin, stdout, stderr, text=text)
        entry.stdio = streams.fds()
        opts = Options(tty=tty, detach=detach, env=env, cwd=cwd, user=user, preserve_fds=preserve_fds,
                       additional_gids=None if additional_gids is None else [int(g) for g in additional_gids])
        try:
            ctx, hooks = self._context_from_state(found, self._process(args, config, opts, joining=True))
            hooks("pre_join")
            pid, chan = host.launch(ctx, hooks, entry, pids)
            hooks("join", pid=pid)
            chan.send(msg.CONFIGURED)
            from .popen import ContainerProcess  # while the process enters the container's root

            master = host.recv_ready(chan)
        except BaseException as e:
            streams.close()
            why = host.abandon(e, pids, chan)
            if isinstance(e, EOFError):
                raise ContainerError("join", why or str(e)) from None
            raise
        finally:
            host.close_entry(entry)
        streams.given()
        return ContainerProcess(self, ctx, hooks, pid, master, first=False, chan=chan, streams=streams)

    def _not_running(self) -> str:
        return f"no container is running in {self.root}" if self.publish else f"container {self.id} is not running"

    # -- the running container ----------------------------------------------------------
    def _running_context(self) -> tuple[ContainerContext, Hooks]:
        found = self._trusted()
        if found is None or st.status(found) not in (st.CREATED, st.RUNNING):
            raise NotRunning(self._not_running())
        return self._context_from_state(found)

    def stats(self) -> dict[str, Any]:
        ctx, hooks = self._running_context()
        out: dict[str, Any] = {"id": ctx.id, "pid": ctx.pid}
        for part in hooks("stats"):
            out.update(part)
        return out

    def hook_plans(self, hooks: tuple[str, ...] = ("post_start", "post_exit")) -> dict[str, Any]:
        """Which active plugins implement each of ``hooks``, and what each says they will do for this
        container, as data (``libcontainer_hook_plan``): ``{hook: [plugin, ...], ..., "plans": {plugin: plan}}``.

        For a runtime that starts and deletes without the plugins (lcrun
        records it at create).  A plugin without a plan, or whose plan
        fails, has ``{}``: its hooks need it.  Reads the state without the
        lock, which the caller may hold.
        """
        found = self._read()
        active = self.plugins.active(found.config.keys())
        record: dict[str, Any] = {
            hook: sorted({impl.plugin_name for impl in getattr(self.plugins.pm.hook, f"libcontainer_{hook}").get_hookimpls()}
                         & active)
            for hook in hooks}
        ctx, _ = self._context_from_state(found)
        plans: dict[str, Any] = {}
        for name in sorted({n for hook in hooks for n in record[hook]}):
            try:
                answers = self.plugins.call("libcontainer_hook_plan", {name}, container=ctx)
            except LibcontainerError:
                answers = []
            plans[name] = answers[0] if answers and isinstance(answers[0], dict) else {}
        record["plans"] = plans
        return record

    def pause(self) -> None:
        ctx, hooks = self._running_context()
        if not hooks("pause"):
            raise ContainerError("pause", "no active plugin can pause this container (it needs the cgroups key)")

    def resume(self) -> None:
        ctx, hooks = self._running_context()
        if not hooks("resume"):
            raise ContainerError("resume", "no active plugin can resume this container (it needs the cgroups key)")


def run_process(create: Callable[..., ContainerProcess], args: list[str], *, input: Any, capture_output: bool,
                stdin: Any, stdout: Any, stderr: Any, timeout: float | None, check: bool) -> Any:
    """subprocess.run's contract over a process ``create(stdin=, stdout=, stderr=)`` makes (a container's first)."""
    import subprocess

    from .stdio import run_streams

    stdin, stdout, stderr = run_streams(input, capture_output, stdin, stdout, stderr)
    with create(stdin=stdin, stdout=stdout, stderr=stderr) as proc:
        proc.start()
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()  # PID 1; what it left outside a pid namespace of its own goes at its end (_exit_report)
            proc.wait()
            raise
    result = subprocess.CompletedProcess(args, proc.returncode, out, err)  # as given, as subprocess keeps them
    result.usage = proc.usage
    if check:
        result.check_returncode()
    return result


# The key of the libcontainer-layer plugin: a copy-on-write layer over the rootfs (plugins/layer).
LAYER_KEY = "layer"


def from_image_config(image: Path, config: Any, layer: bool) -> Config:
    """The config of a container made from ``image``: a dict, a file's path, or None for the image's
    container.json (or .yaml); with ``layer``, and no layer key of its own, ``"layer": {}``."""
    from .configfile import find_config, load_document, parse_config

    if isinstance(config, Config):
        doc = config.to_dict()
        source = "<config>"
    elif isinstance(config, dict):
        doc, source = dict(config), "<config>"
    else:
        path = Path(config) if config is not None else find_config(image)
        doc, source = load_document(path), str(path)
    if layer and isinstance(doc, dict):
        doc.setdefault(LAYER_KEY, {})
    cgroups = doc.get("cgroups") if isinstance(doc, dict) else None
    if isinstance(cgroups, dict) and cgroups.get("name"):
        # One config for many containers: a cgroup name of its own would be
        # shared by all and refused from the second on; each container's
        # cgroup takes its id instead (the cgroups plugin's default).
        doc["cgroups"] = {k: v for k, v in cgroups.items() if k != "name"}
    plugins = default_plugins()
    return parse_config(doc, source, plugins)


def list_containers(state_root: str | os.PathLike[str] | None = None) -> list[st.State]:
    """Every container under the state root (this user's by default), with its status as it is now."""
    found = []
    for _, state in st.list_states(Path(state_root or ids.state_root())):
        if state is not None:
            state.status = st.status(state)
            found.append(state)
    return found


def keeper_main(argv: list[str]) -> None:
    """A keeper started as a fresh interpreter (``python -m libcontainer.keeper FD``, keeper.py)."""
    import _socket

    from . import keeper

    chan = Channel(_socket.socket(fileno=int(argv[0])), "the caller")
    os.set_inheritable(chan.fileno(), False)
    try:
        request, stdio = keeper.read_request(chan)
        box = Container(request["root"], Config.from_dict(request["config"]), id=request["id"],
                        state_root=request["state_root"])
        opts = Options(**request["options"], stdio=stdio)
    except BaseException as e:  # noqa: BLE001 - told to the caller, whatever it is
        chan.send_error("keeper", f"{type(e).__name__}: {e}")
        os._exit(125)
    keeper.keep(box, chan, request["args"], opts)


def _reap(pid: int) -> None:
    try:
        host.waitpid(pid)
    except ChildProcessError:
        pass


def _checked(args: Any, env: Any, tty: bool | None, stdin: Any, stdout: Any, stderr: Any
             ) -> tuple[list[str], list[str] | None, bool | None]:
    """A process's ``args``, ``env`` and ``tty`` as the engine takes them, checked before anything is made."""
    from .stdio import command_args, environment

    return command_args(args), environment(env), _terminal(tty, stdin, stdout, stderr)


def _terminal(tty: bool | None, stdin: Any, stdout: Any, stderr: Any) -> bool | None:
    """Whether a process gets a terminal: streams the caller gives win over the config's ``tty``
    (its output must reach them); asked for both at once, a ValueError."""
    given = [name for name, x in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)) if x is not None]
    if not given:
        return tty
    if tty:
        raise ValueError(f"tty=True and {given[0]} given: a terminal's streams are its master end "
                         "(proc.tty_master), not pipes or files")
    return False


def _utc_now() -> str:
    """Now in RFC 3339, UTC, to the microsecond (datetime would cost every start ~1.4 ms of import)."""
    now = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9)) + f".{now // 1000 % 10**6:06d}Z"


def _has_threads() -> bool:
    # Only a program that imported threading can have other threads.
    threading = sys.modules.get("threading")
    return threading is not None and threading.active_count() > 1


def _send_signal(pid: int, start: str | None, sig: int) -> None:
    """Signal ``pid`` through a pidfd (when ``start`` is given, only if it is still the process that started then)."""
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


def _wait_gone(pid: int, start: str, patience: float = 10.0) -> None:
    """Until ``pid`` (started at ``start``) has ended; reaped when it is our child."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)  # ours when we created it (or adopted it)
        except ChildProcessError:
            pass
        if not st.alive(pid, start):
            return
        time.sleep(0.005)


def _pids_in_pid_namespace(ns: str) -> list[int]:
    """Host pids of every process whose pid namespace is ``ns`` ("pid:[4026532...]")."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def _foreign_pid_file_message(root: Path, pid: int) -> str:
    """What is true about a pid file naming a live process when this user holds no state for it."""
    if os.geteuid() != 0:
        try:
            os.stat(os.path.join(ids.RUN_DIR, ids.container_id(root)))
        except PermissionError:
            return (f"permission denied to the state of the container running in {root} (pid {pid}): "
                    f"root keeps it in {ids.RUN_DIR}; run nsinit as root")
        except OSError:
            pass
    try:
        owner = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        owner = os.geteuid()
    if owner != os.geteuid():
        return (f"the container running in {root} (pid {pid}) belongs to uid {owner}: nsinit keeps its state for "
                f"that user, not for uid {os.geteuid()}; run nsinit as uid {owner}")
    return (f"{root / st.PID_FILE} names a live process (pid {pid}) that is not this container's; "
            "remove it if no container runs here")
