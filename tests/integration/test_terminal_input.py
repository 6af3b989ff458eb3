"""A terminal container fed from a pipe, a file or /dev/null: input once, then end of input (issue 19 item 1).

A pty echoes what it is given and has no end of its own: nsinit turns the
echo off when its stdin is not a terminal and writes the terminal's VEOF
character once the command has read the rest (libcontainer/tty.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from libcontainer.testing.fixtures import nsinit_command, read_terminal

pytestmark = pytest.mark.privileged

SAMPLES = Path(__file__).resolve().parents[2] / "sample_configs"
# Docker's default set: a config without a capabilities list gets a warning on stderr.
CAPS = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
        "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"]


def test_piped_input_reaches_a_terminal_command_once_and_ends(container):
    container.write_config(tty=True, capabilities=CAPS)
    r = container.exec("sh", "-c", "tty; cat", input="hello\n", timeout=20)
    # (text mode reads the terminal's \r\n as \n)
    assert (r.returncode, r.stdout, r.stderr) == (0, "/dev/pts/0\nhello\n", "")


def test_dev_null_as_stdin_is_end_of_input_on_the_terminal(container):
    container.write_config(tty=True, capabilities=CAPS)
    r = container.exec("sh", "-c", "cat; echo done", timeout=20)  # exec's stdin is /dev/null
    assert (r.returncode, r.stdout, r.stderr) == (0, "done\n", "")


def test_a_file_as_stdin_is_read_once_then_ends(container, tmp_path):
    container.write_config(tty=True, capabilities=CAPS)
    (tmp_path / "input").write_text("one\ntwo\n")
    with open(tmp_path / "input") as stdin:
        r = subprocess.run(nsinit_command() + ["exec", "sh", "-c", "cat; echo done"], cwd=container.path, stdin=stdin,
                           capture_output=True, text=True, timeout=20)
    assert (r.returncode, r.stdout) == (0, "one\ntwo\ndone\n"), r.stderr


def test_end_of_input_stays_as_a_pipes_does(container):
    container.write_config(tty=True, capabilities=CAPS)
    r = container.exec("sh", "-c", "cat; cat; echo done", input="a\n", timeout=20)
    assert (r.returncode, r.stdout) == (0, "a\ndone\n"), r.stderr


def test_a_last_line_without_newline_is_read_before_the_end(container):
    container.write_config(tty=True, capabilities=CAPS)
    r = container.exec("sh", "-c", "cat; echo; echo done", input="a\nb", timeout=20)
    assert (r.returncode, r.stdout) == (0, "a\nb\ndone\n"), r.stderr


def test_an_interactive_shell_fed_from_a_pipe_runs_the_commands_and_exits(container):
    """busybox sh on a terminal edits lines in raw mode: the ^D it reads there ends it."""
    container.write_config(tty=True, capabilities=CAPS)
    r = container.exec("sh", input="echo one-$((1+1))\necho two\n", timeout=20)
    assert r.returncode == 0, r.stderr
    assert "one-2\n" in r.stdout and "two\n" in r.stdout
    assert r.stdout.count("one-2") == 1


def test_more_input_than_the_terminal_holds_is_all_read(container):
    container.write_config(tty=True, capabilities=CAPS)
    lines = "".join(f"{i}\n" for i in range(20000))
    r = container.exec("sh", "-c", "wc -l; echo done", input=lines, timeout=60)
    assert (r.returncode, r.stdout.split()) == (0, ["20000", "done"]), r.stderr


@pytest.mark.needs_host("cgroup-v1")  # the sample's device rules need the v1 devices controller
@pytest.mark.parametrize("stdin", ["pipe", "devnull"])
def test_the_minimal_sample_with_its_terminal_ends_with_its_input(container, stdin):
    doc = json.loads((SAMPLES / "minimal.json").read_text())
    assert doc["tty"] is True
    doc["cgroups"]["name"] = f"lctest-tty-input-{os.getpid()}"  # not the sample's, which other tests use
    (container.path / "container.json").write_text(json.dumps(doc))
    if stdin == "pipe":
        r = container.exec("cat", input="hello\n", timeout=20)
        assert (r.returncode, r.stdout) == (0, "hello\n"), r.stderr
    else:
        r = container.exec("sh", "-c", "cat; echo done", timeout=20)
        assert (r.returncode, r.stdout) == (0, "done\n"), r.stderr


def test_input_typed_on_a_terminal_is_echoed_by_the_containers_terminal(container):
    """Twin: from a terminal, the pty echoes as a terminal does, and nothing ends the input for the user."""
    import pty

    container.write_config(tty=True, capabilities=CAPS)
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.chdir(container.path)
            os.execv(nsinit_command()[0], nsinit_command() + ["exec", "sh", "-c", "read x; echo got-$x"])
        finally:
            os._exit(127)
    time.sleep(1)
    os.write(master, b"abc\r")
    out = read_terminal(master)
    _, status = os.waitpid(pid, 0)
    os.close(master)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert out.replace(b"\r\n", b"\n") == b"abc\ngot-abc\n"
