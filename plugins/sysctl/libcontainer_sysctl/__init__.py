"""The sysctl plugin: kernel parameters of the container's own namespaces (/proc/sys).

Owns ``sysctl``: ``{"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536"}``.
Each parameter must belong to a namespace the container has of its own
(rules.py says which); the values are written in ``libcontainer_post_mount``,
inside the container's namespaces once /proc is mounted and before the
read-only paths (/proc/sys among them) and the masks are applied.  Joined
processes get nothing: the parameters belong to the namespaces they join.
"""

from __future__ import annotations

from libcontainer.plugins import hookimpl

from . import rules as _rules  # pure Python, imported while the host's files are reachable

KEY = _rules.KEY


@hookimpl
def libcontainer_config_schema():
    return {
        KEY: {
            "title": "kernel parameters (/proc/sys) of the container's own namespaces",
            "description": "Parameter -> value, such as {\"net.ipv4.ip_forward\": \"1\"}; only parameters of a "
                           "namespace the container has of its own (net.*, the IPC limits, kernel.hostname ...).",
            "type": "object",
            "propertyNames": {"type": "string", "format": "sysctl-key"},
            "additionalProperties": {"type": ["string", "integer"], "format": "sysctl-value"},
        }
    }


@hookimpl
def libcontainer_config_formats():
    return {"sysctl-key": _rules.canonical_key, "sysctl-value": _rules.canonical_value}


@hookimpl
def libcontainer_validate_config(config):
    from libcontainer.errors import ConfigProblem
    from libcontainer.validate import join_path

    section = config.sections.get(KEY) or {}
    spaces = config.sections.get("namespaces") or {}
    return [ConfigProblem(join_path(f"$.{KEY}", key), message) for key, message in _rules.problems(section, spaces)]


@hookimpl
def libcontainer_pre_clone(container):
    _rules.check_joined_network(container.config.sections.get(KEY) or {},
                                container.config.sections.get("namespaces") or {})


@hookimpl
def libcontainer_post_mount(container):
    _rules.apply(container.config.sections.get(KEY) or {}, container.syscalls)
