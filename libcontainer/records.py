"""Dataclasses without ``dataclasses``: declared and introspected the same way, cheaper to define.

``@dataclass`` writes ``__init__``, ``__repr__``, ``__eq__`` (and for frozen
classes ``__setattr__``, ``__delattr__``, ``__hash__``) as source text and
compiles each with ``exec``: ~0.3 ms a class, and every nsinit command
defines about twenty (the config types of the core and its plugins).  Even
without the generated code, importing ``dataclasses`` and letting it collect
the fields of those classes costs a start ~3 ms (docs/benchmarks.md).
``@record`` collects the fields itself, from the class's annotations, and
gives the class the shared, generic methods below::

    from libcontainer.records import field, record

    @record(frozen=True)
    class IdMap:
        container_id: int  # first id inside
        host_id: int  # first id outside
        size: int = 1  # how many

:func:`fields` and :func:`replace` here are the cheap equivalents of
``dataclasses``'.  ``dataclasses.fields``, ``asdict``, ``replace`` and
``is_dataclass`` work on records too: the first time one asks, the class's
``__dataclass_fields__`` is built by ``dataclasses`` itself, and only then
is it imported.  A ``dataclasses.field(...)`` in a record's body is taken as
this module's :func:`field`.

Creating an instance is slower than with a generated ``__init__`` (a loop
over the fields), which matters little for a few hundred objects per start.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_PLAN = "__record_plan__"  # per class: (Field, ...) in field order


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # no default, as dataclasses.MISSING


class Field:
    """One field of a record: what ``field(...)`` gave, and its name and annotation once collected."""

    __slots__ = ("name", "type", "default", "default_factory", "init", "repr", "compare")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True,
                 repr: bool = True, compare: bool = True) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r}, default_factory={self.default_factory!r})"


def field(*, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True, repr: bool = True,
          compare: bool = True) -> Any:
    """A field's default or factory, and whether it is in ``__init__``, the repr and comparisons."""
    return Field(default, default_factory, init, repr, compare)


def record(cls: type[T] | None = None, /, *, frozen: bool = False) -> Any:
    """Make ``cls`` a record: its fields collected, and the generic methods of this module."""

    def wrap(cls: type[T]) -> type[T]:
        plan = _collect(cls)
        setattr(cls, _PLAN, plan)
        cls.__match_args__ = tuple(f.name for f in plan if f.init)  # type: ignore[attr-defined]
        cls.__dataclass_fields__ = _DataclassFields()  # type: ignore[attr-defined]
        cls.__init__ = _init  # type: ignore[misc]
        cls.__repr__ = _repr  # type: ignore[method-assign]
        cls.__eq__ = _eq  # type: ignore[method-assign]
        if frozen:
            cls.__setattr__ = _frozen_setattr  # type: ignore[method-assign]
            cls.__delattr__ = _frozen_delattr  # type: ignore[method-assign]
            cls.__hash__ = _hash  # type: ignore[method-assign]
        else:
            cls.__hash__ = None  # type: ignore[assignment]  # mutable and comparable: unhashable, as dataclass does
        return cls

    return wrap if cls is None else wrap(cls)


def _collect(cls: type) -> tuple[Field, ...]:
    """The fields of ``cls``: its bases' first (a redefined one keeps its place), then its own annotations.

    As dataclasses does: a default stays as the class attribute, a field
    with a factory or none leaves none, ClassVar annotations are not fields,
    and a list, dict or set default is refused (every instance would share it).
    """
    found: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get(_PLAN, ()):
            found[f.name] = f
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        f = _as_field(value)
        if f is None:
            f = Field(default=value)
        f.name, f.type = name, annotation
        if isinstance(f.default, (list, dict, set)):
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not allowed: use default_factory")
        if f.default is not MISSING:
            setattr(cls, name, f.default)
        elif name in cls.__dict__:
            delattr(cls, name)
        found[name] = f
    return tuple(found.values())


def _as_field(value: Any) -> Field | None:
    """``value`` as a Field when it is one: ours, or a ``dataclasses.field(...)`` (its MISSING is ours)."""
    if isinstance(value, Field):
        return value  # made by this class's body: named below, then removed from the class
    dc = sys.modules.get("dataclasses")  # a dataclasses.Field exists only once someone imported it
    if dc is not None and isinstance(value, dc.Field):
        def ours(x: Any) -> Any:
            return MISSING if x is dc.MISSING else x

        return Field(ours(value.default), ours(value.default_factory), value.init, value.repr, bool(value.compare))
    return None


def _is_classvar(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


class _DataclassFields:
    """``__dataclass_fields__``, built by ``dataclasses`` the first time someone looks (fields, asdict, replace).

    A shadow dataclass with the same annotations and fields is made, and its
    Field objects (public API only) are kept on the record's class.
    """

    def __get__(self, obj: Any, owner: type) -> dict[str, Any]:
        built = owner.__dict__.get("__dataclass_fields_built__")
        if built is None:
            import dataclasses

            plan = getattr(owner, _PLAN)
            namespace: dict[str, Any] = {"__annotations__": {f.name: f.type for f in plan}, "__doc__": owner.__name__}
            for f in plan:
                namespace[f.name] = dataclasses.field(
                    default=f.default if f.default is not MISSING else dataclasses.MISSING,
                    default_factory=f.default_factory if f.default_factory is not MISSING else dataclasses.MISSING,
                    init=f.init, repr=f.repr, compare=f.compare)
            shadow = dataclasses.dataclass(type(owner.__name__, (), namespace), init=False, repr=False, eq=False)
            built = shadow.__dataclass_fields__  # type: ignore[attr-defined]
            type.__setattr__(owner, "__dataclass_fields_built__", built)
        return built


def fields(record_or_type: Any) -> tuple[Field, ...]:
    """The fields of a record (class or instance), in order: as ``dataclasses.fields``, without importing it."""
    try:
        return getattr(record_or_type, _PLAN)
    except AttributeError:
        raise TypeError(f"{record_or_type!r} is not a record") from None


def replace(obj: Any, /, **changes: Any) -> Any:
    """A new record like ``obj`` with ``changes``: as ``dataclasses.replace``, without importing it."""
    for f in fields(obj):
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be specified with replace()")
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    plan = getattr(cls, _PLAN)
    positional = [f for f in plan if f.init]
    if len(args) > len(positional):
        raise TypeError(f"{cls.__name__}() takes {len(positional)} positional arguments but {len(args)} were given")
    given = dict(zip((f.name for f in positional), args))
    for name in kwargs:
        if name in given:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
    given.update(kwargs)
    setter = object.__setattr__
    for f in plan:
        name = f.name
        if f.init and name in given:
            setter(self, name, given.pop(name))
        elif f.default is not MISSING:
            setter(self, name, f.default)
        elif f.default_factory is not MISSING:
            setter(self, name, f.default_factory())
        else:
            raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
    if given:
        raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {next(iter(given))!r}")
    post_init: Callable[[], None] | None = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _values(self: Any, which: str) -> list[tuple[str, Any]]:
    return [(f.name, getattr(self, f.name)) for f in getattr(type(self), _PLAN) if getattr(f, which)]


def _repr(self: Any) -> str:
    inner = ", ".join(f"{name}={value!r}" for name, value in _values(self, "repr"))
    return f"{type(self).__qualname__}({inner})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self, "compare") == _values(other, "compare")


def _hash(self: Any) -> int:
    return hash(tuple(value for _, value in _values(self, "compare")))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    from dataclasses import FrozenInstanceError  # only now: the error path

    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    from dataclasses import FrozenInstanceError

    raise FrozenInstanceError(f"cannot delete field {name!r}")
