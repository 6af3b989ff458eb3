"""A process entering a namespace that exists shows nothing of the host's to that namespace.

The setup process of a join, and of a first process whose config joins a
namespace by path, is the host's interpreter until it execs, with the
caller's environment in its memory.  It scrubs that environment and turns
non-dumpable before its first setns (libcontainer/process.py, the
prologue).  Here the containers are rootless (nsinit run as uid 4000, root
inside mapped to it): root of the container is then the same host uid as
the entering process, with every capability in the namespace that process
enters, so credentials and capabilities let it read that process's
/proc/PID/environ and /proc/PID/mem (ptrace(2), "Ptrace access mode
checking"); only non-dumpable keeps it out.  Each test has a twin in which
the same engine, the scrub and non-dumpable switched off in the entering
process, gives both away.  (Under root without a user namespace, a
container without SYS_PTRACE is kept out by the capability check already,
and one with SYS_PTRACE passes non-dumpable: there the scrub is what
protects the environment, test_environment.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from libcontainer.testing.fixtures import nsinit_command
from secutil import children, nsattack_lines

pytestmark = pytest.mark.privileged

UID = 4000
AS_USER = ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", "--inh-caps=-all"]
USER_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/"}  # no XDG_RUNTIME_DIR: states in /tmp/nsinit-4000
SECRET = "lctest-secret-in-the-callers-environment"
ROOTLESS = {"NEWUSER": True, "NEWNS": True, "NEWUTS": True, "NEWIPC": True, "NEWPID": True, "NEWNET": True}

# The process that enters, as a library caller: a join, or a first process whose
# config joins namespaces by path.
JOIN = """
import sys
from libcontainer.container import Container
proc = Container(sys.argv[1]).join(["sleep", "5"])
proc.start()
proc.wait()
"""
CREATE = """
import sys
from libcontainer.container import Container
Container(sys.argv[1]).run(["sleep", "5"])
"""
# The twin: the same engine, neither scrubbing the environment nor turning non-dumpable.
UNPROTECTED = """
from libcontainer import process, syscalls
process.scrub_environ = lambda: None
syscalls.Syscalls.set_dumpable = lambda self, on: None
"""


@pytest.fixture
def rootless(container, more_containers):
    """Two container directories of uid 4000 (the first is ``container``'s, with nsattack); removed after."""
    boxes = [container, more_containers("entering")]
    for parent in container.path.parents:
        if str(parent).startswith("/tmp/pytest-of-"):
            os.chmod(parent, os.stat(parent).st_mode | 0o755)
    for box in boxes:
        os.chmod(box.path.parent, 0o755)
        subprocess.run(["chown", "-R", f"{UID}:{UID}", str(box.path)], check=True)
    try:
        yield boxes
    finally:
        for box in boxes:
            box.cleanup()
            _nsinit(box, "delete", "--force")
        shutil.rmtree(f"/tmp/nsinit-{UID}", ignore_errors=True)


def _write(box, namespaces) -> None:
    (box.path / "container.json").write_text(json.dumps({"namespaces": namespaces, "environment": ["PATH=/bin"]}))
    os.chown(box.path / "container.json", UID, UID)


def _nsinit(box, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AS_USER, *nsinit_command(), *args], cwd=box.path, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, env=USER_ENV)


