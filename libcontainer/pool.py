"""A warm pool: containers created ahead, each started once with the command chosen then.

::

    from libcontainer import Pool

    with Pool("/srv/image", size=4) as pool:          # four containers created, waiting
        result = pool.run(["python3", "-c", "print(6 * 7)"], capture_output=True, timeout=5)
        print(result.stdout)                         # b'42\\n'

Creating a container is most of its cost (namespaces, cgroups, mounts: the
engine's whole setup); starting one that waits is an exec.  A pool keeps up
to ``size`` containers *created* (waiting on their start socket, nothing of
the command chosen yet) and hands each to exactly one ``run`` or
``create``: the command, its environment, working directory, user and
streams travel with the start (process.py, START).  A container is never
used twice: a sandbox run must not see another's files or processes.

Who does what:

- the *pool helper*, a fresh interpreter started once (``python -m
  libcontainer.pool FD``): the caller may have threads, and fork must not
  be used in it; the helper is single-threaded and forks a keeper per
  container, on the caller's request;
- each *keeper* (keeper.py) creates its container in itself, tells the
  caller (CREATED, on a socket pair whose other end the helper passes to
  the caller), reaps the container's first process, tells the caller
  (EXITED, with the status and usage) and tears the container down;
- the caller starts the container itself (the start socket: no helper on
  the way), and asks the helper for another one.

The pool's containers are attached to their keepers, and the keepers to the
caller: when the caller ends (also by SIGKILL), every keeper sees its socket
end, kills its container and tears it down, and the helper exits.  A
keeper killed too leaves its container stopped, with its state: the next
Pool on the same image, or ``nsinit list`` and ``nsinit delete --id``, finds
and removes it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
from collections import deque
from pathlib import Path
from typing import Any

from .channel import Channel
from .errors import ContainerError, LibcontainerError, StateError

# The helper's messages (channel.py's form).
INIT = "init"  # caller: {root, config, id_prefix, state_root}; the pool's settings
MORE = "more"  # caller: create one more container
KEEPER = "keeper"  # helper: a keeper's socket (the fd), creating a container
CLOSE = "close"  # caller: kill every container waiting, then exit


def _prefix(image: Path) -> str:
    """Ids of a pool's containers on ``image``: its name and the hash of its path (ids.container_id)."""
    from .ids import container_id

    return "pool-" + container_id(image)


