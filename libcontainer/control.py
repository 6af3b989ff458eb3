"""Joins served by the supervising nsinit: ``nsinit exec`` into a running container without a new engine.

A join made by a fresh nsinit pays for an interpreter and the engine's
imports (~40 ms) before its first system call.  The nsinit supervising the
container's first process has all of that loaded, so it serves joins: once
the first process has run for a moment, it forks a *join server* that
listens on ``<private dir>/control``, a unix socket that only its own uid can
reach (the private directory is 0700; both ends check the other's
credentials).  A joining ``nsinit exec`` (the client) sends its command and
its stdin, stdout and stderr; the server forks a *handler*, which joins the
container exactly as the client would have (``Container.join``: the same
state checks, hooks, setup process and exec), with the client's files as the
process's stdio, and sends back the exit status.  The client passes on the
signals it receives.

The client joins by itself when there is no socket (a container started
through the API, an older nsinit, a supervisor gone), when the process wants
a terminal (the relay needs the client's terminal), and when the handler
finds the container gone.  Nothing has been started when it is told to.

Messages (SOCK_SEQPACKET, one per packet: a kind, then NUL-separated fields)::

    client                                     handler (forked by the server)
      |  JOIN tty arg... + fds 0, 1, 2 ------->  |  Container.join, start
      |  <------------------- FALLBACK reason   |  (or: nothing started; join yourself)
      |  SIGNAL n ---------------------------->  |  kill(process, n)
      |  <--------------------- EXITED status   |  the process ended (or the join failed)
      |  EOF (the client died) --------------->  |  SIGKILL the process, as a local
      |                                          |  join's parent-death signal would

Only ``os``, ``sys`` and C modules at import: this module is the join's
whole cold path on the client's side.
"""

from __future__ import annotations

import os
import sys

import _signal
import _socket

from . import ids

JOIN = b"join"  # client: run these args in the container; the fds are stdin, stdout and stderr
FALLBACK = b"fallback"  # handler: nothing was started; join by yourself (the field says why)
SIGNAL = b"signal"  # client: pass this signal on to the process
EXITED = b"exited"  # handler: the exit status for nsinit to return

# Signals the client passes on (as nsinit exec does for a process of its own).
FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCONT", "SIGALRM")

_MAX = 1 << 20  # the largest request: a command line longer than this is joined locally
_UCRED = 12  # struct ucred: pid, uid, gid (three 32-bit ints)


def socket_path(root: str | os.PathLike[str]) -> str:
    return os.path.join(ids.private_dir(root), ids.CONTROL_SOCKET)


def _encode(kind: bytes, *fields: str | bytes) -> bytes:
    return b"\0".join([kind, *(f if isinstance(f, bytes) else os.fsencode(f) for f in fields)])


def _decode(data: bytes) -> tuple[bytes, list[bytes]]:
    kind, *fields = data.split(b"\0")
    return kind, fields


def _fd_bytes(fds: tuple[int, ...]) -> bytes:
    return b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds)


def _peer_uid(sock: _socket.socket) -> int:
    cred = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _UCRED)
    return int.from_bytes(cred[4:8], sys.byteorder)


# ---------------------------------------------------------------------------
# The client: a joining nsinit exec
# ---------------------------------------------------------------------------


def join(root: str, args: list[str], tty: bool | None) -> int | None:
    """Join the container in ``root`` through its supervisor: the exit status; None to join locally.

    Signals that arrive while nothing has been started are raised again
    before returning None, for the local join to act on (a Ctrl-C is not lost).
    """
    client = _Client()
    try:
        request = _encode(JOIN, "" if tty is None else str(int(tty)), *args)
        if len(request) > _MAX:
            return None
        try:
            client.sock.connect(socket_path(root))
            # Whoever listens there must be us: the directory is ours, but a
            # socket is only trusted as far as its owner.
            if _peer_uid(client.sock) != os.geteuid():
                return None
            client.sock.sendmsg([request], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _fd_bytes((0, 1, 2)))])
        except OSError:
            return None  # no socket, no server, a stdio fd closed ...: nothing was sent
        # From here the handler may have started the command: never fall back
        # unless it says so, or the command could run twice.
        return client.await_exit()
    finally:
        client.close()


