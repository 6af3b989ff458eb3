"""The container's init (``"init": true``): PID 1 stays, reaps every child, passes signals on to the command.

The kernel gives a pid namespace's init only the signals it has a handler
for (pid_namespaces(7)): a shell or ``sleep`` as PID 1 ignores SIGTERM and
SIGINT, and nothing reaps the orphans it never waits for.  With ``init``, the
setup process forks at its very last step: the child execs the command
exactly as without (through the exec stub), and the setup process stays as
PID 1, a small loop of the Python already loaded, that

- waits for every catchable signal (sigwaitinfo) and sends each on to the
  command, SIGCHLD excepted;
- reaps every child (waitpid(-1)): the command, and the orphans that the
  kernel gives PID 1;
- exits with the command's exit status once it has ended (128+N when signal
  N killed it), which ends the container, as tini and ``docker --init`` do.

It imports nothing once set up (the host's files are out of reach after
pivot_root): this module is loaded with the engine, and everything the loop
needs is computed at its import or before the fork.
"""

from __future__ import annotations

import os
import signal
from typing import Any, NoReturn

# Signals the reaper neither waits for nor passes on: those that cannot be
# caught, and the faults a process raises on itself (signal(7)), which,
# blocked, would kill it anyway or hang it.
_NEVER = frozenset({signal.SIGKILL, signal.SIGSTOP, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,
                    signal.SIGTRAP, signal.SIGSYS, signal.SIGABRT})
# Every other signal (the real-time ones too) is blocked and waited for.
WAITED = frozenset(int(s) for s in signal.valid_signals()) - {int(s) for s in _NEVER}

EXIT_FAILED = 125  # the reaper could not do its job (a system call refused by a filter)


def fork_command(sysc: Any, tty: bool) -> None:
    """Fork the process that execs the command and return in it; this process stays as the reaper.

    ``sysc`` is the syscall door; ``tty``: the command's stdio is the
    container's terminal.  The reaper keeps what the setup process was: its
    user, capabilities, filters, and parent-death signal (set when the
    container is attached: it dies with its creator).
    """
    # Blocked before the fork, so none is lost before the loop waits for it;
    # a blocked signal is queued even for a namespace's init with no handler
    # (the kernel drops only signals it would ignore: kernel/signal.c, sig_ignored).
    signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)
    # The reaper is the host's interpreter inside the container: nothing there
    # may ptrace it, read its memory or open /proc/1/exe (CVE-2019-5736).
    # Before the fork, so that the command is never dumpable before its exec,
    # which makes it dumpable again.
    sysc.set_dumpable(False)
    if os.getpid() != 1:
        # Not PID 1 (no pid namespace of its own): the command's orphans
        # come to us all the same (prctl(2), PR_SET_CHILD_SUBREAPER).
        sysc.set_child_subreaper(True)
    fds = os.sysconf("SC_OPEN_MAX")
    reaper = os.getpid()
    child = os.fork()
    if child == 0:
        _become_command(sysc, reaper, tty)
        return
    _reap(child, fds)


def _become_command(sysc: Any, reaper: int, tty: bool) -> None:
    """The child: a process group of its own (the terminal's foreground one), then the command's signals."""
    os.setpgid(0, 0)
    if tty:
        # The terminal stays the command's controlling terminal (the session
        # is the reaper's); its foreground group is the command's, so that
        # ^C and window changes go to it, not to the reaper too.  Allowed
        # from a background group since SIGTTOU is blocked (tcsetpgrp(3)).
        for fd in (0, 1, 2):
            try:
                os.tcsetpgrp(fd, os.getpgrp())
                break
            except OSError:
                continue
    # The parent-death signal is not inherited (prctl(2)): the command dies
    # with its reaper, as a pid namespace's processes die with its init.
    sysc.set_pdeathsig(signal.SIGKILL)
    if os.getppid() != reaper:
        os._exit(EXIT_FAILED)  # the reaper died before the signal was armed
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _reap(child: int, fds: int) -> NoReturn:
    """PID 1's loop, until the command has ended: its exit status is ours."""
    try:
        # No fd of the setup process's stays open here: the start channel's
        # EOF must tell the starter that the COMMAND has exec'd, and the
        # terminal and stdio are the command's alone.
        os.closerange(0, fds)
        while True:
            number = signal.sigwaitinfo(WAITED).si_signo
            if number != signal.SIGCHLD:
                try:
                    os.kill(child, number)
                except ProcessLookupError:
                    pass  # ended: its SIGCHLD is on its way
                continue
            status = _reap_all(child)
            if status is not None:
                os._exit(status)
    finally:
        os._exit(EXIT_FAILED)


def _reap_all(child: int) -> int | None:
    """Reap every child that has ended; the command's exit status when it is one of them."""
    status = None
    while True:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == child:
            code = os.waitstatus_to_exitcode(wait_status)
            status = 128 - code if code < 0 else code
