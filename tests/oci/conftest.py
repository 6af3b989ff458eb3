"""Real OCI clients driving a runtime binary: podman and containerd (through ctr), against runc today and lcrun once it exists.

Fixtures:

``runtime`` (module scope)
    One runtime under test, parametrised over ``RUNTIMES``: runc when it is
    installed, and the project's ``.venv/bin/lcrun`` as soon as that file
    exists (issue 17).  The clients are pointed at a wrapper of the same name
    that appends each call's argv to a log and then execs the runtime, so a
    failing test shows what the client asked for (a report section "runtime
    calls"), and a test can check what was created.
``podman`` (function scope)
    podman with ``--runtime`` the wrapper, the flags this machine needs
    (cgroupfs, file events, ulimits under the hard limit), private storage,
    configuration, temporary directory and cgroup parent; ``--network none``
    always, so no CNI network or veth is ever made.  Each test gets a fresh
    copy of the busybox rootfs to run with ``--rootfs``.
``ctr`` (function scope)
    ``ctr`` talking to a containerd this module started with a private root,
    state, socket and config, in a namespace of its own, with
    ``--runc-binary`` the wrapper; the same fresh rootfs.

Nothing is left behind: after each test every container of the client is
removed, and it is an error when the runtime left a state directory or a
cgroup of a container it was asked to delete, or when the client called a
runtime command issue 17 does not list.  At the end of a module containerd is
stopped (SIGTERM, then SIGKILL), the processes of the clients (conmon,
``podman container cleanup``, containerd-shim) are waited for, mounts under
the private directories are unmounted and the directories removed, with the
cgroup parents, /run/runc (or the runtime's default root), and the
directories containerd-shim makes under /run/containerd when they were not
there before.  The test process is a child subreaper meanwhile, so that the
daemons the clients leave (conmon, the shim) are reaped here, not by init.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from libcontainer.testing.fixtures import copy_rootfs
from ociclients import (HOST_GLOBS, PREFIX, RUNTIME_COMMANDS, RUNTIMES, Containerd, Ctr, Podman,
                        PodmanStore, Runtime, RuntimeUnderTest, cgroup_dirs, command_of, reap_zombies)

# With this set to a file, every runtime call of the run is appended to it
# (one line a call), to read what the clients ask of a runtime.
CALLS_LOG_ENV = "LCOCI_CALLS_LOG"

# -- the runtime under test -------------------------------------------------------------


@pytest.fixture(scope="module", params=RUNTIMES, ids=lambda r: r.name)
def runtime(request: pytest.FixtureRequest) -> Iterator[RuntimeUnderTest]:
    """The runtime under test, behind its logging wrapper; its default root is as it was afterwards."""
    found: Runtime = request.param
    if found.path is None:
        pytest.skip(found.missing)
    workdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-{found.name}-"))
    try:
        rt = RuntimeUnderTest(found, workdir)
        root_before = rt.root_entries()
        yield rt
        if os.environ.get(CALLS_LOG_ENV):
            with open(os.environ[CALLS_LOG_ENV], "a") as f:
                f.write(f"# {request.module.__name__}\n{rt.calls_text()}\n")
        problems = _restore_default_root(rt, root_before)
        assert not problems, problems
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _restore_default_root(rt: RuntimeUnderTest, before: set[str] | None) -> list[str]:
    """Containers of ours left in the runtime's default root (deleted now, and reported); the root removed if we made it."""
    after = rt.root_entries()
    if after is None:
        return []
    ours = set(rt.created()) & (after - (before or set()))
    for cid in sorted(ours):
        subprocess.run([rt.path, "delete", "--force", cid], capture_output=True, timeout=30)
    if before is None:
        try:
            os.rmdir(rt.default_root)
        except OSError:
            pass
    return [f"{rt.name} left {rt.default_root}/{cid}" for cid in sorted(ours)]


@pytest.fixture
def calls_mark(runtime: RuntimeUnderTest, request: pytest.FixtureRequest) -> Iterator[int]:
    """The log position where this test's runtime calls begin; a failing test's report shows them."""
    start = runtime.mark()
    request.node.stash[CALLS_KEY] = (runtime, start)
    yield start
    unknown = sorted({command_of(argv) for argv in runtime.calls(start)} - RUNTIME_COMMANDS)
    assert not unknown, f"the client called runtime commands issue 17 does not list: {unknown}"


