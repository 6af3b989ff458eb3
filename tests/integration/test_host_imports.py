"""A plugin's lazy import after pivot_root reads the host's module, never one the container planted."""

from __future__ import annotations

import sys
import types

import pytest

from libcontainer.container import Container
from libcontainer.plugins import get_plugin_manager, hookimpl

pytestmark = pytest.mark.privileged

RESULT = "/lazy-import-result"  # written inside the container by the plugin's post_mount hook


def lazy_plugin(module: str) -> types.SimpleNamespace:
    """A plugin whose post_mount (inside, after pivot_root) imports ``module`` and writes what happened."""

    @hookimpl
    def libcontainer_post_mount(container):
        try:
            imported = __import__(module)
            outcome = f"imported {getattr(imported, 'ORIGIN', '?')}"
        except ImportError as e:
            outcome = f"refused {type(e).__name__}"
        with open(RESULT, "w") as f:
            f.write(outcome)

    return types.SimpleNamespace(libcontainer_post_mount=libcontainer_post_mount)


def run_with(container, module: str) -> str:
    container.write_config()
    plugins = get_plugin_manager(extra=[("lazy", lazy_plugin(module))])
    assert Container(container.path, plugins=plugins).run(["/bin/true"]).returncode == 0
    return (container.path / RESULT.lstrip("/")).read_text()


@pytest.fixture
def host_dir(tmp_path, monkeypatch):
    """A directory on sys.path that exists on the host (and, as a path, maybe in the container)."""
    path = tmp_path / "host-modules"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    yield path
    for name in [m for m in sys.modules if m.startswith("lct_lazy_")]:
        del sys.modules[name]


def test_lazy_import_after_pivot_root_reads_the_hosts_module(container, host_dir):
    (host_dir / "lct_lazy_host.py").write_text("ORIGIN = 'host'\n")
    assert run_with(container, "lct_lazy_host") == "imported host"


def test_module_planted_in_the_container_at_a_sys_path_entry_is_not_imported(container, host_dir):
    """The container's copy of a sys.path directory holds a module the host lacks: it must not run as root."""
    planted = container.path / str(host_dir).lstrip("/")
    planted.mkdir(parents=True)
    (planted / "lct_lazy_planted.py").write_text("ORIGIN = 'container'\n")
    assert run_with(container, "lct_lazy_planted") == "refused ModuleNotFoundError"


def test_module_planted_over_a_host_module_loses_to_the_host(container, host_dir):
    (host_dir / "lct_lazy_both.py").write_text("ORIGIN = 'host'\n")
    planted = container.path / str(host_dir).lstrip("/")
    planted.mkdir(parents=True)
    (planted / "lct_lazy_both.py").write_text("ORIGIN = 'container'\n")
    assert run_with(container, "lct_lazy_both") == "imported host"


def test_without_protection_the_planted_module_is_importable_code(container, host_dir):
    """Twin: what the container planted is a working module where nothing guards the import."""
    planted = container.path / str(host_dir).lstrip("/")
    planted.mkdir(parents=True)
    (planted / "lct_lazy_planted.py").write_text("ORIGIN = 'container'\n")
    sys.path.insert(0, str(planted))
    try:
        assert __import__("lct_lazy_planted").ORIGIN == "container"
    finally:
        sys.path.remove(str(planted))
