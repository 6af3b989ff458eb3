"""Named messages between nsinit (the parent) and the container's setup process.

One SOCK_SEQPACKET socket pair carries small JSON messages, one per packet.
The exchange while starting a container::

    parent                                   setup process (child)
      |  fork ------------------------------>  |
      |                                        |  join namespaces by path
      |  <------------------------ USERNS     |  unshare(CLONE_NEWUSER)
      |  write uid_map/gid_map                 |
      |  IDS_MAPPED ------------------------>  |  unshare(the other namespaces)
      |                                        |  fork PID 1 (new pid namespace)
      |  <-------------------------- PID      |  (the intermediate process exits)
      |                                        |  (or: born as PID 1, when nsinit
      |                                        |  made the pid namespace: no fork)
      |  post_clone hooks (cgroups, veth)      |
      |  CONFIGURED ------------------------>  |  mounts, hostname, user, caps ...
      |  <------------------------- READY     |  waits, all fds >= 3 close-on-exec
      |  START ----------------------------->  |  execve(command)
      |  <-------- EOF (exec succeeded)        |  or ERROR {step, cause, code}

A joining process gets CONFIGURED before it enters the namespaces (its
cgroups are joined by then), answers PID, and waits for ADOPTED before it
sets its parent-death signal, since that signal fires when the intermediate
process exits.

Any step may answer ERROR instead; the parent raises it as a ContainerError
with the step's name.  EOF where a message was expected means the other side
died; the error says which message was awaited.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

# The C module, not socket.py: the wrapper's enum conversions and selectors
# cost 2-4 ms on every nsinit start, for methods the C socket type has anyway.
import _socket

from .errors import ContainerError

USERNS = "userns"  # child: I have a new user namespace; map my ids
IDS_MAPPED = "ids_mapped"  # parent: uid_map and gid_map are written
PID = "pid"  # child: the container's process has this host pid (0: the process nsinit forked)
CONFIGURED = "configured"  # parent: host-side setup for that pid is done; go on
ADOPTED = "adopted"  # parent (joins): the intermediate process is reaped; nsinit is your parent now
READY = "ready"  # child: setup done, waiting to exec
START = "start"  # parent: exec the command now
ERROR = "error"  # either side: a step failed {step, cause, code, errno}

_MAX = 65536


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
        data = json.dumps({"kind": kind, **fields}).encode()
        try:
            if fds:
                rights = struct.pack(f"{len(fds)}i", *fds)
                self.sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
            else:
                self.sock.send(data)
        except OSError as e:
            raise ContainerError("sync", f"sending {kind} to {self.peer}: {e.strerror}") from None

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
            raise ContainerError(msg["step"], msg["cause"], msg.get("code", 125), msg.get("errno"))
        if expected and kind not in expected:
            raise ContainerError("sync", f"expected {want} from {self.peer}, got {kind}")
        return msg, fds

    def wait_for_exec(self) -> None:
        """After START: EOF means execve succeeded (the socket was close-on-exec)."""
        try:
            self._recv((), None, with_fds=False)
        except EOFError:
            return
        raise ContainerError("sync", f"unexpected message from {self.peer} after start")


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
