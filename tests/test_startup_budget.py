"""The cold ``nsinit exec`` path imports only what the config at hand needs (issue 10's start-up budget).

Not timed: each of these modules costs tens of milliseconds per container
start, and the test fails as soon as one of them creeps onto the path, on any
machine.  Modules are read from ``python -X importtime``, which lists every
module imported for the first time by nsinit and by its forked setup process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.privileged

# Never needed by a JSON config with namespaces, capabilities and loopback:
# the CLI framework (nsinit exec has its own parser), YAML, netlink,
# entry-point scanning (the discovery cache answers), OpenSSL (hashlib,
# secrets: a few ms and ~4 MiB each start), socket.py (the C module does),
# threading and subprocess.
NOT_NEEDED = ("typer", "click", "yaml", "pyroute2", "importlib.metadata", "hashlib", "secrets", "socket",
              "threading", "subprocess")

MINIMAL = json.loads((Path(__file__).resolve().parent.parent / "sample_configs" / "minimal.json").read_text())
LOOPBACK_ONLY = {
    "namespaces": MINIMAL["namespaces"],
    "capabilities": MINIMAL["capabilities"],
    "networks": [{"type": "loopback", "address": "127.0.0.1/0", "gateway": "localhost", "mtu": 1500}],
    "environment": ["PATH=/bin"],
}


def imported_by_exec(container, env: dict[str, str] | None = None) -> set[str]:
    """Modules a cold ``nsinit exec true`` imports, after one start to fill the discovery cache."""
    container.exec("true")
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "nsinit", "exec", "true"], cwd=container.path,
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:") and "|" in line]
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}  # lines[0] is the header


def unneeded(modules: set[str]) -> list[str]:
    """The modules of NOT_NEEDED (or their submodules) among ``modules``."""
    return sorted(m for m in modules if any(m == bad or m.startswith(bad + ".") for bad in NOT_NEEDED))


def test_cold_exec_of_a_minimal_json_config_imports_only_what_it_needs(container):
    container.write_config(LOOPBACK_ONLY)
    modules = imported_by_exec(container)
    assert "libcontainer.container" in modules  # the listing is real: the engine itself shows up
    assert unneeded(modules) == []


@pytest.mark.parametrize("init", [False, True])
def test_the_init_reaper_is_imported_only_for_a_config_with_init(container, init):
    """Twin pair: "init": true brings libcontainer.reaper, its absence leaves it out."""
    container.write_config({**LOOPBACK_ONLY, "init": init})
    assert ("libcontainer.reaper" in imported_by_exec(container)) is init


def test_cold_exec_of_a_yaml_config_imports_yaml(container):
    """Twin: the check sees an import when the config does need it."""
    container.write_config(LOOPBACK_ONLY, name="container.yaml")
    assert "yaml" in unneeded(imported_by_exec(container))


def test_cold_exec_without_the_discovery_cache_imports_importlib_metadata(container):
    """Twin: with the cache disabled, entry points are scanned and the check says so."""
    container.write_config(LOOPBACK_ONLY)
    assert "importlib.metadata" in unneeded(imported_by_exec(container, {"LIBCONTAINER_PLUGIN_CACHE": ""}))


# Plugins are imported only when the config uses a key they own (the discovery
# cache remembers which keys that is); a plugin owning no key is always active.
NAMESPACES_ONLY = {"namespaces": MINIMAL["namespaces"], "environment": ["PATH=/bin"]}
KEYED_PLUGINS = ("libcontainer_cgroups", "libcontainer_network", "libcontainer_capabilities")


def test_plugins_whose_keys_the_config_does_not_use_are_not_imported(container):
    container.write_config(NAMESPACES_ONLY)
    modules = imported_by_exec(container)
    assert "libcontainer_namespaces" in modules
    assert [m for m in KEYED_PLUGINS if m in modules] == []


def test_plugins_whose_keys_the_config_uses_are_imported(container):
    """Twin: the same check sees the plugins once the config names their keys."""
    container.write_config(LOOPBACK_ONLY)
    modules = imported_by_exec(container)
    assert {"libcontainer_network", "libcontainer_capabilities"} <= modules
    assert "libcontainer_cgroups" not in modules


# A join served by the running container's nsinit (libcontainer/control.py):
# the joining nsinit connects, passes its stdio and waits; the engine, pluggy,
# json, pathlib and the signal module's enums are the supervisor's, already loaded.
ENGINE = ("libcontainer.container", "libcontainer.state", "libcontainer.config", "pluggy", "json", "pathlib",
          "enum", "signal", "typing", "re")


def joined_modules(container, env: dict[str, str] | None = None) -> set[str]:
    container.write_config(LOOPBACK_ONLY)
    container.popen("sleep", "60")
    container.wait_running()
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "nsinit", "exec", "true"], cwd=container.path,
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:") and "|" in line]
    names = [line.rsplit("|", 1)[1].strip() for line in lines[1:]]
    # From nsinit's own first import: what the interpreter's start (site, an
    # editable install's finder, runpy) imported is not nsinit's doing.
    first = min(i for i, name in enumerate(names) if name == "nsinit")
    return set(names[first:])


def test_a_served_join_imports_none_of_the_engine(container):
    modules = joined_modules(container)
    assert "libcontainer.control" in modules
    assert sorted(m for m in ENGINE if m in modules) == []


def test_a_local_join_imports_the_engine(container):
    """Twin: a joining nsinit that joins by itself needs all of it."""
    modules = joined_modules(container, {"NSINIT_DEBUG_LOCAL_JOIN": "1"})
    assert {"libcontainer.container", "libcontainer.state", "pluggy", "json"} <= modules
