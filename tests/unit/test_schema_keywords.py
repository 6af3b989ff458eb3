"""A plugin's schema may use only what the validator implements: anything else is refused when it registers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from libcontainer.errors import LibcontainerError
from libcontainer.plugins import get_plugin_manager, hookimpl
from libcontainer.validate import schema_problems


def plugin_with(schema):
    class Plugin:
        @hookimpl
        def libcontainer_config_schema(self):
            return {"lct_key": schema}

    return Plugin()


def refusal(schema) -> str:
    with pytest.raises(LibcontainerError) as e:
        get_plugin_manager(extra=[("lctbad", plugin_with(schema))], entry_points=False)
    return str(e.value)


@pytest.mark.parametrize("keyword, value", [
    ("$ref", "#/$defs/thing"),
    ("patternProperties", {"^x": {"type": "string"}}),
    ("not", {"type": "string"}),
    ("multipleOf", 2),
    ("if", {"type": "string"}),
    ("dependentRequired", {"a": ["b"]}),
    ("prefixItems", [{"type": "string"}]),
])
def test_a_keyword_the_validator_does_not_implement_is_refused_at_registration(keyword, value):
    schema = {"type": "object", "properties": {"n": {"type": "integer", keyword: value}}}
    assert refusal(schema) == (
        f"plugin 'lctbad': its schema uses {keyword!r} at $.lct_key.properties.n, "
        "which libcontainer's validator does not implement"
    )


def test_the_path_goes_through_items_and_alternatives():
    schema = {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer", "multipleOf": 3}]}}
    assert "'multipleOf' at $.lct_key.items.anyOf[1]," in refusal(schema)


def test_a_misspelled_keyword_is_refused_with_the_right_spelling():
    assert refusal({"type": "integer", "minimun": 0}) == (
        "plugin 'lctbad': its schema uses 'minimun' at $.lct_key, which libcontainer's validator does not "
        "implement; did you mean 'minimum'?"
    )


def test_an_unknown_type_name_is_refused():
    assert refusal({"type": ["strnig", "null"]}) == (
        "plugin 'lctbad': its schema names an unknown type 'strnig' at $.lct_key.type; did you mean 'string'?"
    )


def test_items_as_a_list_is_refused():
    assert refusal({"type": "array", "items": [{"type": "string"}]}) == (
        "plugin 'lctbad': its schema has a list of 1 item at $.lct_key.items where a schema (an object or a boolean) belongs"
    )


def test_a_pattern_that_is_not_a_regular_expression_is_refused():
    assert refusal({"type": "string", "pattern": "^[a-"}).startswith(
        "plugin 'lctbad': its schema has an invalid pattern '^[a-' at $.lct_key.pattern: "
    )


def test_several_problems_are_counted_in_the_one_line():
    line = refusal({"type": "object", "not": {}, "if": {}, "then": {}})
    assert line.endswith("(and 2 more)") and "\n" not in line


def test_annotations_and_implemented_keywords_are_accepted():
    schema = {
        "type": "object", "title": "t", "description": "d", "default": {}, "examples": [{}], "$comment": "c",
        "deprecated": False, "properties": {"a": {"type": ["integer", "string"], "format": "bytes", "minimum": 0,
                                                  "exclusiveMaximum": 9, "enum": [1, 2], "const": 1}},
        "additionalProperties": {"type": "array", "items": True, "minItems": 1, "maxItems": 3, "uniqueItems": True},
        "propertyNames": {"pattern": "^[a-z]+$", "minLength": 1, "maxLength": 9},
        "required": ["a"], "allOf": [True], "oneOf": [{"type": "object"}], "anyOf": [{}],
    }
    assert schema_problems(schema, "$.x") == []
    plugins = get_plugin_manager(extra=[("lctgood", plugin_with(schema))], entry_points=False)
    assert plugins.owners["lct_key"] == "lctgood"


def test_every_installed_plugins_schema_is_accepted():
    plugins = get_plugin_manager()
    assert not plugins.failed
    for key, schema in plugins.schemas.items():
        assert schema_problems(schema, f"$.{key}") == [], key


BAD_PLUGIN = textwrap.dedent('''
    from libcontainer.plugins import hookimpl

    @hookimpl
    def libcontainer_config_schema():
        return {"lct_key": {"type": "integer", "multipleOf": 2}}
''')


def test_nsinit_names_the_plugin_and_the_keyword_in_one_line(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "lct_bad_schema.py").write_text(BAD_PLUGIN)
    info = site / "lct_bad_schema-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lct-bad-schema\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[libcontainer.plugins]\nlctbad = lct_bad_schema\n")
    (tmp_path / "container.json").write_text('{"lct_key": 4}')
    env = {**os.environ, "PYTHONPATH": str(site), "LIBCONTAINER_PLUGIN_CACHE": ""}
    out = subprocess.run([sys.executable, "-m", "nsinit", "config", "validate", str(tmp_path / "container.json")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1
    assert out.stderr == ("nsinit: plugin 'lctbad': its schema uses 'multipleOf' at $.lct_key, "
                          "which libcontainer's validator does not implement\n")
