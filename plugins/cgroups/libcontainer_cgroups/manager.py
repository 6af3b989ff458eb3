"""The container's cgroups through their life: set up, enter, report, pause, tear down."""

from __future__ import annotations

import os
from typing import Any, Union

from libcontainer.errors import ContainerError

from .config import DEFAULT_PARENT, CgroupsConfig, parse_cgroups
from .files import STEP, remove_dir, write_value
from .probe import Hierarchies, no_driver_message, probe
from .v1 import FIELDS_OF, V1Driver, missing_controllers, plan_paths
from .v2 import V2Driver

KEY = "cgroups"
OOM_MESSAGE = "killed by the OOM killer"
ROOTLESS_V1 = "cgroups need root (rootless containers cannot set cgroup limits on cgroup v1)"

Driver = Union[V1Driver, V2Driver]


def config_of(container: Any) -> CgroupsConfig:
    return parse_cgroups(container.config.section(KEY))


def open_driver(resources: dict[str, Any]) -> Driver:
    """The driver for cgroups recorded in ``container.resources["cgroups"]``."""
    if resources.get("driver") == "v2":
        return V2Driver(resources["paths"]["unified"])
    return V1Driver(resources["paths"])


def recorded(container: Any) -> Driver | None:
    res = container.resources.get(KEY)
    return open_driver(res) if res and res.get("paths") else None


def owned_dirs(paths: list[tuple[str, str]], cfg: CgroupsConfig) -> list[str]:
    """The directories this container may remove when it ends, outermost first.

    Those that do not exist yet, and the default parent "libcontainer" always:
    that name is this plugin's, so the last container to leave removes it even
    when another one created it (a busy parent is left to the last one).
    """
    default = cfg.parent.strip("/") == DEFAULT_PARENT
    out: list[str] = []
    for root, path in paths:
        current = root
        for part in os.path.relpath(path, root).split(os.sep):
            current = os.path.join(current, part)
            mine = not os.path.isdir(current) or (default and current == os.path.join(root, DEFAULT_PARENT))
            if mine and current not in out:
                out.append(current)
    return out


def new_driver(cfg: CgroupsConfig, container_id: str, hosts: Hierarchies, rootless: bool) -> tuple[Driver, list]:
    """The driver for a new container and its (root, path) pairs; refuses what cannot work here."""
    rel = cfg.cgroup_path(container_id)
    # The config checks refused these already; a hand-made context must not escape the hierarchy either.
    if "/" in (cfg.name or container_id) or ".." in rel.split("/"):
        raise ContainerError(STEP, f"cgroup path {rel!r} must not climb out of its parent")
    if hosts.driver == "v1":
        if rootless:
            raise ContainerError(STEP, ROOTLESS_V1)
        missing = missing_controllers(cfg, hosts.v1)
        if missing:
            c = missing[0]
            raise ContainerError(STEP, f"the {c} cgroup controller is not mounted (needed for {FIELDS_OF[c]})")
        paths = plan_paths(hosts.v1, rel)
        return V1Driver(paths), [(hosts.v1[c], p) for c, p in paths.items()]
    if hosts.driver == "v2":
        assert hosts.unified is not None
        driver = V2Driver(os.path.join(hosts.unified, rel))
        driver.check(cfg, hosts.unified)
        return driver, [(hosts.unified, driver.path)]
    raise ContainerError(STEP, no_driver_message())


def set_up(container: Any, hosts: Hierarchies | None = None) -> Driver:
    """pre_clone: check, create the cgroups, write the limits, record them."""
    cfg = config_of(container)
    hosts = hosts or probe()
    driver, roots = new_driver(cfg, container.id, hosts, container.rootless)
    # Refuse before recording anything: cleanup must never touch a running container's cgroup.
    busy = driver.pids()
    if busy:
        name = cfg.name or container.id
        raise ContainerError(STEP, f"a container with cgroup name {name} is already running "
                                   f"(processes {', '.join(map(str, busy[:5]))} in {driver.dirs()[0]})")
    # An empty leftover of the same name (a container that died without cleanup)
    # is made afresh: its old limits and OOM counts go, and the stale cleanup of
    # that dead container, which compares inodes, cannot take this new one for its own.
    for directory in driver.dirs():
        if not remove_dir(directory):
            raise ContainerError(STEP, f"{directory} exists and has child cgroups: remove them or choose "
                                       "another cgroup name")
    # Recorded before mkdir, so that a failure half-way is cleaned up by post_exit.
    container.record(KEY, driver=driver.name, paths=driver.paths, created=owned_dirs(roots, cfg))
    if isinstance(driver, V1Driver):
        driver.create(hosts.v1)
    else:
        driver.create(hosts.unified, cfg)
    container.record(KEY, inodes={d: os.stat(d).st_ino for d in driver.dirs()})
    freeze = driver.freeze_file()
    if freeze is not None:  # for libcontainer.state.paused: "paused" read from the kernel
        container.record(KEY, freeze_file=freeze[0], frozen=freeze[1])
    driver.apply(cfg)
    container.record(KEY, oom_kill=driver.oom_kills() or 0, failcnt=driver.failcnt() or 0)
    return driver


