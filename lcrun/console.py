"""The console socket of runc-docs/terminals.md: a pty master handed to the caller over a unix socket.

The caller (conmon, containerd-shim) listens on a unix socket and passes its
path as ``--console-socket``; the runtime connects, sends one message whose
data is the terminal's name and whose ancillary data (SCM_RIGHTS) is the
master's fd, and closes its end.  The caller then relays the terminal.
"""

from __future__ import annotations

import os
import stat
import struct
from typing import Any

from .cli import Failure

# ioctl_tty(2): the number of a pty master's slave (asm-generic/ioctls.h; the termios module lacks it).
TIOCGPTN = 0x80045430


def connect(path: str) -> Any:
    """A connection to the console socket at ``path``; one line when it is not a listening unix socket."""
    import socket

    try:
        found = os.stat(path)
    except OSError as e:
        raise Failure(f"--console-socket {path}: {e.strerror.lower()}") from None
    if not stat.S_ISSOCK(found.st_mode):
        raise Failure(f"--console-socket {path} is not a socket")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise Failure(f"--console-socket {path}: cannot connect: {e.strerror}") from None
    return sock


def set_size(master: int, rows: int, cols: int) -> None:
    """The terminal's size in characters (process.consoleSize)."""
    import fcntl
    import termios

    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def name_of(master: int) -> str:
    """/dev/pts/N, the name of the master's other end inside the container."""
    import fcntl

    try:
        number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    except OSError:
        return "/dev/ptmx"
    return f"/dev/pts/{number}"


def send_master(sock: Any, master: int) -> None:
    """Send ``master`` (its name as the data, the fd as SCM_RIGHTS) and close the connection."""
    import socket

    try:
        socket.send_fds(sock, [name_of(master).encode()], [master])
    except OSError as e:
        raise Failure(f"--console-socket: sending the terminal failed: {e.strerror}") from None
    finally:
        sock.close()
