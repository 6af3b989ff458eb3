"""The capabilities plugin: the keep list, ambient capabilities and no_new_privileges.

Owns ``capabilities`` (the names the process keeps; every other capability is
dropped), ``ambient_capabilities``, ``no_new_privileges``, and
``capability_sets``, the five sets named one by one (OCI's
process.capabilities) instead of the keep list.  Without ``capabilities``
or ``capability_sets`` nothing is dropped: the process keeps nsinit's sets.

The order is fixed by the kernel, and the engine fires one hook per step
(the same sequence as runc's ``finalizeNamespace`` in
libcontainer/init_linux.go):

1. ``libcontainer_pre_user``, still root with every capability: drop from the
   bounding set what is not kept.  PR_CAPBSET_DROP needs CAP_SETPCAP, which
   the user switch may take away (capabilities(7), prctl(2)).
2. The engine switches user with PR_SET_KEEPCAPS set: setgroups, setresgid
   and setresuid need CAP_SETGID/CAP_SETUID *effective*, so the final sets
   cannot be applied before, or a keep list without SETUID would make the
   switch fail.  KEEPCAPS keeps the permitted set across the change of uid
   from 0; setuid still clears the effective set (capabilities(7), "Effect
   of user ID changes on capabilities").
3. ``libcontainer_post_user``: effective and permitted become the keep list,
   inheritable and ambient the ambient list (ambient needs the capability
   permitted and inheritable first), then PR_SET_NO_NEW_PRIVS.
4. ``libcontainer_pre_exec`` of other plugins: a seccomp filter comes last so
   that it does not restrict these steps (runc installs it just before
   execve).  Installing one needs no_new_privs or CAP_SYS_ADMIN effective.

At execve the kernel recomputes the sets (capabilities(7), "Transformation of
capabilities during execve()"): for root, permitted and effective become the
bounding set, so the bounding-set drop is what root ends with; for any other
user they become the ambient set, so a non-root user ends with nothing
effective unless it asked for ambient capabilities, and with the keep list as
its bounding set.
"""

from __future__ import annotations

from libcontainer.plugins import hookimpl

from . import apply  # imports python-prctl now, while the host's libraries are reachable
from . import config as _config
from . import names

KEY = "capabilities"


def _settings(container):
    return _config.CapabilitiesConfig.from_sections(container.config.sections)


@hookimpl
def libcontainer_config_schema():
    return _config.schema()


@hookimpl
def libcontainer_config_formats():
    return {"capability": names.canonical_name}


@hookimpl
def libcontainer_validate_config(config):
    from libcontainer.errors import ConfigProblem

    found = _config.problems(config.sections, names.kernel_last_cap())
    return [ConfigProblem(path, message) for path, message in found]


@hookimpl
def libcontainer_config_warnings(config):
    return _config.warnings(config.sections)


@hookimpl
def libcontainer_pre_user(container):
    settings = _settings(container)
    if not settings.restricts:
        return
    last_cap = names.kernel_last_cap()
    apply.check_keepable(settings.needed_numbers, last_cap)
    apply.drop_bounding_set(settings.keep_numbers, last_cap, container.syscalls)


@hookimpl
def libcontainer_post_user(container):
    settings = _settings(container)
    if settings.capability_sets is not None:
        apply.set_sets(apply.FinalSets(effective=settings.set_numbers("effective"),
                                       permitted=settings.set_numbers("permitted"),
                                       inheritable=settings.set_numbers("inheritable"),
                                       ambient=settings.ambient_numbers), container.syscalls)
    elif settings.restricts:
        apply.set_final_sets(settings.keep_numbers, settings.ambient_numbers, container.syscalls)
    if settings.no_new_privileges:
        container.syscalls.set_no_new_privs()
