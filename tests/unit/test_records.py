"""@record behaves as @dataclass for what the project uses: construction, defaults, repr, equality, frozen,
introspection (its own and dataclasses'), without importing dataclasses until asked."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import field
from typing import ClassVar

import pytest

from libcontainer.records import field as records_field
from libcontainer.records import fields, record, replace


@record
class Mutable:
    """A mutable record."""

    name: str  # required
    size: int = 1  # with a default
    tags: list[str] = field(default_factory=list)  # with a factory
    secret: str = field(default="", repr=False, compare=False)  # left out of repr and ==


@record(frozen=True)
class Frozen:
    """A frozen record."""

    kind: str
    path: str = ""


@dataclasses.dataclass
class Reference:
    """The same fields as Mutable, made by dataclasses, to compare with."""

    name: str
    size: int = 1
    tags: list[str] = field(default_factory=list)
    secret: str = field(default="", repr=False, compare=False)


def test_positional_keyword_default_and_factory_arguments():
    a = Mutable("a", tags=["x"])
    assert (a.name, a.size, a.tags, a.secret) == ("a", 1, ["x"], "")
    assert Mutable("b").tags is not Mutable("b").tags  # a fresh list per instance


@pytest.mark.parametrize("args, kwargs, message", [
    ((), {}, "missing required argument: 'name'"),
    (("a", 1, [], "s", "extra"), {}, "takes 4 positional arguments but 5 were given"),
    (("a",), {"name": "b"}, "multiple values for argument 'name'"),
    (("a",), {"colour": "red"}, "unexpected keyword argument 'colour'"),
])
def test_wrong_arguments_are_type_errors_like_a_dataclass(args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        Mutable(*args, **kwargs)
    with pytest.raises(TypeError):
        Reference(*args, **kwargs)


def test_repr_and_equality_match_dataclasses():
    a, r = Mutable("a", 2, ["t"], secret="s"), Reference("a", 2, ["t"], secret="s")
    assert repr(a).replace("Mutable", "Reference") == repr(r)
    assert a == Mutable("a", 2, ["t"], secret="other")  # compare=False
    assert a != Mutable("a", 3, ["t"])
    assert a != r  # another class is never equal


def test_mutable_records_are_unhashable_and_frozen_ones_hash_by_value():
    with pytest.raises(TypeError):
        hash(Mutable("a"))
    assert hash(Frozen("net", "/p")) == hash(Frozen("net", "/p"))
    assert len({Frozen("net"), Frozen("net"), Frozen("pid")}) == 2


def test_frozen_records_refuse_assignment():
    f = Frozen("net")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.kind = "pid"
    with pytest.raises(dataclasses.FrozenInstanceError):
        del f.kind


def test_mutable_records_accept_assignment():
    """Twin: only frozen records refuse."""
    m = Mutable("a")
    m.size = 5
    assert m.size == 5


def test_dataclasses_introspection_works_on_records():
    assert [f.name for f in dataclasses.fields(Mutable)] == ["name", "size", "tags", "secret"]
    assert dataclasses.asdict(Mutable("a", tags=["x"])) == {"name": "a", "size": 1, "tags": ["x"], "secret": ""}
    assert dataclasses.replace(Frozen("net", "/a"), path="/b") == Frozen("net", "/b")
    assert dataclasses.is_dataclass(Frozen)


def test_the_cheap_fields_and_replace_agree_with_dataclasses():
    assert [f.name for f in fields(Mutable)] == [f.name for f in dataclasses.fields(Reference)]
    assert [f.name for f in fields(Mutable("a"))] == ["name", "size", "tags", "secret"]
    assert replace(Frozen("net", "/a"), path="/b") == Frozen("net", "/b")
    assert replace(Mutable("a", tags=["x"]), size=3) == Mutable("a", 3, ["x"])
    with pytest.raises(TypeError, match="is not a record"):
        fields(Reference)


@record
class Ours:
    """A record declared with this module's field, a ClassVar and a class-level default."""

    LIMIT: ClassVar[int] = 3  # not a field
    name: str = "x"
    items: list[str] = records_field(default_factory=list)
    hidden: int = records_field(default=0, repr=False, compare=False)


@record
class Derived(Ours):
    """Inherits Ours's fields; redefines one (it keeps its place) and adds one."""

    name: str = "y"
    extra: int = 1


def test_records_field_classvar_and_class_attributes_behave_as_dataclasses():
    assert [f.name for f in fields(Ours)] == ["name", "items", "hidden"]
    assert Ours.LIMIT == 3 and Ours.name == "x"  # a default stays as the class attribute
    assert "items" not in Ours.__dict__  # a factory leaves none
    assert repr(Ours("a", ["i"], 5)) == "Ours(name='a', items=['i'])"
    assert Ours(hidden=1) == Ours(hidden=2)
    assert dataclasses.asdict(Ours("a")) == {"name": "a", "items": [], "hidden": 0}


def test_inherited_fields_come_first_and_a_redefined_one_keeps_its_place():
    assert [f.name for f in fields(Derived)] == ["name", "items", "hidden", "extra"]
    assert Derived() == Derived("y", [], 0, 1)
    assert [f.name for f in dataclasses.fields(Derived)] == ["name", "items", "hidden", "extra"]


def test_a_mutable_default_is_refused_as_dataclasses_does():
    with pytest.raises(ValueError, match="mutable default <class 'list'> for field tags is not allowed"):
        @record
        class Bad:
            tags: list[str] = []  # noqa: RUF012 - the mistake under test


def test_defining_and_using_records_does_not_import_dataclasses():
    script = """
import sys
from libcontainer.records import field, fields, record, replace

@record(frozen=True)
class R:
    a: int
    b: list = field(default_factory=list)

r = replace(R(1), a=2)
assert (r.a, r.b, [f.name for f in fields(r)]) == (2, [], ["a", "b"])
print("dataclasses" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_asking_dataclasses_imports_it_and_answers():
    """Twin: introspection through dataclasses builds its fields on the first question."""
    script = """
import sys
from libcontainer.records import record

@record
class R:
    a: int = 1

import dataclasses
print(dataclasses.is_dataclass(R), [f.name for f in dataclasses.fields(R)])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True ['a']"
