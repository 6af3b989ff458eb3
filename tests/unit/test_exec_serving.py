"""nsinit exec serves joins only for a first process that outlives SERVE_AFTER (nsinit/exec_cmd.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from nsinit import exec_cmd


class FakeProcess:
    """What _serve_joins_unless_done needs of a ContainerProcess; records serve_joins."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tty_master = None
        self.served = False

    def serve_joins(self, report) -> None:
        assert report is exec_cmd.report
        self.served = True


def test_a_first_process_that_ended_is_not_served():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # ended, not yet reaped: its pid is still ours
    proc = FakeProcess(child.pid)
    exec_cmd._serve_joins_unless_done(proc)
    child.wait()
    assert not proc.served


def test_a_first_process_that_runs_on_is_served():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        proc = FakeProcess(child.pid)
        exec_cmd._serve_joins_unless_done(proc)
        assert proc.served
    finally:
        child.kill()
        child.wait()


def test_a_first_process_with_a_terminal_is_served_at_once():
    """The relay keeps nsinit busy from the start: the server is forked before it."""
    proc = FakeProcess(os.getpid())
    proc.tty_master = 99  # never read: no wait with a terminal
    exec_cmd._serve_joins_unless_done(proc)
    assert proc.served
