"""The cgroups plugin: resource limits, device rules, stats, pause and OOM reports (hooks only)."""

from __future__ import annotations

from libcontainer.plugins import hookimpl

__version__ = "0.1.0"
KEY = "cgroups"

# The modules doing the work are imported inside each hook: this module is
# imported on every nsinit start, containers with cgroups or not.


@hookimpl
def libcontainer_config_schema():
    from .schema import SCHEMA

    return {KEY: SCHEMA}


@hookimpl
def libcontainer_validate_config(config):
    from .validate import check_section

    return check_section(config.section(KEY))


@hookimpl
def libcontainer_pre_clone(container):
    from . import manager

    manager.set_up(container)


@hookimpl
def libcontainer_process_created(container):
    from . import manager

    manager.enter_self(container)


@hookimpl
def libcontainer_post_clone(container, pid):
    from . import manager

    manager.enter(container, pid)


@hookimpl
def libcontainer_join(container, pid):
    from . import manager

    manager.join(container, pid)


@hookimpl
def libcontainer_post_start(container, pid):
    from . import manager

    manager.start_frozen(container)


@hookimpl
def libcontainer_hook_plan(container):
    from . import manager

    return manager.hook_plan(container)


@hookimpl
def libcontainer_exit_reason(container, status):
    from . import manager

    return manager.exit_reason(container, status)


@hookimpl
def libcontainer_usage(container):
    from . import manager

    return manager.usage(container)


@hookimpl
def libcontainer_post_exit(container):
    from . import manager

    manager.tear_down(container)


@hookimpl
def libcontainer_stats(container):
    from . import manager

    return manager.stats(container)


@hookimpl
def libcontainer_processes(container):
    from . import manager

    return manager.processes(container)


@hookimpl
def libcontainer_update(container, config):
    from . import manager

    manager.update(container, config)


@hookimpl
def libcontainer_pause(container):
    from . import manager

    return manager.pause(container)


@hookimpl
def libcontainer_resume(container):
    from . import manager

    return manager.resume(container)
