"""Checks of `networks` and `routes` that span fields; pure, nothing touches the system."""

from __future__ import annotations

import ipaddress
from libcontainer.records import replace
from typing import TYPE_CHECKING, Any, Callable

from libcontainer.errors import ConfigProblem

from .config import MAX_IFNAME, Network, Route, is_gateway, new_netns_requested, parse_network, parse_route
from .schema import check_cidr, check_gateway, check_ip, check_mac

if TYPE_CHECKING:
    from .strategies import Strategy

MIN_MTU = 68  # the IPv4 minimum (RFC 791)
MIN_MTU_IPV6 = 1280  # the kernel disables IPv6 on a link below this (RFC 8200)


def assign_names(networks: list[Network], strategies: dict[str, Strategy]) -> list[Network]:
    """Give every interface network its name inside: ``name``, or eth0, eth1 ... in list order."""
    out, ordinal = [], 0
    for net in networks:
        strategy = strategies.get(net.type)
        if strategy is not None and strategy.interface:
            net = replace(net, name=net.name or f"eth{ordinal}")
            ordinal += 1
        out.append(net)
    return out


def check_ifname(name: str, what: str) -> str | None:
    """What is wrong with an interface name, or None (dev_valid_name() in net/core/dev.c)."""
    if len(name.encode()) > MAX_IFNAME:
        return f"{what} {name!r} is longer than {MAX_IFNAME} characters (IFNAMSIZ)"
    if name in (".", "..") or any(c in name for c in "/: \t\n"):
        return f"{what} {name!r} is not a valid interface name (no '/', ':' or spaces)"
    return None


def _format_problem(check: Callable[[Any], Any], value: Any, path: str) -> list[ConfigProblem]:
    try:
        check(value)
    except ValueError as e:
        return [ConfigProblem(path, str(e))]
    return []


def check_addresses(net: Network, path: str) -> list[ConfigProblem]:
    """Malformed addresses, wrong families, gateways outside their address's network."""
    problems: list[ConfigProblem] = []
    for key, check in (("address", check_cidr), ("ipv6_address", check_cidr), ("gateway", check_gateway),
                       ("ipv6_gateway", check_gateway), ("mac_address", check_mac)):
        value = getattr(net, key)
        if value is not None:
            problems += _format_problem(check, value, f"{path}.{key}")
    if problems:
        return problems
    if net.ipv6_address and ipaddress.ip_interface(net.ipv6_address).version != 6:
        problems.append(ConfigProblem(f"{path}.ipv6_address", f"{net.ipv6_address!r} is not an IPv6 address"))
    addresses = net.addresses()
    for key in ("gateway", "ipv6_gateway"):
        value = getattr(net, key)
        if not is_gateway(value):
            continue
        gateway = ipaddress.ip_address(value)
        same_family = [a for a in addresses if a.version == gateway.version]
        if not same_family:
            problems.append(ConfigProblem(f"{path}.{key}", f"gateway {value} is IPv{gateway.version} but the network has no IPv{gateway.version} address"))
        elif not any(gateway in a.network for a in same_family):
            nets = ", ".join(str(a.network) for a in same_family)
            problems.append(ConfigProblem(f"{path}.{key}", f"gateway {value} is outside {nets}: the kernel cannot reach it"))
    if net.mtu:
        minimum = MIN_MTU_IPV6 if any(a.version == 6 for a in addresses) else MIN_MTU
        if net.mtu < minimum:
            problems.append(ConfigProblem(f"{path}.mtu", f"mtu {net.mtu} is below {minimum}, the smallest the addresses allow"))
    return problems


