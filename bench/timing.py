"""Run a command and measure it: its wall time, or its peak RSS through GNU time."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time

# GNU time: its wait4 reports the peak RSS of a child it forked while itself
# using about 1 MiB.  Our own wait4 cannot: a child forked (or vforked) from
# this interpreter is charged the interpreter's RSS until it execs.
GNU_TIME = "/usr/bin/time"
TIMEOUT = 60  # seconds one command (or one API burst) may take before it counts as hung


class CommandFailed(Exception):
    """A measured command exited non-zero: its argv, status and stderr."""


@contextlib.contextmanager
def deadline(seconds: float):
    """Raise TimeoutError in the block after ``seconds`` (SIGALRM: the harness is single-threaded)."""
    def expire(_sig: int, _frame: object) -> None:
        raise TimeoutError(f"no answer in {seconds:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _run(argv: list[str]) -> float:
    """Spawn ``argv`` with stdin and stdout on /dev/null and wait; the wall time; CommandFailed unless it exits 0.

    posix_spawn + wait4 keeps our own overhead (no shell, no pipes to drain)
    the same for every runtime; stderr goes to a file so a failure can say why.
    """
    with tempfile.TemporaryFile() as err:
        null = os.open(os.devnull, os.O_RDWR)
        try:
            actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                       (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
            start = time.perf_counter()
            pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
            try:
                with deadline(TIMEOUT):
                    _, status = os.waitpid(pid, 0)
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise CommandFailed(f"{' '.join(argv)} hung: killed after {TIMEOUT} s") from None
            seconds = time.perf_counter() - start
        finally:
            os.close(null)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            text = err.read().decode(errors="replace").strip()[-2000:]
            raise CommandFailed(f"{' '.join(argv)} exited {code}: {text}")
    return seconds


def wall_time(argv: list[str]) -> float:
    """Seconds from spawning ``argv`` to reaping it."""
    return _run(argv)


def can_measure_rss() -> bool:
    return os.access(GNU_TIME, os.X_OK)


def peak_rss_kib(argv: list[str]) -> int:
    """The peak RSS in KiB of ``argv``'s process (or of any child it reaped, whichever is larger)."""
    with tempfile.NamedTemporaryFile("r") as out:
        _run([GNU_TIME, "-f", "%M", "-o", out.name, *argv])
        return int(out.read().split()[-1])


# -- what every benchmark's command line does -------------------------------------------------


def is_root(name: str) -> bool:
    """True as root; otherwise one line saying that ``name`` needs it, for the caller's exit status 2."""
    if os.geteuid() == 0:
        return True
    print(f"{name}: needs root (namespaces, cgroups, runc)", file=sys.stderr)
    return False


def progress_printer(name: str):
    """A progress callback: each message one line on stderr, prefixed with ``name``, at once."""
    def progress(message: str) -> None:
        print(f"{name}: {message}", file=sys.stderr, flush=True)

    return progress

