"""The API for asyncio: ``await Container.arun(...)``, ``await pool.arun(...)``, and AsyncProcess.

::

    import asyncio
    from libcontainer import Pool

    async def main():
        with Pool("/srv/image", size=4) as pool:
            results = await asyncio.gather(*(pool.arun(["/bin/echo", str(n)], capture_output=True)
                                             for n in range(8)))
            print([r.stdout for r in results])

    asyncio.run(main())

No thread per container, and no blocking of the event loop on a
container's work: a container is created in a keeper process
(keeper.py), which the event loop hears from on a socket; the start and
the end are reads on sockets too.  The engine's steps that wait
(``_create_kept_steps``, ``_start_steps``, ``_reap_steps``) yield the fd
they are about to read before reading it; the synchronous API reads at
once (blocking sockets), and ``drive`` here awaits the fd readable first.

As asyncio's own subprocesses: bytes only (``text`` is refused), and
``stdin``/``stdout``/``stderr`` are a StreamWriter and StreamReaders.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Generator, TypeVar

if TYPE_CHECKING:
    from .popen import ContainerProcess, Usage

T = TypeVar("T")


async def readable(*fds: int) -> None:
    """Until one of ``fds`` is readable (or at its end)."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    for fd in fds:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        for fd in fds:
            loop.remove_reader(fd)


async def drive(steps: Generator[int, None, T]) -> T:
    """Run one of the engine's steps generators, awaiting each fd it yields readable."""
    try:
        fd = next(steps)
        while True:
            await readable(fd)
            fd = steps.send(None)
    except StopIteration as done:
        return done.value
    finally:
        steps.close()  # cancelled: its finally clauses run (closing sockets, ending what it made)


