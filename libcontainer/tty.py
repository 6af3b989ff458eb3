"""Relaying between nsinit's own terminal and a container's pseudo-terminal."""

from __future__ import annotations

import errno
import os
import select


def copy_window_size(src: int, dst: int) -> None:
    """Give ``dst`` (the container's pty) the window size of ``src`` (our terminal)."""
    import fcntl
    import termios

    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def relay(master: int, pid: int) -> None:
    """Copy stdin to ``master`` and ``master`` to stdout until process ``pid`` ends.

    When stdin is a terminal it is put in raw mode for the duration, so keys
    such as ^C reach the container's terminal instead of nsinit.
    """
    import termios
    import tty

    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        copy_window_size(0, master)
    pidfd = os.pidfd_open(pid)
    inputs = [master, pidfd, 0]
    try:
        while True:
            try:
                ready, _, _ = select.select(inputs, [], [])
            except InterruptedError:
                continue
            if master in ready and not _pump(master, 1):
                break
            if 0 in ready:
                data = _read(0)
                if data:
                    os.write(master, data)
                else:
                    inputs.remove(0)  # stdin closed: keep relaying output
            if pidfd in ready:
                # The process ended: flush what it wrote, then stop.
                os.set_blocking(master, False)
                while _pump(master, 1):
                    pass
                break
    finally:
        os.close(pidfd)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""
    except OSError as e:
        if e.errno == errno.EIO:  # every slave end is closed
            return b""
        raise


def _pump(src: int, dst: int) -> bool:
    data = _read(src)
    if not data:
        return False
    while data:
        n = os.write(dst, data)
        data = data[n:]
    return True
