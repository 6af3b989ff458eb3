"""The network plugin of libcontainer: loopback, veth pairs on a bridge, joined network namespaces, routes.

It owns the ``networks`` and ``routes`` keys.  Each network's ``type`` names a
strategy (see :mod:`.strategies`) with a host-side ``create`` and an inside
``initialize`` step; other plugins add types through the hook in
:mod:`.hookspecs`.  pyroute2 is imported only by strategies that need netlink,
so a loopback-only container never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from libcontainer.plugins import hookimpl

from . import hookspecs  # noqa: F401  (the core adds these specs for plugins that add network types)

if TYPE_CHECKING:
    from libcontainer.config import Config
    from libcontainer.context import ContainerContext, Namespace
    from libcontainer.errors import ConfigProblem

    from .config import Network
    from .strategies import Strategy

PLUGIN = "network"
CAP_NET_ADMIN = 12  # linux/capability.h


def plan(sections: dict[str, Any], hook: Any, strict: bool = True) -> list[tuple[Strategy, Network, int]]:
    """Each network with its strategy and list position, interface names assigned.

    Types other than the built-in ones are asked of ``hook``, the plugin
    manager's hook relay (``container.hook``).  An unknown type is an error,
    or skipped when not ``strict`` (cleanup after a plugin that provided it
    was uninstalled).
    """
    from libcontainer.errors import ContainerError

    from . import registry
    from .config import networks_of
    from .validate import assign_names

    networks = networks_of(sections)
    strategies = registry.resolve({n.type for n in networks}, hook)
    steps = []
    for i, net in enumerate(assign_names(networks, strategies)):
        if net.type not in strategies:
            if not strict:
                continue
            raise ContainerError(PLUGIN, f"unknown network type {net.type!r} (networks[{i}])")
        steps.append((strategies[net.type], net, i))
    return steps


def has_capability(cap: int, status: str = "/proc/self/status") -> bool:
    """True when the calling process has ``cap`` in its effective set."""
    with open(status) as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> cap & 1)
    return False


# ---------------------------------------------------------------------------
# Hook implementations
# ---------------------------------------------------------------------------


@hookimpl
def libcontainer_network_types() -> dict[str, Strategy]:
    from .registry import builtin_types

    return builtin_types()


@hookimpl
def libcontainer_config_schema() -> dict[str, dict[str, Any]]:
    from .schema import SCHEMA

    return SCHEMA


@hookimpl
def libcontainer_config_formats() -> dict[str, Any]:
    from .schema import FORMATS

    return FORMATS


@hookimpl
def libcontainer_validate_config(config: Config, hook: Any) -> list[ConfigProblem]:
    from . import registry
    from .validate import check_config

    return check_config(config.sections, lambda names: registry.resolve(names, hook),
                        lambda: registry.known_names(hook))


@hookimpl
def libcontainer_namespaces(container: ContainerContext) -> list[Namespace]:
    found = (strategy.namespace(net) for strategy, net, _ in plan(container.config.sections, container.hook))
    return [ns for ns in found if ns is not None]


@hookimpl
def libcontainer_pre_clone(container: ContainerContext) -> None:
    from libcontainer.errors import ContainerError

    steps = plan(container.config.sections, container.hook)
    # Refuse before anything exists: nothing to roll back (the bridge and
    # namespace checks are in each strategy's check()).
    if any(s.needs_net_admin for s, _, _ in steps) and not has_capability(CAP_NET_ADMIN):
        raise ContainerError(PLUGIN, "creating host interfaces needs CAP_NET_ADMIN on the host: run nsinit as root")
    for strategy, net, i in steps:
        strategy.check(container, net, i)


@hookimpl
def libcontainer_post_clone(container: ContainerContext, pid: int) -> None:
    for strategy, net, i in plan(container.config.sections, container.hook):
        strategy.create(container, pid, net, i)


@hookimpl
def libcontainer_container_init(container: ContainerContext) -> None:
    from .config import new_netns_requested, routes_of

    sections = container.config.sections
    for strategy, net, i in plan(sections, container.hook):
        strategy.initialize(container, net, i)
    # Routes last: their interfaces and gateways must exist and be up.
    routes = routes_of(sections)
    if routes and new_netns_requested(sections):
        from .netlink import add_routes

        add_routes(routes)


@hookimpl
def libcontainer_hook_plan(container: ContainerContext) -> dict[str, Any]:
    """post_exit as data: nothing to do without a recorded host interface and with types that destroy nothing."""
    from .strategies import Strategy

    if container.resources.get(PLUGIN, {}).get("host_interfaces"):
        return {}
    steps = plan(container.config.sections, container.hook, strict=False)
    if any(type(strategy).destroy is not Strategy.destroy for strategy, _, _ in steps):
        return {}
    return {"post_exit": {}}


@hookimpl
def libcontainer_post_exit(container: ContainerContext) -> None:
    from . import ifreq

    # Recorded names first: they need no config, and the host end of a veth
    # whose container died may linger until the kernel frees the namespace.
    recorded = container.resources.get(PLUGIN, {}).get("host_interfaces", [])
    present = [name for name in recorded if ifreq.link_exists(name)]
    if present:
        from .netlink import delete_links

        delete_links(present)
    first_error: Exception | None = None
    for strategy, net, i in plan(container.config.sections, container.hook, strict=False):
        try:
            strategy.destroy(container, net, i)
        except Exception as e:  # every type cleans up even when one fails
            first_error = first_error or e
    if first_error is not None:
        raise first_error
