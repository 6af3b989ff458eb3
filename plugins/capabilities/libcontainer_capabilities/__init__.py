"""The capabilities plugin of libcontainer (placeholder until its issue lands)."""

from libcontainer.plugins import hookimpl

KEY = "capabilities"


@hookimpl
def libcontainer_config_schema():
    return {}