def check_networks(networks: list[Network], strategies: dict[str, Strategy], sections: dict[str, Any],
                   raw: list[dict[str, Any]], known: Callable[[], list[str]]) -> list[ConfigProblem]:
    """Every problem of ``networks``; ``known`` lists the registered types (called only when one is unknown)."""
    problems: list[ConfigProblem] = []
    new_netns = new_netns_requested(sections)
    seen: dict[str, int] = {}
    joined: list[tuple[int, str]] = []
    for i, (net, doc) in enumerate(zip(networks, raw)):
        path = f"$.networks[{i}]"
        strategy = strategies.get(net.type)
        if strategy is None:
            problems.append(ConfigProblem(f"{path}.type", f"unknown network type {net.type!r} (known: {', '.join(known())})"))
            continue
        for key in sorted(set(doc) - strategy.keys - {"type"}):
            import difflib

            close = difflib.get_close_matches(key, sorted(strategy.keys), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(ConfigProblem(f"{path}.{key}", f"unknown key for a {net.type} network{hint}"))
        if strategy.interface:
            problems += check_addresses(net, path)
            name_problem = check_ifname(net.name or "", "interface name")
            if name_problem:
                problems.append(ConfigProblem(f"{path}.name", name_problem))
            elif net.name in seen:
                problems.append(ConfigProblem(f"{path}.name", f"interface name {net.name} is already given to networks[{seen[net.name]}]"))
            seen.setdefault(net.name or "", i)
        if strategy.needs_new_netns and not new_netns:
            problems.append(ConfigProblem(path, f"a {net.type} network needs a new network namespace: set namespaces.NEWNET to true"))
        own = strategy.validate(net, path)
        problems += own
        ns = strategy.namespace(net) if not own else None
        if ns is not None and ns.kind == "NEWNET":
            joined.append((i, ns.path or ""))
    problems += _check_joined(joined, sections)
    return problems


def _check_joined(joined: list[tuple[int, str]], sections: dict[str, Any]) -> list[ConfigProblem]:
    """A joined network namespace excludes a second one and a new one."""
    if not joined:
        return []
    problems = [ConfigProblem(f"$.networks[{i}]", f"a second network namespace to join ({p}); networks[{joined[0][0]}] already joins {joined[0][1]}")
                for i, p in joined[1:]]
    first, path = joined[0]
    asked = (sections.get("namespaces") or {}).get("NEWNET")
    if asked and asked != path:
        what = "a new network namespace" if not isinstance(asked, str) else f"to join {asked}"
        problems.append(ConfigProblem(f"$.networks[{first}]", f"joins {path} but namespaces.NEWNET asks {what}: drop NEWNET or set it to {path}"))
    return problems


def check_routes(routes: list[Route], networks: list[Network], sections: dict[str, Any]) -> list[ConfigProblem]:
    """Every problem of ``routes``, checked against the interfaces the networks give."""
    problems: list[ConfigProblem] = []
    if routes and not new_netns_requested(sections):
        problems.append(ConfigProblem("$.routes", "routes are added in the container's own network namespace: set namespaces.NEWNET to true"))
    names = ["lo", *(n.name for n in networks if n.name)]
    for i, route in enumerate(routes):
        path = f"$.routes[{i}]"
        found: list[ConfigProblem] = _format_problem(check_cidr, route.destination, f"{path}.destination")
        for key in ("source", "gateway"):
            value = getattr(route, key)
            if value:
                found += _format_problem(check_ip, value, f"{path}.{key}")
        if found:
            problems += found
            continue
        version = route.network.version
        for key in ("source", "gateway"):
            value = getattr(route, key)
            if value and ipaddress.ip_address(value).version != version:
                problems.append(ConfigProblem(f"{path}.{key}", f"{value} is not IPv{version} like the destination {route.destination}"))
        if not route.gateway and not route.interface_name:
            problems.append(ConfigProblem(path, "a route needs a gateway or an interface_name"))
        if route.interface_name:
            bad = check_ifname(route.interface_name, "interface_name")
            if bad:
                problems.append(ConfigProblem(f"{path}.interface_name", bad))
            elif route.interface_name not in names:
                problems.append(ConfigProblem(f"{path}.interface_name", f"no network gives an interface named {route.interface_name} (the container has {', '.join(names)})"))
    return problems


def check_config(sections: dict[str, Any], resolve: Callable[[set[str]], dict[str, Strategy]],
                 known: Callable[[], list[str]]) -> list[ConfigProblem]:
    """Every problem of the network plugin's keys of one config."""
    raw = [d for d in sections.get("networks") or [] if isinstance(d, dict)]
    networks = [parse_network(d) for d in raw]
    strategies = resolve({n.type for n in networks})
    networks = assign_names(networks, strategies)
    routes = [parse_route(d) for d in sections.get("routes") or [] if isinstance(d, dict)]
    return check_networks(networks, strategies, sections, raw, known) + check_routes(routes, networks, sections)
