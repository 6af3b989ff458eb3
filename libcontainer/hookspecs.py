"""The hook specifications of libcontainer: the lifecycle, in order.

A plugin implements some of these hooks and declares, through
``libcontainer_config_schema``, the top-level keys of container.json it owns.
It is *active* for a container when one of its keys is present in the config
(a plugin that owns no key is always active); the engine calls only active
plugins.  Plugins are found through the ``libcontainer.plugins`` entry-point
group, the built-in ones exactly like a third party's.

Order is the engine's, not the plugins'.  Where the kernel requires one step
before another, the two are separate hooks that the engine fires in sequence;
``tryfirst``/``trylast`` only order implementations *within* one hook.

A container's life, and the hooks on the way (Container.create, .start,
then the first process's end, then .delete; each may be another process)::

    host    libcontainer_config_schema       keys owned + JSON Schema fragments
    host    libcontainer_config_formats      named string formats for schemas
    host    libcontainer_validate_config     cross-field checks -> problems
    host    libcontainer_config_warnings     allowed but seldom meant -> warnings
            -- status: creating (its state written once a plugin records)
    host    libcontainer_namespaces          which namespaces to create or join
    host    libcontainer_pre_clone           before the setup process exists
            -- engine forks the setup process (host.py); entering a namespace that
               exists, it scrubs its environment and turns non-dumpable first;
               it joins namespaces by path, then unshares CLONE_NEWUSER
    host    libcontainer_map_ids             child in its new user namespace, waiting
            -- child unshares the other namespaces and (with a new pid namespace
               it made) forks the container's PID 1; the host adopts it
    inside  libcontainer_process_created     the container's process, before the host knows its pid
    host    libcontainer_post_clone          child in all its namespaces, waiting
            -- (with a new cgroup namespace: unshare CLONE_NEWCGROUP, now in its cgroups)
    inside  libcontainer_container_init      namespaces in place, before any mount
            -- engine: rootfs, /proc, /sys, /dev, the configured mounts (with default_mounts
               false only those, then the /dev nodes)
    inside  libcontainer_pre_pivot           every mount made, the host's "/" still the root
            -- engine: pivot_root, the tty
    inside  libcontainer_post_mount          rootfs is "/", before it is made read-only
            -- engine: readonly paths and masks, readonly_fs, hostname, domainname
            -- status: created: Container.create returns; any process of the owner
               may start it.  The process goes on meanwhile (one created without a
               command, a warm pool's, waits for the start here: it brings the
               command, environment, directory and user)
    inside  libcontainer_pre_user            still root with every capability
            -- engine: session keyring; setgroups, setgid, setuid (capabilities kept)
    inside  libcontainer_post_user           as the configured user
            -- engine: working_dir (checked to be inside the container), the exec
               stub; then the wait for the start on the start socket
    inside  libcontainer_pre_exec            started: the very last step (security filters)
            -- engine: fds >= 3 close-on-exec; exec through the exec stub
    host    libcontainer_post_start          the command has been exec'd (in the starter)
            -- status: running, until the first process ends: stopped
    host    libcontainer_exit_reason         why it ended, when a plugin knows better
    host    libcontainer_usage               what it used, read before the teardown
    host    libcontainer_post_exit           cleanup: when an attached container's first
                                             process ends, at delete, after a failed start,
                                             and by the next command after a SIGKILLed creator

Who reaps the first process, and so who knows its exit status: its creator
while it lives (``ContainerProcess.wait``; an *attached* container, nsinit
exec's, dies with its creator and is torn down when it ends); for a
container created with ``detach=True``, a keeper process of the engine
(keeper.py), which records the status for ``Container.wait`` in any
process; with ``keeper=False`` (lcrun), the creator's nearest child
subreaper (containerd-shim, conmon), as with runc.

Joining a running container (``Container.join``)::

    host    libcontainer_pre_join            before the joining process is forked
            -- engine: the same fork; the child scrubs its environment, turns
               non-dumpable, setns(pidfd of PID 1) into every namespace of it
               that differs, forks for a pid namespace; the host adopts it
    host    libcontainer_join                the process is in the namespaces, waiting
            -- child: chroot to PID 1's root; the tty
    inside  libcontainer_pre_user / libcontainer_post_user / libcontainer_pre_exec
            (with ``container.process.joining`` true)

The *host* side of a join runs in the joining process, or, for a join that
the supervising nsinit serves (libcontainer/control.py), in a process forked
from the supervisor for that join: module state a plugin keeps from the first
process's hooks may be there; the context is always a new one.  On every
path the setup process is forked (never a fresh interpreter) from the
process that runs the host hooks: a program with threads creates through a
keeper, a fresh interpreter that forks (keeper.py).

Any time while it runs: ``libcontainer_stats``, ``libcontainer_pause``,
``libcontainer_resume``, ``libcontainer_processes``, ``libcontainer_update``
(new limits: ``libcontainer.update.update_config``).  Once it is created, for
a runtime that starts and deletes without the plugins (lcrun):
``libcontainer_hook_plan``, what ``post_start`` and ``post_exit`` will do, as data.

Hooks marked *inside* run in the container's setup process after fork: an
exception there is sent to the host (or, once started, to the starter) as a
message naming the step, and the container is torn down
(``libcontainer_post_exit`` runs) before nsinit exits 125.  Hooks marked
*host* run in a process of the host: the creator, the starter, or the
process that deletes.  From post_mount on, the
setup process sees only the container's filesystem: a module that an inside
hook imports lazily must be imported no later than ``libcontainer_pre_clone``
(``libcontainer_pre_join`` for a join) or at the plugin's import, or the
import fails inside the container.  Every hook receives
``container``, a :class:`libcontainer.context.ContainerContext`: the config,
the state directory, the rootfs, the syscall door, the process being started,
and ``resources``, a dict in which a plugin records, under its own name, what it
created so that ``libcontainer_post_exit`` can remove it even from another
process.

Implementations are called through pluggy (its order, ``firstresult``,
wrappers, tracing): ``tryfirst``/``trylast`` and ``wrapper=True`` work as
pluggy documents them, among the plugins active for the container.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    from .context import ContainerContext, Namespace
    from .config import Config
    from .errors import ConfigProblem

hookspec = pluggy.HookspecMarker("libcontainer")
hookimpl = pluggy.HookimplMarker("libcontainer")  # also importable as libcontainer.plugins.hookimpl

# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------


@hookspec
def libcontainer_config_schema() -> dict[str, dict[str, Any]]:
    """The top-level config keys this plugin owns, each with its JSON Schema.

    Return ``{"cgroups": {"type": "object", ...}}``.  A key may be owned by
    one plugin only; two plugins claiming one key is an error naming both.
    Called once per plugin manager, on the host, before any container exists.
    A schema using a keyword that libcontainer's validator does not implement
    (``libcontainer.validate.KEYWORDS`` and ``ANNOTATIONS``) is refused then,
    naming the plugin, the keyword and its path in the schema.
    """


@hookspec
def libcontainer_config_formats() -> dict[str, Callable[[Any], Any]]:
    """Named formats that the plugin's schema fragments refer to.

    Return ``{"capability": fn}``; ``fn(value)`` returns the canonical value
    (``"cap_chown"`` -> ``"CHOWN"``, ``"512M"`` -> ``536870912``) or raises
    ``ValueError`` whose message says what was expected.  Formats normalise
    while they validate, so YAML authors may write human forms and the JSON
    written back is libcontainer's canonical one.
    """


@hookspec
def libcontainer_validate_config(config: Config, hook: Any) -> list[ConfigProblem] | None:
    """Checks that span several fields, after the schema has passed.

    Return a list of :class:`~libcontainer.errors.ConfigProblem` (JSON path
    and message, such as ``$.hostname: unable to set hostname without a private
    UTS namespace``); every problem of every plugin is reported at once.
    Called for active plugins only, on the host; must not touch the system.
    It runs once the plugin's own keys have passed the schema, even when
    others have not (those are then absent from ``config``), and ``hook`` is
    the plugin manager's hook relay, as ``container.hook`` is in later hooks.
    """


@hookspec
def libcontainer_config_warnings(config: Config) -> list[str] | None:
    """What a valid config asks for that the format allows but is seldom meant.

    Return one-line sentences without a prefix, such as ``no capabilities
    list: the command keeps every capability nsinit has``; ``nsinit config
    validate`` prints each as a warning on stderr and its exit status stays
    that of a valid config (``libcontainer.configfile.config_warnings``
    collects them).  Called once ``libcontainer_validate_config`` found
    nothing, for every plugin, active or not: a warning is often about a key
    the config leaves out, and a lazy manager imports the plugins it deferred
    first.  On the host; must not touch the system.
    """


# ---------------------------------------------------------------------------
# Host side, before the child exists
# ---------------------------------------------------------------------------


@hookspec
def libcontainer_namespaces(container: ContainerContext) -> list[Namespace] | None:
    """The namespaces the container gets: created new, or joined by path.

    Return :class:`~libcontainer.context.Namespace` items.  A namespace that no
    plugin names is shared with nsinit.  The engine, not the plugin, does the
    unshare and setns calls, in the order the kernel needs (user namespace
    first: it owns the others).  Host side; nothing exists yet.
    """


@hookspec
def libcontainer_pre_clone(container: ContainerContext) -> None:
    """Host side, before the setup process is forked.

    Check prerequisites early (a bridge exists, a cgroup controller is
    mounted) and create what needs no pid.  Anything created must be recorded
    with ``container.record(<plugin name>, ...)``, before it is created: if
    this or any later step fails, ``libcontainer_post_exit`` is called to
    remove it.  A plugin's first record in this hook is written to the state
    before ``record`` returns, so that a SIGKILL of nsinit right after the
    creation still leaves it to the next command to remove.
    """


@hookspec
def libcontainer_map_ids(container: ContainerContext, pid: int) -> None:
    """Host side: the child ``pid`` has a new user namespace and waits.

    Write ``/proc/PID/uid_map`` and ``gid_map`` (and ``setgroups``) here: the
    kernel requires it to be done from outside, before the child may setuid.
    Called only when the container gets a new user namespace.
    """


@hookspec
def libcontainer_process_created(container: ContainerContext) -> None:
    """Inside: the container's process (PID 1 of a new pid namespace) was just created.

    It is in its namespaces (all but a new cgroup namespace), still holds
    nsinit's privileges (unless in a new user namespace) and sees the host's
    filesystem; nsinit has not heard its pid yet, so ``libcontainer_post_clone``
    runs after this.  For what a process does to itself faster than the host
    can do it: the cgroups plugin moves it into its cgroup v1 hierarchies here
    (a thread moving itself skips the RCU grace period that the host's write
    to cgroup.procs waits for, ~10 ms).  Treat it as an optimisation:
    ``libcontainer_post_clone`` must still do the job when this did nothing.
    Not called for joins.
    """


@hookspec
def libcontainer_post_clone(container: ContainerContext, pid: int) -> None:
    """Host side: the child ``pid`` is in all its namespaces and waits.

    Nothing of the container's setup has run yet.  Put ``pid`` in cgroups,
    create host-side network interfaces and move their peers into
    ``/proc/PID/ns/net``.  Record what is created in ``container.resources``.
    """


# ---------------------------------------------------------------------------
# Inside the new namespaces, before exec
# ---------------------------------------------------------------------------


@hookspec
def libcontainer_container_init(container: ContainerContext) -> None:
    """Inside: every namespace is in place; no mount has been made yet.

    Runs as root of the container with every capability, still seeing the
    host's filesystem (the rootfs is at ``container.rootfs``).  Configure
    interfaces inside the network namespace here.  Not called for joins.
    What is mounted on the rootfs path here is what the engine binds and
    pivots into (the layer plugin's overlay).  The new mount namespace still
    has the host's propagation ("/" is made private after this hook): a
    plugin that mounts here makes "/" a slave first (MS_SLAVE | MS_REC), or
    its mounts appear on the host wherever the host's mounts are shared.
    """


@hookspec
def libcontainer_pre_pivot(container: ContainerContext) -> None:
    """Inside: every mount of the container is made; pivot_root comes next.

    The container's filesystem is complete under ``container.rootfs``, and
    paths still resolve in the host's root (the OCI runtime spec's
    createContainer hooks run here: "in the container namespace", "before
    the pivot_root").  Not called for joins, nor without a new mount namespace.
    """


@hookspec
def libcontainer_post_mount(container: ContainerContext) -> None:
    """Inside: the rootfs is ``/``, with /proc, /sys, /dev and bind mounts.

    Runs before readonly paths, masks and ``readonly_fs`` are applied, so the
    plugin may still add files and mounts.  Not called for joins.
    """


@hookspec
def libcontainer_pre_user(container: ContainerContext) -> None:
    """Inside: the last step as root with every capability.

    Drop capabilities from the bounding set here: that needs CAP_SETPCAP,
    which the user switch takes away (capabilities(7)).  Set rlimits.  Also
    called for a joining process, after it entered the namespaces.
    """


@hookspec
def libcontainer_post_user(container: ContainerContext) -> None:
    """Inside: now running as the configured user and groups.

    Set the final effective, permitted, inheritable and ambient capability
    sets and no_new_privs.  The engine kept the permitted set across setuid
    (PR_SET_KEEPCAPS), so what is kept here is what the process ends with.
    """


@hookspec
def libcontainer_pre_exec(container: ContainerContext) -> None:
    """Inside: the very last step before exec.

    For filters that must not restrict the runtime's own setup, such as
    seccomp: after this only the engine's close-on-exec marking, the ready
    message and execve run.
    """


# ---------------------------------------------------------------------------
# Host side, while it runs and after
# ---------------------------------------------------------------------------


@hookspec
def libcontainer_post_start(container: ContainerContext, pid: int) -> None:
    """Host side: the container's command has been exec'd as ``pid``.

    Runs in the process that started the container, which need not be the
    one that created it: ``container`` is then rebuilt from the state.
    """


@hookspec(firstresult=True)
def libcontainer_exit_reason(container: ContainerContext, status: int) -> str | None:
    """Host side: why the container's first process ended, if a plugin knows.

    ``status`` is the exit status nsinit will report (128+N for signal N).
    Return a sentence such as ``"killed by the OOM killer"``; the first
    non-None result is used.
    """


@hookspec
def libcontainer_post_exit(container: ContainerContext) -> None:
    """Host side: release what ``container.resources`` records.

    Called when an attached container's first process has ended, when
    creating or starting it failed half-way, at ``Container.delete`` (also
    of a container whose creator was killed: then ``container.stale`` is
    true and ``container.resources`` comes from state.json).  It may run in
    another process than the one that made the resources, and more than once
    for the same resources: it must tolerate resources that are already
    gone.  Every plugin's implementation runs even when another raises.
    """


@hookspec
def libcontainer_hook_plan(container: ContainerContext) -> dict[str, Any] | None:
    """Host side, once the container is created: what this plugin's ``post_start`` and ``post_exit``
    will do for it, as data a runtime can act on without loading any plugin.

    For a runtime whose ``start`` and ``delete`` are each a process of their
    own, where an interpreter start and a few files read are the whole cost
    (lcrun: its ``start`` and ``delete`` skip the plugin manager when every
    plan allows it).  The answer is kept in the state.  Each key is
    optional; a hook the answer leaves out has work only the plugin can do,
    and the runtime loads the plugins for it:

    - ``"post_start": "idle"``: it does nothing for this container;
    - ``"post_exit": {}``: it does nothing; or ``{"rmdir": [...],
      "rmdir_if_unused": [...], "unless_replaced": {directory: inode}}``:
      all it does, once the first process has ended, is remove directories:
      those of ``rmdir`` in order, each of which must go (one that will not,
      busy with processes, is the plugin's to handle), then those of
      ``rmdir_if_unused``, left when busy; and nothing at all when a
      directory of ``unless_replaced`` now has another inode (removed and
      made again by another container since).
    """


@hookspec
def libcontainer_pre_join(container: ContainerContext) -> None:
    """Host side, before the process that joins a running container is forked.

    The joining process enters the container's mount namespace before its
    inside hooks run, so a C extension or shared library they need (libcap,
    libseccomp) must be loaded here, in nsinit's process, to be inherited by
    the fork.  Nothing may be created: a join has nothing to clean up.
    """


@hookspec
def libcontainer_join(container: ContainerContext, pid: int) -> None:
    """Host side: ``pid`` is a fresh process about to join the container.

    It has not entered any namespace yet and waits.  Put it in the
    container's cgroups here.  Nothing else is created for a joining process.
    """


@hookspec
def libcontainer_stats(container: ContainerContext) -> dict[str, Any] | None:
    """Host side: statistics of the running container, as JSON-ready data.

    The results of all plugins are merged into one document.
    """


@hookspec(firstresult=True)
def libcontainer_usage(container: ContainerContext) -> dict[str, Any] | None:
    """Host side: what the container used, once its first process has ended and before the teardown.

    Return ``{"cpu_time": seconds, "memory_peak": bytes, "oom_killed": bool}``
    (a key left out: not known); the cgroups plugin reads its cgroups.  The
    engine reports it with the exit status (``ContainerProcess.usage``,
    ``Container.run(...).usage``); without a plugin's answer it has what
    wait4(2) says of the first process.  The first non-None result is used.
    """


@hookspec(firstresult=True)
def libcontainer_processes(container: ContainerContext) -> list[int] | None:
    """Host side: the host pids of every process of the container, when a plugin can tell.

    The cgroups plugin reads its cgroup's member list.  Without an answer
    the engine scans /proc for the container's pid namespace (when it has
    one of its own), else knows only the first process.  Used by
    ``kill(all=True)`` and ``delete(force=True)``; the first non-None
    result is used.
    """


@hookspec(firstresult=True)
def libcontainer_pause(container: ContainerContext) -> bool | None:
    """Host side: freeze every process of the container; True when done.

    A plugin that can pause records, under its name in ``container.resources``,
    ``freeze_file`` (a file the kernel keeps) and ``frozen`` (what that file
    reads while the container is frozen): ``libcontainer.state.paused`` then
    tells a paused container from the kernel, without importing any plugin
    (``lcrun state`` reports "paused").
    """


@hookspec(firstresult=True)
def libcontainer_resume(container: ContainerContext) -> bool | None:
    """Host side: thaw a paused container; True when done."""


@hookspec
def libcontainer_update(container: ContainerContext, config: Config) -> None:
    """Host side: the running (or created) container's config becomes ``config``; apply what changed.

    ``container.config`` is the config it runs with until now; ``config``
    the new one, validated, differing only in keys whose plugins implement
    this hook (``libcontainer.update.update_config`` refuses the rest).
    Change what can change while its processes run (the cgroups plugin
    writes the new limits); raise ContainerError for what cannot.  Called
    under the container's lock; the new config is recorded in the state
    only when every implementation succeeded.
    """
