"""``nsinit exec``: run a command as the container's first process, or join it.

Kept free of typer and of anything a given config does not need: this is the
per-container path.
"""

from __future__ import annotations

import gc
import os
import sys

from libcontainer import control  # os and C modules only: the served join's whole client

USAGE = """Usage: nsinit exec [--root DIR] [--tty|--no-tty] [--] COMMAND [ARGS]...

Run COMMAND in the container of the current directory (or DIR, or $data_path):
as its first process when none runs, joining it when one does.

Signals to nsinit are passed on to COMMAND.  As the container's first process
it may ignore SIGINT and SIGTERM (PID 1 gets only the signals it handles; with
"init": true in the config, an init passes them on): a second one within 5
seconds kills every process of the container.

Exit status: the command's own; 128+N when it was killed by signal N;
125 when nsinit failed; 126 when COMMAND cannot be executed; 127 when it
does not exist in the container."""

# Signals nsinit passes on to the container's process instead of acting on:
# those a served join passes on, and the terminal's window size.
FORWARDED = control.FORWARDED + ("SIGWINCH",)

# A SIGINT or SIGTERM this soon (seconds) after another one kills the whole
# container: a PID 1 without a handler for them (a shell, sleep) never gets
# them (pid_namespaces(7)), and the user has no other way to stop it.
KILL_WITHIN = 5.0


def parse(argv: list[str]) -> tuple[str | None, bool | None, list[str]]:
    root = None
    tty = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if a in ("-h", "--help"):
            raise SystemExit(USAGE)
        if a == "--root" or a.startswith("--root="):
            if "=" in a:
                root = a.split("=", 1)[1]
            else:
                if i + 1 >= len(argv):
                    raise UsageError("--root needs a directory")
                root = argv[i + 1]
                i += 1
        elif a in ("-t", "--tty"):
            tty = True
        elif a == "--no-tty":
            tty = False
        elif a.startswith("-") and a != "-":
            raise UsageError(f"unknown option {a}")
        else:
            break
        i += 1
    args = argv[i:]
    if not args:
        raise UsageError("no command given")
    return root, tty, args


class UsageError(Exception):
    pass


def main(argv: list[str]) -> int:
    try:
        root, tty, args = parse(argv)
    except UsageError as e:
        # One line, as every error; the usage is --help's.
        print(f"nsinit: exec: {e} (nsinit exec --help shows the usage)", file=sys.stderr)
        return 2
    except SystemExit as e:
        try:
            print(e.code, flush=True)
        except BrokenPipeError:  # nsinit exec --help | head
            pass
        return 0
    root = root or os.environ.get("data_path") or os.getcwd()
    if tty is not True and not _debugging():
        # A running container's supervisor runs the join for us: no engine to
        # import here (libcontainer/control.py).  None: nothing was started,
        # join (or create) by ourselves.
        try:
            status = control.join(root, args, tty)
        except KeyboardInterrupt:  # a Ctrl-C before anything was started
            return 130
        if status is not None:
            return status
    from libcontainer.errors import LibcontainerError

    try:
        return run(root, args, tty)
    except LibcontainerError as e:
        return report(e)
    except KeyboardInterrupt:
        return 130


def _debugging() -> bool:
    # Pauses (NSINIT_DEBUG_PAUSE) happen in this process, and a test that
    # looks at a joining nsinit's own processes asks for a local join.
    return "NSINIT_DEBUG_PAUSE" in os.environ or os.environ.get("NSINIT_DEBUG_LOCAL_JOIN") == "1"


def report(e) -> int:
    """Print a LibcontainerError as nsinit does; nsinit's exit status for it."""
    from libcontainer.errors import ConfigError, ContainerError

    if isinstance(e, ConfigError):
        for line in str(e).splitlines():
            print(f"nsinit: {line}", file=sys.stderr)
        return 125
    print(f"nsinit: {e}", file=sys.stderr)
    return e.exit_code if isinstance(e, ContainerError) else 125


