"""Which network types exist: the built-in ones, then those other plugins register.

Types come from the ``libcontainer_network_types`` hook.  Hooks receive no
plugin manager, so when none is passed in, the plugins of the
``libcontainer.plugins`` entry-point group are asked directly; that scan runs
only for a type that is not built in, so loopback, veth and netns cost nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .strategies import Strategy

BUILTIN_TYPES = ("loopback", "veth", "netns")


def builtin_types(names: set[str] | None = None) -> dict[str, Strategy]:
    """The types this plugin provides (only ``names`` when given: each type's module is imported on demand)."""
    types: dict[str, Strategy] = {}
    wanted = set(BUILTIN_TYPES) if names is None else names
    if "loopback" in wanted:
        from .strategies.loopback import Loopback

        types["loopback"] = Loopback()
    if "veth" in wanted:
        from .strategies.veth import Veth

        types["veth"] = Veth()
    if "netns" in wanted:
        from .strategies.netns import NetNS

        types["netns"] = NetNS()
    return types


def _merge(results: list[dict[str, Any] | None]) -> dict[str, Strategy]:
    types: dict[str, Strategy] = {}
    for result in results:
        for name, strategy in (result or {}).items():
            types.setdefault(name, strategy)  # the first registration wins
    return types


def types_from_hook(hook: Any) -> dict[str, Strategy]:
    """Every type, asking a pluggy hook relay (``pm.hook``) whose specs include ours."""
    return _merge([builtin_types(), *hook.libcontainer_network_types()])


def types_from_entry_points() -> dict[str, Strategy]:
    """Every type, asking each installed libcontainer plugin that implements the hook."""
    from importlib.metadata import entry_points

    from libcontainer.plugins import ENTRY_POINT_GROUP

    results: list[dict[str, Any] | None] = [builtin_types()]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            plugin = ep.load()
        except Exception:  # the core reports plugins that fail to load
            continue
        impl = getattr(plugin, "libcontainer_network_types", None)
        if callable(impl):
            results.append(impl())
    return _merge(results)


def resolve(names: set[str], hook: Any = None) -> dict[str, Strategy]:
    """Strategies for the given type names (unknown names are left out)."""
    types = builtin_types(names)
    if names - set(BUILTIN_TYPES):
        types = types_from_hook(hook) if hook is not None else types_from_entry_points()
    return {n: types[n] for n in names if n in types}


def known_names(hook: Any = None) -> list[str]:
    """Every registered type name, for error messages."""
    types = types_from_hook(hook) if hook is not None else types_from_entry_points()
    return sorted(types)
