"""A process of a container, handled as ``subprocess.Popen`` handles a process.

``pid``, ``stdin``/``stdout``/``stderr``, ``poll()``, ``wait(timeout)``,
``communicate(input, timeout)``, ``send_signal()``, ``terminate()``,
``kill()``, ``returncode``, and a context manager; plus what a container
adds: ``start()`` (its processes are created, then started, possibly by
another process), ``tty`` (our end of its terminal), ``usage`` (what it
used), and, for the first process, the container's teardown when it ends.

``subprocess`` itself is imported only where its types are raised or
returned (TimeoutExpired, CompletedProcess): not on the per-container path.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator

from . import channel as msg
from . import host
from .errors import ContainerError, LibcontainerError, StateError
from .host import debug_pause
from .records import record

if TYPE_CHECKING:
    from .channel import Channel
    from .container import Container
    from .context import ContainerContext
    from .hooks import Hooks
    from .state import State
    from .stdio import Streams


@record
class Usage:
    """What a container's first process (and what it waited for) used, as its parent saw it end."""

    cpu_time: float | None = None  # user + system CPU seconds (the cgroup's, with the cgroups key)
    memory_peak: int | None = None  # bytes: the cgroup's peak, with the cgroups key; else the largest RSS
    oom_killed: bool = False  # killed by the OOM killer (known with the cgroups key)


def usage_of(rusage: Any, container_usage: dict[str, Any] | None) -> Usage:
    """wait4's resource usage, overridden by what a plugin measured for the whole container."""
    found = Usage()
    if rusage is not None:
        found.cpu_time = rusage.ru_utime + rusage.ru_stime
        found.memory_peak = rusage.ru_maxrss * 1024
    for key, value in (container_usage or {}).items():
        if value is not None and key in ("cpu_time", "memory_peak", "oom_killed"):
            setattr(found, key, value)
    return found


