"""Fixtures of the cgroups plugin's tests: hand-built containers, gated children, a clean machine."""

from __future__ import annotations

import glob
import os
import uuid

import pytest

from cgroups_harness import PARENT, Harness


def _leftovers() -> list[str]:
    """This run's test cgroups under /sys/fs/cgroup, at any of the depths the tests use."""
    found = []
    for depth in ("*", "*/*", "*/*/*"):
        found += glob.glob(f"/sys/fs/cgroup/{depth}/{PARENT}*")
    return [p for p in found if os.path.isdir(p)]


@pytest.fixture(scope="session", autouse=True)
def nothing_left_under_sys_fs_cgroup():
    """The suite leaves no cgroup behind, even when tests fail."""
    yield
    if os.geteuid() == 0:
        left = _leftovers()
        assert not left, f"test cgroups left behind: {left}"


@pytest.fixture
def harness(tmp_path):
    """Containers and children made by a test; every one is torn down afterwards."""
    h = Harness(tmp_path, uuid.uuid4().hex[:8])
    try:
        yield h
    finally:
        h.close()
