"""New limits for a container while it runs: its config changed, the plugins told, the state rewritten.

::

    from libcontainer.container import Container
    from libcontainer.update import update_config

    box = Container.load("c1", "/run/lcrun")
    update_config(box, {"cgroups": {"memory": 128 << 20, "pids_limit": 50}})

Only keys whose plugin implements ``libcontainer_update`` may change (the
cgroups plugin's); a plugin section is merged into the one the container
runs with, key by key.  The merged config is validated as a new one would be,
and recorded in the state only once every plugin applied it.
"""

from __future__ import annotations

from typing import Any

from . import state as st
from .config import Config
from .errors import ConfigError, ConfigProblem, NotRunning


def update_config(container: Any, changes: dict[str, Any]) -> Config:
    """Apply ``changes`` (top-level keys, plugin sections merged) to the running or created ``container``.

    Raises NotRunning when it does not run, ConfigError naming a key no
    plugin can change while it runs or a merged value that is not valid,
    and the plugin's ContainerError when the kernel refuses a value.
    Returns the config now recorded.
    """
    from .configfile import parse_config

    plugins = container.plugins
    with container._lock():
        found = container._trusted()
        if found is None or st.status(found) not in (st.CREATED, st.RUNNING):
            raise NotRunning(f"container {container.id} is not running")
        doc = dict(found.config)
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(doc.get(key), dict):
                doc[key] = {**doc[key], **value}
            else:
                doc[key] = value
        source = f"the new config of container {container.id}"
        plugins.require(doc)
        updatable = {plugins.pm.get_name(impl.plugin) for impl in plugins.pm.hook.libcontainer_update.get_hookimpls()}
        refused = sorted(k for k in changes if plugins.owners.get(k) not in updatable)
        if refused:
            raise ConfigError(source, [ConfigProblem(f"$.{k}", "cannot change while the container runs")
                                       for k in refused])
        new = parse_config(doc, source, plugins)
        ctx, hooks = container._context_from_state(found)
        hooks("update", config=new)
        found.config = new.to_dict()
        st.write_state(container.state_dir, found)
        return new

