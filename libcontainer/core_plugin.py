"""The core's own keys of container.json, declared like a plugin's."""

from __future__ import annotations

from .plugins import hookimpl


@hookimpl
def libcontainer_config_schema():
    # Placeholder: the full schema of the core keys lands with the config issue.
    from .config import CORE_KEYS

    return {key: {} for key in CORE_KEYS}
