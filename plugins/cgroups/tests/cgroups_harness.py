"""Drive the cgroups hooks as the engine does, with real children held at a gate until they are placed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import libcontainer_cgroups
from libcontainer.config import Config
from libcontainer.configfile import parse_config
from libcontainer.context import ContainerContext, Process
from libcontainer.plugins import get_plugin_manager

PREFIX = "lctest-cgroups"  # every test cgroup's name starts with this
# This test run's parent cgroup and the start of its cgroup names: unique per
# process, so that runs at the same time never share (or remove) each other's.
PARENT = f"{PREFIX}-{os.getpid()}"
PLUGIN = "cgroups"

# sh reads one line from stdin (the gate), then execs the command: nothing of
# the command runs before the test has put the shell in its cgroups.
GATE = 'read _gate; exec "$@"'


def plugins():
    return get_plugin_manager(extra=[(PLUGIN, libcontainer_cgroups)], entry_points=False)


def load(doc: dict[str, Any]) -> Config:
    """Validate a document through the core's loader, as nsinit does."""
    return parse_config(doc, "<test>", plugins())


def require_root() -> None:
    import pytest

    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("privileged test without root under CI")
        pytest.skip("needs root")


class Child:
    """A process started on the host, waiting at the gate."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(["sh", "-c", GATE, "sh", *argv], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.pid = self.proc.pid

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.close()
        self.proc.stdin = None  # so that communicate() does not flush it again

    def wait(self, timeout: float = 10) -> int:
        """The exit status as nsinit reports it: 128+N for signal N."""
        code = self.proc.wait(timeout)
        return 128 - code if code < 0 else code

    def output(self, timeout: float = 10) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        code = self.proc.returncode
        return (128 - code if code < 0 else code), out.decode(), err.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.communicate(timeout=5)
        except (subprocess.TimeoutExpired, ValueError):
            pass


class Harness:
    """Containers and children of one test; ``close`` removes them all."""

    def __init__(self, tmp: Path, tag: str) -> None:
        self.tmp = tmp
        self.tag = tag
        self.plugins = plugins()
        self.containers: list[ContainerContext] = []
        self.children: list[Child] = []

    def name(self, n: int | None = None) -> str:
        return f"{PARENT}-{self.tag}-{len(self.containers) if n is None else n}"

    def container(self, section: dict[str, Any], **where: Any) -> ContainerContext:
        """A context for a container whose ``cgroups`` key is ``section`` (parent and name default to ours)."""
        section = dict(section)
        section.setdefault("parent", where.get("parent", PARENT))
        section.setdefault("name", self.name())
        ctx = ContainerContext(config=load({"cgroups": section}), root=self.tmp, rootfs=self.tmp,
                               id=self.name(), process=Process(args=["sh"], env=[]))
        self.containers.append(ctx)
        return ctx

    def call(self, hook: str, ctx: ContainerContext, **kwargs: Any) -> list[Any]:
        return self.plugins.call(f"libcontainer_{hook}", {PLUGIN}, container=ctx, **kwargs)

    def spawn(self, *argv: str) -> Child:
        child = Child(list(argv))
        self.children.append(child)
        return child

    def start(self, ctx: ContainerContext, *argv: str, hosts: Any = None) -> Child:
        """pre_clone, a gated child, post_clone with its pid, then let it run.

        ``hosts`` (a probe.Hierarchies) replaces the host's probed hierarchies, to
        drive the v2 driver on this v1 machine.
        """
        if hosts is None:
            self.call("pre_clone", ctx)
        else:
            from libcontainer_cgroups import manager

            manager.set_up(ctx, hosts)
        child = self.spawn(*argv)
        self.call("post_clone", ctx, pid=child.pid)
        child.release()
        return child

    def python(self, ctx: ContainerContext, code: str) -> Child:
        return self.start(ctx, sys.executable, "-c", code)

    def close(self) -> None:
        errors = []
        for ctx in reversed(self.containers):
            try:
                self.call("post_exit", ctx)
            except Exception as e:  # report after every container was tried
                errors.append(e)
        for child in self.children:
            child.kill()
        if errors:
            raise errors[0]


def cgroup_dir(ctx: ContainerContext, controller: str) -> str:
    return ctx.resources[PLUGIN]["paths"][controller]


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def wait_for(predicate, timeout: float = 5.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
