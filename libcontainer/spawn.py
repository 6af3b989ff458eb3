"""The setup process as a fresh interpreter, for callers that have threads.

Forking a process with several threads copies only the calling one, possibly
while another holds a lock the child then needs (fork(2), "async-signal-safe").
So when the caller has threads, the engine starts ``python -m
libcontainer.spawn CHANNEL_FD BOOTSTRAP_FD`` with posix_spawn instead, and
the new interpreter runs the same setup code as a forked child would, from a
bootstrap document: the container's context and the active plugins.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .channel import Channel
    from .context import ContainerContext
    from .process import Hooks


def bootstrap_document(ctx: ContainerContext, active: set[str], target: int | None) -> dict:
    return {
        "config": ctx.config.to_dict(),
        "root": str(ctx.root),
        "rootfs": str(ctx.rootfs),
        "id": ctx.id,
        "process": asdict(ctx.process),
        "namespaces": [{"kind": n.kind, "path": n.path} for n in ctx.namespaces],
        "pid": ctx.pid,
        "resources": ctx.resources,
        "active": sorted(active),
        "target": target,
    }


def spawn_setup(ctx: ContainerContext, hooks: Hooks, chan: Channel, target: int | None) -> int:
    """Start the setup process as a new interpreter; its pid."""
    boot = os.memfd_create("libcontainer-bootstrap", os.MFD_CLOEXEC)
    try:
        os.write(boot, json.dumps(bootstrap_document(ctx, hooks.active, target)).encode())
        os.lseek(boot, 0, os.SEEK_SET)
        os.set_inheritable(boot, True)
        os.set_inheritable(chan.fileno(), True)
        argv = [sys.executable, "-m", "libcontainer.spawn", str(chan.fileno()), str(boot)]
        return os.posix_spawn(sys.executable, argv, dict(os.environ))
    finally:
        os.close(boot)
        os.set_inheritable(chan.fileno(), False)


def main(argv: list[str]) -> None:
    import _socket

    from .channel import Channel
    from .config import Config
    from .context import ContainerContext, Namespace, Process
    from .errors import ContainerError
    from .plugins import get_plugin_manager
    from .process import setup_first_process, setup_joining_process

    chan_fd, boot_fd = int(argv[0]), int(argv[1])
    with os.fdopen(boot_fd, "rb") as f:
        boot = json.loads(f.read())
    chan = Channel(_socket.socket(fileno=chan_fd), "nsinit")
    os.set_inheritable(chan_fd, False)
    ctx = ContainerContext(
        config=Config.from_dict(boot["config"]), root=Path(boot["root"]), rootfs=Path(boot["rootfs"]),
        id=boot["id"], process=Process(**boot["process"]),
        namespaces=[Namespace(**n) for n in boot["namespaces"]], pid=boot["pid"], resources=boot["resources"],
    )
    plugins = get_plugin_manager(lazy=True)
    plugins.require(boot["config"])
    active = set(boot["active"])
    if boot["target"] is None:
        setup_first_process(ctx, plugins, active, chan)
    else:
        # pre_join loaded plugins' libraries (libseccomp, libcap) in nsinit's
        # process, which this fresh interpreter did not inherit: load them here,
        # while the host's files are still in reach.  Nothing is created there.
        try:
            plugins.call("libcontainer_pre_join", active, container=ctx)
        except ContainerError as e:
            chan.send_error(e.step, e.cause, e.exit_code, e.errno)
            os._exit(125)
        setup_joining_process(ctx, plugins, active, chan, int(boot["target"]))


if __name__ == "__main__":
    main(sys.argv[1:])
