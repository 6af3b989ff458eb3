"""args and env as subprocess takes them (libcontainer.stdio): lists made, wrong kinds named."""

from __future__ import annotations

from pathlib import Path

import pytest

from libcontainer.stdio import command_args, environment


@pytest.mark.parametrize("given, made", [
    (["/bin/echo", "hi"], ["/bin/echo", "hi"]),
    (("/bin/echo", b"hi", Path("/x")), ["/bin/echo", "hi", "/x"]),
    ("/bin/true", ["/bin/true"]),  # one program, as subprocess without a shell
    (Path("/bin/true"), ["/bin/true"]),
    ("echo hi", ["echo hi"]),  # never split: no shell
])
def test_args_become_a_list_of_str(given, made):
    assert command_args(given) == made


@pytest.mark.parametrize("given, message", [
    (None, "args must be a list of strings, not NoneType"),
    (5, "args must be a list of strings, not int"),
    ({"a": 1}, "args must be a list of strings, not dict"),
    (["/bin/echo", 5], r"args\[1\] must be a str, bytes or path, not int"),
])
def test_args_of_the_wrong_kind_are_a_type_error_naming_it(given, message):
    with pytest.raises(TypeError, match=message):
        command_args(given)


def test_env_from_a_mapping_or_a_list():
    assert environment({"A": "1", "B": "x=y"}) == ["A=1", "B=x=y"]
    assert environment(["A=1", "B="]) == ["A=1", "B="]
    assert environment(None) is None


@pytest.mark.parametrize("given, error, message", [
    ("A=1", TypeError, "env must be a mapping or a list of 'NAME=value' strings, not str"),
    ({"A": 1}, TypeError, r"env\['A'\]: names and values must be str, not int"),
    ({"A=B": "1"}, ValueError, "is not a variable name"),
    (["A=1", "B"], ValueError, r"env\[1\] 'B' is not 'NAME=value'"),
    (["=x"], ValueError, r"env\[0\] '=x' is not 'NAME=value'"),
    ([("A", "1")], TypeError, r"env\[0\] must be a 'NAME=value' str, not tuple"),
])
def test_env_of_the_wrong_kind_is_named(given, error, message):
    with pytest.raises(error, match=message):
        environment(given)
