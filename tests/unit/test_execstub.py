"""The exec stub: a static program in a sealed memfd that execs the command (execstub.py)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from libcontainer import execstub


def _run_stub(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
    """Exec the stub with ``argv`` in a child; (exit status, the child's stdout, what came on the report fd)."""
    report_r, report_w = os.pipe()
    out_r, out_w = os.pipe()
    stub = execstub.open_stub()
    pid = os.fork()
    if pid == 0:
        os.dup2(out_w, 1)
        os.set_inheritable(report_w, True)
        argv = [a.replace("REPORT", str(report_w)) for a in argv]
        os.execve(stub, argv, env or {})
    os.close(stub)
    os.close(report_w)
    os.close(out_w)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    with os.fdopen(out_r, "rb") as f, os.fdopen(report_r, "rb") as r:
        return code, f.read(), r.read()


def test_the_stub_execs_the_command_with_its_argv_and_environment_and_closes_the_report_fd():
    code, out, report = _run_stub(["REPORT", "/bin/sh", "sh", "-c", 'echo "$0 $1 $GREETING"', "zero", "one"],
                                  {"GREETING": "hello"})
    assert (code, out) == (0, b"zero one hello\n")
    assert report == b""  # close-on-exec: the reader saw EOF, as the starter does


@pytest.mark.parametrize("name, mode, err", [("missing", None, errno.ENOENT), ("text", 0o644, errno.EACCES),
                                             ("garbage", 0o755, errno.ENOEXEC)])
def test_a_failed_exec_is_reported_as_errno_and_exit_127(tmp_path, name, mode, err):
    path = tmp_path / name
    if mode is not None:
        path.write_bytes(b"\x01\x02not a program")
        path.chmod(mode)
    code, out, report = _run_stub(["REPORT", str(path), "cmd"])
    assert code == 127
    assert int.from_bytes(report, sys.byteorder) == err


@pytest.mark.parametrize("argv0", ["/proc/self/exe", "", "12a", "-1"])
def test_a_stub_not_called_by_the_engine_exits_126_without_exec(argv0):
    """A script whose interpreter is /proc/self/exe runs the stub with argv[0] "/proc/self/exe": it ends there."""
    code, out, report = _run_stub([argv0 or "REPORT", "/bin/echo", "echo", "ran"] if argv0 else ["REPORT"])
    assert (code, out) == (126, b"")


def test_the_memfd_is_sealed_even_when_reopened_for_writing():
    """What the container reaches as /proc/self/exe: reopened through /proc, it still refuses writes."""
    fd = execstub.open_stub()
    again = os.open(f"/proc/self/fd/{fd}", os.O_RDWR)
    try:
        for target in (fd, again):
            with pytest.raises(PermissionError):
                os.write(target, b"x")
            with pytest.raises(PermissionError):
                os.truncate(target, 0)
        assert os.pread(again, 4, 0) == b"\x7fELF"
    finally:
        os.close(again)
        os.close(fd)


def test_an_unsealed_copy_of_the_stub_is_writable(tmp_path):
    """The twin: the same bytes in a plain file open for writing; the seals are what refuses it."""
    copy = tmp_path / "stub"
    copy.write_bytes(execstub.image())
    fd = os.open(copy, os.O_WRONLY)
    try:
        assert os.write(fd, b"x") == 1
    finally:
        os.close(fd)


def test_a_machine_without_a_stub_is_one_clear_error():
    with pytest.raises(execstub.UnknownMachine, match="no exec stub for mips64"):
        execstub.image("mips64")


@pytest.mark.parametrize("args, expected_code, expected_out", [
    (["9", "/usr/bin/env", "env", "-i", "A=1"], 0, "A=1\n"),
    (["/proc/self/exe", "/bin/true", "true"], 126, ""),
    (["3", "/bin/true"], 126, ""),  # no argv for the command
])
def test_the_aarch64_stub_under_qemu(tmp_path, args, expected_code, expected_out):
    stub = tmp_path / "stub-aarch64"
    stub.write_bytes(execstub.image("aarch64"))
    stub.chmod(0o755)
    r = subprocess.run(["qemu-aarch64-static", "-0", args[0], str(stub), *args[1:]], capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (expected_code, expected_out), r.stderr


def test_the_aarch64_stub_reports_a_failed_exec(tmp_path):
    stub = tmp_path / "stub-aarch64"
    stub.write_bytes(execstub.image("aarch64"))
    stub.chmod(0o755)
    r = subprocess.run(["qemu-aarch64-static", "-0", "1", str(stub), "/nonexistent", "x"], capture_output=True)
    assert r.returncode == 127
    assert int.from_bytes(r.stdout, sys.byteorder) == errno.ENOENT
