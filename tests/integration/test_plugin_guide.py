"""The plugin author's guide (docs/plugins.md): its example plugin installs and works, and the guide cannot drift."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from libcontainer.testing.fixtures import nsinit_command

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "docs" / "example-plugin"
HOOKSPECS = ROOT / "libcontainer" / "hookspecs.py"
PIP = Path(sys.executable).with_name("pip")
IGNORED_PARTS = {"build", "__pycache__"}  # build leftovers, never part of the example


# -- pure helpers -----------------------------------------------------------------------


def code_blocks(markdown: str) -> list[str]:
    """The contents of every fenced code block of ``markdown``, each ending with one newline."""
    return [m.group(1) for m in re.finditer(r"^```[^\n]*\n(.*?)^```\s*$", markdown, re.S | re.M)]


def example_files(root: Path = EXAMPLE) -> list[Path]:
    """The files of the example plugin, without build leftovers."""
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and not IGNORED_PARTS & set(p.relative_to(root).parts)
        and not any(part.endswith(".egg-info") for part in p.relative_to(root).parts)
    )


def files_not_in_guide(markdown: str, files: list[Path]) -> list[Path]:
    """The files whose text is not, verbatim, one of the guide's code blocks."""
    blocks = set(code_blocks(markdown))
    return [f for f in files if f.read_text() not in blocks]


def hook_names(source: str) -> list[str]:
    """Every hook defined in hookspecs.py's source."""
    return re.findall(r"^def (libcontainer_\w+)\(", source, re.M)


def hooks_not_in_guide(markdown: str, hooks: list[str]) -> list[str]:
    return [h for h in hooks if not re.search(rf"\b{h}\b", markdown)]


# -- the guide does not drift ------------------------------------------------------------


def test_every_example_file_is_quoted_verbatim_in_the_guide():
    files = example_files()
    assert {f.relative_to(EXAMPLE).as_posix() for f in files} >= {
        "pyproject.toml", "README.md", "libcontainer_motd/__init__.py"}
    assert files_not_in_guide(GUIDE.read_text(), files) == []


def test_an_example_file_the_guide_does_not_quote_is_reported(tmp_path):
    changed = tmp_path / "__init__.py"
    changed.write_text((EXAMPLE / "libcontainer_motd" / "__init__.py").read_text() + "# an edit the guide lacks\n")
    assert files_not_in_guide(GUIDE.read_text(), [changed]) == [changed]


def test_every_hook_is_named_in_the_guide():
    hooks = hook_names(HOOKSPECS.read_text())
    assert "libcontainer_pre_join" in hooks and "libcontainer_process_created" in hooks
    assert len(hooks) >= 20
    assert hooks_not_in_guide(GUIDE.read_text(), hooks) == []


def test_a_hook_the_guide_does_not_name_is_reported():
    made_up = "libcontainer_post_teardown_of_everything"
    assert hooks_not_in_guide(GUIDE.read_text(), [made_up, "libcontainer_pre_join"]) == [made_up]


# -- the example plugin installs and runs -------------------------------------------------


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The example plugin pip-installed (offline) into a private directory; its ``site`` path.

    Built from a copy, so that setuptools' build/ and egg-info land in tmp,
    not in the repository.
    """
    base = tmp_path_factory.mktemp("motd")
    src = shutil.copytree(EXAMPLE, base / "src", ignore=shutil.ignore_patterns(*IGNORED_PARTS, "*.egg-info"))
    subprocess.run(
        [str(PIP), "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(base / "site"), str(src)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    return base / "site"


def plugin_env(tmp_path: Path, site: Path | None) -> dict[str, str]:
    """nsinit's environment: ``site`` on the path, and a private discovery cache."""
    env = dict(os.environ, LIBCONTAINER_PLUGIN_CACHE=str(tmp_path / "plugin-cache.json"))
    env.pop("PYTHONPATH", None)
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return env


def run_nsinit(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(nsinit_command() + list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_installed_example_is_listed_with_its_key(installed, tmp_path):
    env = plugin_env(tmp_path, installed)
    listing = run_nsinit("plugins", env=env, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert re.search(r"^motd 0\.1\.0 \(libcontainer-motd\)$", listing.stdout, re.M), listing.stdout
    schema = run_nsinit("config", "schema", env=env, cwd=tmp_path)
    assert schema.returncode == 0, schema.stderr
    assert '"motd": {' in schema.stdout and '"maxLength": 4096' in schema.stdout


def test_without_the_example_installed_motd_is_not_listed(tmp_path):
    env = plugin_env(tmp_path, None)
    listing = run_nsinit("plugins", env=env, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "libcontainer-motd" not in listing.stdout
    assert '"motd"' not in run_nsinit("config", "schema", env=env, cwd=tmp_path).stdout


@pytest.mark.privileged
def test_installed_example_writes_motd_inside_the_container(installed, container, tmp_path):
    container.write_config(motd="Welcome to the box.")
    result = container.exec("cat", "/etc/motd", env=plugin_env(tmp_path, installed))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Welcome to the box.\n"
    # Written inside the container's root, not the host's.
    assert (container.path / "etc" / "motd").read_text() == "Welcome to the box.\n"


@pytest.mark.privileged
def test_motd_key_without_the_plugin_is_refused(container, tmp_path):
    container.write_config(motd="Welcome to the box.")
    result = container.exec("cat", "/etc/motd", env=plugin_env(tmp_path, None))
    assert result.returncode == 125
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "motd" in lines[0], result.stderr
    assert not (container.path / "etc" / "motd").exists()


@pytest.mark.privileged
def test_motd_with_a_terminal_escape_is_refused(installed, container, tmp_path):
    container.write_config(motd="hi\u001b[2Jthere")
    result = container.exec("cat", "/etc/motd", env=plugin_env(tmp_path, installed))
    assert result.returncode == 125
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "$.motd: control character U+001B at offset 2; only newlines and tabs are allowed" in result.stderr
    assert not (container.path / "etc" / "motd").exists()


@pytest.mark.privileged
def test_inside_hook_failure_reports_one_line_naming_the_plugin(installed, container, tmp_path):
    # /etc/motd is a directory in this rootfs: the plugin's post_mount cannot write it.
    (container.path / "etc" / "motd").mkdir()
    container.write_config(motd="Welcome to the box.")
    result = container.exec("cat", "/etc/motd", env=plugin_env(tmp_path, installed))
    assert result.returncode == 125
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == "nsinit: motd: cannot write /etc/motd: Is a directory"
    assert not (container.path / "state.json").exists() and not (container.path / "pid").exists()