class _Client:
    """The joining side's socket, and the signals it passes on once there may be a process.

    Signals are not acted on in handlers: the C-level handler writes each
    one's number to a pipe (signal.set_wakeup_fd), and the wait below reads
    it beside the socket, so each is passed on exactly once, and those that
    reached no process (nothing was started) are raised again at the end.
    """

    def __init__(self) -> None:
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        self.caught: list[int] = []  # signals read from the pipe, in order
        self.started = False  # the handler may have started the process
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.previous_wakeup = _signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        self.previous = {}
        for name in FORWARDED:
            sig = getattr(_signal, name)
            self.previous[sig] = _signal.signal(sig, _noted)

    def _read_signals(self) -> list[int]:
        try:
            found = list(os.read(self.wake_r, 512))
        except BlockingIOError:
            found = []
        self.caught += found
        return found

    def await_exit(self) -> int | None:
        import select

        self.started = True
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        while True:
            for sig in self._read_signals():  # also those that came while connecting
                _send(self.sock, SIGNAL, str(sig))
            ready = [fd for fd, _ in poller.poll()]
            if self.sock.fileno() not in ready:
                continue
            data = _recv(self.sock)
            if not data:
                sys.stderr.write("nsinit: the container's supervisor ended the join without an exit status\n")
                return 125
            kind, fields = _decode(data)
            if kind == EXITED and fields:
                return int(fields[0])
            if kind == FALLBACK:
                self.started = False  # nothing was started: what we passed on reached no process
                return None

    def close(self) -> None:
        self.sock.close()
        _signal.set_wakeup_fd(self.previous_wakeup)
        for sig, handler in self.previous.items():
            _signal.signal(sig, handler)
        self._read_signals()
        os.close(self.wake_r)
        os.close(self.wake_w)
        if not self.started:
            for sig in self.caught:
                _signal.raise_signal(sig)  # for the local join (or create) to act on, as it would have


def _noted(_sig: int, _frame: object) -> None:
    """A forwarded signal's Python handler: nothing; its number is in the wakeup pipe."""


# ---------------------------------------------------------------------------
# The server: forked by the supervising nsinit
# ---------------------------------------------------------------------------


