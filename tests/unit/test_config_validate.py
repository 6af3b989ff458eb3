"""The schema validator: every keyword, the messages, and normalisation through formats."""

from __future__ import annotations

import pytest

from libcontainer.errors import ConfigProblem
from libcontainer.validate import closest, join_path, validate


def problems_of(value, schema, formats=None):
    return [str(p) for p in validate(value, schema, formats)[1]]


def test_valid_value_has_no_problems_and_comes_back_equal():
    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}
    doc = {"a": [1, 2, 3]}
    result, problems = validate(doc, schema)
    assert problems == [] and result == doc and result is not doc


@pytest.mark.parametrize(
    "value, expected",
    [
        ("5", "$: expected an integer, got a string ('5')"),
        (True, "$: expected an integer, got a boolean (true)"),
        (1.5, "$: expected an integer, got a number (1.5)"),
        (None, "$: expected an integer, got null"),
        ([1], "$: expected an integer, got a list of 1 item"),
    ],
)
def test_wrong_type_says_what_was_found_and_expected(value, expected):
    assert problems_of(value, {"type": "integer"}) == [expected]


def test_booleans_are_not_integers_nor_numbers():
    assert problems_of(False, {"type": "number"}) == ["$: expected a number, got a boolean (false)"]
    assert problems_of(1, {"type": "boolean"}) == ["$: expected a boolean, got an integer (1)"]


def test_integral_float_is_an_integer_and_becomes_int():
    result, problems = validate(3.0, {"type": "integer"})
    assert problems == [] and result == 3 and type(result) is int


def test_list_of_types_accepts_any_of_them():
    assert problems_of("x", {"type": ["integer", "string"]}) == []
    assert problems_of(None, {"type": ["integer", "string"]}) == ["$: expected an integer or a string, got null"]


def test_unknown_key_suggests_the_closest_known_key():
    schema = {"type": "object", "properties": {"hostname": {}, "user": {}}, "additionalProperties": False}
    assert problems_of({"hostnme": "x"}, schema) == ["$.hostnme: unknown key 'hostnme'; did you mean 'hostname'?"]


def test_unknown_key_without_close_match_lists_the_known_keys():
    schema = {"type": "object", "properties": {"hostname": {}, "user": {}}, "additionalProperties": False}
    assert problems_of({"zzz": 1}, schema) == ["$.zzz: unknown key 'zzz'; expected one of 'hostname', 'user'"]


def test_missing_required_key_is_reported_at_the_object():
    schema = {"type": "object", "properties": {"mounts": {"type": "array", "items": {"required": ["destination"]}}}}
    assert problems_of({"mounts": [{}, {}, {"destination": "/x"}]}, schema) == [
        "$.mounts[0]: missing required key 'destination'",
        "$.mounts[1]: missing required key 'destination'",
    ]


def test_every_problem_is_reported_not_only_the_first():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "boolean"}},
    }
    assert len(problems_of({"a": 1, "b": "x", "c": None}, schema)) == 3


def test_enum_lists_the_valid_values_and_suggests_one():
    assert problems_of("bnd", {"enum": ["bind", "tmpfs"]}) == [
        "$: expected one of 'bind', 'tmpfs'; got 'bnd'; did you mean 'bind'?"
    ]
    assert problems_of(True, {"enum": [1, 2]}) == ["$: expected one of 1, 2; got true"]


def test_minimum_and_maximum():
    schema = {"type": "integer", "minimum": 0, "maximum": 100}
    assert problems_of(-1, schema) == ["$: must be at least 0, got -1"]
    assert problems_of(101, schema) == ["$: must be at most 100, got 101"]
    assert problems_of(100, schema) == []


def test_string_length_and_pattern():
    assert problems_of("", {"type": "string", "minLength": 1}) == ["$: must not be empty, got ''"]
    assert problems_of("abcd", {"maxLength": 3}) == ["$: must be at most 3 characters long, got 4 characters"]
    schema = {"pattern": "^[rwm]{1,3}$", "title": 'a subset of "rwm"'}
    assert problems_of("rx", schema) == ["$: expected a subset of \"rwm\", got 'rx'"]
    assert problems_of("rw", schema) == []


