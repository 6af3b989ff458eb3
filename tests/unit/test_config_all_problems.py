"""`nsinit config validate` reports every problem of every key and every plugin in one run (issue 19, item 3)."""

from __future__ import annotations

import pytest

from libcontainer.configfile import parse_config
from libcontainer.errors import ConfigError, ConfigProblem
from libcontainer.plugins import get_plugin_manager, hookimpl
from libcontainer.validate import validate


@pytest.fixture(scope="module")
def installed():
    """The core and the installed plugins, as nsinit config validate uses them."""
    return get_plugin_manager()


def problems_of(doc, plugins) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(doc, "c.json", plugins)
    return [str(p) for p in e.value.problems]


def test_a_type_error_does_not_hide_a_bad_join_path(installed):
    doc = {"hostname": 5, "namespaces": {"NEWPID": "true"}}
    assert problems_of(doc, installed) == [
        "$.hostname: expected a string, got an integer (5)",
        "$.namespaces.NEWPID: join path 'true' must be absolute",
    ]


def test_a_bad_user_and_capability_do_not_hide_a_bad_network_type(installed):
    doc = {"user": 5, "capabilities": ["FLY"], "namespaces": {"NEWNET": True}, "networks": [{"type": "bogus"}]}
    found = problems_of(doc, installed)
    assert found[0] == "$.user: expected a string, got an integer (5)"
    assert found[1].startswith("$.capabilities[0]: unknown capability 'FLY'")
    assert found[2:] == ["$.networks[0].type: unknown network type 'bogus' (known: loopback, netns, veth)"]


def test_schema_problems_come_first_then_the_cross_field_ones_in_the_document_order(installed):
    doc = {"namespaces": {"NEWPID": "pid"}, "environment": ["A=1", "A=2"], "tty": "yes"}
    assert problems_of(doc, installed) == [
        "$.tty: expected a boolean, got a string ('yes')",
        "$.namespaces.NEWPID: join path 'pid' must be absolute",
        "$.environment[1]: A is set twice (also at [0])",
    ]


def test_a_plugin_whose_own_key_is_invalid_is_not_cross_checked(installed):
    """uid_mappings without NEWUSER would be a cross-field problem, but namespaces itself is wrong: only that is said."""
    doc = {"namespaces": {"NEWPIG": True}, "uid_mappings": [{"container_id": 0, "host_id": 1000, "size": 1}]}
    found = problems_of(doc, installed)
    assert len(found) == 1 and found[0].startswith("$.namespaces.NEWPIG: unknown namespace 'NEWPIG'")


def test_the_cores_checks_run_beside_a_bad_core_key(core_only):
    doc = {"hostname": 5, "mounts": [{"source": "/a", "destination": "/"}]}
    assert problems_of(doc, core_only) == [
        "$.hostname: expected a string, got an integer (5)",
        "$.mounts[0].destination: cannot mount over '/': it would hide the rootfs",
    ]


def test_a_crashing_check_does_not_hide_the_other_plugins_problems(make_plugins):
    class Buggy:
        @hookimpl
        def libcontainer_validate_config(self, config):
            raise KeyError("oops")

    plugins = make_plugins(("buggy", Buggy()))
    assert problems_of({"environment": ["A=1", "A=2"]}, plugins) == [
        "$.environment[1]: A is set twice (also at [0])",
        "$: cannot validate: validate_config (buggy): KeyError: 'oops'",
    ]


def test_a_check_sees_the_valid_keys_and_not_the_invalid_ones(make_plugins):
    seen = []

    class Watcher:
        @hookimpl
        def libcontainer_config_schema(self):
            return {"watched": {"type": "boolean"}}

        @hookimpl
        def libcontainer_validate_config(self, config):
            seen.append((config.hostname, config.tty, config.section("watched")))

    plugins = make_plugins(("watcher", Watcher()))
    problems_of({"watched": True, "hostname": 5, "tty": True}, plugins)
    assert seen == [(None, True, True)]


def test_an_unknown_key_under_property_names_still_has_its_value_checked():
    schema = {"type": "object", "propertyNames": {"enum": ["NEWNET", "NEWPID"]},
              "additionalProperties": {"type": "boolean"}}
    _, found = validate({"NEWPIG": 5, "NEWNET": True}, schema)
    assert [str(p) for p in found] == [
        "$.NEWPIG: expected one of 'NEWNET', 'NEWPID'; got 'NEWPIG'; did you mean 'NEWPID'?",
        "$.NEWPIG: expected a boolean, got an integer (5)",
    ]


def test_a_valid_config_is_still_valid(installed):
    assert parse_config({"hostname": "box", "namespaces": {"NEWUTS": True}}, "c", installed).hostname == "box"


def test_problems_are_config_problems_with_paths(installed):
    with pytest.raises(ConfigError) as e:
        parse_config({"hostname": 5, "namespaces": {"NEWPID": "true"}}, "c.json", installed)
    assert all(isinstance(p, ConfigProblem) and p.path.startswith("$") for p in e.value.problems)
    assert str(e.value).splitlines()[1] == "c.json: $.namespaces.NEWPID: join path 'true' must be absolute"
