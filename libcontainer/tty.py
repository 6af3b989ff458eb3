"""Relaying between nsinit's own terminal (or pipes) and a container's pseudo-terminal.

A pty turns input into a terminal's: it echoes it, and it has no end of its
own.  When nsinit's stdin is not a terminal (a pipe, a file, /dev/null), the
relay makes it behave as the input it stands for: the container's terminal
does not echo it (:func:`prepare_terminal`), and once stdin has ended the
command reading its terminal sees end of input (:func:`relay`): the
terminal's end-of-file character (VEOF, ^D) is written each time the
command has read everything before it, as script(1) does.
"""

from __future__ import annotations

import errno
import os
import select

# ioctl(2) numbers (asm-generic/ioctls.h) the termios module lacks: open the
# other end of a pty master (Linux 4.13, ioctl_tty(2)).
_TIOCGPTPEER = 0x5441

# How often the relay looks whether the command has read all its input once
# stdin has ended (seconds), and how long a ^D written is given to arrive.
_POLL = 0.02
_ARRIVAL = 0.05


def copy_window_size(src: int, dst: int) -> None:
    """Give ``dst`` (the container's pty) the window size of ``src`` (our terminal)."""
    import fcntl
    import termios

    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def prepare_terminal(stdin: int, master: int) -> None:
    """Before the command runs: the container's terminal as ``stdin`` calls for.

    From a terminal: its window size.  From anything else: no echo, or each
    line piped in would come out twice, once echoed and once as the
    command's output.  (A master's termios calls act on its slave: ioctl_tty(2).)
    """
    import termios

    if os.isatty(stdin):
        copy_window_size(stdin, master)
        return
    try:
        attrs = termios.tcgetattr(master)
        attrs[3] &= ~(termios.ECHO | termios.ECHONL)
        termios.tcsetattr(master, termios.TCSANOW, attrs)
    except termios.error:
        pass


def relay(master: int, pid: int) -> None:
    """Copy stdin to ``master`` and ``master`` to stdout until process ``pid`` ends.

    When stdin is a terminal it is put in raw mode for the duration, so keys
    such as ^C reach the container's terminal instead of nsinit.  When stdin
    ends, the container's terminal gets its end of input (:class:`_EndOfInput`).
    """
    import termios
    import tty

    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        copy_window_size(0, master)
    pidfd = os.pidfd_open(pid)
    # Non-blocking, so that input the command does not read never holds up its output.
    blocking = os.get_blocking(master)
    os.set_blocking(master, False)
    pending = b""  # read from stdin, not yet taken by the pty
    ended: _EndOfInput | None = None
    try:
        while True:
            readers = [master, pidfd]
            if ended is None and not pending:
                readers.append(0)
            try:
                ready, writable, _ = select.select(readers, [master] if pending else [], [],
                                                   _POLL if ended is not None and not pending else None)
            except InterruptedError:
                continue
            if master in ready:
                data = _read(master)
                if data == b"":
                    break  # every slave end is closed
                _write_all(1, data or b"")
            if writable:
                pending = pending[_write_some(master, pending):]
            if 0 in ready:
                data = _read(0)
                if data:
                    pending = data
                elif data is not None:
                    ended = _EndOfInput(master)  # keep relaying output
            if ended is not None and not pending:
                ended.poll()
            if pidfd in ready:
                # The process ended: flush what it wrote, then stop.
                while _pump(master, 1):
                    pass
                break
    finally:
        os.close(pidfd)
        if ended is not None:
            ended.close()
        os.set_blocking(master, blocking)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


class _EndOfInput:
    """Stdin has ended: write the container's VEOF character whenever its command has read all before it.

    In canonical mode (icanon, the default) VEOF ends a read with what it
    has; alone on a line the read returns 0: end of input.  Written again
    each time the command has read the last one, so that end of input stays,
    as a pipe's does (``cat; cat`` ends), and so that one lost when the
    command switched its terminal's mode in between is made good.  In raw
    mode it is one byte, ^D, which line editors take for end of input: that
    is written once.  "Read everything" is when the slave end has nothing
    readable twice in a row (``_POLL`` apart): data written to the master
    reaches the slave's queue a moment later (a kernel work item).
    """

    def __init__(self, master: int) -> None:
        import fcntl

        self.master = master
        try:
            self.slave: int | None = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:
            self.slave = None  # a kernel before 4.13: one VEOF, at once
        self.idle = 0  # checks in a row that found nothing unread
        self.quiet_until = 0.0  # a VEOF was written: not before it could have arrived
        self.raw_sent = False

    def poll(self) -> None:
        import time

        if self.slave is None:
            self._write_eof()
            self.slave = -1
            return
        if self.slave < 0 or time.monotonic() < self.quiet_until:
            return
        if select.select([self.slave], [], [], 0)[0]:
            self.idle = 0
            return
        self.idle += 1
        if self.idle >= 2:
            self.idle = 0
            self._write_eof()
            self.quiet_until = time.monotonic() + _ARRIVAL

    def _write_eof(self) -> None:
        import termios

        try:
            attrs = termios.tcgetattr(self.master)
        except termios.error:
            return
        eof = attrs[6][termios.VEOF]
        if eof in (b"\0", 0):  # _POSIX_VDISABLE: this terminal has no end-of-file character
            return
        if not attrs[3] & termios.ICANON:
            if self.raw_sent:
                return
            self.raw_sent = True
        _write_some(self.master, eof if isinstance(eof, bytes) else bytes([eof]))

    def close(self) -> None:
        if self.slave is not None and self.slave >= 0:
            os.close(self.slave)
        self.slave = -1


def _read(fd: int) -> bytes | None:
    """What ``fd`` has: b"" at its end, None when nothing is there yet."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None
    except OSError as e:
        if e.errno == errno.EIO:  # every slave end is closed (or our terminal hung up)
            return b""
        raise


def _write_some(fd: int, data: bytes) -> int:
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _pump(src: int, dst: int) -> bool:
    """Copy what ``src`` has to ``dst``; False at its end or when it has nothing now."""
    data = _read(src)
    if not data:
        return False
    _write_all(dst, data)
    return True
