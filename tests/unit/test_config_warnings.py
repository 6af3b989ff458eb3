"""A valid config that runs the command with the host's namespaces or every capability is warned about (issue 19, item 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from libcontainer.configfile import config_warnings, parse_config
from libcontainer.plugins import get_plugin_manager, hookimpl
from nsinit.cli import app

NO_NAMESPACES = ("no new namespaces: the command shares nsinit's namespaces (the host's processes, network and "
                 'mounts) but for any it joins; ask for new ones under "namespaces", such as {"NEWNS": true, '
                 '"NEWPID": true, "NEWNET": true}')
EVERY_CAPABILITY = ("no capabilities list: the command keeps every capability nsinit has (as root: all of them); "
                    'list the ones to keep under "capabilities"')
CONTAINED = {"namespaces": {"NEWNS": True, "NEWPID": True}, "capabilities": ["CHOWN"]}


@pytest.fixture(scope="module")
def installed():
    return get_plugin_manager()


def warnings_of(doc, plugins) -> list[str]:
    return config_warnings(parse_config(doc, "c.json", plugins), plugins)


def test_an_empty_config_is_warned_about_twice(installed):
    assert sorted(warnings_of({}, installed)) == sorted([NO_NAMESPACES, EVERY_CAPABILITY])


def test_a_contained_config_gets_no_warning(installed):
    """Twin: new namespaces and a keep list."""
    assert warnings_of(CONTAINED, installed) == []


@pytest.mark.parametrize("spaces", [{}, {"NEWPID": False, "NEWNET": False}, {"NEWNET": "/var/run/netns/blue"}],
                         ids=["empty", "all-false", "joins-only"])
def test_no_new_namespace_is_warned_about(installed, spaces):
    assert warnings_of({"namespaces": spaces, "capabilities": []}, installed) == [NO_NAMESPACES]


def test_a_missing_capabilities_list_is_warned_about(installed):
    assert warnings_of({"namespaces": {"NEWPID": True}}, installed) == [EVERY_CAPABILITY]


def test_an_empty_capabilities_list_keeps_nothing_and_is_not_warned_about(installed):
    assert warnings_of({"namespaces": {"NEWPID": True}, "capabilities": []}, installed) == []


def test_config_warnings_builds_its_own_plugin_manager_when_given_none(installed):
    assert sorted(config_warnings(parse_config({}, "c.json", installed))) == sorted([NO_NAMESPACES, EVERY_CAPABILITY])


def test_any_plugin_may_warn_and_a_crash_is_one_line(make_plugins):
    class Warns:
        @hookimpl
        def libcontainer_config_warnings(self, config):
            return [f"tty is {config.tty}"]

    class Crashes:
        @hookimpl
        def libcontainer_config_warnings(self, config):
            raise KeyError("oops")

    plugins = make_plugins(("warns", Warns()), ("crashes", Crashes()))
    assert sorted(warnings_of({"tty": True}, plugins)) == [
        "cannot check for warnings: config_warnings (crashes): KeyError: 'oops'",
        "tty is True",
    ]


LAZY = textwrap.dedent("""
    import json
    from libcontainer.configfile import config_warnings, parse_config
    from libcontainer.plugins import get_plugin_manager
    plugins = get_plugin_manager(lazy=True)
    deferred = sorted(plugins.deferred)
    print(json.dumps(dict(deferred=deferred, warnings=config_warnings(parse_config({}, "c.json", plugins), plugins))))
""")


def test_plugins_a_lazy_manager_deferred_are_asked_too(tmp_path):
    """An empty config uses no plugin's key: every plugin is deferred, and must still be asked."""
    env = {**os.environ, "LIBCONTAINER_PLUGIN_CACHE": str(tmp_path / "plugins.json")}
    for _ in range(2):  # the first run (a cache miss) imports every plugin and records their keys
        out = subprocess.run([sys.executable, "-c", LAZY], capture_output=True, text=True, env=env, check=True)
    result = json.loads(out.stdout)
    assert {"namespaces", "capabilities"} <= set(result["deferred"])
    assert sorted(result["warnings"]) == sorted([NO_NAMESPACES, EVERY_CAPABILITY])


def test_nsinit_config_validate_warns_on_stderr_and_still_says_valid(tmp_path):
    path = tmp_path / "container.json"
    path.write_text("{}")
    result = CliRunner().invoke(app, ["config", "validate", str(path)])
    assert result.exit_code == 0
    assert result.stdout == f"{path}: valid\n"
    assert sorted(result.stderr.splitlines()) == [f"nsinit: warning: {path}: {w}" for w in sorted([NO_NAMESPACES, EVERY_CAPABILITY])]


def test_nsinit_config_validate_is_quiet_about_a_contained_config(tmp_path):
    path = tmp_path / "container.json"
    path.write_text(json.dumps(CONTAINED))
    result = CliRunner().invoke(app, ["config", "validate", str(path)])
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{path}: valid\n", "")


def test_an_invalid_config_is_not_warned_about(tmp_path):
    path = tmp_path / "container.json"
    path.write_text('{"tty": "yes"}')
    result = CliRunner().invoke(app, ["config", "validate", str(path)])
    assert result.exit_code == 1 and "warning" not in result.stderr