def test_format_normalises_the_value():
    formats = {"upper": lambda v: v.upper()}
    result, problems = validate({"a": ["x", "y"]}, {"properties": {"a": {"items": {"format": "upper"}}}}, formats)
    assert problems == [] and result == {"a": ["X", "Y"]}


def test_format_error_message_is_the_problem():
    def even(v):
        if v % 2:
            raise ValueError(f"expected an even number, got {v}")
        return v

    assert problems_of(3, {"type": "integer", "format": "even"}, {"even": even}) == ["$: expected an even number, got 3"]


def test_format_that_crashes_is_a_problem_not_a_traceback():
    assert problems_of("x", {"format": "bad"}, {"bad": lambda v: 1 / 0})[0].startswith("$: format 'bad' failed")


def test_unknown_format_is_an_annotation():
    assert problems_of("x", {"type": "string", "format": "email"}) == []


def test_keywords_after_format_apply_to_the_canonical_value():
    formats = {"size": lambda v: int(v[:-1]) * 1024 if isinstance(v, str) else v}
    assert problems_of("2k", {"type": ["integer", "string"], "format": "size", "maximum": 1024}, formats) == [
        "$: must be at most 1024, got 2048"
    ]


def test_property_names_format_canonicalises_keys():
    schema = {"type": "object", "propertyNames": {"format": "upper"}, "additionalProperties": {"type": "boolean"}}
    result, problems = validate({"newpid": True, "NEWNET": False}, schema, {"upper": str.upper})
    assert problems == [] and result == {"NEWPID": True, "NEWNET": False}


def test_keys_that_canonicalise_to_the_same_key_are_duplicates():
    schema = {"type": "object", "propertyNames": {"format": "upper"}}
    assert problems_of({"newpid": True, "NEWPID": True}, schema, {"upper": str.upper}) == [
        "$.NEWPID: duplicate key: 'NEWPID' means the same as 'newpid'"
    ]


def test_non_string_keys_are_refused():
    assert problems_of({1: "x"}, {"type": "object"}) == ["$[1]: keys must be strings, got an integer (1)"]


def test_items_unique():
    assert problems_of(["a", "b", "a"], {"uniqueItems": True}) == ["$[2]: duplicate item 'a' (also at [0])"]


def test_any_of_lists_the_alternatives_when_none_matches():
    schema = {"anyOf": [{"const": -1}, {"type": "string", "title": "a size such as \"512M\""}]}
    assert problems_of(True, schema) == ["$: expected one of: -1; a size such as \"512M\"; got a boolean (true)"]


def test_any_of_with_one_alternative_of_the_right_type_reports_its_own_problem():
    schema = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]}
    assert problems_of(-5, schema) == ["$: must be at least 0, got -5"]


def test_any_of_returns_the_normalised_value_of_the_matching_alternative():
    schema = {"anyOf": [{"const": -1}, {"type": "string", "format": "upper"}]}
    assert validate("abc", schema, {"upper": str.upper}) == ("ABC", [])


def test_one_of_refuses_a_value_matching_two_alternatives():
    schema = {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    assert problems_of(1, schema) == ["$: matches more than one of: an integer; a number"]
    assert problems_of(1.5, schema) == []


def test_paths_name_keys_and_indexes():
    assert join_path(join_path(join_path("$", "mounts"), 2), "destination") == "$.mounts[2].destination"
    assert join_path("$", "a key") == "$['a key']"


def test_closest_ignores_case_and_needs_similarity():
    assert closest("HOSTNAME", ["hostname"]) == "hostname"
    assert closest("cgroup", ["cgroups", "context"]) == "cgroups"
    assert closest("seccomp", ["cgroups", "context", "hostname"]) is None


def test_problem_is_path_and_message():
    assert str(ConfigProblem("$.tty", "expected a boolean")) == "$.tty: expected a boolean"
