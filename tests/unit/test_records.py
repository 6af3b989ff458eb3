"""@record behaves as @dataclass for what the project uses: construction, defaults, repr, equality, frozen, introspection."""

from __future__ import annotations

import dataclasses
from dataclasses import field

import pytest

from libcontainer.records import record


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
