"""Dataclasses without their generated code: declared and introspected the same way, cheaper to define.

``@dataclass`` writes ``__init__``, ``__repr__``, ``__eq__`` (and for frozen
classes ``__setattr__``, ``__delattr__``, ``__hash__``) as source text and
compiles each with ``exec``: ~0.3 ms a class, and every nsinit command
defines about twenty (the config types of the core and its plugins), ~12 ms
of each start.  ``@record`` lets ``dataclasses`` collect the fields (so
``fields``, ``asdict`` and ``replace`` work unchanged) and gives the class
the shared, generic methods below instead::

    from dataclasses import field
    from libcontainer.records import record

    @record(frozen=True)
    class IdMap:
        container_id: int  # first id inside
        host_id: int  # first id outside
        size: int = 1  # how many

Creating an instance is slower than with a generated ``__init__`` (a loop
over the fields), which matters little for a few hundred objects per start.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, FrozenInstanceError
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_PLAN = "__record_plan__"  # per class: ((name, default, factory, init), ...) in field order


def record(cls: type[T] | None = None, /, *, frozen: bool = False) -> Any:
    """Make ``cls`` a dataclass whose methods are the generic ones of this module."""

    def wrap(cls: type[T]) -> type[T]:
        if not cls.__doc__:
            # dataclass would build one from inspect.signature(cls): 2-4 ms.
            cls.__doc__ = cls.__name__
        cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False)
        plan = tuple((f.name, f.default, f.default_factory, f.init) for f in dataclasses.fields(cls))
        setattr(cls, _PLAN, plan)
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


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    plan = getattr(cls, _PLAN)
    positional = [p for p in plan if p[3]]
    if len(args) > len(positional):
        raise TypeError(f"{cls.__name__}() takes {len(positional)} positional arguments but {len(args)} were given")
    given = dict(zip((p[0] for p in positional), args))
    for name in kwargs:
        if name in given:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
    given.update(kwargs)
    setter = object.__setattr__
    for name, default, factory, init in plan:
        if init and name in given:
            setter(self, name, given.pop(name))
        elif default is not MISSING:
            setter(self, name, default)
        elif factory is not MISSING:
            setter(self, name, factory())
        else:
            raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
    if given:
        raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {next(iter(given))!r}")
    post_init: Callable[[], None] | None = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _values(self: Any, which: str) -> list[tuple[str, Any]]:
    return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self) if getattr(f, which)]


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
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")
