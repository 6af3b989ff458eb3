"""The loopback type: bring lo up inside the container's new network namespace."""

from __future__ import annotations

from typing import TYPE_CHECKING

from libcontainer.errors import ContainerError, SyscallError

from . import Strategy
from ..config import new_netns_requested

if TYPE_CHECKING:
    from libcontainer.context import ContainerContext

    from ..config import Network


class Loopback(Strategy):
    """``{"type": "loopback", "address": "127.0.0.1/0", "gateway": "localhost", "mtu": 1500}``.

    The address and gateway are libcontainer's placeholders: lo gets 127.0.0.1/8
    and ::1 from the kernel when it comes up.  Uses ioctl(2), not netlink, so a
    loopback-only container never imports pyroute2.
    """

    keys = frozenset({"address", "gateway", "mtu"})

    def initialize(self, container: ContainerContext, network: Network, index: int) -> None:
        from .. import ifreq

        # A shared or joined network namespace is not the container's to configure.
        if not new_netns_requested(container.config.sections):
            return
        try:
            if network.mtu:
                ifreq.set_mtu("lo", network.mtu)
            ifreq.set_link_up("lo")
        except SyscallError as e:
            raise ContainerError("network", f"loopback: {e}", errno=e.errno) from None
