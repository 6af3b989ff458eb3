"""Scenario 2 under lcrun: CVE-2019-5736 when nothing of ours supervises the container (issue 17).

Under conmon or containerd-shim, no process of lcrun stays on the host once
``create``, ``start``, ``run -d`` or ``exec --detach`` returns: nothing keeps
the interpreter busy.  A container whose command is ``#!/proc/self/exe``
followed by Python would then get the host's interpreter started inside it
(its loader and libraries are there: read-only binds of the host's library
directories), hold /proc/self/exe and write it once no process runs it
(nsattack overwrite-fd).  lcrun, installed in a ``--copies`` venv whose
interpreter nothing else runs, execs every command through the engine's
sealed exec stub: the interpreter's hash is unchanged.  The twins run the
same lcrun with ``libcontainer.process.exec_command`` patched to exec the
command itself, and show the write happening.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from secutil import nsattack_lines
from test_proc_exe import DEFAULT_CAPS, EVIL_SCRIPT, WITHOUT_THE_STUB, _libraries_of

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

RESOURCE_PREFIX = "lcs-l"
REPO = Path(__file__).resolve().parents[2]

# lcrun's main with the engine's exec stub taken away: the command exec'd by the setup process itself.
UNPROTECTED_LCRUN = WITHOUT_THE_STUB + """
import sys
from lcrun.cli import main
main(sys.argv[1:])
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def copies_install(tmp_path_factory) -> Path:
    """The project and its plugins pip-installed (not editable, scripts/install) into a ``--copies`` venv."""
    venv = tmp_path_factory.mktemp("lcrun-copies") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--copies", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME",
                                                             "LIBCONTAINER_PLUGIN_CACHE")}
    r = subprocess.run([str(REPO / "scripts" / "install"), str(venv)], env=env, cwd="/", capture_output=True,
                       text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (venv / "bin" / "lcrun").exists() and not (venv / "bin" / "python").is_symlink()
    return venv


@pytest.fixture
def venv(copies_install, tmp_path) -> Path:
    """A copy of the installed venv for one test: a twin's attack overwrites its interpreter."""
    copy = tmp_path / "venv"
    shutil.copytree(copies_install, copy, symlinks=True)
    for path in [copy / "pyvenv.cfg", *(copy / "bin").iterdir()]:  # the scripts' #! names the interpreter
        if path.is_file() and not path.is_symlink() and path.read_bytes()[:2] in (b"#!", b"ho"):
            path.write_text(path.read_text().replace(str(copies_install), str(copy)))
    return copy


@pytest.fixture
def attack_bundle(tmp_path, rootfs_template, nsattack, venv) -> Path:
    """A bundle whose /bin/evil is the attack, with nsattack and the venv interpreter's libraries (read-only)."""
    from lcrun.spec import default_spec

    python = venv / "bin" / "python"
    doc = default_spec()
    doc["root"]["readonly"] = False
    doc["process"].update(terminal=False, args=["/bin/evil"], env=["PATH=/bin:/usr/bin"])
    caps = [f"CAP_{c}" for c in DEFAULT_CAPS]
    doc["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    doc["linux"]["cgroupsPath"] = f"/lctest-{RESOURCE_PREFIX}-{os.getpid()}/c1"
    doc["mounts"] += [{"destination": d, "type": "bind", "source": d, "options": ["rbind", "ro"]}
                      for d in _libraries_of(python)]
    bundle = tmp_path / "bundle"
    shutil.copytree(rootfs_template, bundle / "rootfs", symlinks=True)
    (bundle / "config.json").write_text(json.dumps(doc))
    shutil.copy2(nsattack, bundle / "rootfs" / "bin" / "nsattack")
    (bundle / "rootfs" / "bin" / "evil").write_text(EVIL_SCRIPT)
    os.chmod(bundle / "rootfs" / "bin" / "evil", 0o755)
    yield bundle
    subprocess.run([sys.executable, "-m", "lcrun", "--root", str(tmp_path / "root"), "delete", "--force", "c1"],
                   capture_output=True, timeout=60)
    for d in Path("/sys/fs/cgroup").glob(f"*/lctest-{RESOURCE_PREFIX}-{os.getpid()}"):
        try:
            d.rmdir()
        except OSError:
            pass


def lcrun_argv(venv: Path, protected: bool) -> list[str]:
    python = str(venv / "bin" / "python")
    return [str(venv / "bin" / "lcrun")] if protected else [python, "-c", UNPROTECTED_LCRUN]


def attack(venv: Path, bundle: Path, how: str, protected: bool) -> tuple[str, int]:
    """The attack by ``how`` (run -d, create+start, exec); the output of the container and the attack's status."""
    root = bundle.parent / "root"
    out_file = bundle.parent / "attack.out"
    lcrun = lcrun_argv(venv, protected)

    def call(*args: str, argv: list[str] = lcrun) -> None:
        # Files, not pipes: the container keeps lcrun's stdio and outlives it.
        with open(out_file, "a") as out:
            r = subprocess.run(argv + ["--root", str(root), *args], stdout=out, stderr=out, timeout=60,
                               stdin=subprocess.DEVNULL)
        assert r.returncode == 0, out_file.read_text()

    plain = lcrun_argv(venv, True)
    pid_file = bundle.parent / "init.pid"
    if how == "run -d":
        call("run", "--detach", "--bundle", str(bundle), "--pid-file", str(pid_file), "c1")
    elif how == "create, start":
        call("create", "--bundle", str(bundle), "--pid-file", str(pid_file), "c1")
        call("start", "c1", argv=plain)
    else:  # exec: a container that runs, then the attack joins it
        doc = json.loads((bundle / "config.json").read_text())
        doc["process"]["args"] = ["/bin/sleep", "1000"]
        (bundle / "config.json").write_text(json.dumps(doc))
        call("run", "--detach", "--bundle", str(bundle), "c1", argv=plain)
        pid_file = bundle.parent / "exec.pid"
        call("exec", "--detach", "--pid-file", str(pid_file), "c1", "/bin/evil")
        status = wait_child(int(pid_file.read_text()))  # the attack's output is whole once it has ended
        return out_file.read_text(), status
    status = wait_child(int(pid_file.read_text()))
    return out_file.read_text(), status


def wait_child(pid: int, timeout: float = 30) -> int:
    """The exit status of ``pid``, the container's process: this test process is a child subreaper (conftest.py)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} did not end within {timeout} s")


HOW = ["run -d", "create, start", "exec"]


@pytest.mark.parametrize("how", HOW)
def test_lcrun_leaves_no_interpreter_to_overwrite(venv, attack_bundle, how):
    python = venv / "bin" / "python"
    before = sha256(python)
    out, status = attack(venv, attack_bundle, how, protected=True)
    assert status == 126, out  # "#!/proc/self/exe" found the sealed stub, which refuses to be an interpreter
    assert nsattack_lines(out, "holding") == [] and nsattack_lines(out, "written") == [], out
    assert sha256(python) == before


@pytest.mark.parametrize("how", HOW)
def test_without_the_exec_stub_lcruns_container_overwrites_the_interpreter(venv, attack_bundle, how):
    """The twin: the same lcrun execing the command itself; the container writes the venv's interpreter."""
    python = venv / "bin" / "python"
    before = sha256(python)
    out, status = attack(venv, attack_bundle, how, protected=False)
    assert [w[1:] for w in nsattack_lines(out, "written")] == [[str(python)]], out
    assert status == 0
    assert sha256(python) != before
