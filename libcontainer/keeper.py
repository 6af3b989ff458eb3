"""The keeper: a process of ours that creates a container and stays as its parent.

The kernel tells a process's exit status to its parent only.  Two callers
need that parent to be another process than themselves:

- a container that outlives the process that made it (``create(...,
  detach=True)``): the keeper reaps its first process and records the exit
  status in the state, where ``Container.wait()`` in any process finds it;
- a caller with threads: forking it is unsafe (fork(2)), so its keeper
  starts as a fresh interpreter (``python -m libcontainer.keeper FD``),
  single-threaded, which creates the container by forking itself.

Either way the keeper runs the same code as nsinit (``Container._create``):
the host hooks run in it, and the setup process is forked from it.  A
single-threaded caller's keeper is a fork of the caller.

The caller and its keeper talk over a socket pair, in channel.py's
messages::

    caller                                    keeper
      |  CREATE {root, config, id, ...}  ---->  |  (a fresh interpreter only:
      |  (+ stdin, stdout, stderr)              |   a fork has it all in memory)
      |  <------------- CREATED {pid, id}       |  Container._create
      |                     (+ tty master)      |  (or ERROR {step, cause, code})
      |  start, signals: straight to the        |  waits for the first process
      |  container (start socket, pidfd)        |
      |  <------- EXITED {status, reason}       |  reaped; attached: torn down

An attached container (the default) ends with its caller: when the socket
reports the caller gone, the keeper kills the container's processes and
tears it down.  A detached one outlives it: its keeper leaves the caller's
session and ignores the socket's end.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import sys
from typing import TYPE_CHECKING, Any

from .channel import Channel
from .errors import ContainerError

if TYPE_CHECKING:
    from .container import Container, Options
    from .popen import ContainerProcess

CREATE = "create"  # caller: the container to make (a fresh interpreter's only message)
CREATED = "created"  # keeper: made, waiting for the start: {pid, id}, with the tty master
EXITED = "exited"  # keeper: the first process ended: {status, reason}


def fork_keeper(box: Container, chan: Channel, peer: Channel, args: list[str], opts: Options) -> int:
    """Fork the keeper from a single-threaded caller; its pid.  It answers on ``chan`` to ``peer``."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            # The caller's end closed here: the keeper must see the socket end
            # when the caller does, also by SIGKILL (an attached container goes with it).
            peer.close()
            # None of the caller's other fds: a pipe's write end held here
            # would keep the container's reader from ever seeing its end.
            from .process import keep_only_fds

            keep_only_fds([chan.fileno(), *opts.stdio])
            # The keeper makes one container and waits: no collection, which
            # would walk (and copy) every page it shares with the caller.
            gc.disable()
            keep(box, chan, args, opts)
        finally:
            os._exit(125)
    return pid


def spawn_keeper(request: dict[str, Any], keeper_end: Channel, caller: Channel, stdio: list[int]) -> int:
    """Start a fresh interpreter as the keeper on ``keeper_end`` and send it ``request`` (and the
    process's ``stdio`` fds) from ``caller``; its pid."""
    os.set_inheritable(keeper_end.fileno(), True)
    try:
        pid = os.posix_spawn(sys.executable, [sys.executable, "-m", "libcontainer.keeper", str(keeper_end.fileno())],
                             dict(os.environ))
    finally:
        os.set_inheritable(keeper_end.fileno(), False)
    # The request in a memfd: a config may be larger than one message.
    doc = os.memfd_create("libcontainer-keeper", os.MFD_CLOEXEC)
    try:
        os.write(doc, json.dumps(request).encode())
        os.lseek(doc, 0, os.SEEK_SET)
        caller.send(CREATE, fds=[doc, *stdio])
    finally:
        os.close(doc)
    return pid


def read_request(chan: Channel) -> tuple[dict[str, Any], list[int]]:
    """In a fresh keeper: the CREATE request its caller sent, and the process's stdio fds."""
    _, fds = chan.recv_with_fds(CREATE)
    with os.fdopen(fds[0], "rb") as f:
        return json.loads(f.read()), fds[1:]


def keep(box: Container, chan: Channel, args: list[str], opts: Options) -> None:
    """In the keeper: create, hand over, wait, record; never returns."""
    code = 0
    detach = opts.detach
    try:
        if detach:
            os.setsid()  # the caller's terminal signals are not ours
        try:
            proc = box._create(args, opts, reaper=os.getpid())
        except ContainerError as e:
            chan.send_error(e.step, e.cause, e.exit_code, e.errno)
            return
        except Exception as e:  # noqa: BLE001 - a config or state error, told to the caller
            chan.send_error("create", str(e))
            return
        held = _hold_namespaces(proc.pid)
        try:
            chan.send(CREATED, fds=[proc.tty_master] if proc.tty_master is not None else None, pid=proc.pid,
                      id=box.id)
        except ContainerError:
            pass  # the caller went while we created: _wait sees its end (attached: the container goes too)
        if proc.tty_master is not None:
            os.close(proc.tty_master)
            proc.tty_master = None
        _quiet_stdio()
        proc.on_ended = lambda p: _tell_the_end(chan, p, held)
        _wait(proc, chan, detach)
    except BaseException:  # noqa: BLE001 - a keeper never unwinds into the caller's code
        code = 125
    finally:
        os._exit(code)


def _hold_namespaces(pid: int) -> list[int]:
    """fds of the container's namespaces, held until its end is told.

    The kernel frees a namespace with its last reference; when that is the
    exiting PID 1's, the freeing (for a mount namespace: unmounting the
    whole tree, the layer's overlay included) happens in its exit, before
    the parent is told (do_exit: exit_task_namespaces comes before
    exit_notify).  Held here, that work moves after EXITED, off the caller's
    wait (_tell_the_end lets them go, before the teardown needs the mounts
    gone).
    """
    held = []
    for ns in ("mnt", "ipc", "uts", "net"):
        try:
            held.append(os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            pass  # gone already, or not ours to open: its end is told a little later, no more
    return held


def _tell_the_end(chan: Channel, proc: ContainerProcess, held: list[int]) -> None:
    """EXITED to the caller, before the teardown; the caller sees our EOF once it is done."""
    usage = proc.usage
    try:
        chan.send(EXITED, status=proc.status, reason=proc.reason,
                  usage={"cpu_time": usage.cpu_time, "memory_peak": usage.memory_peak,
                         "oom_killed": usage.oom_killed} if usage else None)
    except ContainerError:
        pass  # the caller is gone
    finally:
        for fd in held:
            os.close(fd)  # the last reference: the kernel frees the namespace now
        held.clear()


def _quiet_stdio() -> None:
    """The keeper holds none of the caller's stdio: a reader of the caller's pipes must see their end."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _wait(proc: ContainerProcess, chan: Channel, detach: bool) -> int:
    """Wait for the first process; an attached container's caller gone first takes the container with it."""
    pidfd = os.pidfd_open(proc.pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not detach:
            poller.register(chan.fileno(), select.POLLIN)
        while True:
            ready = [fd for fd, _ in poller.poll()]
            if pidfd in ready:
                return proc.wait()
            if chan.fileno() in ready:
                # The caller is gone (EOF): end the container, as a parent-death signal would.
                poller.unregister(chan.fileno())
                proc.signal(signal.SIGKILL)
    finally:
        os.close(pidfd)


if __name__ == "__main__":
    # python -m libcontainer.keeper FD: a keeper for a caller with threads.
    from libcontainer.container import keeper_main

    keeper_main(sys.argv[1:])
