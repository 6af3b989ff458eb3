"""Thin helpers over pyroute2's IPRoute, imported only when a config needs more than loopback.

Every netlink failure becomes a ContainerError of step "network" that says what
was being done: ``network: attach lct1a2b3c4 to bridge lctbr0: No such device``.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from typing import Any, Iterator

from libcontainer.errors import ContainerError

STEP = "network"
IFA_F_NODAD = 0x02  # linux/if_addr.h


@contextmanager
def rtnl() -> Iterator[Any]:
    """An rtnetlink socket in the calling process's network namespace."""
    from pyroute2 import IPRoute  # ~100 ms to import: only here

    with failing("open a netlink socket"):
        ip = IPRoute()
    try:
        yield ip
    finally:
        ip.close()


@contextmanager
def failing(what: str) -> Iterator[None]:
    """Turn netlink and OS errors inside the block into one-line ContainerErrors."""
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        yield
    except NetlinkError as e:
        raise ContainerError(STEP, f"{what}: {os.strerror(e.code)}", errno=e.code) from None
    except OSError as e:
        raise ContainerError(STEP, f"{what}: {e.strerror or e}", errno=e.errno) from None


def link_index(ip: Any, name: str) -> int | None:
    """The index of interface ``name``, or None when there is none."""
    found = ip.link_lookup(ifname=name)
    return found[0] if found else None


def link_kind(ip: Any, index: int) -> str | None:
    """The kind of an interface ("bridge", "veth" ...), None for plain devices."""
    link = ip.link("get", index=index)[0]
    return link.get(("IFLA_LINKINFO", "IFLA_INFO_KIND"))


def require_link(ip: Any, name: str, where: str) -> int:
    """The index of ``name``, or a ContainerError naming it and where it was looked for."""
    index = link_index(ip, name)
    if index is None:
        raise ContainerError(STEP, f"interface {name} does not exist {where}", errno=errno.ENODEV)
    return index


def delete_links(names: list[str]) -> list[str]:
    """Delete the named interfaces, tolerating those already gone; returns the names deleted."""
    from pyroute2.netlink.exceptions import NetlinkError

    deleted = []
    with rtnl() as ip:
        for name in names:
            index = link_index(ip, name)
            if index is None:
                continue
            try:
                ip.link("del", index=index)
            except NetlinkError as e:
                # Gone between lookup and delete: the kernel removes a veth
                # when its peer's namespace is freed, asynchronously.
                if e.code != errno.ENODEV:
                    raise ContainerError(STEP, f"delete host interface {name}: {os.strerror(e.code)}") from None
            else:
                deleted.append(name)
    return deleted


def add_routes(routes: list[Any]) -> None:
    """Add ``routes`` (config.Route) in the calling process's network namespace."""
    with rtnl() as ip:
        for route in routes:
            spec: dict[str, Any] = {"dst": str(route.network)}
            if route.gateway:
                spec["gateway"] = route.gateway
            if route.source:
                spec["prefsrc"] = route.source
            if route.interface_name:
                with failing(f"look up {route.interface_name} for the route to {route.destination}"):
                    spec["oif"] = require_link(ip, route.interface_name, "in the container's network namespace")
            via = f" via {route.gateway}" if route.gateway else ""
            dev = f" dev {route.interface_name}" if route.interface_name else ""
            with failing(f"add route {route.destination}{via}{dev}"):
                ip.route("add", **spec)
