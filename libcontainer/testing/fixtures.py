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

It also makes a privileged test that is skipped fail when ``CI=true``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
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
        from libcontainer.control import socket_path

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.pid()
            if pid and (self.path / "state.json").exists() and (not served or os.path.exists(socket_path(self.path))):
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
        if (self.path / "pid").exists() or (self.path / "state.json").exists():
            # A killed nsinit leaves its state: the next command cleans up (cgroups, interfaces).
            subprocess.run(nsinit_command() + ["exec", "true"], cwd=self.path, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)


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


def _yaml(doc: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(doc, sort_keys=True)


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
    config.addinivalue_line("markers", "privileged: needs root and real namespaces; must run (not skip) when CI=true")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    # In CI a skipped privileged test is a failure: it would hide the very
    # behaviour the suite exists to check.
    if os.environ.get("CI") == "true" and report.skipped and item.get_closest_marker("privileged") is not None:
        if not hasattr(report, "wasxfail"):
            report.outcome = "failed"
            report.longrepr = f"privileged test skipped in CI: {report.longrepr}"


def require_root() -> None:
    """Skip (fail in CI) unless running as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
