"""Which network types exist: the built-in ones, then those other plugins register.

Types come from the ``libcontainer_network_types`` hook, asked through the
plugin manager's hook relay that hooks receive (``container.hook``, or the
``hook`` argument of ``libcontainer_validate_config``): so exactly the plugins
of that manager are asked, from entry points or ``get_plugin_manager(extra=...)``.
The relay is asked only for a type that is not built in, so loopback, veth and
netns cost nothing; without a relay only the built-in types are known.
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
    """Every type, asking a pluggy hook relay (``pm.hook``) whose specs include ours; None: the built-in ones."""
    if hook is None:
        return builtin_types()
    return _merge([builtin_types(), *hook.libcontainer_network_types()])


def resolve(names: set[str], hook: Any) -> dict[str, Strategy]:
    """Strategies for the given type names (unknown names are left out)."""
    types = builtin_types(names)
    if names - set(BUILTIN_TYPES):
        types = types_from_hook(hook)
    return {n: types[n] for n in names if n in types}


def known_names(hook: Any) -> list[str]:
    """Every registered type name, for error messages."""
    return sorted(types_from_hook(hook))
