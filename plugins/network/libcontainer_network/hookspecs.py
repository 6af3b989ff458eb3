"""Hooks the network plugin offers to other plugins: more network types.

The core adds these specifications to its plugin manager because the package
exposes this module as ``libcontainer_network.hookspecs``.  A third party
registers a type (``macvlan``, say) without touching this plugin::

    from libcontainer.plugins import hookimpl
    from libcontainer_network.strategies import Strategy

    class Macvlan(Strategy):
        interface = True
        keys = frozenset({"parent", "mode"})
        ...

    @hookimpl
    def libcontainer_network_types():
        return {"macvlan": Macvlan()}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .strategies import Strategy

hookspec = pluggy.HookspecMarker("libcontainer")


@hookspec
def libcontainer_network_types() -> dict[str, Strategy]:
    """Network types this plugin provides, by the name written in ``type``.

    Return ``{"macvlan": strategy}`` where ``strategy`` is a
    :class:`libcontainer_network.strategies.Strategy`.  The built-in types
    (loopback, veth, netns) are registered the same way and come first; a name
    already taken is ignored.  Must be cheap: import heavy libraries inside the
    strategy's methods, not here.
    """