def run(root: str, args: list[str], tty: bool | None) -> int:
    from libcontainer.container import Container

    from libcontainer.state import RUNNING

    box = Container(root)
    found = box.state()
    if found is not None and found.status == RUNNING:
        proc = box.join(args, tty=tty)
    else:
        # Found before the fork, printed once the container is created (a
        # failed start is its one line): after the fork, while the setup
        # process shares our pages, every page this touched would be copied
        # (0.1-0.4 ms on the start's path, against 0.03 ms before it).
        warnings = _warnings(box)
        proc = box.create(args, tty=tty)
        for warning in warnings:
            print(f"nsinit: warning: {warning}", file=sys.stderr)
    try:
        _forward_signals(proc)
        if proc.tty_master is not None:
            from libcontainer.tty import prepare_terminal

            prepare_terminal(0, proc.tty_master)  # before exec: the command may ask at once
        proc.start()
        # The collector was off for the start (nsinit/__main__.py); a long
        # supervision may make cycles.  Freeze first: the first collection
        # would otherwise walk every object the start allocated (~10 ms).
        gc.freeze()
        gc.enable()
        if proc.first:
            _serve_joins_unless_done(proc)
        if proc.tty_master is not None:
            from libcontainer.tty import relay

            relay(proc.tty_master, proc.pid)
        status = proc.wait()
    finally:
        proc.close()
    if proc.reason:
        print(f"nsinit: container {proc.reason}", file=sys.stderr)
    return status


# A first process that ends this soon is not worth the fork of a join server
# (about a millisecond on a command like /bin/true); one that lives longer is.
SERVE_AFTER = 0.05


def _serve_joins_unless_done(proc) -> None:
    import select

    if proc.tty_master is None:
        pidfd = os.pidfd_open(proc.pid)
        try:
            # A signal meanwhile is passed on by its handler; select resumes (PEP 475).
            if select.select([pidfd], [], [], SERVE_AFTER)[0]:
                return  # it has ended
        finally:
            os.close(pidfd)
    proc.serve_joins(report)


def _warnings(box) -> list[str]:
    """What the config allows but seldom means (no new namespace, every capability kept): one line each.

    ``NSINIT_WARNINGS=off`` silences them, for scripts (and test suites) that
    know their configs.
    """
    if os.environ.get("NSINIT_WARNINGS") == "off":
        return []
    from libcontainer.configfile import config_warnings

    return config_warnings(box.config, box.plugins)


def _forward_signals(proc) -> None:
    import signal
    import time

    stopping: list[float] = []  # when a SIGINT or SIGTERM was last passed on

    def forward(sig: int, _frame) -> None:
        if sig == signal.SIGWINCH and proc.tty_master is not None:
            from libcontainer.tty import copy_window_size

            copy_window_size(0, proc.tty_master)
            return
        if sig in (signal.SIGINT, signal.SIGTERM) and proc.first:
            now = time.monotonic()
            if stopping and now - stopping[-1] <= KILL_WITHIN:
                _kill_container(proc)
                return
            stopping[:] = [now]
        proc.signal(sig)

    for name in FORWARDED:
        signal.signal(getattr(signal, name), forward)


def _kill_container(proc) -> None:
    """A second SIGINT or SIGTERM: SIGKILL every process of the container, and say so."""
    import signal

    from libcontainer.errors import LibcontainerError

    end = "\r\n" if os.isatty(2) else "\n"  # the relay may hold the terminal raw
    os.write(2, (f"nsinit: a second SIGINT or SIGTERM within {KILL_WITHIN:g} s: killing every process of the "
                 f"container{end}").encode())
    # Only between the start and the end: meanwhile this process holds the
    # container's lock (start, teardown), which kill() would wait for.
    if proc.started and proc.status is None:
        try:
            proc.container.kill(signal.SIGKILL, all=True)
            return
        except LibcontainerError:
            pass  # ended meanwhile: its first process, if anything, is left
    proc.signal(signal.SIGKILL)
