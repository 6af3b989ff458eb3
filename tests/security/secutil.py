"""Small helpers shared by the security tests: parsing the nsattack helper's output."""

from __future__ import annotations


def nsattack_lines(text: str, key: str) -> list[list[str]]:
    """The helper's result lines that start with ``key``, split into words."""
    return [line.split() for line in text.splitlines() if line.split()[:1] == [key]]


def run_in_pty(container, script: str, send: bytes = b"", timeout: float = 30) -> tuple[int, str]:
    """``nsinit exec sh -c SCRIPT`` on a new pty of the test's, as from a terminal: (exit status, output).

    ``send`` is typed into the terminal once the command runs.
    """
    import os
    import pty
    import select
    import time

    from libcontainer.testing.fixtures import nsinit_command

    pid, master = pty.fork()
    if pid == 0:
        try:
            os.chdir(container.path)
            os.execv(nsinit_command()[0], nsinit_command() + ["exec", "sh", "-c", script])
        finally:
            os._exit(127)
    out = b""
    if send:
        time.sleep(0.3)
        os.write(master, send)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: every slave end is closed
                break
            if not data:
                break
            out += data
    finally:
        os.close(master)
    if time.monotonic() >= deadline:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace").replace("\r\n", "\n")


def run_on_a_terminal(container, *args: str, timeout: float = 30) -> tuple[int, str, bytes]:
    """``nsinit ARGS`` as from a login shell: a new session whose controlling terminal is a pty of the test's.

    Returns (exit status, what was written to the terminal, and the input
    left waiting on the terminal once nsinit ended: what the shell would read
    and run next, so anything there was injected).
    """
    import fcntl
    import os
    import select
    import subprocess
    import termios
    import time

    from libcontainer.testing.fixtures import nsinit_command

    master, slave = os.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        p = subprocess.Popen(nsinit_command() + list(args), stdin=slave, stdout=slave, stderr=slave,
                             preexec_fn=controlling_terminal, cwd=container.path)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                out += os.read(master, 4096)
            elif p.poll() is not None:
                break
        if p.poll() is None:
            p.kill()
        status = p.wait()
        os.set_blocking(slave, False)
        try:
            pending = os.read(slave, 4096)
        except BlockingIOError:
            pending = b""
        return status, out.decode(errors="replace").replace("\r\n", "\n"), pending
    finally:
        os.close(master)
        os.close(slave)
