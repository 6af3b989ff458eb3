"""The security suite's harness: the nsattack helper in every container, a leftover check per test, host sentinels.

Fixtures:

``nsattack``
    The static attack helper (helper/nsattack.c), compiled once per session.
``container``
    The libcontainer fixture's busybox container, with the helper at
    /bin/nsattack in its rootfs.
``more_containers``
    A factory of further such containers, for tests of one container against another.
``host_python``
    The real path of the interpreter that runs nsinit (what CVE-2019-5736
    style attacks try to overwrite).

``secutil.nsattack_lines(text, key)`` parses the helper's output.

Every test of this directory is checked at teardown (``nothing_left``): no
pid or state.json file in its containers' directories, no cgroup named after
them, no mount of their paths on the host, no new host mount outside pytest's
temporary directories, no network namespace or host interface with the suite's
prefix (``lcs``, or the test module's ``RESOURCE_PREFIX`` such as ``lcs-a``:
use it in cgroup names as ``lctest-<prefix>-...`` and as the veth prefix) that
appeared during the test, and no process left
among the test process's children (the test process is a child subreaper, so
every orphan of a killed nsinit comes back to it).

The session (``host_sentinels``) hashes the interpreter, libpython, the
``nsinit`` script and the installed libcontainer and plugin files, and reads
/proc/sys/kernel/core_pattern and hostname, before and after: any change fails
the session.  Outside CI a source file edited during the run (newer mtime) is
reported as a warning only, since developers edit while tests run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from libcontainer.testing.fixtures import reap_orphans

HELPER_SOURCE = Path(__file__).parent / "helper" / "nsattack.c"
# Names the suite gives what it creates on the host, so that the leftover
# check can tell them from other test runs' on a shared machine.
PREFIX = "lcs"

# -- the helper -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def nsattack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """helper/nsattack.c, compiled static (it runs in a busybox rootfs without libc)."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the security helper: scripts/setup installs gcc and libc6-dev")
    out = tmp_path_factory.mktemp("nsattack") / "nsattack"
    r = subprocess.run(["gcc", "-static", "-O2", "-Wall", "-o", str(out), str(HELPER_SOURCE)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"building {HELPER_SOURCE.name} failed:\n{r.stderr}")
    return out


@pytest.fixture
def container(container, nsattack: Path):
    """The libcontainer fixture's container, with /bin/nsattack in its rootfs."""
    shutil.copy2(nsattack, container.path / "bin" / "nsattack")
    return container


@pytest.fixture
def more_containers(request: pytest.FixtureRequest, rootfs_template: Path, nsattack: Path, tmp_path: Path):
    """``more_containers("name")``: another fresh container with the helper, cleaned up and checked like ``container``."""
    from libcontainer.testing.fixtures import ContainerDir, copy_rootfs

    made: list = []
    request.node.lcs_more_containers = made

    def make(name: str) -> ContainerDir:
        box = ContainerDir(copy_rootfs(rootfs_template, tmp_path / name))
        shutil.copy2(nsattack, box.path / "bin" / "nsattack")
        made.append(box)
        return box

    try:
        yield make
    finally:
        for box in made:
            box.cleanup()


# -- host sentinels -----------------------------------------------------------------------


def _python_files() -> list[Path]:
    """The interpreter, its libpython, and the nsinit script: what /proc/PID/exe attacks reach."""
    files = [Path(os.path.realpath(sys.executable))]
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "libpython" in path and Path(path) not in files:
                files.append(Path(path))
    script = shutil.which("nsinit", path=os.path.dirname(sys.executable))
    if script:
        files.append(Path(os.path.realpath(script)))
    return files


def _installed_files() -> list[Path]:
    """Every file of the installed libcontainer, nsinit and plugin packages."""
    import libcontainer
    import nsinit

    dirs = [Path(libcontainer.__file__).parent, Path(nsinit.__file__).parent]
    for name in ("libcontainer_capabilities", "libcontainer_cgroups", "libcontainer_namespaces",
                 "libcontainer_network"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        dirs.append(Path(module.__file__).parent)
    return sorted(p for d in dirs for p in d.rglob("*.py"))


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        return f"unreadable: {e.strerror}"
    return h.hexdigest()


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


@pytest.fixture(scope="session")
def host_python() -> Path:
    return Path(os.path.realpath(sys.executable))


@pytest.fixture(scope="session", autouse=True)
def host_sentinels():
    """Fails the session when the host's interpreter, nsinit files, core_pattern or hostname changed."""
    if os.geteuid() != 0:
        yield
        return
    started = time.time()
    binaries = {p: _digest(p) for p in _python_files()}
    sources = {p: _digest(p) for p in _installed_files()}
    knobs = {k: _read(k) for k in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname")}
    yield
    changed = [str(p) for p, h in binaries.items() if _digest(p) != h]
    changed += [f"{k}: {v!r} -> {_read(k)!r}" for k, v in knobs.items() if _read(k) != v]
    edited = [p for p, h in sources.items() if _digest(p) != h]
    if os.environ.get("CI") != "true":
        during = [p for p in edited if p.exists() and p.stat().st_mtime >= started]
        if during:
            warnings.warn(f"edited during the run, not counted as tampering: {[str(p) for p in during]}")
        edited = [p for p in edited if p not in during]
    changed += [str(p) for p in edited]
    assert not changed, f"the host changed during the security suite: {changed}"


# -- leftovers, per test -----------------------------------------------------------------------


def _children(of: int) -> list[tuple[int, str]]:
    """(pid, state) of every process whose parent is ``of``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = _read(f"/proc/{name}/stat")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == of:
            found.append((int(name), fields[0]))
    return found


def _live_children() -> list[int]:
    """Children still alive after a second's grace (a killed container's processes take a moment)."""
    deadline = time.monotonic() + 1.0
    while True:
        reap_orphans()
        alive = [pid for pid, state in _children(os.getpid()) if state != "Z"]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def _mounts() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def _cgroups_named(needle: str) -> list[str]:
    base = Path("/sys/fs/cgroup")
    found = []
    for hierarchy in base.iterdir() if base.is_dir() else []:
        for pattern in ("*/", "*/*/", "*/*/*/"):
            found += [str(d) for d in hierarchy.glob(pattern) if needle in d.name]
    return found


def _prefixed(prefix: str) -> list[str]:
    """The suite's cgroups, interfaces and network namespaces on the host, by their prefix."""
    found = [f"cgroup {c}" for c in _cgroups_named(f"lctest-{prefix}")]
    found += [f"interface {i}" for i in os.listdir("/sys/class/net") if i.startswith(prefix)]
    netns = "/var/run/netns"
    found += [f"netns {n}" for n in (os.listdir(netns) if os.path.isdir(netns) else []) if n.startswith(prefix)]
    return found


def _container_id(root: Path) -> str:
    from libcontainer import state

    if hasattr(state, "container_id"):
        return state.container_id(root)
    from libcontainer.container import container_id

    return container_id(root)


def _state_files(root: Path) -> list[Path]:
    """The state a container in ``root`` leaves while it runs: in its directory, and nsinit's private one."""
    from libcontainer import state

    found = [root / name for name in ("pid", "state.json") if (root / name).exists()]
    if hasattr(state, "private_dir"):
        private = state.private_dir(root)
        if private.exists() and any(private.iterdir()):
            found += sorted(private.iterdir())
    return found


def _containers_of(request: pytest.FixtureRequest) -> list:
    from libcontainer.testing.fixtures import ContainerDir

    boxes = [v for v in getattr(request.node, "funcargs", {}).values() if isinstance(v, ContainerDir)]
    return boxes + list(getattr(request.node, "lcs_more_containers", []))


@pytest.fixture(scope="module", autouse=True)
def _orphans_come_back_to_us():
    # As a child subreaper, the test process gets every orphan of its
    # subtree (prctl(2)): a process a test leaves behind cannot hide under init.
    # Only for this directory's modules: tests elsewhere expect init to reap
    # the orphans they make, and would otherwise see them as our zombies.
    if os.geteuid() != 0:
        yield
        return
    from libcontainer import container as engine
    from libcontainer import syscalls

    syscalls.real().set_child_subreaper()
    try:
        yield
    finally:
        syscalls.real().prctl(syscalls.PR_SET_CHILD_SUBREAPER, 0, what="PR_SET_CHILD_SUBREAPER")
        engine._subreaper_set = False
        reap_orphans()  # what came back to us meanwhile


@pytest.fixture(autouse=True)
def nothing_left(request: pytest.FixtureRequest):
    """After each test: no state file, cgroup, mount, interface, netns or process of it is left."""
    if os.geteuid() != 0:
        yield
        return
    mounts_before = _mounts()
    prefix = getattr(request.module, "RESOURCE_PREFIX", PREFIX)
    ours_before = set(_prefixed(prefix))
    yield
    problems = []
    alive = _live_children()
    for pid in alive:
        try:
            cmd = _read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()
            os.kill(pid, signal.SIGKILL)
        except OSError:
            cmd = "?"
        problems.append(f"process {pid} ({cmd})")
    reap_orphans()
    mounts_after = _mounts()
    for box in _containers_of(request):
        problems += [f"state file {p}" for p in _state_files(box.path)]
        problems += [f"cgroup {c}" for c in _cgroups_named(_container_id(box.path))]
        problems += [f"mount {m}" for m in mounts_after if m.startswith(str(box.path))]
    problems += [f"host mount {m}" for m in sorted(mounts_after - mounts_before)
                 if not m.startswith("/tmp/pytest-of-") and not m.startswith("/run/netns")]
    # Only what appeared during the test: another run of the suite may be
    # going on at the same time on a developer's machine.
    problems += sorted(set(_prefixed(prefix)) - ours_before)
    assert not problems, f"{request.node.name} left these behind: {problems}"
