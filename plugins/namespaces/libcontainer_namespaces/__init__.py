"""The namespaces plugin: which namespaces a container gets, and its user namespace's id maps.

Owns ``namespaces`` (NEWNS, NEWUTS, NEWIPC, NEWPID, NEWNET, NEWUSER, NEWCGROUP,
NEWTIME: true for a new one, a path to join one), ``uid_mappings`` and
``gid_mappings``.  The engine does the unshare and setns calls in the order
the kernel needs; this plugin only says what is wanted and writes the id maps.
"""

from __future__ import annotations

import os
from typing import Any

from libcontainer.plugins import hookimpl

from .spec import (
    IdMap,
    check_join_path,
    check_kernel_has,
    id_maps_for,
    map_file_text,
    normalise_namespace_name,
    requested,
)

SCHEMA_ID_MAP = {
    "type": "array",
    "description": "Lines of /proc/PID/uid_map or gid_map for a new user namespace.",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["container_id", "host_id", "size"],
        "properties": {
            "container_id": {"type": "integer", "minimum": 0, "description": "first id inside"},
            "host_id": {"type": "integer", "minimum": 0, "description": "first id on the host"},
            "size": {"type": "integer", "minimum": 1, "description": "how many ids"},
        },
    },
}


@hookimpl
def libcontainer_config_schema() -> dict[str, Any]:
    return {
        "namespaces": {
            "type": "object",
            "description": "Namespaces of the container: true for a new one, a path (such as "
                           "/var/run/netns/blue or /proc/PID/ns/net) to join one; absent or false: shared with nsinit.",
            "propertyNames": {"format": "namespace"},
            "additionalProperties": {"type": ["boolean", "string"]},
        },
        "uid_mappings": SCHEMA_ID_MAP,
        "gid_mappings": SCHEMA_ID_MAP,
    }


@hookimpl
def libcontainer_config_formats() -> dict[str, Any]:
    return {"namespace": normalise_namespace_name}


@hookimpl
def libcontainer_validate_config(config) -> list:
    from libcontainer.errors import ConfigProblem

    problems = []
    spaces = config.section("namespaces") or {}
    for kind, value in spaces.items():
        if isinstance(value, str) and not value.startswith("/"):
            problems.append(ConfigProblem(f"$.namespaces.{kind}", f"join path {value!r} must be absolute"))
    has_user = bool(spaces.get("NEWUSER"))
    for key in ("uid_mappings", "gid_mappings"):
        if config.section(key) and not has_user:
            problems.append(ConfigProblem(f"$.{key}", "id mappings need a new user namespace (NEWUSER: true)"))
    if config.hostname and not spaces.get("NEWUTS"):
        problems.append(ConfigProblem("$.hostname", "unable to set hostname without a private UTS namespace "
                                                    "(add NEWUTS: true to namespaces)"))
    if config.domainname and not spaces.get("NEWUTS"):
        problems.append(ConfigProblem("$.domainname", "unable to set domainname without a private UTS namespace "
                                                      "(add NEWUTS: true to namespaces)"))
    if spaces.get("NEWNS") is not True:
        for key in ("masked_paths", "readonly_paths", "rootfs_propagation", "default_mounts"):
            if getattr(config, key) is not None:
                problems.append(ConfigProblem(f"$.{key}", "needs a new mount namespace (add NEWNS: true to "
                                                          "namespaces): without one nothing is mounted"))
    return problems


@hookimpl
def libcontainer_config_warnings(config) -> list:
    from .spec import warnings

    return warnings(config.section("namespaces") or {})


@hookimpl
def libcontainer_namespaces(container) -> list:
    wanted = requested(container.config.section("namespaces") or {})
    for ns in wanted:
        check_kernel_has(ns.kind)
        if ns.path:
            check_join_path(ns.kind, ns.path)
    return wanted


@hookimpl
def libcontainer_map_ids(container, pid: int) -> None:
    uid_maps, gid_maps = id_maps_for(container.config, os.geteuid(), os.getegid())
    write = container.syscalls.write_file
    if os.geteuid() != 0:
        # An unprivileged process must deny setgroups before it may write
        # gid_map (user_namespaces(7), "The /proc/[pid]/setgroups file").
        write(f"/proc/{pid}/setgroups", "deny", what="namespaces: setgroups")
    _write_map(write, pid, "uid_map", uid_maps)
    _write_map(write, pid, "gid_map", gid_maps)


def _write_map(write: Any, pid: int, name: str, maps: list[IdMap]) -> None:
    from libcontainer.errors import ContainerError, SyscallError

    text = map_file_text(maps)
    try:
        write(f"/proc/{pid}/{name}", text, what="namespaces")
    except SyscallError as e:
        hint = " (an unprivileged user can map only its own id, size 1)" if os.geteuid() != 0 else ""
        raise ContainerError("namespaces", f"writing {name} {text.strip()!r}: {os.strerror(e.errno)}{hint}") from None
