"""pytest fixtures for libcontainer and plugin authors.

Installed as the pytest plugin ``libcontainer`` (entry point ``pytest11``), so
any project that installs libcontainer can use them:

``rootfs_template``
    A busybox root filesystem built once per test session (session scope).
``container``
    A fresh container directory (a copy of the template) with a helper to
    write its config and run ``nsinit`` in it; torn down after the test,
    killing anything left running.

::

    def test_hostname(container):
        container.write_config(hostname="box", namespaces={"NEWUTS": True, "NEWNS": True})
        result = container.exec("hostname")
        assert result.stdout.strip() == "box"

It also makes a privileged test that is skipped fail when ``CI=true``, and
gives the marker ``needs_host(FEATURE, ...)`` for a test that needs a kind of
host (``cgroup-v1``, ``cgroup2``, ``cgroup-memory``: see ``HOST_FEATURES``): on
a host without it the test is skipped, also in CI, and the run's summary
counts those skips per feature, so a CI machine that lacks one says so.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# The namespaces of the reference samples: a useful default for tests.
SAMPLE_NAMESPACES = {"NEWNS": True, "NEWUTS": True, "NEWIPC": True, "NEWPID": True, "NEWNET": True}
DEFAULT_ENV = ["HOME=/", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]


def nsinit_command() -> list[str]:
    """How to run nsinit from tests: the current interpreter, so the venv's install is used."""
    return [sys.executable, "-m", "nsinit"]