CALLS_KEY = pytest.StashKey[tuple[RuntimeUnderTest, int]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    found = item.stash.get(CALLS_KEY, None)
    if found is not None and report.failed:
        rt, start = found
        report.sections.append((f"{rt.name} calls", rt.calls_text(start) or "(none)"))


# -- the host ---------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def host_untouched() -> Iterator[None]:
    """Nothing new in the clients' default state directories or among their temporary files after the module."""
    if os.geteuid() != 0:
        yield
        return
    before = _host_entries()
    yield
    new = sorted(_host_entries() - before)
    assert not new, f"left on the host: {new}"


def _host_entries() -> set[str]:
    return {path for pattern in HOST_GLOBS for path in glob.glob(pattern)}


@pytest.fixture(scope="module", autouse=True)
def orphans_come_back() -> Iterator[None]:
    """The test process is a child subreaper: conmon and containerd-shim, daemons that orphan themselves, are reaped here."""
    if os.geteuid() != 0:
        yield
        return
    from libcontainer import syscalls

    syscalls.real().prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1, what="PR_SET_CHILD_SUBREAPER")
    try:
        yield
    finally:
        syscalls.real().prctl(syscalls.PR_SET_CHILD_SUBREAPER, 0, what="PR_SET_CHILD_SUBREAPER")
        reap_zombies()


# -- the clients ------------------------------------------------------------------------


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/setup installs it)")
    return path


@pytest.fixture(scope="module")
def podman_store(runtime: RuntimeUnderTest) -> Iterator[PodmanStore]:
    """podman's private configuration and storage for the module; everything in them removed at its end."""
    binary = _binary("podman")
    workdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-podman-"))
    store = PodmanStore(binary, runtime, workdir)
    try:
        yield store
    finally:
        problems = store.close()
        shutil.rmtree(workdir, ignore_errors=True)
    assert not problems, f"podman left: {problems}"


@pytest.fixture
def podman(podman_store: PodmanStore, rootfs: Path, calls_mark: int) -> Iterator[Podman]:
    """podman with the runtime under test and a fresh rootfs; every container removed afterwards."""
    yield Podman(podman_store, rootfs, calls_mark)
    podman_store.remove_containers()
    reap_zombies()
    rt = podman_store.runtime
    left = [cid for cid in rt.created(calls_mark) if os.path.exists(os.path.join(rt.default_root, cid))]
    cgroups = [str(d) for d in cgroup_dirs(podman_store.cgroup_parent + "/*") if d.name != "conmon"]
    assert not left and not cgroups, (f"after podman removed its containers, {rt.name} left state {left} "
                                      f"and cgroups {cgroups}")


@pytest.fixture
def rootfs(rootfs_template: Path) -> Iterator[Path]:
    """A fresh copy of the busybox rootfs (the clients write mount points into it)."""
    base = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-rootfs-"))
    try:
        yield copy_rootfs(rootfs_template, base / "rootfs")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def containerd(runtime: RuntimeUnderTest) -> Iterator[Containerd]:
    """A containerd of the module's own, serving once this returns; stopped, and all it made removed, at its end."""
    binary, ctr = _binary("containerd"), _binary("ctr")
    workdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-containerd-"))
    daemon = None
    try:
        daemon = Containerd(binary, ctr, runtime, workdir)
        daemon.wait_ready()
        yield daemon
    finally:
        problems = daemon.close() if daemon is not None else []
        shutil.rmtree(workdir, ignore_errors=True)
    assert not problems, f"containerd left: {problems}"


@pytest.fixture
def ctr(containerd: Containerd, rootfs: Path, calls_mark: int) -> Iterator[Ctr]:
    """ctr with the runtime under test and a fresh rootfs; every task and container deleted afterwards."""
    client = Ctr(containerd, rootfs, calls_mark)
    yield client
    containerd.remove_containers()
    reap_zombies(keep={containerd.proc.pid})
    left = [cid for cid in containerd.runtime.created(calls_mark) if client.state_dir(cid).exists()]
    cgroups = [str(d) for d in cgroup_dirs(f"{containerd.namespace}/*")]
    assert not left and not cgroups, (f"after containerd deleted its tasks, {containerd.runtime.name} left state "
                                      f"{left} and cgroups {cgroups}")
