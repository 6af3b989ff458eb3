"""Fixtures of the network plugin's tests: a throwaway host namespace with a bridge, containers, a clean machine."""

from __future__ import annotations

import os
import subprocess

import pytest

from network_harness import Box, HostNetns, Hooks, make_context


def _host_leftovers() -> list[str]:
    """Test interfaces and namespaces on the real host (there must be none)."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if ":" in line]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    return [n for n in names + netns if n.startswith("lct")]


@pytest.fixture(scope="session", autouse=True)
def nothing_left_on_the_host():
    """The suite leaves no interface or namespace of its own on the machine, even when tests fail."""
    yield
    if os.geteuid() == 0:
        left = _host_leftovers()
        assert not left, f"test interfaces or namespaces left on the host: {left}"


@pytest.fixture(scope="session")
def plugins():
    from libcontainer.plugins import get_plugin_manager

    return get_plugin_manager()


@pytest.fixture
def host():
    """A network namespace acting as the host, with bridge lctbr0 on 198.18.0.1/24 and 2001:db8::1/64."""
    h = HostNetns()
    try:
        h.add_bridge("lctbr0", "198.18.0.1/24", "2001:db8::1/64")
        yield h
    finally:
        h.close()


@pytest.fixture
def boxes(plugins, tmp_path):
    """``boxes(doc)`` makes a container process and its context and hooks; all are killed afterwards."""
    made: list[Box] = []

    def make(doc):
        root = tmp_path / f"box{len(made)}"
        root.mkdir()
        box = Box(make_context(plugins, doc, root))
        made.append(box)
        return box, Hooks(plugins, box.ctx)

    try:
        yield make
    finally:
        for box in made:
            box.close()
