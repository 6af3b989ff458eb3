"""Scenario 2: the host's interpreter behind /proc/PID/exe of nsinit's processes (CVE-2019-5736, CVE-2016-9962).

nsinit's setup and joining processes run the host's Python until they exec
the container's command, which they do through the exec stub
(libcontainer/execstub.py): a ``#!/proc/self/exe`` script then finds the
sealed stub, never the interpreter.  A process inside the container hammers
every new pid: it opens /proc/PID/exe (O_PATH) and then for writing through
that fd, and attaches with ptrace; meanwhile processes join, or, for a
container that outlives the process that made it, nothing of ours runs the
interpreter any more while it waits to write.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

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
    # Not a blind hammer: it did reach the joining processes once they exec'd (the stub, then busybox).
    assert reached(out, "/bin/busybox") or [w for w in nsattack_lines(out, "opath") if "memfd:" in w[2]], out


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


def _plant_shebang(container) -> None:
    (container.path / "bin" / "evil").write_text(SHEBANG_EXE)
    os.chmod(container.path / "bin" / "evil", 0o755)


@pytest.mark.parametrize("caps", [DEFAULT_CAPS, None], ids=["default-caps", "all-caps"])
def test_shebang_proc_self_exe_in_a_join_finds_the_sealed_stub_not_the_host_python(container, host_python, caps):
    """``#!/proc/self/exe``: the kernel starts the image of the process that execs the script.

    That is the exec stub, sealed in a memfd, which refuses to run as an
    interpreter (126): the container never gets a handle on the host's
    interpreter, with every capability or not.
    """
    _plant_shebang(container)
    # A rootfs with a dynamic loader, as most images have: were the host's
    # interpreter exec'd, it would really start inside the container.
    (container.path / "lib64").mkdir(exist_ok=True)
    shutil.copy(os.path.realpath("/lib64/ld-linux-x86-64.so.2"), container.path / "lib64" / "ld-linux-x86-64.so.2")
    container.write_config(**({"capabilities": caps} if caps else {}))
    before = sha256(host_python)
    p = container.popen("sh", "-c", "nsattack exe-hammer 2 & nsattack ptrace-hammer 2 & wait")
    container.wait_running()
    while p.stdout.readline().strip() != "hammering":
        pass
    codes = [container.exec("/bin/evil", timeout=30).returncode for _ in range(3)]
    out, _ = p.communicate(timeout=32)
    assert codes == [126, 126, 126]
    if caps is None:
        # The limit of non-dumpable (docs/security.md): CAP_SYS_PTRACE reaches a joining
        # process before its exec; the interpreter it runs is busy, never writable.
        assert nsattack_lines(out, "wronly") == [], out
    else:
        assert reached(out, str(host_python)) == [], out
    assert sha256(host_python) == before


# -- a container that outlives the process that made it ---------------------------------------------

# Each step in a process of its own, run by the --copies venv's interpreter, which then exits:
# with keeper=False (as lcrun), nothing of ours runs that interpreter once the container runs.
CREATE = """
import sys
from libcontainer.container import Container
Container(sys.argv[1]).create(sys.argv[2:], detach=True, keeper=False)
"""
START = """
import sys
from libcontainer.container import Container
Container(sys.argv[1]).start()
"""
DELETE = """
import sys
from libcontainer.container import Container
Container(sys.argv[1]).delete(force=True)
"""
# The twin's creator: the engine without the stub, the command exec'd by the setup process itself.
WITHOUT_THE_STUB = """
import os
from libcontainer import process
process.exec_command = lambda stub, start, path, args, env: os.execve(path, args, env)
"""


@pytest.fixture
def copies_venv(tmp_path):
    """A venv whose interpreter is a copy of its own (``--copies``): nothing else on the host runs it."""
    import site
    import sysconfig

    venv = tmp_path / "copies"
    subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", str(venv)], check=True)
    purelib = sysconfig.get_paths()["purelib"]
    assert purelib in site.getsitepackages() or purelib in sys.path
    # This project and its plugins, as installed in the venv running the tests (entry points included).
    target = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    (target / "lcparent.pth").write_text(f"import site; site.addsitedir({purelib!r})\n")
    return venv


def _libraries_of(binary: Path) -> list[str]:
    """The directories of the dynamic loader and libraries ``binary`` needs (as ldd resolves them)."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    found = {"/lib", "/lib64", "/usr/lib"}
    for line in out.splitlines():
        for word in line.split():
            if word.startswith("/"):
                found.add(os.path.dirname(os.path.realpath(word)))
    return sorted(found)


# The container's command: run by whatever /proc/self/exe the exec finds; as the host's
# interpreter, it runs the rest as Python: it keeps a handle on that interpreter and
# becomes nsattack, which writes the file once nothing runs it.
EVIL_SCRIPT = """#!/proc/self/exe
import os
exe = os.open("/proc/self/exe", os.O_PATH)
os.set_inheritable(exe, True)
os.execv("/bin/nsattack", ["nsattack", "overwrite-fd", str(exe), "5"])
"""


def _attack_a_detached_container(container, python: Path, creator_prelude: str = "") -> tuple[str, int | None]:
    """create, start and delete in three processes of ``python``; the container's output and exit status."""
    (container.path / "bin" / "evil").write_text(EVIL_SCRIPT)
    os.chmod(container.path / "bin" / "evil", 0o755)
    binds = [{"source": d, "destination": d} for d in _libraries_of(python)]  # read-only, as the default is
    container.write_config(capabilities=DEFAULT_CAPS, mounts=binds)
    out_file = container.path.parent / "detached.out"
    # Files, not pipes: the container's process keeps its creator's stdio, and outlives it.
    with open(out_file, "w") as out:
        r = subprocess.run([str(python), "-c", creator_prelude + CREATE, str(container.path), "/bin/evil"],
                           stdout=out, stderr=out, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, out_file.read_text()
    r = subprocess.run([str(python), "-c", START, str(container.path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    from libcontainer.container import Container
    from libcontainer.testing.fixtures import reap_orphans

    box = Container(container.path)
    pid = box.state().pid
    box.wait(timeout=30)  # its parent is this process now (a child subreaper, as containerd-shim is)
    try:
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        status = None
    reap_orphans()
    # A third process deletes it: the suite's interpreter, since the twin's attack wrote ``python``.
    r = subprocess.run([sys.executable, "-c", DELETE, str(container.path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert box.status() is None
    return out_file.read_text(), status


def test_a_detached_container_cannot_overwrite_an_interpreter_nothing_else_runs(container, copies_venv):
    python = copies_venv / "bin" / "python"
    before = sha256(python)
    out, status = _attack_a_detached_container(container, python)
    assert status == 126, out  # the script's interpreter was the sealed stub, which ends there
    assert nsattack_lines(out, "holding") == [], out
    assert sha256(python) == before


def test_without_the_exec_stub_a_detached_container_overwrites_the_interpreter(container, copies_venv):
    """The twin: the same attack against an engine that execs the command itself writes the interpreter."""
    python = copies_venv / "bin" / "python"
    before = sha256(python)
    out, status = _attack_a_detached_container(container, python, WITHOUT_THE_STUB)
    assert [w[1:] for w in nsattack_lines(out, "written")] == [[str(python)]], out
    assert status == 0
    assert sha256(python) != before


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
