"""The network plugin of libcontainer (placeholder until its issue lands)."""

from libcontainer.plugins import hookimpl

KEY = "network"


@hookimpl
def libcontainer_config_schema():
    return {}
