"""Named messages between the host and a container's setup process.

One SOCK_SEQPACKET socket pair carries small JSON messages, one per packet,
while the setup process is made; the start comes on its own connection,
since the process that starts a container need not be the one that made it::

    host (creating or joining)               setup process (child)
      |  fork ------------------------------>  |  (entering existing namespaces:
      |                                        |   scrub the environment, non-dumpable)
      |                                        |  setns: a running container's (join),
      |                                        |  those the config names by path
      |  <------------------------ USERNS     |  unshare(CLONE_NEWUSER)
      |  write uid_map/gid_map                 |
      |  IDS_MAPPED ------------------------>  |  unshare(the other namespaces)
      |                                        |  fork PID 1 when a pid or time namespace needs it
      |  <-------------------------- PID      |  (the intermediate process exits)
      |  post_clone / join hooks (cgroups...)  |
      |  CONFIGURED ------------------------>  |  parent-death signal; a first process builds
      |                                        |  its filesystem, a joining one chroots; the tty
      |  <------------------------- READY     |  (+ the tty master)

    starter (any process of the owner)       setup process, waiting
      |  connect(<state dir>/start)            |  accept()   (a join: the channel above)
      |  START {args, env, cwd, user} --------> |  (+ stdin, stdout, stderr fds, optional)
      |                                        |  keyring, user, capabilities, filters
      |  <------------------------- EXEC      |  execve through the exec stub (execstub.py)
      |  <-------- EOF (exec succeeded)        |
      |  <-------- 4 bytes: errno              |  or: the stub's execve of the command failed
      |  <-------- ERROR {step, cause, code}   |  (any step before EXEC may answer this)

Any step may answer ERROR instead; the receiving side raises it as a
ContainerError with the step's name.  EOF where a message was expected
means the other side died; the error says which message was awaited.
"""

from __future__ import annotations

import errno as _errno
import json
import os
import struct
import sys
from typing import Any, Iterator

# The C module, not socket.py: the wrapper's enum conversions and selectors
# cost 2-4 ms on every nsinit start, for methods the C socket type has anyway.
import _socket

from .errors import ContainerError, container_error

USERNS = "userns"  # child: I have a new user namespace; map my ids
IDS_MAPPED = "ids_mapped"  # parent: uid_map and gid_map are written
PID = "pid"  # child: the container's process has this host pid (0: the process the host forked)
CONFIGURED = "configured"  # host: host-side setup for that pid is done (and it is our child now); go on
READY = "ready"  # child: setup done, waiting for the start
START = "start"  # starter: exec now {START_CHOICES, all optional}; stdio fds may come along
EXEC = "exec"  # child: every step is done, the exec comes next (EOF without it: the process died before)
ERROR = "error"  # either side: a step failed {step, cause, code, errno}

# What a START may choose, only for a process created without its command (a warm pool's).
START_CHOICES = ("args", "env", "cwd", "user")

_MAX = 65536


def start_choices(request: dict[str, Any]) -> list[str]:
    """The START_CHOICES that a start request (or a starter's overrides) makes."""
    return [key for key in START_CHOICES if request.get(key) is not None]


