"""Lifecycle faults: forged state, PID 1 death, nsinit SIGKILLed at each setup point, a cgroup name taken twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from libcontainer import state as st
from libcontainer.testing.fixtures import DEFAULT_ENV, SAMPLE_NAMESPACES, add_netns, delete_netns, nsinit_command, reap_orphans
from secutil import stop_a_join_before_exec

pytestmark = pytest.mark.privileged

# The security suite's prefix (tests/security/conftest.py checks it after every test): netns and
# interfaces start with "lcs", cgroups with "lctest-lcs".
PREFIX = "lcs-b"
RESOURCE_PREFIX = PREFIX  # narrows the suite's per-test leftover check to this module's names
CGROUP_PREFIX = "lctest-lcs-b"
STATE_FILES = ("pid", "start", "state.json")


# -- helpers -------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has ended)."""
    return st.process_start_time(pid) is not None


def _exists(pid: int) -> bool:
    """True while ``pid`` has an entry in /proc, zombie or not.

    The suite's test process is a child subreaper (tests/security/conftest.py),
    standing in for the host's init: an orphan reparented to it is reaped here,
    as init would, so only zombies that something else holds count.
    """
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return os.path.exists(f"/proc/{pid}")


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def _pids_in_pid_namespace(ns: str) -> list[int]:
    """Host pids of every process whose pid namespace is ``ns`` ("pid:[4026532...]")."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def _zombies_of(parents: set[int]) -> list[int]:
    """Zombie processes whose parent is one of ``parents``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] == b"Z" and int(fields[1]) in parents:
            found.append(int(entry))
    return found


