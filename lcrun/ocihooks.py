"""The OCI hooks of config.md as a plugin owning the ``oci_hooks`` key; lcrun's translation fills it.

Each hook runs where runtime.md puts it, with the container's state
(state-schema.json) on its stdin, its own args and env, and its timeout:

==================  ===========================  ====================================  ==============
OCI hooks           libcontainer hook            where                                 on failure
==================  ===========================  ====================================  ==============
prestart,           libcontainer_post_clone      host (runtime namespace), the         the create
createRuntime                                    container's namespaces exist          fails, torn down
createContainer     libcontainer_pre_pivot       inside, every mount made, host        the create
                                                 paths still valid                     fails, torn down
startContainer      libcontainer_pre_user        inside, after the start, before the   the start fails,
                                                 user's command; its path in the       the container
                                                 container's filesystem                stops
poststart           libcontainer_post_start      host, in the starter                  a warning
poststop            libcontainer_post_exit       host, at delete                       a warning
==================  ===========================  ====================================  ==============

A hook that does not end within its ``timeout`` (seconds) is killed and
counts as failed.  Hooks are run with posix_spawn and waited for through a
pidfd: nothing is imported for them inside the container.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from typing import Any

from libcontainer.errors import ContainerError
from libcontainer.plugins import hookimpl

__version__ = "0.1.0"
KEY = "oci_hooks"
NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

_HOOK = {"type": "object", "additionalProperties": False, "required": ["path"], "properties": {
    "path": {"type": "string", "pattern": "^/", "description": "absolute, in the namespace the hook runs in"},
    "args": {"type": "array", "items": {"type": "string"}, "description": "argv, args[0] included"},
    "env": {"type": "array", "items": {"type": "string"}, "description": "its whole environment"},
    "timeout": {"type": "integer", "minimum": 1, "description": "seconds before it is killed and fails"},
}}
SCHEMA = {"type": "object", "additionalProperties": False, "description": "OCI hooks (config.md), run by lcrun",
          "properties": {
              "oci_version": {"type": "string", "description": "the ociVersion the hooks get in the state"},
              "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
              **{name: {"type": "array", "items": _HOOK} for name in NAMES}}}

# The state's "pid" for the inside hooks: the host pid, read from the host's /proc before pivot_root.
_host_pid: int | None = None
_poststop_done: set[str] = set()


def section(extras: Any) -> dict[str, Any]:
    """The oci_hooks value for a translated bundle (lcrun.oci.Extras)."""
    out: dict[str, Any] = {"oci_version": extras.oci_version, "annotations": dict(extras.annotations)}
    for name, hooks in extras.hooks.items():
        if hooks:
            out[name] = [{"path": h.path, **({"args": list(h.args)} if h.args else {}),
                          **({"env": list(h.env)} if h.env else {}),
                          **({"timeout": h.timeout} if h.timeout else {})} for h in hooks]
    return out


def state_json(container: Any, status: str, pid: int | None) -> bytes:
    """state-schema.json's document for the hooks."""
    cfg = container.config.section(KEY) or {}
    doc: dict[str, Any] = {"ociVersion": cfg.get("oci_version") or "1.3.0", "id": container.id, "status": status,
                           "pid": pid or 0, "bundle": str(container.root)}
    if cfg.get("annotations"):
        doc["annotations"] = cfg["annotations"]
    return json.dumps(doc).encode()


