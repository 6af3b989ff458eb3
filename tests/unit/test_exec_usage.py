"""nsinit exec's usage errors are one line, as every error; --help prints the usage (issue 19 item 4)."""

from __future__ import annotations

import subprocess

import pytest

from libcontainer.testing.fixtures import nsinit_command


def _exec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(nsinit_command() + ["exec", *args], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, cwd="/")


@pytest.mark.parametrize("args,error", [
    ((), "no command given"),
    (("--root",), "--root needs a directory"),
    (("--bogus", "true"), "unknown option --bogus"),
    (("--",), "no command given"),
])
def test_a_usage_error_is_one_line_naming_it(args, error):
    r = _exec(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr == f"nsinit: exec: {error} (nsinit exec --help shows the usage)\n"


def test_help_prints_the_usage():
    r = _exec("--help")
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.startswith("Usage: nsinit exec [--root DIR] [--tty|--no-tty] [--] COMMAND [ARGS]...\n")
    assert "Exit status:" in r.stdout


def test_help_into_a_pipe_closed_early_is_not_an_error():
    """``nsinit exec --help | head``: a reader gone is no traceback (unbuffered, the write itself fails)."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: the write fails with EPIPE
    try:
        r = subprocess.run(nsinit_command() + ["exec", "--help"], stdout=write_end, stderr=subprocess.PIPE,
                           text=True, timeout=30, stdin=subprocess.DEVNULL, cwd="/",
                           env=dict(os.environ, PYTHONUNBUFFERED="1"))
    finally:
        os.close(write_end)
    assert (r.returncode, r.stderr) == (0, "")
