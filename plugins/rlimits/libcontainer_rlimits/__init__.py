"""The rlimits plugin: resource limits of the container's processes (setrlimit(2)).

Owns ``rlimits``: a list of ``{"type": "RLIMIT_NOFILE", "soft": 1024,
"hard": 4096}`` as in the OCI runtime spec (``NOFILE`` and ``nofile`` are
accepted too, and ``"unlimited"`` as a value).  The limits are set in
``libcontainer_pre_user``: inside the container's namespaces, still root
with every capability, because raising a hard limit needs CAP_SYS_RESOURCE,
which the user switch or the capabilities plugin may take away; they are
inherited through the user switch and execve.  A joining process gets them
too (pre_user runs for joins).  Limits the config does not name stay as
nsinit's.
"""

from __future__ import annotations

from libcontainer.plugins import hookimpl

from . import limits as _limits  # imports the resource module while the host's files are reachable

KEY = "rlimits"


@hookimpl
def libcontainer_config_schema():
    return {
        KEY: {
            "title": "resource limits (setrlimit) of the container's processes",
            "description": "Each limit's soft and hard values; limits not named stay as nsinit's.",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "soft", "hard"],
                "additionalProperties": False,
                "properties": {
                    "type": {"type": "string", "format": "rlimit-type",
                             "description": "RLIMIT_NOFILE, NOFILE or nofile; any limit of setrlimit(2)"},
                    "soft": {"type": ["integer", "string"], "format": "rlimit-value",
                             "description": "the limit enforced: a number or \"unlimited\"; at most hard"},
                    "hard": {"type": ["integer", "string"], "format": "rlimit-value",
                             "description": "the ceiling: a number or \"unlimited\"; raising it needs "
                                            "CAP_SYS_RESOURCE on the host"},
                },
            },
        }
    }


@hookimpl
def libcontainer_config_formats():
    return {"rlimit-type": _limits.canonical_kind, "rlimit-value": _limits.canonical_value}


@hookimpl
def libcontainer_validate_config(config):
    from libcontainer.errors import ConfigProblem

    section = config.sections.get(KEY)
    if not section:
        return None
    return [ConfigProblem(path, message) for path, message in _limits.problems(section)]


@hookimpl
def libcontainer_pre_user(container):
    _limits.apply_limits(_limits.limits_of(container.config.sections.get(KEY)))
