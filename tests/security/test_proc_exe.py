"""Scenario 2: the host's interpreter behind /proc/PID/exe of nsinit's processes (CVE-2019-5736, CVE-2016-9962).

nsinit's setup and joining processes run the host's Python until they exec
the container's command.  A process inside the container hammers every new
pid: it opens /proc/PID/exe (O_PATH) and then for writing through that fd
(never writing), and attaches with ptrace; meanwhile processes join.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time

import pytest

from secutil import nsattack_lines

pytestmark = pytest.mark.privileged

# What these tests name on the host (see conftest.py).
RESOURCE_PREFIX = "lcs-a"

# Docker's default capability set: no SYS_PTRACE, no SYS_ADMIN.
DEFAULT_CAPS = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
                "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"]
SHEBANG_EXE = "#!/proc/self/exe\n"


def sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def hammer_while_joining(container, joins: list[list[str]], seconds: float = 2.0) -> str:
    """Run both hammers as the container's processes while each of ``joins`` joins it; their output."""
    p = container.popen("sh", "-c", f"nsattack exe-hammer {seconds} & nsattack ptrace-hammer {seconds} & wait")
    container.wait_running()
    while p.stdout.readline().strip() != "hammering":
        pass
    for cmd in joins:
        container.exec(*cmd, timeout=30)
    out, _ = p.communicate(timeout=seconds + 30)
    return "hammering\n" + out


def reached(out: str, exe: str) -> list[list[str]]:
    """The hammers' successes against processes running ``exe``."""
    return [w for key in ("opath", "wronly", "attached") for w in nsattack_lines(out, key) if w[2:] == [exe]]


def test_joining_process_is_out_of_reach_until_it_execs(container, host_python):
    container.write_config(capabilities=DEFAULT_CAPS)
    out = hammer_while_joining(container, [["true"]] * 10)
    assert reached(out, str(host_python)) == [], out
    # Not a blind hammer: it did reach the joined commands once they exec'd.
    assert reached(out, "/bin/busybox"), out


def test_sys_ptrace_lets_the_container_reach_a_joining_process(container, host_python):
    """The limit of non-dumpable: CAP_SYS_PTRACE overrides it (ptrace(2), "Ptrace access mode checking")."""
    container.write_config(capabilities=DEFAULT_CAPS + ["SYS_PTRACE"])
    out = hammer_while_joining(container, [["true"]] * 10)
    attached = [w for w in reached(out, str(host_python)) if w[0] == "attached"]
    assert attached, out


def test_joined_command_is_dumpable_again_after_exec(container):
    container.write_config(capabilities=DEFAULT_CAPS)
    container.popen("sleep", "30")
    container.wait_running()
    r = container.exec("nsattack", "caps")
    assert nsattack_lines(r.stdout, "dumpable") == [["dumpable", "1"]], r.stdout


@pytest.mark.parametrize("caps", [DEFAULT_CAPS, None], ids=["default-caps", "all-caps"])
def test_shebang_proc_self_exe_cannot_overwrite_the_host_python(container, host_python, caps):
    """``#!/proc/self/exe`` makes the joining process exec the host's Python inside the container.

    The container gets a handle on the host's interpreter that way (the
    exec'd image is dumpable); the kernel refuses to open it for writing while
    any process runs it (ETXTBSY), and nsinit, supervising the container,
    always does.
    """
    (container.path / "bin" / "evil").write_text(SHEBANG_EXE)
    os.chmod(container.path / "bin" / "evil", 0o755)
    # A rootfs with a dynamic loader, as most images have: the host's
    # interpreter then really starts inside the container.
    (container.path / "lib64").mkdir(exist_ok=True)
    shutil.copy(os.path.realpath("/lib64/ld-linux-x86-64.so.2"), container.path / "lib64" / "ld-linux-x86-64.so.2")
    container.write_config(**({"capabilities": caps} if caps else {}))
    before = sha256(host_python)
    out = hammer_while_joining(container, [["/bin/evil"]] * 3)
    # The attack happened: the container held the host's interpreter ...
    assert [w for w in reached(out, str(host_python)) if w[0] == "opath"], out
    # ... and could not open it for writing.
    assert nsattack_lines(out, "wronly") == [], out
    assert sha256(host_python) == before


def test_exe_of_a_binary_nothing_runs_is_writable(nsattack, tmp_path):
    """The write probe is real: a copy of the interpreter that no process runs opens for writing."""
    copy = tmp_path / "python-copy"
    shutil.copy2(os.path.realpath(os.sys.executable), copy)
    r = subprocess.run([str(nsattack), "write-exe", str(copy)], capture_output=True, text=True, timeout=10)
    assert r.stdout.split() == ["write-open", "ok"]
    running = subprocess.Popen([str(copy), "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.2)
        r = subprocess.run([str(nsattack), "write-exe", str(copy)], capture_output=True, text=True, timeout=10)
        assert r.stdout.split() == ["write-open", "ETXTBSY"]
    finally:
        running.kill()
        running.wait()
