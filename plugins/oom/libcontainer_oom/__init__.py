"""The oom plugin: how readily the OOM killer picks the container's processes (/proc/PID/oom_score_adj).

Owns ``oom_score_adj``: -1000 (never) to 1000 (first), as OCI's
``process.oomScoreAdj``.  Written on the host to /proc/PID/oom_score_adj of
the container's process in ``libcontainer_post_clone``, before it runs
anything of the user's (children inherit it at fork, proc(5)), and of every
joining process in ``libcontainer_join``.  Lowering it below the current
value needs CAP_SYS_RESOURCE (proc(5)): refused, in one line, for an nsinit
without it.  Without the key nothing is written: the value stays nsinit's.
"""

from __future__ import annotations

from libcontainer.plugins import hookimpl

KEY = "oom_score_adj"
STEP = "oom"


@hookimpl
def libcontainer_config_schema():
    return {
        KEY: {
            "type": "integer",
            "minimum": -1000,
            "maximum": 1000,
            "description": "The OOM killer's score adjustment of the container's processes: -1000 (never "
                           "killed) to 1000 (killed first); lowering it needs CAP_SYS_RESOURCE.",
        }
    }


def set_score(pid: int, value: int, syscalls) -> None:
    """Write ``value`` to /proc/PID/oom_score_adj; one clear error when the kernel refuses."""
    import os

    from libcontainer.errors import ContainerError, SyscallError

    try:
        syscalls.write_file(f"/proc/{pid}/oom_score_adj", str(value), what="oom_score_adj")
    except SyscallError as e:
        hint = " (lowering it needs CAP_SYS_RESOURCE)" if e.errno in (1, 13) else ""
        raise ContainerError(STEP, f"oom_score_adj {value}: {os.strerror(e.errno)}{hint}") from None


@hookimpl
def libcontainer_post_clone(container, pid):
    set_score(pid, container.config.sections[KEY], container.syscalls)


@hookimpl
def libcontainer_join(container, pid):
    set_score(pid, container.config.sections[KEY], container.syscalls)
