"""The namespaces plugin of libcontainer (placeholder until its issue lands)."""

from libcontainer.plugins import hookimpl

KEY = "namespaces"


@hookimpl
def libcontainer_config_schema():
    return {}
