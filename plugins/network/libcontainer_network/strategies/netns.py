"""The netns type: the container joins an existing network namespace, named or by path."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from libcontainer.errors import ConfigProblem, ContainerError

from . import Strategy

if TYPE_CHECKING:
    from libcontainer.context import ContainerContext, Namespace

    from ..config import Network


class NetNS(Strategy):
    """``{"type": "netns", "ns_path": "/var/run/netns/blue"}`` (2014: ``"context": {"nspath": ...}``).

    The plugin asks the engine, through ``libcontainer_namespaces``, to join the
    namespace; nothing is created, and nothing in the joined namespace is
    changed: it belongs to whoever made it.
    """

    keys = frozenset({"ns_path", "context"})

    def validate(self, network: Network, path: str) -> list[ConfigProblem]:
        if not network.netns_path:
            return [ConfigProblem(path, "a netns network needs ns_path (a namespace file, or a name under /var/run/netns)")]
        return []

    def namespace(self, network: Network) -> Namespace | None:
        from libcontainer.context import Namespace

        return Namespace("NEWNET", path=network.netns_path)

    def check(self, container: ContainerContext, network: Network, index: int) -> None:
        path = network.netns_path
        if path and not os.path.exists(path):
            raise ContainerError("network", f"network namespace {path} does not exist", errno=errno.ENOENT)
