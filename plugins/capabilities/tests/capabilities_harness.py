"""Run the capabilities hooks in a forked child the way the engine does, then exec a command."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import libcontainer_capabilities
from libcontainer.config import Config
from libcontainer.context import ContainerContext, Process
from libcontainer.plugins import get_plugin_manager
from libcontainer_capabilities import names

PLUGIN = "capabilities"
NOBODY = 1000  # the non-root user of the tests (uid and gid)


@dataclass
class Result:
    """What the exec'd command did."""

    status: int  # exit status; 128+N for signal N; 125 when a hook failed
    out: str
    err: str

    def sets(self) -> dict[str, int]:
        """``{"CapEff": mask, ...}`` from grep output of /proc/self/status."""
        found = {}
        for line in self.out.splitlines():
            key, _, value = line.partition(":")
            if key.startswith("Cap") or key == "NoNewPrivs":
                found[key] = int(value.strip(), 16 if key.startswith("Cap") else 10)
        return found


def mask(*cap_names: str) -> int:
    return names.mask([names.number(n) for n in cap_names])


def canonical(doc: dict[str, Any]) -> dict[str, Any]:
    """What the config loader makes of a document: names through the "capability" format."""
    doc = dict(doc)
    for key in ("capabilities", "ambient_capabilities"):
        if key in doc:
            doc[key] = [names.canonical_name(n) for n in doc[key]]
    return doc


def switch_user(syscalls: Any, uid: int, gid: int) -> None:
    """The engine's user switch between pre_user and post_user."""
    syscalls.set_keepcaps(True)
    syscalls.setgroups([])
    syscalls.setresgid(gid)
    syscalls.setresuid(uid)
    syscalls.set_keepcaps(False)


def run(
    doc: dict[str, Any],
    argv: list[str],
    uid: int = 0,
    setup: Callable[[Any], None] | None = None,
    order: str = "engine",
    timeout: int = 10,
) -> Result:
    """Fork; in the child run ``setup``, pre_user, the user switch, post_user, then exec ``argv``.

    ``order="caps-first"`` applies the final sets before the user switch, the
    wrong order, to show why the engine does not.
    """
    plugins = get_plugin_manager(entry_points=False, extra=[(PLUGIN, libcontainer_capabilities)])
    config = Config.from_dict(canonical(doc))
    active = plugins.active(config.to_dict())
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the container's setup process
        try:
            signal.alarm(timeout)  # survives execve: nothing hangs the suite
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            ctx = ContainerContext(
                config=config, root=Path("/"), rootfs=Path("/"), id="lctest-capabilities",
                process=Process(args=argv, env=["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], user=str(uid)),
            )
            if setup:
                setup(ctx.syscalls)
            if order == "engine":
                plugins.call("libcontainer_pre_user", active, container=ctx)
                switch_user(ctx.syscalls, uid, uid)
                plugins.call("libcontainer_post_user", active, container=ctx)
            else:
                plugins.call("libcontainer_pre_user", active, container=ctx)
                plugins.call("libcontainer_post_user", active, container=ctx)
                switch_user(ctx.syscalls, uid, uid)
            os.execve(argv[0], argv, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        except BaseException as e:  # report like the engine would, never return into pytest
            os.write(2, f"{e}\n".encode())
        finally:
            os._exit(125)
    os.close(out_w)
    os.close(err_w)
    _, status = os.waitpid(pid, 0)
    out = _read_all(out_r)
    err = _read_all(err_r)
    code = os.waitstatus_to_exitcode(status)
    return Result(code if code >= 0 else 128 - code, out, err)


def _read_all(fd: int) -> str:
    chunks = []
    with os.fdopen(fd, "rb") as f:
        chunks.append(f.read())
    return b"".join(chunks).decode(errors="replace")


STATUS = ["/bin/grep", "-E", "^(Cap|NoNewPrivs)", "/proc/self/status"]
# A Python any user may run (the venv's may live under /root).
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
RAW_SOCKET = [PYTHON, "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)"]
