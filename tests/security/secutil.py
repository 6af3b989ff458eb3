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


def children(pid: int) -> list[int]:
    """The children of ``pid`` (its main thread's), from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def stop_a_join_before_exec(container, pid_ns: str, env: dict[str, str] | None = None, tries: int = 20):
    """Start joins until one's container process is caught before it execs; then stop its nsinit there.

    Returns (the joining nsinit, SIGSTOPped; its process in the container).
    The joining nsinit is the subreaper of its setup process, so the process
    that enters the container's pid namespace is always one of its children
    (or grandchildren, until the intermediate exits).  SIGSTOPping nsinit
    holds that process at its next message from nsinit (ADOPTED or START),
    still running nsinit's code, so the check that follows is deterministic.
    """
    import os
    import signal
    import subprocess
    import time

    import pytest

    from libcontainer.testing.fixtures import nsinit_command

    # This nsinit's own processes are the subject: no join served by the supervisor.
    env = dict(env if env is not None else os.environ, NSINIT_DEBUG_LOCAL_JOIN="1")
    for _ in range(tries):
        proc = subprocess.Popen(nsinit_command() + ["exec", "sleep", "5"], cwd=container.path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        container._procs.append(proc)
        deadline = time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < deadline:
            for child in children(proc.pid) + [g for c in children(proc.pid) for g in children(c)]:
                try:
                    inside = os.readlink(f"/proc/{child}/ns/pid") == pid_ns
                    python = "python" in os.path.basename(os.readlink(f"/proc/{child}/exe"))
                except OSError:
                    continue
                if inside and python:
                    os.kill(proc.pid, signal.SIGSTOP)
                    if "python" in os.path.basename(os.readlink(f"/proc/{child}/exe")):
                        return proc, child
                    os.kill(proc.pid, signal.SIGCONT)
            if cmdline(next(iter(children(proc.pid)), 0)).startswith(b"sleep"):
                break  # this one exec'd before we saw it: try again
        proc.kill()
        proc.wait()
    pytest.fail(f"no joining process caught before exec in {tries} joins")



def in_a_private_mount_namespace(body) -> str:
    """Run ``body()`` in a forked child with a mount namespace of its own (/ private); what it returned, as text.

    For the ``_fail`` twins that play a naive runtime: its mounts and chroot
    never touch the test process's view.
    """
    import os

    from libcontainer import syscalls as sc

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            sysc = sc.real()
            sysc.unshare(sc.CLONE_NEWNS)
            sysc.mount(None, "/", None, sc.MS_PRIVATE | sc.MS_REC, None)
            os.write(w, str(body()).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return out
