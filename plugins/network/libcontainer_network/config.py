"""The `networks` and `routes` of container.json as typed values."""

from __future__ import annotations

import ipaddress
from typing import Any

from libcontainer.records import field, fields, record

# Interface names are at most IFNAMSIZ - 1 = 15 bytes (linux/if.h).
IFNAMSIZ = 16
MAX_IFNAME = IFNAMSIZ - 1
# The random part of a host-side interface name ("veth" + 7 hex digits).
HOST_SUFFIX_LEN = 7
DEFAULT_VETH_PREFIX = "veth"
NETNS_DIR = "/var/run/netns"


@record(frozen=True)
class Network:
    """One entry of ``networks``: an interface (or namespace) the container gets."""

    type: str  # a registered type: "loopback", "veth", "netns", or a plugin's own
    address: str | None = None  # "IP/prefix" of the container's end, IPv4 or IPv6 ("127.0.0.1/0" on loopback is ignored)
    gateway: str | None = None  # default route via this address; "localhost" (loopback sample) means none
    ipv6_address: str | None = None  # a further IPv6 "IP/prefix" (later libcontainer spelling)
    ipv6_gateway: str | None = None  # default IPv6 route via this address
    mtu: int | None = None  # MTU of both ends of a pair (of lo for loopback); 0 or absent keeps the kernel's
    mac_address: str | None = None  # MAC of the container's end, e.g. "02:42:c6:12:00:02"
    txqueuelen: int | None = None  # transmit queue length of the container's end
    bridge: str | None = None  # host bridge the host end joins (later spelling of context.bridge)
    veth_prefix: str | None = None  # host end name prefix (later spelling of context.prefix); random suffix added
    name: str | None = None  # interface name inside the container; default eth0, eth1 ... in list order
    ns_path: str | None = None  # netns type: network namespace to join, a path or a name under /var/run/netns
    context: dict[str, str] = field(default_factory=dict)  # 2014 spelling: bridge, prefix, nspath
    extra: dict[str, Any] = field(default_factory=dict)  # keys read by a third-party type (see Strategy.keys)

    @property
    def host_bridge(self) -> str | None:
        """The bridge the host end joins, whichever spelling named it."""
        return self.bridge or self.context.get("bridge") or None

    @property
    def host_prefix(self) -> str:
        """The prefix of the host end's name, whichever spelling named it."""
        return self.veth_prefix or self.context.get("prefix") or DEFAULT_VETH_PREFIX

    @property
    def netns_path(self) -> str | None:
        """The network namespace file to join: ns_path, context.nspath; a bare name is under /var/run/netns."""
        value = self.ns_path or self.context.get("nspath") or None
        if value and "/" not in value:
            return f"{NETNS_DIR}/{value}"
        return value

    def addresses(self) -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
        """The container end's addresses with their prefixes."""
        return [ipaddress.ip_interface(a) for a in (self.address, self.ipv6_address) if a]

    def gateways(self) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        """The default gateways (one per family at most)."""
        return [ipaddress.ip_address(g) for g in (self.gateway, self.ipv6_gateway) if is_gateway(g)]


@record(frozen=True)
class Route:
    """One entry of ``routes``: added inside the container after every network is up."""

    destination: str = ""  # "IP/prefix" the route leads to, IPv4 or IPv6; "0.0.0.0/0" or "::/0" is a default route
    source: str | None = None  # preferred source address of packets on this route (RTA_PREFSRC)
    gateway: str | None = None  # next hop; absent for a route on the link itself
    interface_name: str | None = None  # output interface inside the container, e.g. "eth0"

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.destination, strict=False)


def is_gateway(value: str | None) -> bool:
    """True when ``value`` names a gateway address ("" and "localhost" do not)."""
    return bool(value) and value != "localhost"


_NETWORK_FIELDS = {f.name for f in fields(Network)} - {"extra"}
_ROUTE_FIELDS = {f.name for f in fields(Route)}


def parse_network(doc: dict[str, Any]) -> Network:
    """A Network from one (schema-valid) entry of ``networks``."""
    known = {k: v for k, v in doc.items() if k in _NETWORK_FIELDS}
    known["context"] = dict(known.get("context") or {})
    return Network(**known, extra={k: v for k, v in doc.items() if k not in _NETWORK_FIELDS})


def parse_route(doc: dict[str, Any]) -> Route:
    """A Route from one (schema-valid) entry of ``routes``."""
    return Route(**{k: v for k, v in doc.items() if k in _ROUTE_FIELDS})


def networks_of(sections: dict[str, Any]) -> list[Network]:
    return [parse_network(d) for d in sections.get("networks") or []]


def routes_of(sections: dict[str, Any]) -> list[Route]:
    return [parse_route(d) for d in sections.get("routes") or []]


def new_netns_requested(sections: dict[str, Any]) -> bool:
    """True when ``namespaces.NEWNET`` asks for a new network namespace (not a path to join)."""
    value = (sections.get("namespaces") or {}).get("NEWNET")
    return value is True or (bool(value) and not isinstance(value, str))