class ContainerProcess:
    """A process of a container, made by this process: created and waiting, then started, then ended."""

    def __init__(self, container: Container, ctx: ContainerContext, hooks: Hooks, pid: int, master: int | None,
                 first: bool, chan: Channel | None = None, state: State | None = None,
                 streams: Streams | None = None) -> None:
        self.container = container
        self.ctx = ctx
        self.hooks = hooks
        self.pid = pid  # host pid
        self.tty_master = master  # our end of the process's terminal, when it has one
        self.first = first  # the container's first process (its end ends the container)
        self.chan = chan  # a join's channel, until started (a first process is started through its socket)
        self.state = state  # a first process: the container's state as this process wrote it
        self.streams = streams
        self.started = False
        self.status: int | None = None
        self.reason: str | None = None  # why it ended, when a plugin knows (OOM ...)
        self.usage: Usage | None = None  # what it used, once it ended
        self.join_server: int | None = None  # pid of the server of joins (control.py), while it runs
        self._tty: IO[bytes] | None = None  # the terminal as a file, once asked for
        self._output: dict[int, list[bytes]] = {}  # what communicate() read before a timeout, by fd
        self._eof: set[int] = set()  # the fds communicate() read to their end
        # Called once the process has ended and its report is known, before the
        # container's teardown (a keeper sends its caller the exit status then).
        self.on_ended: Callable[[ContainerProcess], None] | None = None

    # -- subprocess.Popen's attributes -------------------------------------------------------
    @property
    def args(self) -> list[str]:
        return self.ctx.process.args

    @property
    def returncode(self) -> int | None:
        return self.status

    @property
    def stdin(self) -> IO[Any] | None:
        return self.streams.stdin if self.streams else None

    @property
    def stdout(self) -> IO[Any] | None:
        return self.streams.stdout if self.streams else None

    @property
    def stderr(self) -> IO[Any] | None:
        return self.streams.stderr if self.streams else None

    @property
    def tty(self) -> IO[bytes] | None:
        """Our end of the process's terminal (read its output, write its input), when it has one."""
        if self._tty is None and self.tty_master is not None:
            self._tty = open(self.tty_master, "r+b", buffering=0, closefd=False)
        return self._tty

    # -- starting ------------------------------------------------------------------------------
    def start(self, **overrides: Any) -> None:
        """Let the process exec its command; raises when exec fails (126/127).

        A first process created without its command (a warm pool's) is
        given it now, with its ``args``, ``env``, ``cwd`` or ``user``; one
        created with it refuses them (Container.start).
        """
        for _ in self._start_steps(**overrides):
            pass  # blocking sockets: each read waits

    def _start_steps(self, **overrides: Any) -> Iterator[int]:
        """start() as steps: yields an fd before each read that may wait (aio.py awaits it readable)."""
        if self.started or self.status is not None:
            raise StateError("process already started")
        try:
            if self.first:
                assert self.state is not None
                fds = overrides.pop("fds", None)
                yield from self.container._start_steps(self.ctx, self.hooks, self.state, False, fds, **overrides)
            else:
                chan, self.chan = self.chan, None
                assert chan is not None
                try:
                    chan.send(msg.START)
                    yield from chan.exec_steps(self.ctx.process.args[0])
                finally:
                    chan.close()
        except (ContainerError, EOFError) as e:
            why = host.why_gone(self.pid) if isinstance(e, EOFError) or e.step == "sync" else None
            self._abort()
            if why:
                raise ContainerError("exec", why) from None
            if isinstance(e, EOFError):
                raise ContainerError("exec", "the container process died before exec") from None
            raise
        self.started = True
        if self.first:
            debug_pause("after_start")

    # -- signals --------------------------------------------------------------------------------
    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the process (nothing once it has ended, as subprocess does)."""
        if self.status is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    signal = send_signal  # the name this class had before it was a Popen

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: for a first process with a pid namespace of its own, every process of the container."""
        self.send_signal(signal.SIGKILL)

    # -- waiting --------------------------------------------------------------------------------
    def poll(self) -> int | None:
        """The exit status if the process has ended (the container torn down then), else None."""
        if self.status is None and self._ended_by(0):
            self.wait()
        return self.status

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end: its exit status (128+N for signal N).

        Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds.  With
        a terminal the caller never read (``tty``), what the process writes
        there is read and dropped meanwhile, so that it cannot block on a
        full terminal forever.
        """
        if self.status is None:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._ended_by(deadline):
                if deadline is not None and time.monotonic() >= deadline:
                    raise _timeout(self.args, timeout)
            self._reap()
        return self.status

    def _ended_by(self, deadline: float | None) -> bool:
        """True once the process has ended; False when ``deadline`` (0: now) comes first."""
        fd = self._end_fd()
        drain = self.tty_master if self.tty_master is not None and self._tty is None else None
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = select.select([fd] + ([drain] if drain is not None else []), [], [], left)[0]
            if fd in ready:
                return True
            if drain is not None and drain in ready:
                if not _drop(drain):
                    drain = None  # every writer of the terminal has closed it
                continue
            return False

    def _end_fd(self) -> int:
        """An fd that becomes readable when the process ends (a pidfd of our child)."""
        if getattr(self, "_pidfd", None) is None:
            try:
                self._pidfd = os.pidfd_open(self.pid)
            except ProcessLookupError:  # reaped already? then it ended
                self._pidfd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        return self._pidfd

    def _reap(self) -> None:
        """Collect the ended process's status; for a first process, the container's end."""
        for _ in self._reap_steps():
            pass  # blocking: each read or wait waits

    def _reap_steps(self) -> Iterator[int]:
        """_reap as steps, once the end fd is readable: yields an fd before anything else that may wait."""
        self._reap_own_child()
        yield from ()

    def _reap_own_child(self) -> None:
        try:
            _, status, rusage = os.wait4(self.pid, 0)
        except ChildProcessError:
            status, rusage = 0, None
        self._close_end_fd()
        self._stop_join_server()
        code = os.waitstatus_to_exitcode(status)
        self.status = 128 - code if code < 0 else code
        container_usage = None
        if self.first:
            self.reason, container_usage = self.container._exit_report(self.ctx, self.hooks, self.pid, self.status)
        self.usage = usage_of(rusage, container_usage)
        if self.on_ended is not None:
            self.on_ended(self)  # before the teardown: a keeper tells its caller at once
        if self.first:
            self.container._finish(self.ctx, self.hooks, self.pid, self.status)

    def _close_end_fd(self) -> None:
        fd = getattr(self, "_pidfd", None)
        if fd is not None:
            os.close(fd)
            self._pidfd = None

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        """Send ``input``, read stdout and stderr (or the terminal) to their end, wait: (stdout, stderr).

        As ``subprocess.Popen.communicate``: any size either way, without a
        deadlock; after ``subprocess.TimeoutExpired`` a second call goes on
        where the first stopped.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        text = bool(self.streams and self.streams.text)
        tty = self.tty_master is not None
        readers: list[int] = []
        if self.stdout is not None:
            readers.append(self.stdout.fileno())
        if self.stderr is not None:
            readers.append(self.stderr.fileno())
        if tty:
            readers.append(self.tty_master)
        writer = self.stdin.fileno() if self.stdin is not None else (self.tty_master if tty and input is not None else None)
        data = input.encode() if isinstance(input, str) else (input or b"")
        data = memoryview(data)
        if self.stdin is not None and input is None:
            self.stdin.close()
            writer = None
        for fd in readers:
            self._output.setdefault(fd, [])
        try:
            self._pump(readers, writer, data, deadline, tty)
        except _Timeout:
            out, err = self._captured(text)
            raise _timeout(self.args, timeout, out, err) from None
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            self.wait(left)
        except Exception as e:
            if type(e).__name__ != "TimeoutExpired":
                raise
            out, err = self._captured(text)
            raise _timeout(self.args, timeout, out, err) from None
        return self._captured(text, final=True)

    def _pump(self, readers: list[int], writer: int | None, data: memoryview, deadline: float | None,
              tty: bool) -> None:
        import fcntl

        open_readers = [fd for fd in readers if fd not in self._eof]
        if writer is not None:
            flags = fcntl.fcntl(writer, fcntl.F_GETFL)
            fcntl.fcntl(writer, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        sent = 0
        while open_readers or (writer is not None and sent < len(data)):
            want_write = [writer] if writer is not None and sent < len(data) else []
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise _Timeout()
            readable, writable, _ = select.select(open_readers, want_write, [], left)
            if not readable and not writable:
                raise _Timeout()
            for fd in writable:
                try:
                    sent += os.write(fd, data[sent:sent + (1 << 16)])
                except BlockingIOError:
                    pass
                except (BrokenPipeError, OSError):
                    sent = len(data)  # the process stopped reading: as subprocess, say nothing
                if sent >= len(data) and fd != self.tty_master and self.stdin is not None:
                    self.stdin.close()
                    writer = None
                elif sent >= len(data) and fd == self.tty_master:
                    os.write(fd, b"\x04")  # end of input on a terminal: the EOF character (termios VEOF)
                    writer = None
            for fd in readable:
                try:
                    chunk = os.read(fd, 1 << 20)
                except OSError:  # EIO: every slave end of the terminal closed
                    chunk = b""
                if chunk:
                    self._output[fd].append(chunk)
                else:
                    open_readers.remove(fd)
                    self._eof.add(fd)

    def _captured(self, text: bool, final: bool = False) -> tuple[Any, Any]:
        def joined(stream: Any, fd: int | None) -> Any:
            if fd is None:
                return None
            data = b"".join(self._output.get(fd, []))
            if final and stream is not None:
                stream.close()
            return _decode(data) if text else data

        out_fd = self.stdout.fileno() if self.stdout is not None else (self.tty_master if self.tty_master is not None
                                                                          else None)
        err_fd = self.stderr.fileno() if self.stderr is not None else None
        return joined(self.stdout, out_fd), joined(self.stderr, err_fd)

    # -- the end --------------------------------------------------------------------------------
    def _abort(self) -> None:
        """Kill a process that will not be started; tear down if it was the first."""
        self.send_signal(signal.SIGKILL)
        try:
            host.waitpid(self.pid)
        except ChildProcessError:
            pass
        self._close_end_fd()
        self.status = 137
        if self.first:
            self.container._ended(self.ctx, self.hooks, self.pid, self.status, teardown=True)

    def serve_joins(self, report: Callable[[LibcontainerError], int]) -> None:
        """Serve ``nsinit exec`` joins from this process until the container ends (see control.py).

        ``report`` prints a failed join's error for the joining user and
        returns its exit status.  Only for the first process, once started.
        """
        if not self.first or not self.started or self.status is not None or self.join_server is not None:
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
            host.kill_and_reap([self.join_server])
            self.join_server = None

    def close(self) -> None:
        """Release what this handle holds; a process never started is killed (a first one torn down)."""
        self._stop_join_server()
        if self.status is None and not self.started:
            if self.chan is not None:
                self.chan.close()
                self.chan = None
            self._abort()
        if self._tty is not None:
            self._tty.close()
            self._tty = None
        if self.tty_master is not None:
            os.close(self.tty_master)
            self.tty_master = None
        self._close_end_fd()
        if self.streams is not None:
            self.streams.close()

    def __enter__(self) -> ContainerProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        """As subprocess.Popen's: wait for a started process; then release (tear down) what is left."""
        try:
            if self.started and self.status is None:
                if exc[0] is not None:
                    self.kill()  # an exception left the block: the container goes with it
                self.wait()
        finally:
            self.close()


class KeptProcess(ContainerProcess):
    """A first process whose parent is a keeper (keeper.py): it reaps it and reports the end to us."""

    def __init__(self, *args: Any, keeper: Channel, keeper_pid: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keeper = keeper  # our end of the keeper's socket
        self.keeper_pid = keeper_pid

    def _end_fd(self) -> int:
        return self.keeper.fileno()  # the keeper's EXITED (or its end) makes it readable

    def _reap_steps(self) -> Iterator[int]:
        from .keeper import EXITED

        try:
            answer = self.keeper.recv(EXITED)
        except EOFError:
            raise StateError(f"the keeper of container {self.container.id} ended without its exit status") \
                from None
        finally:
            if self.ctx.process.attached and self.keeper_pid > 0:
                # Our child: it has torn the container down when it ends, and
                # its end of the socket closes then.
                yield self.keeper.fileno()
                _reap(self.keeper_pid)
        self.status = int(answer["status"])
        self.reason = answer.get("reason")
        self.usage = Usage(**answer["usage"]) if answer.get("usage") else Usage()

    def _abort(self) -> None:
        self.send_signal(signal.SIGKILL)
        try:
            self.wait()
        except StateError:
            self.status = 137

    def close(self) -> None:
        if self.ctx.process.attached or self.started:
            super().close()
        elif self.streams is not None:
            self.streams.close()
        self.keeper.close()


class PooledProcess(KeptProcess):
    """The first process of a pool's container (pool.py): created with no command; the command, its
    environment and its streams go with the start."""

    def __init__(self, container: Container, pid: int, keeper: Channel, streams: Streams,
                 overrides: dict[str, Any], done: Callable[[], None]) -> None:
        found = container._read()
        ctx, hooks = container._context_from_state(found)
        ctx.process.args = overrides["args"]
        super().__init__(container, ctx, hooks, pid, None, first=True, state=found, streams=streams,
                         keeper=keeper, keeper_pid=0)
        self.overrides = overrides
        # Called once, when the process has ended or the handle is closed: the
        # pool makes this container's replacement then, not while it runs (two
        # cores: a creation beside the run doubles its latency).
        self._done: Callable[[], None] | None = done

    def _reap_steps(self) -> Iterator[int]:
        try:
            yield from super()._reap_steps()
        finally:
            self._call_done()

    def _call_done(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done()

    def _start_steps(self, **overrides: Any) -> Iterator[int]:
        # Always three fds: the waiting process holds /dev/null, and None
        # means the caller's own stream (subprocess's "inherit").
        fds = (self.streams.fds() if self.streams is not None else []) or [0, 1, 2]
        yield from super()._start_steps(**{**self.overrides, **overrides}, fds=fds)
        if self.streams is not None:
            self.streams.given()

    def close(self) -> None:
        # The keeper tears the container down on its own, whether we wait for it or not.
        if self.status is None and not self.started:
            self._abort()
        if self.streams is not None:
            self.streams.close()
        self._close_end_fd()
        self.keeper.close()
        self._call_done()


class _Timeout(Exception):
    pass


def _timeout(args: list[str], timeout: float | None, output: Any = None, stderr: Any = None) -> Exception:
    import subprocess

    return subprocess.TimeoutExpired(args, timeout, output=output, stderr=stderr)


def _decode(data: bytes) -> str:
    """As subprocess's text mode: the locale's encoding (UTF-8 here), universal newlines."""
    import io

    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read()


def _drop(fd: int) -> bool:
    """Read and drop what is there; False at the end (EIO once the terminal's last writer is gone)."""
    try:
        return bool(os.read(fd, 1 << 16))
    except BlockingIOError:
        return True
    except OSError:
        return False


def _reap(pid: int) -> None:
    try:
        host.waitpid(pid)
    except ChildProcessError:
        pass

