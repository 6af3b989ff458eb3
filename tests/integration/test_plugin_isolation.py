"""A broken third-party plugin breaks only what uses it: one line naming plugin and hook, clean teardown.

Each test installs throwaway plugins the way pip would lay them out (a
package and a ``*.dist-info`` with an entry point in ``libcontainer.plugins``)
into a temporary directory put on PYTHONPATH, with a private discovery cache,
and runs the real ``nsinit``.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from libcontainer.testing.fixtures import nsinit_command, require_root

pytestmark = pytest.mark.privileged

# A plugin owning the key "lct_boom": it raises in the hook the config names.
BOOM = '''
from libcontainer.plugins import hookimpl

def _maybe(container, hook):
    if container.config.sections.get("lct_boom") == hook:
        raise RuntimeError(f"boom in {hook}")

@hookimpl
def libcontainer_config_schema():
    return {"lct_boom": {"type": "string", "description": "the hook that raises"}}

@hookimpl
def libcontainer_post_clone(container, pid):
    _maybe(container, "post_clone")

@hookimpl
def libcontainer_post_mount(container):
    _maybe(container, "post_mount")
'''

BROKEN_IMPORT = '''
raise ImportError("lct_broken needs a library that is not installed")
'''

CLAIMS_HOSTNAME = '''
from libcontainer.plugins import hookimpl

@hookimpl
def libcontainer_config_schema():
    return {"hostname": {"type": "string"}}
'''


def install(site: Path, name: str, source: str) -> None:
    """Lay out the distribution ``lct-<name>`` with one entry point ``name`` = module ``lct_<name>``."""
    (site / f"lct_{name}.py").write_text(textwrap.dedent(source))
    info = site / f"lct_{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: lct-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[libcontainer.plugins]\n{name} = lct_{name}\n")


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "site"
    path.mkdir()
    return path


def env_with(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site), "LIBCONTAINER_PLUGIN_CACHE": str(site.parent / "cache.json")}


@pytest.fixture
def box(container):
    require_root()
    return container


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def nothing_left(box, cgroup: str) -> bool:
    state = any((box.path / n).exists() for n in ("pid", "start", "state.json"))
    cgroups = any(os.path.exists(f"/sys/fs/cgroup/{c}/{cgroup}") for c in ("memory", "pids", "freezer"))
    return not state and not cgroups


@pytest.mark.needs_host("cgroup-v1")  # nothing_left looks in the v1 hierarchies
@pytest.mark.parametrize("hook, side", [("post_clone", "host"), ("post_mount", "inside")])
def test_plugin_raising_in_a_hook_is_one_line_and_the_container_is_torn_down(box, site, hook, side):
    install(site, "boom", BOOM)
    cgroup = f"lctest-iso-{os.getpid()}"
    box.write_config(lct_boom=hook, cgroups={"parent": cgroup, "memory": "64M"})
    r = box.exec("echo", "ran", env=env_with(site))
    assert r.returncode == 125 and "ran" not in r.stdout
    assert one_line(r) == f"nsinit: {hook} (boom): boom in {hook}"
    # post_exit of the other plugins ran: the cgroups plugin removed what it made, in every hierarchy.
    assert nothing_left(box, cgroup), os.listdir(box.path)


def test_plugin_raising_in_a_hook_the_config_does_not_pick_runs_the_command(box, site):
    """Twin: the same plugin, active, raising in no hook: the container runs."""
    install(site, "boom", BOOM)
    box.write_config(lct_boom="nowhere")
    r = box.exec("echo", "ran", env=env_with(site))
    assert (r.returncode, r.stdout.strip()) == (0, "ran"), r.stderr


def test_plugin_that_fails_to_import_is_listed_and_breaks_nothing_else(box, site):
    install(site, "broken", BROKEN_IMPORT)
    plugins = subprocess.run(nsinit_command() + ["plugins"], capture_output=True, text=True, env=env_with(site),
                             timeout=60, stdin=subprocess.DEVNULL)
    assert plugins.returncode == 0
    assert ("broken 0.1 (lct-broken)\n    FAILED to load: ImportError: lct_broken needs a library that is not "
            "installed") in plugins.stdout, plugins.stdout
    box.write_config()
    r = box.exec("echo", "still works", env=env_with(site))
    assert (r.returncode, r.stdout.strip()) == (0, "still works"), r.stderr


def test_config_using_a_key_of_a_plugin_that_failed_to_import_names_it(box, site):
    install(site, "broken", BROKEN_IMPORT)
    box.write_config(lct_broken_key=1)
    r = box.exec("true", env=env_with(site))
    line = one_line(r)
    assert r.returncode == 125
    assert "unknown key 'lct_broken_key'" in line and "plugin 'broken' failed to load" in line


def test_two_plugins_claiming_one_key_is_one_line_naming_both(box, site):
    install(site, "claims", CLAIMS_HOSTNAME)
    box.write_config()
    r = box.exec("true", env=env_with(site))
    assert r.returncode == 125
    line = one_line(r)
    assert "'hostname' is claimed by two plugins" in line and "core" in line and "claims" in line


def test_without_a_second_claimant_the_same_config_runs(box, site):
    """Twin: without the second claimant the same config runs."""
    box.write_config()
    assert box.exec("true", env=env_with(site)).returncode == 0
