"""A throwaway network namespace acting as "the host", and the network hooks run the way the engine runs them.

Every host-side hook runs in a forked child that setns()'es into the test's
namespace; every inside hook runs in a forked child that setns()'es into the
"container's" namespace (an ``unshare --net sleep`` process).  The machine's
own interfaces are never touched.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from libcontainer.configfile import parse_config
from libcontainer.context import ContainerContext, Process
from libcontainer.errors import ContainerError
from libcontainer.syscalls import CLONE_NEWNET, real
from libcontainer.testing.fixtures import add_netns, delete_netns

PREFIX = "lct"  # every interface, bridge and namespace of these tests starts with it
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


class ChildError(Exception):
    """An exception raised in a forked child that is not a ContainerError."""


def run_in_netns(ns_path: str, fn: Callable[..., Any], *args: Any, ctx: ContainerContext | None = None) -> Any:
    """Call ``fn(*args)`` in a forked child inside the network namespace ``ns_path``.

    What the child records in ``ctx.resources`` comes back to ``ctx``; a
    ContainerError raised there is raised here with its step and cause.
    """
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        out: dict[str, Any] = {}
        try:
            fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
            real().setns(fd, CLONE_NEWNET, what=ns_path)
            os.close(fd)
            out["value"] = fn(*args)
        except ContainerError as e:
            out["container_error"] = (e.step, e.cause)
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out["error"] = f"{type(e).__name__}: {e}"
        finally:
            try:
                out["resources"] = ctx.resources if ctx is not None else None
                data = pickle.dumps(out)
            except Exception as e:  # noqa: BLE001
                data = pickle.dumps({"error": f"unpicklable result: {e}"})
            with os.fdopen(wfd, "wb") as w:
                w.write(data)
            os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as r:
        data = r.read()
    os.waitpid(pid, 0)
    out = pickle.loads(data)
    if ctx is not None and out.get("resources") is not None:
        ctx.resources.clear()
        ctx.resources.update(out["resources"])
    if "container_error" in out:
        raise ContainerError(*out["container_error"])
    if "error" in out:
        raise ChildError(out["error"])
    return out.get("value")


class HostNetns:
    """A named network namespace ``lctest-net-XXXXXX`` standing in for the host."""

    def __init__(self) -> None:
        self.name = f"lctest-net-{secrets.token_hex(3)}"
        self.path = add_netns(self.name)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args: str, check: bool = True) -> str:
        """``ip -n NS ARGS``: set up and inspect the test host."""
        return subprocess.run(["ip", "-n", self.name, *args], check=check, capture_output=True, text=True).stdout

    def add_bridge(self, name: str, *addresses: str) -> None:
        self.ip("link", "add", name, "type", "bridge")
        for a in addresses:
            self.ip("addr", "add", a, "dev", name, *(["nodad"] if ":" in a else []))
        self.ip("link", "set", name, "up")

    def veths(self) -> list[str]:
        """Names of the veth interfaces in the test host."""
        out = self.ip("-o", "link", "show", "type", "veth")
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip()]

    def link(self, name: str) -> dict[str, Any]:
        return json.loads(self.ip("-j", "link", "show", name))[0]

    def run(self, fn: Callable[..., Any], *args: Any, ctx: ContainerContext | None = None) -> Any:
        return run_in_netns(self.path, fn, *args, ctx=ctx)

    def close(self) -> None:
        delete_netns(self.name)


class Box:
    """A "container": a process in a new network namespace, and its context."""

    def __init__(self, ctx: ContainerContext) -> None:
        self.ctx = ctx
        self.proc = subprocess.Popen(["unshare", "--net", "sleep", "60"])
        self.pid = self.proc.pid
        ours = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if os.readlink(f"/proc/{self.pid}/ns/net") != ours:
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.005)
        else:
            raise RuntimeError("unshare --net did not start")
        self.netns = f"/proc/{self.pid}/ns/net"

    def inside(self, fn: Callable[..., Any], *args: Any) -> Any:
        return run_in_netns(self.netns, fn, *args, ctx=self.ctx)

    def sh(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a host command in the container's network namespace (nsenter)."""
        return subprocess.run(["nsenter", f"--net={self.netns}", *args], capture_output=True, text=True, check=check)

    def ping(self, address: str) -> bool:
        return self.sh(BUSYBOX, "ping", "-c1", "-W2", address).returncode == 0

    def links(self) -> dict[str, dict[str, Any]]:
        return {link["ifname"]: link for link in json.loads(self.sh("ip", "-j", "addr", "show", check=True).stdout)}

    def routes(self, family: str = "-4") -> list[dict[str, Any]]:
        return json.loads(self.sh("ip", "-j", family, "route", "show", check=True).stdout)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def bridge_network(address: str, bridge: str = "lctbr0", gateway: str | None = "198.18.0.1", **more: Any) -> dict[str, Any]:
    """A veth network in the 2014 spelling of attach_to_bridge.json, with the lct prefix."""
    net: dict[str, Any] = {"type": "veth", "address": address, "context": {"bridge": bridge, "prefix": PREFIX}, "mtu": 1500}
    if gateway:
        net["gateway"] = gateway
    net.update(more)
    return net


LOOPBACK = {"type": "loopback", "address": "127.0.0.1/0", "gateway": "localhost", "mtu": 1500}


def config_doc(*networks: dict[str, Any], routes: list[dict[str, Any]] | None = None, newnet: Any = True) -> dict[str, Any]:
    doc: dict[str, Any] = {"namespaces": {"NEWNET": newnet}, "networks": copy.deepcopy(list(networks))}
    if routes is not None:
        doc["routes"] = routes
    return doc


def make_context(plugins: Any, doc: dict[str, Any], root: Path) -> ContainerContext:
    """A context as the engine makes it, from a document that passes the real config loader."""
    config = parse_config(doc, "<test>", plugins)
    return ContainerContext(config=config, root=root, rootfs=root, id="lctest", process=Process(args=["true"], env=[]),
                            hook=plugins.pm.hook)


class Hooks:
    """The network plugin's hooks, called through the plugin manager like the engine does."""

    def __init__(self, plugins: Any, ctx: ContainerContext) -> None:
        self.plugins = plugins
        self.ctx = ctx
        self.active = plugins.active(ctx.config.to_dict().keys())

    def __call__(self, name: str, **kwargs: Any) -> list[Any]:
        return self.plugins.call(f"libcontainer_{name}", self.active, container=self.ctx, **kwargs)

    def cleanup(self) -> None:
        self.plugins.call("libcontainer_post_exit", self.active, collect_errors=True, container=self.ctx)


def start(host: HostNetns, box: Box, hooks: Hooks) -> None:
    """pre_clone and post_clone on the host, container_init inside: the engine's order."""
    host.run(hooks, "pre_clone", ctx=box.ctx)
    host.run(lambda: hooks("post_clone", pid=box.pid), ctx=box.ctx)
    box.inside(hooks, "container_init")