class ContainerDir:
    """A container directory under test: a rootfs plus its container.json."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._procs: list[subprocess.Popen[Any]] = []

    def write_config(self, config: dict[str, Any] | None = None, *, name: str = "container.json", **keys: Any) -> dict[str, Any]:
        """Write container.json: ``config`` (or the sample namespaces and environment) updated with ``keys``."""
        doc = dict(config) if config is not None else {"namespaces": dict(SAMPLE_NAMESPACES), "environment": list(DEFAULT_ENV)}
        doc.update(keys)
        text = json.dumps(doc, indent=2) if name.endswith(".json") else _yaml(doc)
        (self.path / name).write_text(text)
        return doc

    def exec(self, *cmd: str, input: str | None = None, timeout: float = 60, env: dict[str, str] | None = None,
             extra_args: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``nsinit exec CMD`` in this directory and wait for it."""
        return subprocess.run(
            nsinit_command() + ["exec", *(extra_args or []), "--", *cmd], cwd=self.path, input=input,
            capture_output=True, text=True, timeout=timeout, env=env,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    def popen(self, *cmd: str, **kwargs: Any) -> subprocess.Popen[str]:
        """Start ``nsinit exec CMD`` without waiting; killed at teardown if still running."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("text", True)
        proc = subprocess.Popen(nsinit_command() + ["exec", "--", *cmd], cwd=self.path, **kwargs)
        self._procs.append(proc)
        return proc

    def nsinit(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run another nsinit command (stats, pause, spec ...) in this directory."""
        return subprocess.run(nsinit_command() + list(args), cwd=self.path, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def pid(self) -> int | None:
        try:
            return int((self.path / "pid").read_text())
        except (OSError, ValueError):
            return None

    def wait_running(self, timeout: float = 20, served: bool = True) -> int:
        """Wait for a container started with popen() to run; its pid.

        With ``served``, also until its nsinit serves joins (libcontainer/control.py),
        which it does once the first process has run for a moment: a join
        that follows is then served, as users' joins are.  Without, a join
        right after may be served or made by the joining nsinit itself.
        """
        from libcontainer.container import Container
        from libcontainer.control import socket_path
        from libcontainer.state import RUNNING

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.pid()
            # The pid file comes while the container is still being built: its status says when it runs.
            if pid and Container(self.path).status() == RUNNING and (
                    not served or os.path.exists(socket_path(self.path))):
                return pid
            for p in self._procs:
                if p.poll() is not None:
                    out, err = p.communicate()
                    raise AssertionError(f"nsinit exited {p.returncode} before the container ran: {err}")
            time.sleep(0.02)
        raise AssertionError("the container did not start in time")

    def cleanup(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            try:
                proc.communicate(timeout=10)
            except (subprocess.TimeoutExpired, ValueError):
                pass
        pid = self.pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        reap_orphans()
        # A killed nsinit leaves its container stopped, with its cgroups and interfaces: delete removes them.
        from libcontainer.container import Container
        from libcontainer.errors import LibcontainerError

        box = Container(self.path)
        try:
            if box.status() is not None:
                box.delete(force=True)
        except LibcontainerError:
            pass


def read_terminal(master: int) -> bytes:
    """All a pty's other side writes until it closes (reading the master then fails with EIO)."""
    out = b""
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            return out
        if not data:
            return out
        out += data


def reap_orphans() -> None:
    """Collect the zombies among this process's children (orphans come back to a child subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# Named network namespaces of the tests.  `ip netns add` bind-mounts /run/netns
# on itself the first time (so that the namespaces' bind mounts propagate) and
# never unmounts it.  When a test's namespace is the one that made that mount,
# a mark says so, and the mount (and the directory, if ip made it) goes with
# the last of them; a run killed meanwhile leaves the mark, and the next test
# session (conftest.py) finishes the job.
NETNS_DIR = "/run/netns"
NETNS_MARK = "/run/libcontainer-tests-netns"  # "dir" inside: the directory was made too


def _is_mount_point(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == real for line in f)


def add_netns(name: str) -> str:
    """``ip netns add NAME``; the namespace's path.  Delete it with :func:`delete_netns`."""
    if not os.path.exists(NETNS_MARK) and not _is_mount_point(NETNS_DIR):
        with open(NETNS_MARK, "w") as f:
            f.write("" if os.path.isdir(NETNS_DIR) else "dir\n")
    subprocess.run(["ip", "netns", "add", name], check=True)
    return f"/var/run/netns/{name}"


def delete_netns(name: str, check: bool = False) -> None:
    """``ip netns del NAME``, and /run/netns as it was before the tests' first namespace once none is left."""
    try:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=check)
    finally:
        release_netns_dir()


def release_netns_dir() -> None:
    """Undo the /run/netns mount the tests' namespaces made, once none is left in it (also after a crash)."""
    try:
        with open(NETNS_MARK) as f:
            made_dir = "dir" in f.read()
    except FileNotFoundError:
        return
    if os.path.isdir(NETNS_DIR) and os.listdir(NETNS_DIR):
        return  # a namespace is still there: the last one to go does it
    if _is_mount_point(NETNS_DIR):
        subprocess.run(["umount", NETNS_DIR], check=True, capture_output=True)
    if made_dir:
        try:
            os.rmdir(NETNS_DIR)
        except FileNotFoundError:
            pass
    os.unlink(NETNS_MARK)


def _yaml(doc: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(doc, sort_keys=True)


def image_with_config(template: Path, dest: Path, config: dict) -> Path:
    """A copy of the rootfs ``template`` at ``dest`` with ``config`` as its container.json: an image."""
    root = copy_rootfs(template, dest)
    (root / "container.json").write_text(json.dumps(config))
    return root


def tree_digest(root: Path) -> str:
    """Every path, mode and content under ``root``: any write to a shared image shows."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest.update(f"{path.relative_to(root)} {st.st_mode}\n".encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def copy_rootfs(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A busybox rootfs built once per session; copy it, never run in it."""
    from .rootfs import build_busybox_rootfs

    return build_busybox_rootfs(tmp_path_factory.mktemp("rootfs-template") / "rootfs")


@pytest.fixture
def container(rootfs_template: Path, tmp_path: Path):
    """A fresh container directory: a copy of the busybox rootfs, no config yet."""
    box = ContainerDir(copy_rootfs(rootfs_template, tmp_path / "box"))
    try:
        yield box
    finally:
        box.cleanup()


def pytest_configure(config: pytest.Config) -> None:
    # The tests' containers mostly keep every capability on purpose: nsinit
    # exec's warning about it would be in every stderr they read.  Tests of
    # the warnings themselves unset this.
    os.environ.setdefault("NSINIT_WARNINGS", "off")
    config.addinivalue_line("markers", "privileged: needs root and real namespaces; must run (not skip) when CI=true")
    config.addinivalue_line("markers", "needs_host(feature, ...): runs only on a host with these features "
                                       f"({', '.join(HOST_FEATURES)}); skipped elsewhere, also in CI, and counted")


# -- kinds of host ---------------------------------------------------------------------

# What needs_host may name, and what each means.
HOST_FEATURES = {
    "cgroup-v1": "cgroup v1 controllers are mounted (the cgroups plugin then uses its v1 driver)",
    "cgroup2": "a cgroup2 hierarchy is mounted",
    "cgroup-memory": "the cgroups plugin can limit memory: a v1 memory hierarchy, or a cgroup2 root offering "
                     "the memory controller where no v1 controller is mounted",
}
# The v1 controllers whose presence makes the cgroups plugin pick its v1 driver.
_V1_CONTROLLERS = {"memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer", "blkio"}
# Per host feature: the tests marked as needing it, and those skipped for its absence (per session).
_HOST_NEEDS = pytest.StashKey[dict[str, "_Needing"]]()


@dataclass
class _Needing:
    marked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def host_features(mountinfo: str = "/proc/self/mountinfo") -> set[str]:
    """The HOST_FEATURES this host has, from a mountinfo file (proc(5) format)."""
    v1: set[str] = set()
    unified: list[str] = []
    with open(mountinfo) as f:
        for line in f:
            pre, sep, post = line.partition(" - ")
            fields = post.split()
            if not sep or len(fields) < 3:
                continue
            if fields[0] == "cgroup":
                v1 |= set(fields[2].split(",")) & _V1_CONTROLLERS
            elif fields[0] == "cgroup2":
                unified.append(pre.split()[4].encode().decode("unicode_escape"))
    found = set()
    if v1:
        found.add("cgroup-v1")
    if unified:
        found.add("cgroup2")
    if "memory" in v1 or (not v1 and any("memory" in _controllers(path) for path in unified)):
        found.add("cgroup-memory")
    return found


def _controllers(cgroup2: str) -> list[str]:
    try:
        with open(os.path.join(cgroup2, "cgroup.controllers")) as f:
            return f.read().split()
    except OSError:
        return []


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected: only what runs is counted
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip a needs_host test on a host without the feature; an unknown feature name is an error."""
    needs = config.stash.setdefault(_HOST_NEEDS, {})
    present = None
    for item in items:
        needed = [feature for mark in item.iter_markers("needs_host") for feature in mark.args or [None]]
        for feature in needed:
            if feature not in HOST_FEATURES:
                raise pytest.UsageError(f"{item.nodeid}: needs_host({feature!r}): unknown host feature "
                                        f"(known: {', '.join(HOST_FEATURES)})")
            needs.setdefault(feature, _Needing()).marked.append(item.nodeid)
        if needed and present is None:
            present = host_features()
        missing = [feature for feature in needed if feature not in present]
        if missing:
            needs[missing[0]].skipped.append(item.nodeid)  # counted once, under the first it lacks
            reasons = "; ".join(f"{HOST_FEATURES[f]} (needs_host {f!r})" for f in missing)
            item.add_marker(pytest.mark.skip(reason=f"this host lacks what the test needs: {reasons}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    # In CI a skipped privileged test is a failure: it would hide the very
    # behaviour the suite exists to check.
    # A test this kind of host cannot run is a counted skip (pytest_terminal_summary), not a failure.
    if os.environ.get("CI") == "true" and report.skipped and item.get_closest_marker("privileged") is not None:
        if not hasattr(report, "wasxfail") and not _skipped_for_the_host(item):
            report.outcome = "failed"
            report.longrepr = f"privileged test skipped in CI: {report.longrepr}"


def _skipped_for_the_host(item: pytest.Item) -> bool:
    return any(item.nodeid in needing.skipped for needing in item.config.stash.get(_HOST_NEEDS, {}).values())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line counting, per host feature, the needs_host tests skipped because this host lacks it."""
    needs = config.stash.get(_HOST_NEEDS, {})
    if needs:
        counts = ", ".join(f"{feature}: {len(n.skipped)} of {len(n.marked)}" for feature, n in sorted(needs.items()))
        terminalreporter.write_line(f"host-dependent tests skipped: {counts}")


def require_root() -> None:
    """Skip (fail in CI) unless running as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