class Channel:
    """One end of the parent/child socket."""

    def __init__(self, sock: _socket.socket, peer: str) -> None:
        self.sock = sock
        self.peer = peer  # "container setup" or "nsinit": used in errors

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        """(parent end, child end); both close-on-exec."""
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)  # non-inheritable (PEP 446)
        return cls(a, "container setup"), cls(b, "nsinit")

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    # -- sending ---------------------------------------------------------------
    def send(self, kind: str, fds: list[int] | None = None, **fields: Any) -> None:
        try:
            self._send(kind, fds, fields)
        except OSError as e:
            raise ContainerError("sync", f"sending {kind} to {self.peer}: {e.strerror}") from None

    def send_unless_gone(self, kind: str, fds: list[int] | None = None, **fields: Any) -> None:
        """send, but a peer that has gone (EPIPE, ECONNRESET: it died before reading) is EOFError,
        for the caller to find out how, as when it closes the channel without a word."""
        try:
            self._send(kind, fds, fields)
        except (BrokenPipeError, ConnectionResetError):
            raise EOFError(f"{self.peer} closed the channel before {kind} reached it") from None
        except OSError as e:
            raise ContainerError("sync", f"sending {kind} to {self.peer}: {e.strerror}") from None

    def _send(self, kind: str, fds: list[int] | None, fields: dict[str, Any]) -> None:
        data = json.dumps({"kind": kind, **fields}).encode()
        if fds:
            rights = struct.pack(f"{len(fds)}i", *fds)
            self.sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        else:
            self.sock.send(data)

    def send_error(self, step: str, cause: str, code: int = 125, errno: int | None = None) -> None:
        try:
            self.send(ERROR, step=step, cause=cause, code=code, errno=errno)
        except ContainerError:
            pass  # the parent is gone: nobody to tell

    # -- receiving -------------------------------------------------------------
    def recv(self, *expected: str, timeout: float | None = None) -> dict[str, Any]:
        """The next message, which must be one of ``expected`` (or ERROR, raised)."""
        msg, _ = self._recv(expected, timeout, with_fds=False)
        return msg

    def recv_with_fds(self, *expected: str) -> tuple[dict[str, Any], list[int]]:
        return self._recv(expected, None, with_fds=True)

    def _recv(self, expected: tuple[str, ...], timeout: float | None, with_fds: bool) -> tuple[dict[str, Any], list[int]]:
        want = " or ".join(expected) or "a message"
        self.sock.settimeout(timeout)
        fds: list[int] = []
        try:
            if with_fds:
                data, fds = _recv_fds(self.sock, 4)
            else:
                data = self.sock.recv(_MAX)
        except TimeoutError:
            raise ContainerError("sync", f"timed out waiting for {want} from {self.peer}") from None
        except OSError as e:
            raise ContainerError("sync", f"waiting for {want} from {self.peer}: {e.strerror}") from None
        finally:
            self.sock.settimeout(None)
        if not data:
            raise EOFError(f"{self.peer} closed the channel while nsinit waited for {want}")
        msg = json.loads(data)
        kind = msg.get("kind")
        if kind == ERROR:
            for fd in fds:
                os.close(fd)
            raise container_error(msg["step"], msg["cause"], msg.get("code", 125), msg.get("errno"))
        if expected and kind not in expected:
            raise ContainerError("sync", f"expected {want} from {self.peer}, got {kind}")
        return msg, fds

    def wait_for_exec(self, command: str) -> None:
        """After START: EXEC then EOF means execve succeeded (the socket was close-on-exec).

        EOF without EXEC is the process dying before (a signal, a seccomp
        filter): EOFError, for the caller to find out how.  The exec stub
        reports a failed execve of ``command`` as the errno in four bytes (it
        cannot write JSON): a ContainerError of the "exec" step, 127 when the
        file is not found, 126 otherwise.
        """
        for _ in self.exec_steps(command):
            pass  # a blocking socket: recv waits

    def exec_steps(self, command: str) -> Iterator[int]:
        """wait_for_exec as steps: yields the socket's fd before each read (aio.py awaits it readable)."""
        announced = False
        while True:
            yield self.sock.fileno()
            try:
                data = self.sock.recv(_MAX)
            except ConnectionResetError:
                data = b""  # it died with our message unread: as good as EOF
            except OSError as e:
                raise ContainerError("sync", f"waiting for the exec from {self.peer}: {e.strerror}") from None
            if not data:
                if announced:
                    return
                raise EOFError(f"{self.peer} closed the channel before the exec")
            if len(data) == 4:
                err = int.from_bytes(data, sys.byteorder)
                code = 127 if err in (_errno.ENOENT, _errno.ENOTDIR) else 126
                raise container_error("exec", f"{command}: {os.strerror(err)}", code, err)
            msg = json.loads(data)
            kind = msg.get("kind")
            if kind == ERROR:
                raise container_error(msg["step"], msg["cause"], msg.get("code", 125), msg.get("errno"))
            if kind != EXEC:
                raise ContainerError("sync", f"unexpected message {kind} from {self.peer} after start")
            announced = True


def _recv_fds(sock: _socket.socket, most: int) -> tuple[bytes, list[int]]:
    """One packet and up to ``most`` file descriptors passed with it (SCM_RIGHTS, unix(7))."""
    size = struct.calcsize("i")
    # Received close-on-exec: a terminal's master must not leak into what nsinit runs next.
    data, ancdata, _, _ = sock.recvmsg(_MAX, _socket.CMSG_LEN(most * size), _socket.MSG_CMSG_CLOEXEC)
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % size
            fds += struct.unpack(f"{usable // size}i", payload[:usable])
    return data, fds


def start_steps(path: str, id: str, command: str, fds: list[int] | None = None, **overrides: Any) -> Iterator[int]:
    """Start a created container: START (with ``overrides`` and ``fds`` for 0-2) on its start socket at
    ``path``, then the exec seen through (wait_for_exec's errors).  Steps: yields an fd before each read.

    The socket is unlinked once connected: one start only, a second finds no
    socket (and the status is running).  Under the state directory's lock.
    """
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise ContainerError("start", f"container {id}'s process no longer waits for the start") from None
    os.unlink(path)
    chan = Channel(sock, "the container's process")
    try:
        # A kill may end the process between our connect and this send (the
        # state's lock serialises our calls, not a signal from elsewhere).
        chan.send_unless_gone(START, fds=fds, **overrides)
        yield from chan.exec_steps(command)
    finally:
        chan.close()