class Pool:
    """Up to ``size`` containers of one image (or container directory) created and waiting.

    ``image_or_root`` is a root filesystem directory; ``config`` a dict, a
    path to a JSON or YAML file, or None for the directory's container.json;
    ``layer`` (default True when the config has no ``layer`` key) gives each
    container its own copy-on-write layer over the directory
    (``libcontainer-layer``), so that the directory is never written.
    """

    def __init__(self, image_or_root: str | os.PathLike[str], config: Any = None, size: int = 4, *,
                 layer: bool = True) -> None:
        from .container import Container, from_image_config

        if size < 1:
            raise ValueError("a pool holds at least one container")
        self.image = Path(os.path.abspath(image_or_root))
        self.size = size
        self.config = from_image_config(self.image, config, layer)
        self.prefix = _prefix(self.image)
        self._ready: deque[Any] = deque()  # (keeper channel, CREATED answer), oldest first
        self._creating: list[Channel] = []  # keepers that have not said CREATED yet
        self._closed = False
        self._alock: Any = None  # asyncio.Lock of acreate, made in the event loop that first needs it
        self._alock_loop: Any = None  # that event loop
        Container.remove_stale(self.prefix)  # what a pool killed earlier left
        self._helper, self._helper_pid = _start_helper()
        try:
            self._helper.send(INIT, root=str(self.image), config=self.config.to_dict(), id_prefix=self.prefix)
            for _ in range(size):
                self._helper.send(MORE)
        except BaseException:
            self.close()
            raise
        import atexit

        atexit.register(self.close)

    # -- taking one -------------------------------------------------------------------------
    def create(self, args: list[str], *, stdin: Any = None, stdout: Any = None, stderr: Any = None,
               text: bool = False, env: list[str] | None = None, cwd: str | None = None,
               user: str | None = None) -> Any:
        """A waiting container for ``args``: a process to ``start()`` (subprocess.Popen's interface)."""
        from .container import Container
        from .popen import PooledProcess
        from .stdio import Streams

        args, env = self._check(args, env)
        return self._hand_out(self._take(), args, stdin=stdin, stdout=stdout, stderr=stderr, text=text, env=env,
                              cwd=cwd, user=user)

    def _check(self, args: Any, env: Any = None) -> tuple[list[str], list[str] | None]:
        """``args`` and ``env`` as lists, checked before a container is taken; refuses a closed pool."""
        from .stdio import command_args, environment

        if self._closed:
            raise StateError("the pool is closed")
        args, env = command_args(args), environment(env)
        if not args:
            raise ContainerError("exec", "no command given")
        return args, env

    def _hand_out(self, taken: tuple[Channel, dict[str, Any]], args: list[str], *, stdin: Any, stdout: Any,
                  stderr: Any, text: bool, env: list[str] | None, cwd: str | None, user: str | None) -> Any:
        """The process of a container taken from the ready ones; its keeper ends it if this fails."""
        from .container import Container
        from .popen import PooledProcess
        from .stdio import Streams

        chan, answer = taken
        try:
            streams = Streams(stdin, stdout, stderr, text=text)
            box = Container(self.image, config=self.config, id=answer["id"])
            overrides = {"args": list(args)}
            overrides.update({k: v for k, v in (("env", env), ("cwd", cwd), ("user", user)) if v is not None})
            return PooledProcess(box, int(answer["pid"]), chan, streams, overrides, done=self._refill)
        except BaseException:
            chan.close()  # the keeper sees its end: kills the waiting container, tears it down
            self._refill()
            raise

    def _refill(self) -> None:
        """One more container, for one handed out that has ended."""
        if not self._closed:
            try:
                self._helper.send(MORE)
            except LibcontainerError:
                pass  # the helper is gone: the next create says so (no container comes)

    def run(self, args: list[str], *, input: Any = None, capture_output: bool = False, stdin: Any = None,
            stdout: Any = None, stderr: Any = None, timeout: float | None = None, check: bool = False,
            text: bool = False, env: list[str] | None = None, cwd: str | None = None, user: str | None = None) -> Any:
        """Run ``args`` in a waiting container, as ``subprocess.run``: a CompletedProcess (with ``usage``)."""
        from .container import run_process

        return run_process(lambda **streams: self.create(args, text=text, env=env, cwd=cwd, user=user, **streams),
                           args, input=input, capture_output=capture_output, stdin=stdin, stdout=stdout,
                           stderr=stderr, timeout=timeout, check=check)

    async def acreate(self, args: list[str], *, stdin: Any = None, stdout: Any = None, stderr: Any = None,
                      env: list[str] | None = None, cwd: str | None = None, user: str | None = None) -> Any:
        """``create`` for asyncio: an ``aio.AsyncProcess``; waits for a container without blocking the loop."""
        import asyncio

        from .aio import AsyncProcess, readable

        args, env = self._check(args, env)
        loop = asyncio.get_running_loop()
        if self._alock is None or self._alock_loop is not loop:
            # A lock belongs to the event loop it was first used in: a later
            # asyncio.run on the same pool gets one of its own.
            self._alock, self._alock_loop = asyncio.Lock(), loop
        # One task at a time waits on the pool's fds: the event loop keeps
        # one reader per fd, and a second add_reader would replace the first.
        async with self._alock:
            while not self._ready:
                self._check(args, env)
                await readable(*self._waiting_fds())
                self._collect(block=False)
            taken = self._ready.popleft()
        return await AsyncProcess.wrap(self._hand_out(taken, args, stdin=stdin, stdout=stdout, stderr=stderr,
                                                      text=False, env=env, cwd=cwd, user=user))

    async def arun(self, args: list[str], *, input: bytes | None = None, capture_output: bool = False,
                   stdin: Any = None, stdout: Any = None, stderr: Any = None, timeout: float | None = None,
                   check: bool = False, env: list[str] | None = None, cwd: str | None = None,
                   user: str | None = None) -> Any:
        """``run`` for asyncio (bytes only): many at once from one event loop, one container each."""
        from . import aio

        return await aio.run(lambda **streams: self.acreate(args, env=env, cwd=cwd, user=user, **streams),
                             args, input=input, capture_output=capture_output, stdin=stdin, stdout=stdout,
                             stderr=stderr, timeout=timeout, check=check, text=False)

    def _take(self) -> tuple[Channel, dict[str, Any]]:
        """The oldest container created; waits for one when none is ready yet."""
        while not self._ready:
            self._collect(block=True)
        return self._ready.popleft()

    def _waiting_fds(self) -> list[int]:
        """What tells of a container on its way: the helper (a keeper's socket), the keepers creating."""
        return [self._helper.fileno()] + [c.fileno() for c in self._creating]

    def _collect(self, block: bool) -> None:
        """Take in the keepers the helper sent, and the CREATED (or ERROR) of those creating."""
        from .keeper import CREATED

        while True:
            ready = select.select(self._waiting_fds(), [], [], None if block else 0)[0]
            if not ready:
                return
            if self._helper.fileno() in ready:
                try:
                    _, got = self._helper.recv_with_fds(KEEPER)
                except EOFError:
                    self.close()
                    raise StateError("the pool's helper process has ended: the pool is closed") from None
                self._creating.append(Channel(_socket(got[0]), "a pool's keeper"))
            for chan in [c for c in self._creating if c.fileno() in ready]:
                self._creating.remove(chan)
                try:
                    answer, _ = chan.recv_with_fds(CREATED)
                except EOFError:
                    chan.close()
                    self._refill()
                    raise StateError("a pool's keeper ended before its container was created") from None
                except LibcontainerError:
                    chan.close()
                    self._refill()  # the pool stays at its size: the next one may be made
                    raise
                self._ready.append((chan, answer))
                block = False

    # -- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Delete every container waiting; the helper exits.  Also at the interpreter's exit."""
        if self._closed:
            return
        self._closed = True
        try:
            self._helper.send(CLOSE)
        except LibcontainerError:
            pass
        for chan, _ in self._ready:
            chan.close()  # its keeper sees the end: kills the waiting container, tears it down
        for chan in self._creating:
            chan.close()
        self._ready.clear()
        self._creating.clear()
        self._helper.close()
        try:
            os.waitpid(self._helper_pid, 0)
        except ChildProcessError:
            pass

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _socket(fd: int) -> Any:
    import _socket

    return _socket.socket(fileno=fd)


