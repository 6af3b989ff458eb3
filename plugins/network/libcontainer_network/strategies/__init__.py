"""The shape of a network type: checks, a host-side step and an inside step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from libcontainer.context import ContainerContext, Namespace
    from libcontainer.errors import ConfigProblem

    from ..config import Network


class Strategy:
    """One network type.  Every method has a do-nothing default.

    ``index`` is the network's position in ``networks``.  ``network.name`` is
    already the interface name inside the container for types that give one
    (``interface`` true): the configured ``name`` or eth0, eth1 ... in order.
    """

    # Keys of a network entry this type reads, besides "type"; any other key is
    # reported as unknown.
    keys: frozenset[str] = frozenset()
    # Gives the container an interface of its own (named eth<N> by default).
    interface: bool = False
    # Needs a new network namespace (namespaces.NEWNET true).
    needs_new_netns: bool = False
    # Creates host-side interfaces, which needs CAP_NET_ADMIN on the host.
    needs_net_admin: bool = False

    def validate(self, network: Network, path: str) -> list[ConfigProblem]:
        """Problems of this entry (``path`` is its JSON path); must not touch the system."""
        return []

    def namespace(self, network: Network) -> Namespace | None:
        """A namespace the container must join for this network, if any."""
        return None

    def check(self, container: ContainerContext, network: Network, index: int) -> None:
        """Host side, before the child exists: refuse early, create nothing."""

    def create(self, container: ContainerContext, pid: int, network: Network, index: int) -> None:
        """Host side, the child ``pid`` waits in its namespaces: create and move interfaces.

        Record every host-side interface with :func:`record_host_interface`
        *before* creating it, so that a failure half-way still removes it.
        """

    def initialize(self, container: ContainerContext, network: Network, index: int) -> None:
        """Inside the container's network namespace, as root, before any mount."""

    def destroy(self, container: ContainerContext, network: Network, index: int) -> None:
        """Host side, after exit: remove what ``create`` made besides recorded host interfaces."""


def record_host_interface(container: ContainerContext, name: str) -> None:
    """Remember a host interface for ``libcontainer_post_exit`` to delete."""
    entry: dict[str, Any] = container.resources.get("network", {})
    container.record("network", host_interfaces=[*entry.get("host_interfaces", []), name])