def still_ours(resources: dict[str, Any]) -> bool:
    """False when a recorded directory was removed and made again by another container since."""
    for directory, inode in (resources.get("inodes") or {}).items():
        try:
            if os.stat(directory).st_ino != inode:
                return False
        except FileNotFoundError:
            continue
    return True


def enter_self(container: Any) -> None:
    """process_created: the container's process moves itself into its v1 cgroups (see V1Driver.add_self).

    Only an optimisation: in a new user namespace, or when the kernel
    refuses, :func:`enter` on the host does it.
    """
    driver = recorded(container)
    if isinstance(driver, V1Driver):
        driver.add_self()


def enter(container: Any, pid: int) -> None:
    """post_clone: the container's first process into its cgroups (those it did not enter itself)."""
    driver = recorded(container)
    if isinstance(driver, V1Driver):
        for directory in driver.missing(pid):
            write_value(os.path.join(directory, "cgroup.procs"), pid)
    elif driver is not None:
        driver.add(pid)


def join(container: Any, pid: int) -> None:
    """join: a new process into the running container's cgroups."""
    driver = recorded(container)
    if driver is None:
        return
    if driver.frozen():
        raise ContainerError(STEP, "the container is paused: resume it before running a process in it")
    driver.add(pid)


def start_frozen(container: Any) -> None:
    """post_start: ``freezer: "FROZEN"`` starts the container paused."""
    driver = recorded(container)
    if driver is not None and config_of(container).freezer == "FROZEN":
        driver.freeze()


def hook_plan(container: Any) -> dict[str, Any]:
    """libcontainer_hook_plan: start_frozen and tear_down, as data (see the hookspec).

    tear_down's whole work for a container whose processes have all ended:
    remove its directories (a busy one, a process left, is ours to kill),
    then the parents it created, when no other container uses them;
    nothing when another container has made a directory again since.
    """
    plan: dict[str, Any] = {}
    if config_of(container).freezer != "FROZEN":
        plan["post_start"] = "idle"
    res = container.resources.get(KEY) or {}
    driver = recorded(container)
    if driver is None:
        plan["post_exit"] = {}
    elif isinstance(res.get("inodes"), dict) and res["inodes"]:
        own = driver.dirs()
        plan["post_exit"] = {"rmdir": own,
                             "rmdir_if_unused": sorted(set(res.get("created", [])) - set(own), key=len, reverse=True),
                             "unless_replaced": dict(res["inodes"])}
    return plan


def exit_reason(container: Any, status: int) -> str | None:
    """"killed by the OOM killer" when the memory cgroup's OOM count grew and the status is SIGKILL's."""
    res = container.resources.get(KEY) or {}
    driver = recorded(container)
    if status != 128 + 9 or driver is None:
        return None
    kills = driver.oom_kills()
    if kills is not None:
        return OOM_MESSAGE if kills > res.get("oom_kill", 0) else None
    # Kernels before 4.13 have no oom_kill count: a limit hit is the best sign left.
    failcnt = driver.failcnt()
    return OOM_MESSAGE if failcnt is not None and failcnt > res.get("failcnt", 0) else None


def usage(container: Any) -> dict[str, Any] | None:
    """usage: CPU time and memory peak of the container's cgroups, and whether the OOM killer struck."""
    res = container.resources.get(KEY) or {}
    driver = recorded(container)
    if driver is None or not still_ours(res):
        return None
    found = driver.usage()
    kills = driver.oom_kills()
    if kills is not None:
        found["oom_killed"] = kills > res.get("oom_kill", 0)
    return found


def tear_down(container: Any) -> None:
    """post_exit: kill what is left, remove the cgroups (tolerating ones already gone)."""
    res = container.resources.get(KEY)
    driver = recorded(container)
    if driver is None or not still_ours(res):
        return
    if any(os.path.isdir(d) for d in driver.dirs()):
        driver.kill_all()
    left = driver.remove(list(res.get("created", [])))
    if left:
        pids = ", ".join(map(str, driver.pids())) or "none"
        raise ContainerError(STEP, f"{left[0]} could not be removed: it still holds processes ({pids}) "
                                   "or child cgroups")


def stats(container: Any) -> dict[str, Any] | None:
    driver = recorded(container)
    if driver is None:
        return None
    return driver.stats()


def processes(container: Any) -> list[int] | None:
    """Every process in the container's cgroups (None when it has none recorded)."""
    driver = recorded(container)
    if driver is None or not still_ours(container.resources.get(KEY) or {}):
        return None
    return driver.pids()


def update(container: Any, config: Any) -> None:
    """update: the running container's new limits, written to its cgroups (the device rules stay as made)."""
    driver = recorded(container)
    new = parse_cgroups(config.section(KEY))
    if driver is None:
        if config.section(KEY) is not None:
            raise ContainerError(STEP, "the container was made without cgroups: limits cannot be added now")
        return
    old = config_of(container)
    if (new.name, new.parent) != (old.name, old.parent):
        raise ContainerError(STEP, "a running container's cgroup cannot move (name and parent stay as made)")
    driver.apply(new, devices=False)


def pause(container: Any) -> bool | None:
    driver = recorded(container)
    if driver is None:
        return None
    driver.freeze()
    return True


def resume(container: Any) -> bool | None:
    driver = recorded(container)
    if driver is None:
        return None
    driver.thaw()
    return True