def run_hook(hook: dict[str, Any], stdin: bytes, what: str) -> None:
    """Run one hook to its end with ``stdin``; ContainerError naming it when it fails or outlives its timeout."""
    path = hook["path"]
    args = hook.get("args") or [path]
    env = hook.get("env") or []
    timeout = hook.get("timeout")
    r_in, w_in = os.pipe2(os.O_CLOEXEC)
    r_out, w_out = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.posix_spawn(path, args, dict(e.split("=", 1) for e in env if "=" in e), file_actions=[
            (os.POSIX_SPAWN_DUP2, r_in, 0), (os.POSIX_SPAWN_DUP2, w_out, 1), (os.POSIX_SPAWN_DUP2, w_out, 2)],
            setsigdef=(signal.SIGPIPE, signal.SIGINT, signal.SIGTERM))
    except OSError as e:
        for fd in (r_in, w_in, r_out, w_out):
            os.close(fd)
        raise ContainerError("hooks", f"{what} hook {path}: {e.strerror}") from None
    os.close(r_in)
    os.close(w_out)
    output = bytearray()
    try:
        try:
            os.write(w_in, stdin)  # a state is far below a pipe's 64 KiB: never blocks
        except BrokenPipeError:
            pass
        os.close(w_in)
        w_in = -1
        status = _wait(pid, r_out, output, timeout)
    finally:
        if w_in >= 0:
            os.close(w_in)
        os.close(r_out)
    if status is None:
        raise ContainerError("hooks", f"{what} hook {path} did not end within its timeout ({timeout}s): killed")
    if status != 0:
        said = bytes(output).decode(errors="replace").strip().splitlines()
        tail = f": {said[-1]}" if said else ""
        why = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
        raise ContainerError("hooks", f"{what} hook {path} failed ({why}){tail}")


def _wait(pid: int, out: int, output: bytearray, timeout: int | None) -> int | None:
    """Collect ``out`` until ``pid`` ends; its exit code (negative: signal), None when killed at the timeout."""
    pidfd = os.pidfd_open(pid)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None
            ready = select.select([pidfd] + ([out] if out >= 0 else []), [], [], left)[0]
            if out in ready:
                data = os.read(out, 65536)
                if data:
                    output += data
                    del output[:-4096]  # the last lines are what an error shows
                    continue
                out = -1  # the hook (and its children) closed it: wait for its end alone
            if pidfd in ready:
                return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    finally:
        os.close(pidfd)


def run_hooks(container: Any, name: str, status: str, pid: int | None) -> None:
    hooks = (container.config.section(KEY) or {}).get(name) or []
    if hooks:
        stdin = state_json(container, status, pid)
        for hook in hooks:
            run_hook(hook, stdin, name)


def _warn(message: str) -> None:
    from . import log

    log.warning(message)


# -- hooks -----------------------------------------------------------------------------------


@hookimpl
def libcontainer_config_schema():
    return {KEY: SCHEMA}


@hookimpl
def libcontainer_post_clone(container, pid):
    """prestart (deprecated) then createRuntime: the namespaces exist, nothing of the setup ran."""
    run_hooks(container, "prestart", "creating", pid)
    run_hooks(container, "createRuntime", "creating", pid)


@hookimpl
def libcontainer_pre_pivot(container):
    """createContainer: in the container's namespaces, before pivot_root."""
    global _host_pid
    try:
        _host_pid = int(os.readlink("/proc/self"))  # the host's procfs, still mounted at /proc
    except (OSError, ValueError):
        _host_pid = None
    run_hooks(container, "createContainer", "creating", _host_pid)


@hookimpl
def libcontainer_pre_user(container):
    """startContainer: started, before the user's command; paths in the container's filesystem."""
    if not container.process.joining:
        run_hooks(container, "startContainer", "created", _host_pid or container.pid)


@hookimpl
def libcontainer_post_start(container, pid):
    """poststart: the command runs; a failure is a warning (runtime.md)."""
    try:
        run_hooks(container, "poststart", "running", pid)
    except ContainerError as e:
        _warn(str(e.cause))


@hookimpl
def libcontainer_hook_plan(container):
    """post_start and post_exit run the poststart and poststop hooks: idle without any (libcontainer_hook_plan)."""
    hooks = container.config.section(KEY) or {}
    plan = {}
    if not hooks.get("poststart"):
        plan["post_start"] = "idle"
    if not hooks.get("poststop"):
        plan["post_exit"] = {}
    return plan


@hookimpl
def libcontainer_post_exit(container):
    """poststop, once per container and process: a failure is a warning (runtime.md)."""
    if container.id in _poststop_done:
        return
    _poststop_done.add(container.id)
    try:
        run_hooks(container, "poststop", "stopped", 0)
    except ContainerError as e:
        _warn(str(e.cause))
