"""JSON Schema of `networks` and `routes`, and the address formats it names."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


def check_cidr(value: Any) -> Any:
    """An address with its prefix length, IPv4 or IPv6: "198.18.0.2/24", "2001:db8::2/64"."""
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"expected an address with a prefix length such as 198.18.0.2/24, got {value!r}")
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError(f"expected an address with a prefix length such as 198.18.0.2/24, got {value!r}") from None
    return value


def check_ip(value: Any) -> Any:
    """A plain IPv4 or IPv6 address: "198.18.0.1", "2001:db8::1"."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"expected an IP address such as 198.18.0.1, got {value!r}") from None
    return value


def check_gateway(value: Any) -> Any:
    """A gateway address; "" and "localhost" (as libcontainer's loopback sample writes) mean none."""
    if value in ("", "localhost"):
        return value
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"expected a gateway IP address such as 198.18.0.1, got {value!r}") from None
    return value


def check_mac(value: Any) -> Any:
    """A MAC address, six colon-separated hex bytes, written back in lower case."""
    if not isinstance(value, str) or not _MAC.match(value):
        raise ValueError(f"expected a MAC address such as 02:42:c6:12:00:02, got {value!r}")
    return value.lower()


FORMATS: dict[str, Callable[[Any], Any]] = {
    "cidr": check_cidr,
    "ip": check_ip,
    "ip_gateway": check_gateway,
    "mac_address": check_mac,
}

_NAME = {"type": "string", "minLength": 1}

NETWORK: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    # Further keys are allowed for third-party types; validate_config checks
    # every key against the keys its type declares.
    "additionalProperties": True,
    "properties": {
        "type": {"type": "string", "minLength": 1, "description": "loopback, veth, netns, or a type a plugin adds"},
        "address": {"type": "string", "format": "cidr", "description": "IP/prefix of the container's end"},
        "gateway": {"type": "string", "format": "ip_gateway", "description": "default route via this address"},
        "ipv6_address": {"type": "string", "format": "cidr", "description": "a further IPv6 IP/prefix"},
        "ipv6_gateway": {"type": "string", "format": "ip_gateway", "description": "default IPv6 route"},
        "mtu": {"type": "integer", "minimum": 0, "maximum": 65535, "description": "MTU of both ends"},
        "mac_address": {"type": "string", "format": "mac_address", "description": "MAC of the container's end"},
        "txqueuelen": {"type": "integer", "minimum": 0, "description": "transmit queue length"},
        "bridge": dict(_NAME, description="host bridge the host end joins"),
        "veth_prefix": dict(_NAME, description="prefix of the host end's name"),
        "name": dict(_NAME, description="interface name inside the container (default eth0, eth1 ...)"),
        "ns_path": dict(_NAME, description="netns type: namespace file or name under /var/run/netns"),
        "context": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "2014 spelling: bridge, prefix, nspath",
        },
    },
}

ROUTE: dict[str, Any] = {
    "type": "object",
    "required": ["destination"],
    "additionalProperties": False,
    "properties": {
        "destination": {"type": "string", "format": "cidr", "description": "IP/prefix the route leads to"},
        "source": {"type": "string", "format": "ip", "description": "preferred source address"},
        "gateway": {"type": "string", "format": "ip", "description": "next hop"},
        "interface_name": dict(_NAME, description="output interface inside the container"),
    },
}

SCHEMA: dict[str, dict[str, Any]] = {
    "networks": {"type": "array", "items": NETWORK, "description": "interfaces the container gets, in order"},
    "routes": {"type": "array", "items": ROUTE, "description": "routes added inside the container"},
}
