"""The cgroups plugin of libcontainer (placeholder until its issue lands)."""

from libcontainer.plugins import hookimpl

KEY = "cgroups"


@hookimpl
def libcontainer_config_schema():
    return {}
