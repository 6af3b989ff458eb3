"""``lcrun features``: the features document of the runtime spec (features.md) for what lcrun supports.

Built from the tables the translation itself uses (lcrun/oci.py: FIELDS,
HOOK_NAMES, NAMESPACE_TYPES, SECCOMP_ACTIONS, SECCOMP_OPERATORS,
MOUNT_OPTIONS; the installed capabilities and seccomp plugins' names), so
that what is advertised is exactly what a config.json may use.  Only the
properties of the spec's features schema appear (features.md: no others).
"""

from __future__ import annotations

from typing import Any

from . import oci


def _capabilities() -> list[str] | None:
    try:
        from libcontainer_capabilities import names
    except ImportError:  # the plugin is not installed: a config with capabilities would be refused
        return None
    return [f"CAP_{names.CAPABILITIES[n]}" for n in sorted(names.CAPABILITIES)]


def _seccomp() -> dict[str, Any]:
    try:
        from libcontainer_seccomp import names
    except ImportError:
        return {"enabled": False}
    known = set(names.ACTIONS) | set(names.ALIASES)
    return {
        "enabled": oci.supported("$.linux.seccomp"),
        "actions": sorted(a for a, ours in oci.SECCOMP_ACTIONS.items() if ours in known),
        "operators": sorted(o for o, ours in oci.SECCOMP_OPERATORS.items() if ours in names.OPERATORS),
        "archs": sorted(f"SCMP_ARCH_{a.upper()}" for a in names.ARCHITECTURES),
        # linux.seccomp.flags is refused (FIELDS): none is known, none supported.
        "knownFlags": [],
        "supportedFlags": [],
    }


def features() -> dict[str, Any]:
    """The features document, as a JSON-ready dict."""
    linux: dict[str, Any] = {"namespaces": sorted(oci.NAMESPACE_TYPES)}
    caps = _capabilities()
    if caps is not None:
        linux["capabilities"] = caps
    linux["cgroup"] = {
        "v1": True,
        # cgroup v2 limits are written; device rules there need an eBPF program the cgroups plugin does not
        # load, so a config with resources.devices (podman's, containerd's) is refused on a v2 host.
        "v2": True,
        "systemd": False,
        "systemdUser": False,
        "rdma": oci.supported("$.linux.resources.rdma"),
    }
    linux["seccomp"] = _seccomp()
    linux["apparmor"] = {"enabled": oci.supported("$.process.apparmorProfile")}
    linux["selinux"] = {"enabled": oci.supported("$.process.selinuxLabel")}
    linux["intelRdt"] = {"enabled": oci.supported("$.linux.intelRdt")}
    linux["mountExtensions"] = {"idmap": {"enabled": oci.supported("$.mounts[].uidMappings")}}
    linux["netDevices"] = {"enabled": oci.supported("$.linux.netDevices")}
    return {
        "ociVersionMin": oci.OCI_VERSION_MIN,
        "ociVersionMax": oci.OCI_VERSION,
        "hooks": list(oci.HOOK_NAMES),
        "mountOptions": list(oci.MOUNT_OPTIONS),
        "linux": linux,
        # lcrun reads no annotation: none of them changes what it does.
        "potentiallyUnsafeConfigAnnotations": [],
    }


def features_json() -> str:
    import json

    return json.dumps(features(), indent=2) + "\n"
