"""The built-in plugins are installed exactly as third-party ones: own distributions, one entry-point group."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

BUILT_IN = {"namespaces", "cgroups", "network", "capabilities", "layer", "sysctl", "oom"}


def test_built_in_plugins_register_through_the_entry_point_group():
    found = {ep.name: ep for ep in entry_points(group="libcontainer.plugins")}
    assert BUILT_IN <= set(found)
    for name in BUILT_IN:
        assert found[name].value == f"libcontainer_{name}"
        assert found[name].dist.name == f"libcontainer-{name}"  # a distribution of its own


def test_no_generic_plugins_package_is_importable():
    r = subprocess.run([sys.executable, "-c", "import plugins"], cwd="/", capture_output=True, text=True)
    assert r.returncode != 0
    assert "No module named 'plugins'" in r.stderr


@pytest.mark.parametrize("module", ["libcontainer/container.py", "libcontainer/process.py", "libcontainer/plugins.py",
                                    "libcontainer/configfile.py", "libcontainer/rootfs.py"])
def test_core_names_no_built_in_plugin(module):
    text = (Path(__file__).parents[2] / module).read_text()
    for name in BUILT_IN:
        assert f"libcontainer_{name}" not in text


def test_only_the_syscall_module_calls_libc_through_ctypes():
    root = Path(__file__).parents[2] / "libcontainer"
    users = sorted(p.name for p in root.rglob("*.py") if "ctypes.CDLL" in p.read_text() or "import ctypes" in p.read_text())
    assert users == ["syscalls.py"]


def _listed_packages(pyproject: Path) -> set[str]:
    import tomllib

    return set(tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["packages"])


@pytest.mark.parametrize("pyproject", sorted((Path(__file__).parents[2] / "plugins").glob("*/pyproject.toml")),
                         ids=lambda p: p.parent.name)
def test_every_subpackage_of_a_plugin_is_in_its_distribution(pyproject):
    """An editable install sees every directory; a wheel holds only the packages listed (the network plugin's strategies were missing)."""
    root = pyproject.parent
    on_disk = {str(p.parent.relative_to(root)).replace("/", ".") for p in root.glob("libcontainer_*/**/__init__.py")}
    assert on_disk and on_disk <= _listed_packages(pyproject)


def test_a_subpackage_left_out_of_the_list_is_reported(tmp_path):
    """Twin: the same comparison on a plugin whose subpackage is not listed."""
    (tmp_path / "libcontainer_x" / "sub").mkdir(parents=True)
    (tmp_path / "libcontainer_x" / "__init__.py").write_text("")
    (tmp_path / "libcontainer_x" / "sub" / "__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text('[tool.setuptools]\npackages = ["libcontainer_x"]\n')
    on_disk = {str(p.parent.relative_to(tmp_path)).replace("/", ".") for p in tmp_path.glob("libcontainer_*/**/__init__.py")}
    assert not on_disk <= _listed_packages(tmp_path / "pyproject.toml")
