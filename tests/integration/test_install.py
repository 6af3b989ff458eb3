"""scripts/install as a user runs it: a new environment, nsinit on PATH, the built-in plugins, a container run.

The install builds and downloads what pip needs (about half a minute), once for the
module: those tests are marked slow.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from libcontainer.testing.fixtures import DEFAULT_ENV, SAMPLE_NAMESPACES

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = ["namespaces", "cgroups", "network", "capabilities", "seccomp", "rlimits", "layer", "sysctl", "oom"]


def _users_environment(bin_dir: Path | None = None) -> dict[str, str]:
    """This environment without the test run's venv, Python path or plugin cache; ``bin_dir`` first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "LIBCONTAINER_PLUGIN_CACHE"}}
    path = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if not p.startswith(str(ROOT))]
    env["PATH"] = os.pathsep.join(([str(bin_dir)] if bin_dir else []) + path)
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A throwaway environment that scripts/install filled; removed with the test's temporary directory."""
    target = tmp_path_factory.mktemp("install") / "venv"
    r = subprocess.run([str(ROOT / "scripts" / "install"), str(target)], env=_users_environment(), cwd="/",
                       capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == f"install: nsinit is {target}/bin/nsinit\n"
    return target


def nsinit(venv: Path, *args: str, cwd: Path | str = "/") -> subprocess.CompletedProcess[str]:
    """``nsinit ARGS`` found on PATH, as after ``PATH=VENV/bin:$PATH``."""
    return subprocess.run(["nsinit", *args], env=_users_environment(venv / "bin"), cwd=cwd, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_installed_nsinit_is_on_the_path_and_shows_its_help(venv):
    r = nsinit(venv, "--help")
    assert r.returncode == 0, r.stderr
    assert "exec" in r.stdout and "plugins" in r.stdout


@pytest.mark.slow
def test_installed_console_scripts_import_nothing_before_their_main(venv):
    """pip before 23.3 wrote launchers that import re (~5 ms a start): scripts/install upgrades pip first."""
    for name in ("nsinit", "lcrun"):
        script = (venv / "bin" / name).read_text()
        assert "import re" not in script, script
        assert f"from {name}" in script


@pytest.mark.slow
def test_installed_nsinit_lists_the_builtin_plugins(venv):
    r = nsinit(venv, "plugins")
    assert r.returncode == 0, r.stderr
    for name in BUILTIN:
        assert re.search(rf"^{name} \S+ \(libcontainer-{name}\)$", r.stdout, re.M), r.stdout


@pytest.mark.slow
def test_install_is_not_editable_so_the_checkout_may_go(venv):
    code = ("import libcontainer, nsinit, lcrun.oci, libcontainer_network, libcontainer_seccomp; "
            "print('\\n'.join(m.__file__ for m in (libcontainer, nsinit, lcrun.oci, libcontainer_network, "
            "libcontainer_seccomp)))")
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code], env=_users_environment(), cwd="/",
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert all(path.startswith(str(venv)) for path in r.stdout.split()), r.stdout
    pth = [p for p in venv.glob("lib/python*/site-packages/*.pth") if str(ROOT) in p.read_text()]
    assert pth == []


@pytest.mark.slow
@pytest.mark.privileged
def test_installed_nsinit_runs_a_command_in_a_busybox_container(venv, container):
    (container.path / "container.json").write_text(json.dumps(
        {"namespaces": SAMPLE_NAMESPACES, "environment": DEFAULT_ENV, "hostname": "installed"}))
    r = nsinit(venv, "exec", "--", "sh", "-c", "echo $(hostname) $$ $(cat /etc/hostname)", cwd=container.path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "installed 1 container\n", "")


@pytest.mark.parametrize("args", [["--prefix={a}"], ["{a}", "{b}"]])
def test_install_refuses_what_it_does_not_know_before_doing_anything(args, tmp_path):
    args = [arg.format(a=tmp_path / "a", b=tmp_path / "b") for arg in args]
    r = subprocess.run([str(ROOT / "scripts" / "install"), *args], env=_users_environment(), cwd="/",
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith("install: ") and r.stderr.endswith("(see --help)\n"), r.stderr
    assert os.listdir(tmp_path) == []


def test_install_help_is_its_header():
    r = subprocess.run([str(ROOT / "scripts" / "install"), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert r.stdout.startswith("Install libcontainer, nsinit and the built-in plugins from this checkout")
    assert "scripts/install VENV" in r.stdout and "set -eu" not in r.stdout