def _describe(pids) -> list[str]:
    """``/proc/PID/stat`` of each pid, for failure messages."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                line = f.read().strip()
            ppid = line[line.rindex(")") + 2:].split()[1]
            with open(f"/proc/{ppid}/cmdline", "rb") as f:
                line += " parent: " + f.read().replace(b"\0", b" ").decode()
        except OSError:
            out.append(f"{pid} (gone)")
            continue
        out.append(line)
    return out


def _start_of(pid: int) -> str:
    start = st.process_start_time(pid)
    assert start is not None
    return start


@pytest.fixture
def host_sleep():
    """An unrelated host process (a sleep of the test's) that no container command may touch."""
    proc = subprocess.Popen(["sleep", "120"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _forge_state(root: Path, pid: int, start: str, **fields) -> None:
    """Write pid, start and state.json as nsinit would, naming ``pid``."""
    doc = {"pid": pid, "start": start, "id": "forged", "rootfs": str(root), "config": {}, "namespaces": {},
           "resources": {}, "nsinit_pid": 0, "nsinit_start": ""}
    doc.update(fields)
    (root / "state.json").write_text(json.dumps(doc))
    (root / "start").write_text(start + "\n")
    (root / "pid").write_text(f"{pid}\n")


def _remove_state(root: Path) -> None:
    for name in STATE_FILES:
        (root / name).unlink(missing_ok=True)


# -- forged and reused pids ------------------------------------------------------------


@pytest.mark.parametrize("start", ["its own", "another", "none"])
def test_pid_file_naming_a_host_process_is_neither_joined_nor_killed(container, host_sleep, start):
    container.write_config()
    (container.path / "pid").write_text(f"{host_sleep.pid}\n")
    if start != "none":
        (container.path / "start").write_text((_start_of(host_sleep.pid) if start == "its own" else "1") + "\n")
    try:
        r = container.exec("sh", "-c", "echo $$")
        assert r.returncode == 125
        assert r.stderr.strip().endswith(f"names a live process (pid {host_sleep.pid}) that is not this container's; "
                                         "remove it if no container runs here"), r.stderr
        r = container.nsinit("stats")
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert _alive(host_sleep.pid)
    finally:
        _remove_state(container.path)


def test_reused_pid_whose_start_time_differs_is_stale_and_not_killed(container, host_sleep):
    """A dead container's state whose pid now belongs to a host process: cleaned up, the process left alone."""
    container.write_config()
    # Written by the engine's own writer: the state a real container left when it died.
    st.write_state(st.private_dir(container.path), st.State(
        id="dead", status=st.RUNNING, pid=host_sleep.pid, start="1", root=str(container.path),
        rootfs=str(container.path), config={}, publish=True))  # start time 1: not the sleep's
    r = container.exec("sh", "-c", "echo $$")
    assert (r.returncode, r.stdout.strip()) == (0, "1"), r.stderr  # a new container
    assert _alive(host_sleep.pid)
    assert not any((container.path / n).exists() for n in STATE_FILES)


def test_forged_state_naming_a_host_process_with_its_start_time_is_not_killed(container, host_sleep):
    container.write_config()
    _forge_state(container.path, host_sleep.pid, _start_of(host_sleep.pid),
                 nsinit_pid=2 ** 22 - 1, nsinit_start="1")  # "its nsinit died": the orphan-killing path
    try:
        container.exec("true")
        assert _alive(host_sleep.pid)
    finally:
        _remove_state(container.path)


def test_forged_state_naming_a_host_process_and_its_parent_is_not_joined(container, host_sleep):
    container.write_config()
    _forge_state(container.path, host_sleep.pid, _start_of(host_sleep.pid),
                 nsinit_pid=os.getpid(), nsinit_start=_start_of(os.getpid()))
    try:
        r = container.exec("sh", "-c", "readlink /proc/self/ns/mnt")
        assert r.stdout.strip() != os.readlink("/proc/self/ns/mnt")  # never in the host's namespaces
        assert r.returncode == 125, (r.stdout, r.stderr)
        assert _alive(host_sleep.pid)
    finally:
        _remove_state(container.path)


@pytest.fixture
def victim_cgroup(host_sleep):
    """A host cgroup (pids controller) holding the unrelated host sleep: no container command may touch it."""
    path = Path(f"/sys/fs/cgroup/pids/{CGROUP_PREFIX}-victim-{uuid.uuid4().hex[:8]}")
    path.mkdir()
    try:
        (path / "cgroup.procs").write_text(f"{host_sleep.pid}\n")
        yield path
    finally:
        host_sleep.kill()
        host_sleep.wait()
        if path.is_dir():
            _wait_until(lambda: not (path / "cgroup.procs").read_text().strip(), 5)
            path.rmdir()


@pytest.mark.needs_host("cgroup-v1")
def test_state_forged_from_inside_the_container_cannot_make_the_next_command_kill_host_processes(
        container, host_sleep, victim_cgroup):
    container.write_config()
    forged = {"pid": 2 ** 22 - 1, "start": "1", "id": "forged", "rootfs": "/", "config": {"cgroups": {}},
              "namespaces": {}, "nsinit_pid": 0, "nsinit_start": "",
              "resources": {"cgroups": {"driver": "v1", "paths": {"pids": str(victim_cgroup)},
                                        "created": [str(victim_cgroup)]}}}
    script = f"echo '{json.dumps(forged)}' > /state.json && echo ready; sleep 30"
    first = container.popen("sh", "-c", script)
    container.wait_running()
    assert first.stdout.readline().strip() == "ready", first.stderr
    container.exec("true")  # the operator's next command, meant to join the container
    assert _alive(host_sleep.pid)
    assert victim_cgroup.is_dir()


def test_config_kept_outside_the_rootfs_cannot_be_rewritten_from_inside(container, tmp_path):
    """The layout docs/security.md recommends: the config (and so the next start) out of the container's reach."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    doc = {"namespaces": dict(SAMPLE_NAMESPACES), "environment": list(DEFAULT_ENV), "rootfs": str(container.path)}
    (config_dir / "container.json").write_text(json.dumps(doc))
    before = (config_dir / "container.json").read_text()
    r = subprocess.run(nsinit_command() + ["exec", "--root", str(config_dir), "sh", "-c",
                                           "echo '{}' > /container.json; ls /container.json"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert (config_dir / "container.json").read_text() == before
    (container.path / "container.json").unlink()  # what the container wrote lands in its rootfs only


def test_config_inside_the_rootfs_is_writable_from_inside(container):
    """The twin, documenting the 2014 layout's limit: with the rootfs as its directory, root inside can
    rewrite the container.json that the next start will use (patch 4 in /work/notes/security-b-patches.md)."""
    container.write_config()
    before = (container.path / "container.json").read_text()
    try:
        r = container.exec("sh", "-c", "echo '{\"namespaces\": {}}' > /container.json")
        assert r.returncode == 0, r.stderr
        assert (container.path / "container.json").read_text() != before
    finally:
        (container.path / "container.json").write_text(before)


def test_readonly_fs_keeps_the_config_inside_the_rootfs_unchanged(container):
    container.write_config(readonly_fs=True)
    before = (container.path / "container.json").read_text()
    r = container.exec("sh", "-c", "echo '{}' > /container.json")
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    assert (container.path / "container.json").read_text() == before


# -- PID 1 death ---------------------------------------------------------------------------


# PID 1 starts children and double-forked orphans (reparented to PID 1), then waits for "go";
# each sleep's length tells which one it is.
FAMILY = ("sleep 61 & sleep 62 & (sleep 63 &) ; (sh -c 'sleep 64 & sleep 65 &' &) ; "
          "echo ready; read x; exit 3")
JOINED = "sleep 66 & (sleep 67 &); echo joined; sleep 68"
SLEEPS = {f"sleep\0{n}\0" for n in range(61, 69)}


def _cmdlines(pids: list[int]) -> set[str]:
    found = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                found.add(f.read().decode())
        except OSError:
            pass
    return found


@pytest.mark.parametrize("how", ["exits", "sigkill"])
def test_pid_1_death_ends_every_process_within_a_second_and_leaves_no_zombies(container, how):
    container.write_config()
    first = container.popen("sh", "-c", FAMILY, stdin=subprocess.PIPE)
    pid1 = container.wait_running()
    assert first.stdout.readline().strip() == "ready"
    joined = container.popen("sh", "-c", JOINED)
    assert joined.stdout.readline().strip() == "joined"
    ns = os.readlink(f"/proc/{pid1}/ns/pid")
    assert _wait_until(lambda: SLEEPS <= _cmdlines(_pids_in_pid_namespace(ns)), 5), \
        _describe(_pids_in_pid_namespace(ns))
    members = _pids_in_pid_namespace(ns)
    if how == "exits":
        first.stdin.write("go\n")
        first.stdin.close()
    else:
        os.kill(pid1, signal.SIGKILL)
    began = time.monotonic()
    assert _wait_until(lambda: not any(_exists(p) for p in members), 1.0), \
        [p for p in members if _exists(p)]
    assert time.monotonic() - began < 1.0
    assert first.wait(timeout=10) == (3 if how == "exits" else 137)
    assert joined.wait(timeout=10) == 137  # SIGKILLed with the pid namespace
    # What nsinit's processes leave to the next reaper (a served join's handler
    # outlives the server killed before the teardown) is this process's to
    # reap: it stands in for the host's init.  No nsinit process keeps a zombie.
    reap_orphans()
    assert _zombies_of({first.pid, joined.pid, 1}) == []
    assert not any((container.path / n).exists() for n in STATE_FILES)


def test_sigkill_of_a_joining_nsinit_before_exec_ends_its_process_and_spares_the_container(container):
    container.write_config()
    first = container.popen("sh", "-c", "echo ready; sleep 60")
    pid1 = container.wait_running()
    assert first.stdout.readline().strip() == "ready"
    joiner, caught = stop_a_join_before_exec(container, os.readlink(f"/proc/{pid1}/ns/pid"))
    os.kill(joiner.pid, signal.SIGKILL)
    os.kill(joiner.pid, signal.SIGCONT)
    joiner.wait(timeout=10)
    # Its channel closes: the process stops without running the command (a zombie of PID 1 at most,
    # which busybox's sleep as PID 1 does not reap, as with any orphan in a container).
    assert _wait_until(lambda: not _alive(caught), 1.0), _describe([caught])
    r = container.exec("sh", "-c", "echo $$")
    assert r.returncode == 0 and r.stdout.strip() != "1", r.stderr  # the container still runs and is joinable
    assert first.poll() is None and _alive(pid1)


# -- nsinit SIGKILLed at each point of the setup ----------------------------------------------


class Sandbox:
    """A network namespace standing in for the host's network (bridge lcsbbr0), and the container's cgroup name.

    nsinit runs in it through ``nsenter --net`` (which execs, so the pid is
    nsinit's); cgroups and mounts are the real host's.
    """

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.netns = f"{PREFIX}-{tag}"
        self.cgroup_parent = CGROUP_PREFIX
        self.cgroup_name = f"{CGROUP_PREFIX}-{tag}"
        add_netns(self.netns)
        self.ip("link", "set", "lo", "up")
        self.ip("link", "add", "lcsbbr0", "type", "bridge")
        self.ip("addr", "add", "198.18.5.1/24", "dev", "lcsbbr0")
        self.ip("link", "set", "lcsbbr0", "up")

    def ip(self, *args: str) -> str:
        return subprocess.run(["ip", "-n", self.netns, *args], check=True, capture_output=True, text=True).stdout

    def veths(self) -> list[str]:
        out = self.ip("-o", "link", "show", "type", "veth")
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip()]

    def cgroup_dirs(self) -> list[str]:
        """Our cgroup (and its parent) in every v1 hierarchy, where they exist."""
        found = []
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            for path in (hierarchy / self.cgroup_parent / self.cgroup_name, hierarchy / self.cgroup_parent):
                if path.is_dir():
                    found.append(str(path))
        return found

    def config(self) -> dict:
        return {
            "namespaces": dict(SAMPLE_NAMESPACES),
            "environment": list(DEFAULT_ENV),
            "cgroups": {"parent": self.cgroup_parent, "name": self.cgroup_name, "memory": "64M"},
            "networks": [
                {"type": "loopback", "address": "127.0.0.1/0", "gateway": "localhost", "mtu": 1500},
                {"type": "veth", "address": "198.18.5.2/24", "gateway": "198.18.5.1", "mtu": 1500,
                 "context": {"bridge": "lcsbbr0", "prefix": "lcsb"}},
            ],
        }

    def command(self, *args: str) -> list[str]:
        return ["nsenter", f"--net=/var/run/netns/{self.netns}", *nsinit_command(), *args]

    def force_clean(self) -> None:
        """Last resort after a failed test: kill what is in our cgroups, remove them and the namespace."""
        for directory in sorted(self.cgroup_dirs(), key=len, reverse=True):
            for pid in (Path(directory) / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            _wait_until(lambda d=directory: not (Path(d) / "cgroup.procs").read_text().strip(), 5)
            try:
                os.rmdir(directory)
            except OSError:
                pass
        delete_netns(self.netns)


@pytest.fixture
def sandbox(container):
    """Needs a v1 host: its tests are marked needs_host("cgroup-v1")."""
    box = Sandbox()
    try:
        yield box
    finally:
        container.cleanup()
        # Inside the sandbox's network namespace, where its veth pairs are.
        subprocess.run(box.command("delete", "--force"), cwd=container.path, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
        box.force_clean()


def _mounts() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def _start_paused(sandbox: Sandbox, container, point: str) -> tuple[subprocess.Popen[str], int]:
    """nsinit exec sleep 60 stopped at ``point``: the process and the pid it announced."""
    env = dict(os.environ, NSINIT_DEBUG_PAUSE=point)
    proc = subprocess.Popen(sandbox.command("exec", "sleep", "60"), cwd=container.path, env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    container._procs.append(proc)
    line = proc.stderr.readline()
    while line.startswith("nsinit: warning: "):  # about the config, once it is known to start
        line = proc.stderr.readline()
    assert line.startswith(f"nsinit: paused at {point} (pid "), line
    return proc, int(line.rsplit("pid ", 1)[1].rstrip(")\n"))


POINTS = {
    # point: (cgroup made, veth made, pid file written, first process running)
    "after_pre_clone": (True, False, False, False),
    "after_post_clone": (True, True, False, True),  # the copies come after CONFIGURED, while it is built
    "after_start": (True, True, True, True),
}


def _listed(sandbox: Sandbox, container) -> list[dict]:
    """What `nsinit list --format json` says of this container directory's container."""
    r = subprocess.run(sandbox.command("list", "--format", "json"), capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return [c for c in json.loads(r.stdout) if c["root"] == os.path.realpath(container.path)]


@pytest.mark.needs_host("cgroup-v1")
@pytest.mark.parametrize("next_command", ["exec", "delete"])
@pytest.mark.parametrize("point", ["after_pre_clone", "after_post_clone", "after_start"])
def test_sigkill_of_nsinit_at_each_setup_point_shows_stopped_and_leaves_nothing_after_exec_or_delete(container, sandbox, point,
                                                                                      next_command):
    container.write_config(sandbox.config())
    mounts_before = _mounts()
    proc, pid = _start_paused(sandbox, container, point)
    assert pid == proc.pid  # nsenter execs nsinit
    cgroup_made, veth_made, pid_written, running = POINTS[point]
    # The setup point really was reached: what it promises exists.
    assert bool(sandbox.cgroup_dirs()) == cgroup_made
    assert bool(sandbox.veths()) == veth_made
    assert (container.path / "pid").exists() == pid_written
    members: list[int] = []
    if running:
        pid1 = st.read_state(st.private_dir(container.path)).pid
        members = _pids_in_pid_namespace(os.readlink(f"/proc/{pid1}/ns/pid"))
        assert pid1 in members
    os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)
    # The container's PID 1 dies of its parent-death signal; the container shows as stopped ...
    assert [c["status"] for c in _listed(sandbox, container)] == ["stopped"]
    # ... and stays until a command removes what it left: a new exec, or delete.
    if next_command == "exec":
        r = subprocess.run(sandbox.command("exec", "sh", "-c", "echo $$"), cwd=container.path, capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert (r.returncode, r.stdout.strip()) == (0, "1"), r.stderr  # a new container ran and ended
    else:
        r = subprocess.run(sandbox.command("delete"), cwd=container.path, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert (r.returncode, r.stderr) == (0, "")
    assert _listed(sandbox, container) == []
    assert _wait_until(lambda: not any(_exists(p) for p in members), 2), _describe(p for p in members if _exists(p))
    assert not _exists(pid) or _zombies_of({os.getpid()}) == []
    assert not any((container.path / n).exists() for n in STATE_FILES)
    assert sandbox.veths() == []
    assert sandbox.cgroup_dirs() == []
    assert _mounts() == mounts_before


# A library caller whose nsinit dies inside pre_clone: the cgroups plugin has made its
# cgroups, the engine has not yet written the state of the whole step.
KILLED_IN_PRE_CLONE = """
import os, signal, sys
from libcontainer.container import Container
from libcontainer.plugins import get_plugin_manager, hookimpl

class Killer:
    @hookimpl(trylast=True)
    def libcontainer_pre_clone(self, container):
        os.kill(os.getpid(), signal.SIGKILL)

Container(sys.argv[1], plugins=get_plugin_manager(extra=[("killer", Killer())])).run(["/bin/true"])
"""


@pytest.mark.needs_host("cgroup-v1")
def test_sigkill_inside_pre_clone_after_a_plugin_made_its_cgroups_shows_stopped_and_delete_removes_them(
        container, sandbox):
    import sys

    config = sandbox.config()
    del config["networks"]
    container.write_config(config)
    r = subprocess.run([sys.executable, "-c", KILLED_IN_PRE_CLONE, str(container.path)], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == -signal.SIGKILL, r.stderr
    # Killed with its cgroups made: a plugin's first record was written before record() returned.
    assert sandbox.cgroup_dirs()
    assert st.read_state(st.private_dir(container.path)).resources["cgroups"]["created"]
    assert [c["status"] for c in _listed(sandbox, container)] == ["stopped"]  # its creator is gone
    r = subprocess.run(sandbox.command("stats"), cwd=container.path, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and "no container is running" in r.stderr, (r.stdout, r.stderr)
    assert sandbox.cgroup_dirs(), "stats only looks"
    r = subprocess.run(sandbox.command("delete"), cwd=container.path, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stderr) == (0, "")
    assert sandbox.cgroup_dirs() == []
    assert st.read_state(st.private_dir(container.path)) is None
    assert not any((container.path / n).exists() for n in STATE_FILES)


# -- one cgroup name, two containers ------------------------------------------------------------


@pytest.fixture
def second_container(rootfs_template, tmp_path):
    """Another container directory beside ``container``, torn down the same way."""
    from libcontainer.testing.fixtures import ContainerDir, copy_rootfs

    box = ContainerDir(copy_rootfs(rootfs_template, tmp_path / "second"))
    try:
        yield box
    finally:
        box.cleanup()


def _cgroup_config(name: str) -> dict:
    return {"namespaces": dict(SAMPLE_NAMESPACES), "environment": list(DEFAULT_ENV),
            "cgroups": {"parent": CGROUP_PREFIX, "name": name, "memory": "64M"}}


@pytest.mark.needs_host("cgroup-v1")
def test_second_container_with_the_same_cgroup_name_fails_cleanly_and_the_first_is_unharmed(container,
                                                                                         second_container):
    name = f"{CGROUP_PREFIX}-dup-{uuid.uuid4().hex[:8]}"
    memory = Path(f"/sys/fs/cgroup/memory/{CGROUP_PREFIX}/{name}")
    container.write_config(_cgroup_config(name))
    other = _cgroup_config(name)
    other["cgroups"]["memory"] = "32M"  # a different limit, which must not reach the first container's cgroup
    second_container.write_config(other)
    first = container.popen("sh", "-c", "echo ready; sleep 60")
    pid1 = container.wait_running()
    assert first.stdout.readline().strip() == "ready"
    limit = (memory / "memory.limit_in_bytes").read_text()
    r = second_container.exec("echo", "second-ran")
    assert r.returncode == 125, (r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and f"a container with cgroup name {name} is already running" in lines[0], r.stderr
    assert "Traceback" not in r.stderr and "second-ran" not in r.stdout
    assert not any((second_container.path / n).exists() for n in STATE_FILES)
    # The first container: still running, still in its cgroup, its limit untouched.
    assert _alive(pid1) and first.poll() is None
    assert str(pid1) in (memory / "cgroup.procs").read_text().split()
    assert (memory / "memory.limit_in_bytes").read_text() == limit == f"{64 * 1024 * 1024}\n"
    r = container.exec("echo", "joined")
    assert r.stdout.strip() == "joined", r.stderr  # and still joinable
    os.kill(pid1, signal.SIGKILL)  # the container ends; its nsinit tears it down
    assert first.wait(timeout=10) == 137
    assert not memory.exists()