class AsyncProcess:
    """A container's process for asyncio: ContainerProcess (popen.py) with ``await`` where it would block."""

    def __init__(self, proc: ContainerProcess) -> None:
        self._proc = proc
        self.stdin: asyncio.StreamWriter | None = None
        self.stdout: asyncio.StreamReader | None = None
        self.stderr: asyncio.StreamReader | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self._output: dict[str, list[bytes]] = {"stdout": [], "stderr": []}  # what communicate() read so far
        self._waiter: asyncio.Task[int] | None = None  # the one wait for the end, shielded from cancellation
        self._tty_read = False  # the caller took the terminal: wait() no longer drains it

    @classmethod
    async def wrap(cls, proc: ContainerProcess) -> AsyncProcess:
        """Our ends of its pipes as asyncio streams."""
        self = cls(proc)
        loop = asyncio.get_running_loop()
        streams = proc.streams
        if streams is not None:
            for name in ("stdout", "stderr"):
                pipe = getattr(streams, name)
                if pipe is not None:
                    reader = asyncio.StreamReader(limit=2**16)
                    transport, _ = await loop.connect_read_pipe(
                        lambda reader=reader: asyncio.StreamReaderProtocol(reader), pipe)
                    self._transports.append(transport)
                    setattr(self, name, reader)
            if streams.stdin is not None:
                transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                                    streams.stdin)
                self._transports.append(transport)
                self.stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        return self

    # -- as the synchronous process ------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def args(self) -> list[str]:
        return self._proc.args

    @property
    def returncode(self) -> int | None:
        return self._proc.status

    @property
    def usage(self) -> Usage | None:
        return self._proc.usage

    @property
    def tty_master(self) -> int | None:
        """Our end of its terminal, when it has one: an fd, for loop.add_reader and os.read/os.write."""
        self._tty_read = True
        return self._proc.tty_master

    def send_signal(self, sig: int) -> None:
        self._proc.send_signal(sig)

    def terminate(self) -> None:
        self._proc.terminate()

    def kill(self) -> None:
        self._proc.kill()

    # -- what waits ---------------------------------------------------------------------------------
    async def start(self, **overrides: Any) -> None:
        """Let the process exec its command (raises as start() does: FileNotFoundError, PermissionError ...)."""
        await drive(self._proc._start_steps(**overrides))

    async def wait(self) -> int:
        """Until the process ends; its exit status (the container torn down when it was the first).

        A cancelled wait (a timeout) leaves the reaping to go on: the next
        wait finds it done or joins it.
        """
        if self._waiter is None:
            self._waiter = asyncio.ensure_future(self._wait())
        return await asyncio.shield(self._waiter)

    async def _wait(self) -> int:
        proc = self._proc
        if proc.status is None:
            end = proc._end_fd()
            # A terminal nobody reads must not block its writer forever.
            drain = proc.tty_master if not self._tty_read else None
            while True:
                if drain is None:
                    await readable(end)
                    break
                await readable(end, drain)
                if _ready(end):
                    break
                from .popen import _drop

                if not _drop(drain):
                    drain = None
            await drive(proc._reap_steps())
        assert proc.status is not None
        return proc.status

    async def communicate(self, input: bytes | None = None) -> tuple[bytes | None, bytes | None]:
        """Send ``input``, read stdout and stderr to their end, wait: (stdout, stderr)."""
        if input is not None and not isinstance(input, (bytes, bytearray, memoryview)):
            raise TypeError("input must be bytes (asyncio's processes are bytes only)")
        await asyncio.gather(self._feed(input), self._read("stdout"), self._read("stderr"))
        await self.wait()
        return self.captured()

    def captured(self) -> tuple[bytes | None, bytes | None]:
        """What communicate() has read so far (all of it once it returned)."""
        return (b"".join(self._output["stdout"]) if self.stdout is not None else None,
                b"".join(self._output["stderr"]) if self.stderr is not None else None)

    async def _feed(self, input: bytes | None) -> None:
        if self.stdin is None:
            return
        try:
            if input:
                self.stdin.write(input)
                await self.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it stopped reading: as subprocess, not an error
        finally:
            self.stdin.close()

    async def _read(self, name: str) -> None:
        stream = getattr(self, name)
        if stream is None:
            return
        while chunk := await stream.read(2**16):
            self._output[name].append(chunk)

    # -- the end ------------------------------------------------------------------------------------
    def close(self) -> None:
        """Release our ends of its streams; a process never started is killed (as ContainerProcess.close)."""
        for transport in self._transports:
            transport.close()
        self._transports = []
        self._proc.close()

    async def __aenter__(self) -> AsyncProcess:
        return self

    async def __aexit__(self, kind: Any, *exc: Any) -> None:
        try:
            if self._proc.started and self._proc.status is None:
                if kind is not None:
                    self.kill()  # an exception (a cancellation) left the block: the container goes with it
                await self.wait()
        finally:
            self.close()


def _ready(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0)[0])


async def run(create: Callable[..., Awaitable[AsyncProcess]], args: list[str], *, input: bytes | None,
              capture_output: bool, stdin: Any, stdout: Any, stderr: Any, timeout: float | None,
              check: bool, text: bool) -> Any:
    """subprocess.run's contract, awaited, over what ``create(stdin=, stdout=, stderr=)`` makes."""
    import subprocess

    if text:
        raise ValueError("text must be False: asyncio's processes are bytes only")
    from .stdio import run_streams

    stdin, stdout, stderr = run_streams(input, capture_output, stdin, stdout, stderr)
    proc = await create(stdin=stdin, stdout=stdout, stderr=stderr)
    async with proc:
        await proc.start()
        try:
            out, err = await asyncio.wait_for(proc.communicate(input), timeout)
        except asyncio.TimeoutError:
            proc.kill()  # PID 1: with a pid namespace of its own, every process of the container
            await proc.wait()
            out, err = proc.captured()
            raise subprocess.TimeoutExpired(list(args), timeout, output=out, stderr=err) from None
    result = subprocess.CompletedProcess(args, proc.returncode, out, err)  # as given, as subprocess keeps them
    result.usage = proc.usage
    if check:
        result.check_returncode()
    return result