def _running(box) -> tuple[subprocess.Popen, int]:
    """``box`` runs a sleep as PID 1, rootless; (its nsinit, its pid)."""
    _write(box, ROOTLESS)
    first = subprocess.Popen([*AS_USER, *nsinit_command(), "exec", "sh", "-c", "echo ready; sleep 60"],
                             cwd=box.path, env=USER_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    box._procs.append(first)
    assert first.stdout.readline().strip() == "ready"
    state = json.loads((box.path / "state.json").read_text())
    return first, state["pid"]


def _hold_the_entering_process(script: str, root, pid_ns: str, tries: int = 20) -> tuple[subprocess.Popen, int]:
    """Run ``script`` until its process in ``pid_ns`` is caught before exec; SIGSTOP the script there.

    Its process in the namespace is then waiting for a message from the
    stopped script (CONFIGURED or START), still the host's interpreter.
    """
    env = dict(USER_ENV, SECRET=SECRET)
    for _ in range(tries):
        proc = subprocess.Popen([*AS_USER, sys.executable, "-c", script, str(root)], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < deadline:
            family = children(proc.pid)
            family += [g for c in family for g in children(c)]
            for pid in family:
                try:
                    inside = os.readlink(f"/proc/{pid}/ns/pid") == pid_ns
                    python = "python" in os.path.basename(os.readlink(f"/proc/{pid}/exe"))
                except OSError:
                    continue
                if inside and python:
                    os.kill(proc.pid, signal.SIGSTOP)
                    if "python" in os.path.basename(os.readlink(f"/proc/{pid}/exe")):
                        return proc, pid
                    os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait()
    pytest.fail(f"no entering process caught before exec in {tries} tries")


def _release(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    os.kill(proc.pid, signal.SIGCONT)
    proc.wait()


def _inner_pid(pid: int) -> str:
    with open(f"/proc/{pid}/status") as f:
        return next(line.split()[-1] for line in f if line.startswith("NSpid:"))


def _peek_from(box, pid: int) -> str:
    """What root of ``box``'s container reads of ``pid`` (its pid there)."""
    r = _nsinit(box, "exec", "nsattack", "peek", _inner_pid(pid))
    assert r.returncode == 0, r.stderr
    return r.stdout


def _gave_away(out: str) -> tuple[bool, bool]:
    """(its environment was read, its memory was read), with the secret in each."""
    environ = any(SECRET in " ".join(w) for w in nsattack_lines(out, "env"))
    memory = any(SECRET in " ".join(w) for w in nsattack_lines(out, "memenv"))
    return environ, memory


def _attack(rootless, script: str, by_path: bool) -> str:
    """Hold the entering process before exec, and let root of the first container read it."""
    box, entering = rootless
    _, pid1 = _running(box)
    pid_ns = os.readlink(f"/proc/{pid1}/ns/pid")
    target = box
    if by_path:
        _write(entering, {"NEWUSER": f"/proc/{pid1}/ns/user", "NEWPID": f"/proc/{pid1}/ns/pid",
                          "NEWNS": True, "NEWUTS": True, "NEWIPC": True, "NEWNET": True})
        target = entering
    proc, pid = _hold_the_entering_process(script, target.path, pid_ns)
    try:
        return _peek_from(box, pid)
    finally:
        _release(proc)


def test_a_joining_process_shows_the_joined_namespace_neither_its_memory_nor_its_environment(rootless):
    out = _attack(rootless, JOIN, by_path=False)
    assert nsattack_lines(out, "environ") == [["environ", "EACCES"]], out
    assert nsattack_lines(out, "mem") == [["mem", "EACCES"]], out
    assert _gave_away(out) == (False, False)


def test_without_the_protection_a_joining_process_gives_away_its_memory_and_environment(rootless):
    out = _attack(rootless, UNPROTECTED + JOIN, by_path=False)
    assert _gave_away(out) == (True, True), out


def test_a_first_process_joining_namespaces_by_path_shows_them_nothing(rootless):
    out = _attack(rootless, CREATE, by_path=True)
    assert nsattack_lines(out, "environ") == [["environ", "EACCES"]], out
    assert nsattack_lines(out, "mem") == [["mem", "EACCES"]], out
    assert _gave_away(out) == (False, False)


def test_without_the_protection_a_first_process_joining_by_path_gives_itself_away(rootless):
    out = _attack(rootless, UNPROTECTED + CREATE, by_path=True)
    assert _gave_away(out) == (True, True), out