def _start_helper() -> tuple[Channel, int]:
    """A fresh interpreter as the pool's helper (the caller may have threads: no fork here)."""
    ours, theirs = Channel.pair()
    os.set_inheritable(theirs.fileno(), True)
    try:
        pid = os.posix_spawn(sys.executable, [sys.executable, "-m", "libcontainer.pool", str(theirs.fileno())],
                             dict(os.environ))
    finally:
        theirs.close()
    return ours, pid


# -- the helper ---------------------------------------------------------------------------------


def helper_main(fd: int) -> None:
    """The pool's helper: forks a keeper per container asked for, until CLOSE or the caller's end."""
    from .config import Config
    from .container import Container, Options
    from .keeper import fork_keeper
    from .syscalls import real

    import gc
    import resource  # noqa: F401 - os.wait4's result type, imported here once rather than in every keeper

    caller = Channel(_socket(fd), "the pool's caller")
    os.set_inheritable(fd, False)
    real().set_pdeathsig(signal.SIGKILL)  # and the keepers see their sockets end
    os.setsid()  # a Ctrl-C on the caller's terminal is the caller's to act on
    init = caller.recv(INIT)
    box_config = Config.from_dict(init["config"])
    # What is here now lives as long as the helper: out of the collector's
    # sight, so that a keeper's and a container's collections (if any) do not
    # walk it, copying the pages they share with us.
    gc.freeze()
    keepers: set[int] = set()
    count = 0
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    while True:
        while keepers and not select.select([caller.fileno()], [], [], 1.0)[0]:
            _reap_keepers(keepers)  # idle: the keepers that have ended are no zombies for long
        try:
            message = caller.recv(MORE, CLOSE)
        except (EOFError, LibcontainerError):
            break
        if message["kind"] == CLOSE:
            break
        count += 1
        ident = f"{init['id_prefix']}-{os.getpid()}-{count}"
        ours, theirs = Channel.pair()
        box = Container(init["root"], config=box_config, id=ident)
        # No terminal, whatever the config says: a pool's processes take the
        # caller's streams at their start (run's capture_output: pipes).
        opts = Options(tty=False, detach=False, stdio=[null, null, null], args_at_start=True)
        pid = fork_keeper(box, ours, theirs, [], opts)
        keepers.add(pid)
        ours.close()
        try:
            caller.send(KEEPER, fds=[theirs.fileno()])
        except (LibcontainerError, OSError):
            break  # the caller is gone: the keeper sees its socket end with ours
        finally:
            theirs.close()
        _reap_keepers(keepers)
    _reap_keepers(keepers, block=True)


def _reap_keepers(keepers: set[int], block: bool = False) -> None:
    for pid in list(keepers):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            keepers.discard(pid)


if __name__ == "__main__":
    helper_main(int(sys.argv[1]))
