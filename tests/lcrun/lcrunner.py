"""Running ``lcrun`` as its callers do, for lcrun's tests: a private --root, stdio in files, the bundles they need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ocibundles import make_bundle

LCRUN = [sys.executable, "-m", "lcrun"]
CGROUP = "lctest-lcrun"  # the cgroup parent of the tests' containers: /lctest-lcrun-PID/ID


class Lcrun:
    """``lcrun --root ROOT ...`` with its output in files, not pipes: a created container keeps lcrun's stdio."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, options: tuple[str, ...] = (), timeout: float = 60, cwd: Path | None = None,
                 stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
        argv = LCRUN + ["--root", str(self.root), *options, *args]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            r = subprocess.run(argv, stdout=out, stderr=err, stdin=stdin, timeout=timeout, cwd=cwd)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(argv, r.returncode, out.read(), err.read())

    def state(self, id: str) -> dict[str, Any]:
        r = self("state", id)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def ids(self) -> list[str]:
        return sorted(os.listdir(self.root)) if self.root.exists() else []


def bundle_doc(args: list[str], **process: Any) -> dict[str, Any]:
    """lcrun spec's config.json without a terminal, running ``args``."""
    from lcrun.spec import default_spec

    doc = default_spec()
    doc["process"].update({"terminal": False, "args": args, **process})
    doc["root"]["readonly"] = False
    return doc


def with_cgroup(doc: dict[str, Any], path: str, **resources: Any) -> dict[str, Any]:
    """``doc`` with cgroupsPath ``path`` and linux.resources."""
    doc["linux"]["cgroupsPath"] = path
    doc["linux"]["resources"] = resources or {"pids": {"limit": 100}}
    return doc


def wait_child(pid: int, timeout: float = 30) -> int:
    """The exit status (128+N for signal N) of ``pid``, a child of ours now (we are a child subreaper)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} did not end within {timeout} s")


# -- fixtures (imported by the test modules) ------------------------------------------------


@pytest.fixture
def lcrun(tmp_path):
    from libcontainer import syscalls
    from libcontainer.testing.fixtures import reap_orphans

    runner = Lcrun(tmp_path / "root")
    syscalls.real().prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1, what="PR_SET_CHILD_SUBREAPER")
    try:
        yield runner
        left = runner.ids()
        for id in left:
            runner("delete", "--force", id)
        assert left == [], f"lcrun left the state of {left}"
        cgroups = [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{CGROUP}-{os.getpid()}/*")]
        assert cgroups == [], cgroups
    finally:
        for d in sorted(Path("/sys/fs/cgroup").glob(f"*/{CGROUP}-{os.getpid()}"), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass
        syscalls.real().prctl(syscalls.PR_SET_CHILD_SUBREAPER, 0, what="PR_SET_CHILD_SUBREAPER")
        reap_orphans()


@pytest.fixture
def make(tmp_path, rootfs_template):
    """``make(doc)``: a bundle of ``doc`` with a fresh busybox rootfs."""
    count = iter(range(100))

    def made(doc) -> Path:
        return make_bundle(tmp_path / f"bundle{next(count)}", doc, rootfs_template)

    return made
