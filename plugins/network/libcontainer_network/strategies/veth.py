"""The veth type: a pair whose host end joins a bridge and whose peer is the container's eth<N>."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any

from libcontainer.errors import ConfigProblem, ContainerError

from . import Strategy, record_host_interface
from ..config import HOST_SUFFIX_LEN, MAX_IFNAME

if TYPE_CHECKING:
    from libcontainer.context import ContainerContext

    from ..config import Network


def host_interface_name(prefix: str) -> str:
    """A fresh host-side name: the prefix and 7 random hex digits (at most 15 characters)."""
    return (prefix + os.urandom(4).hex()[:HOST_SUFFIX_LEN])[:MAX_IFNAME]


def _bridge_index(ip: Any, bridge: str, index: int) -> int:
    """The index of the bridge of networks[index], or a ContainerError naming it."""
    from .. import netlink

    with netlink.failing(f"look up bridge {bridge}"):
        found = netlink.link_index(ip, bridge)
        kind = netlink.link_kind(ip, found) if found is not None else None
    if found is None:
        raise ContainerError("network", f"bridge {bridge} does not exist (networks[{index}])", errno=errno.ENODEV)
    if kind != "bridge":
        raise ContainerError("network", f"{bridge} is not a bridge but a {kind or 'plain'} interface (networks[{index}])")
    return found


class Veth(Strategy):
    """``{"type": "veth", "address": "198.18.0.2/24", "gateway": "198.18.0.1", "context": {"bridge": "br0", "prefix": "veth"}}``.

    Host side: the pair is made in one netlink request with the peer created
    directly inside the container's network namespace under its final name
    (eth0 ...), so no name has to travel from the host to the setup process;
    the host end joins the bridge and comes up.  Inside: MAC, MTU, addresses,
    up, default gateways.
    """

    keys = frozenset({
        "address", "gateway", "ipv6_address", "ipv6_gateway", "mtu", "mac_address", "txqueuelen",
        "bridge", "veth_prefix", "name", "context",
    })
    interface = True
    needs_new_netns = True
    needs_net_admin = True

    def validate(self, network: Network, path: str) -> list[ConfigProblem]:
        problems = []
        bridge = network.host_bridge
        if not bridge:
            problems.append(ConfigProblem(path, "a veth network needs a bridge (bridge, or context.bridge in the 2014 spelling)"))
        elif len(bridge) > MAX_IFNAME:
            problems.append(ConfigProblem(path, f"bridge name {bridge!r} is longer than {MAX_IFNAME} characters (IFNAMSIZ)"))
        prefix = network.host_prefix
        room = MAX_IFNAME - HOST_SUFFIX_LEN
        if len(prefix) > room:
            problems.append(ConfigProblem(
                path, f"veth prefix {prefix!r} is longer than {room} characters: the host interface name "
                f"(prefix + {HOST_SUFFIX_LEN} random characters) must fit in {MAX_IFNAME} (IFNAMSIZ)"))
        return problems

    def check(self, container: ContainerContext, network: Network, index: int) -> None:
        from .. import netlink

        with netlink.rtnl() as ip:
            _bridge_index(ip, network.host_bridge or "", index)

    def create(self, container: ContainerContext, pid: int, network: Network, index: int) -> None:
        from .. import netlink

        bridge = network.host_bridge or ""
        host = host_interface_name(network.host_prefix)
        # Recorded before it exists: if anything below fails, post_exit deletes it.
        record_host_interface(container, host)
        mtu = {"mtu": network.mtu} if network.mtu else {}
        with netlink.rtnl() as ip:
            # Looked up again: it may have gone since pre_clone checked it.
            bridge_index = _bridge_index(ip, bridge, index)
            with netlink.failing(f"open the network namespace of pid {pid}"):
                nsfd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                # One request makes both ends; IFLA_NET_NS_FD in the peer's
                # attributes creates it inside the container (rtnetlink(7), veth(4)).
                with netlink.failing(f"create veth pair {host} / {network.name} for pid {pid}"):
                    ip.link("add", ifname=host, kind="veth", **mtu,
                            peer={"ifname": network.name, "net_ns_fd": nsfd, **mtu})
            finally:
                os.close(nsfd)
            with netlink.failing(f"attach {host} to bridge {bridge}"):
                host_index = netlink.require_link(ip, host, "on the host")
                ip.link("set", index=host_index, master=bridge_index)
                ip.link("set", index=host_index, state="up")

    def initialize(self, container: ContainerContext, network: Network, index: int) -> None:
        from .. import netlink

        name = network.name or ""
        with netlink.rtnl() as ip:
            with netlink.failing(f"look up {name}"):
                link = netlink.require_link(ip, name, "in the container's network namespace")
            # The MAC is changed while the link is still down (some drivers
            # refuse it on a running link: eth_mac_addr() and IFF_LIVE_ADDR_CHANGE).
            if network.mac_address:
                with netlink.failing(f"set MAC address {network.mac_address} on {name}"):
                    ip.link("set", index=link, address=network.mac_address)
            if network.mtu:
                with netlink.failing(f"set MTU {network.mtu} on {name}"):
                    ip.link("set", index=link, mtu=network.mtu)
            if network.txqueuelen:
                with netlink.failing(f"set txqueuelen {network.txqueuelen} on {name}"):
                    ip.link("set", index=link, txqlen=network.txqueuelen)
            for addr in network.addresses():
                # IPv6 addresses skip duplicate address detection, which would
                # keep them "tentative" (unusable) for a second or two.
                flags = {"flags": netlink.IFA_F_NODAD} if addr.version == 6 else {}
                with netlink.failing(f"add address {addr} to {name}"):
                    ip.addr("add", index=link, address=str(addr.ip), prefixlen=addr.network.prefixlen, **flags)
            with netlink.failing(f"bring {name} up"):
                ip.link("set", index=link, state="up")
            # After the address and "up": the kernel refuses a route whose
            # gateway no connected route reaches (ENETUNREACH).
            for gateway in network.gateways():
                default = "0.0.0.0/0" if gateway.version == 4 else "::/0"
                with netlink.failing(f"add default route via {gateway} on {name}"):
                    ip.route("add", dst=default, gateway=str(gateway), oif=link)
