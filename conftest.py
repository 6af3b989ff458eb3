"""Shared test configuration: privileged tests need root (and must run in CI); nothing is left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# pytester: tests of the project's pytest plugin (libcontainer.testing.fixtures) run pytest on sample files.
pytest_plugins = ["pytester"]


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="privileged test: needs root")
    for item in items:
        if item.get_closest_marker("privileged"):
            item.add_marker(skip)


def _snapshot() -> dict[str, set[str]]:
    """What a container runtime could leak on this host: mounts, cgroups, interfaces, netns, trusted state."""
    with open("/proc/self/mountinfo") as f:
        mounts = {line.split()[4] for line in f}
    cgroups = set()
    base = Path("/sys/fs/cgroup")
    if base.is_dir():
        for hierarchy in base.iterdir():
            if hierarchy.is_dir():
                for d in hierarchy.glob("*/"):
                    cgroups.add(str(d))
                for d in hierarchy.glob("*/*/"):
                    cgroups.add(str(d))
    links = set(os.listdir("/sys/class/net"))
    netns = set(os.listdir("/var/run/netns")) if os.path.isdir("/var/run/netns") else set()
    states = set(os.listdir("/run/nsinit")) if os.path.isdir("/run/nsinit") else set()
    rootless = {name for name in os.listdir("/tmp") if name.startswith("nsinit-")}
    return {"mounts": mounts, "cgroups": cgroups, "interfaces": links, "network namespaces": netns,
            "container states (/run/nsinit)": states, "rootless states (/tmp/nsinit-UID)": rootless}


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind():
    """Fails the session when the suite leaves a mount, cgroup, interface or netns on the host."""
    if os.geteuid() != 0:
        yield
        return
    from libcontainer.testing.fixtures import release_netns_dir

    release_netns_dir()  # what a killed earlier run of the tests left (fixtures.add_netns)
    before = _snapshot()
    yield
    release_netns_dir()
    after = _snapshot()
    leaked = {kind: sorted(after[kind] - before[kind]) for kind in after}
    leaked = {kind: items for kind, items in leaked.items() if items}
    assert not leaked, f"the test suite left these on the host: {leaked}"