def start_server(proc, report) -> int:
    """Fork the join server for the container of ``proc`` (its first process); the server's pid.

    ``report(error) -> int`` prints a LibcontainerError for the joining user
    (on the handler's stderr, which is the client's) and returns nsinit's
    exit status for it.  The server dies with the supervisor (parent-death
    signal) and is killed by it before the container is torn down.
    """
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    try:
        proc.ctx.syscalls.set_pdeathsig(_signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(0)  # the supervisor died before the parent-death signal was armed
        _become_server(proc)
        listener = _listen(socket_path(proc.container.root))
        _serve(listener, proc.container, report)
    except BaseException:
        pass
    finally:
        os._exit(0)


def _become_server(proc) -> None:
    # A process group of its own: a Ctrl-C on the supervisor's terminal is
    # the supervisor's to pass on, not ours to act on (the server would
    # otherwise kill the container's PID 1 a second time).
    os.setpgid(0, 0)
    for name in FORWARDED + ("SIGWINCH",):
        _signal.signal(getattr(_signal, name), _signal.SIG_DFL)
    # Neither the caller's stdio nor the terminal stays open here: a pipe
    # held by the server would keep a reader of nsinit's output waiting.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    if proc.tty_master is not None:
        os.close(proc.tty_master)


def _listen(path: str) -> _socket.socket:
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    # Bound under a name of its own and renamed into place once listening:
    # a client that finds ``path`` is accepted, never refused (rename(2)
    # replaces a socket left by a supervisor that was killed, atomically).
    temporary = f"{path}.{os.getpid()}"
    try:
        os.unlink(temporary)
    except FileNotFoundError:
        pass
    # The private directory is 0700: the mode is a second lock on the door.
    old = os.umask(0o177)
    try:
        listener.bind(temporary)
    finally:
        os.umask(old)
    listener.listen(64)
    os.rename(temporary, path)
    return listener


def _serve(listener: _socket.socket, box, report) -> None:
    # Handlers are reaped as they end; accept() resumes after the handler (PEP 475).
    _signal.signal(_signal.SIGCHLD, _reap_handlers)
    while True:
        fd, _ = listener._accept()
        conn = _socket.socket(fileno=fd)
        try:
            if _peer_uid(conn) == os.geteuid():
                _fork_handler(listener, conn, box, report)
        finally:
            conn.close()


def _reap_handlers(_sig: int = 0, _frame: object = None) -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass  # one more ended handler reaped; 0: the others still run
    except ChildProcessError:
        pass  # none left


def _fork_handler(listener: _socket.socket, conn: _socket.socket, box, report) -> None:
    if os.fork():
        return
    try:
        # The handler waits for its own children: the server's reaper must not take them.
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        listener.close()
        _handle(conn, box, report)
    except BaseException:
        pass
    finally:
        os._exit(0)


def _handle(conn: _socket.socket, box, report) -> None:
    data, ancdata, _, _ = conn.recvmsg(_MAX, _socket.CMSG_SPACE(4 * 3))
    fds = [int.from_bytes(d[i:i + 4], sys.byteorder)
           for level, kind, d in ancdata if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS
           for i in range(0, len(d) - len(d) % 4, 4)]
    kind, fields = _decode(data)
    if kind != JOIN or len(fields) < 2 or len(fds) != 3:
        return  # not a request from nsinit: EOF is the only answer
    for target, fd in enumerate(fds):
        os.dup2(fd, target)  # the client's stdio becomes ours, and so the process's
    for fd in set(fds):
        if fd > 2:  # always: 0-2 were /dev/null when the fds arrived
            os.close(fd)
    tty = None if fields[0] == b"" else fields[0] == b"1"
    args = [os.fsdecode(a) for a in fields[1:]]
    status = _join_and_wait(conn, box, args, tty, report)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # what report() printed reaches the client before its status
        except (OSError, ValueError):
            pass
    if status is not None:
        _send(conn, EXITED, str(status))


def _send(conn: _socket.socket, kind: bytes, *fields: str) -> None:
    try:
        conn.send(_encode(kind, *fields))
    except OSError:
        pass  # the client is gone


def _join_and_wait(conn: _socket.socket, box, args: list[str], tty: bool | None, report) -> int | None:
    """Join ``box`` (the supervisor's Container, config loaded) and wait; None when the client must join."""
    from .errors import LibcontainerError, NotRunning

    # The config the container runs with: the supervisor's, as its state records it.
    if tty if tty is not None else box.config.tty:
        _send(conn, FALLBACK, "the process wants a terminal")
        return None
    try:
        try:
            proc = box.join(args, tty=False)
        except NotRunning:
            # Ended meanwhile: the client starts a new one, as `nsinit exec` does.
            _send(conn, FALLBACK, "no container is running")
            return None
        try:
            proc.start()
            return _wait(conn, proc)
        finally:
            proc.close()
    except LibcontainerError as e:
        return report(e)


def _wait(conn: _socket.socket, proc) -> int:
    import select

    pidfd = os.pidfd_open(proc.pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(conn.fileno(), select.POLLIN)
    try:
        while True:
            for fd, _ in poller.poll():
                if fd == pidfd:
                    return proc.wait()
                data = _recv(conn)
                kind, fields = _decode(data)
                if not data:
                    # The client died (SIGKILL): a process joined by a local
                    # nsinit dies with it (its parent-death signal); so does this one.
                    proc.signal(_signal.SIGKILL)
                    poller.unregister(conn.fileno())
                elif kind == SIGNAL and fields and fields[0].isdigit() and 0 < int(fields[0]) < _signal.NSIG:
                    proc.signal(int(fields[0]))
    finally:
        os.close(pidfd)


def _recv(conn: _socket.socket) -> bytes:
    try:
        return conn.recv(4096)
    except OSError:
        return b""
