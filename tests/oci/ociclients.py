"""The real OCI clients around a runtime under test: podman and containerd (through ctr), and the host checks they need.

Used by this directory's conftest.py (the fixtures) and its tests.  Nothing
here starts at import; each client is a small object over a private
directory that knows how to remove everything it made (``close()``).

What the clients ask of the runtime on this machine (Debian 12: podman 4.3.1
with conmon 2.1.6, containerd 1.6.20 with containerd-shim-runc-v2), as the
wrapper logs it (``LCOCI_CALLS_LOG=FILE`` collects a run's calls).  ID is the
container's id, EXEC an exec's id, N a random number:

podman passes no ``--root`` (the runtime's default root: /run/runc, /run/lcrun)
and ``--log-format=json`` only to runtimes it knows by name
(``runtime_supports_json``; the tests' containers.conf adds lcrun)::

    --log-format=json --log RUNROOT/ID/userdata/oci-log create --bundle STORAGE/ID/userdata
        --pid-file RUNROOT/ID/userdata/pidfile [--console-socket /tmp/conmon-term.XXXXXX] ID
    start ID
    --log-format=json --log STORAGE/ID/userdata/EXEC/oci-log exec --pid-file STORAGE/ID/userdata/EXEC/exec_pid
        --process STORAGE/ID/userdata/EXEC/exec-process-N --detach [--tty --console-socket /tmp/conmon-term.XXXXXX] ID
    pause ID
    resume ID
    kill ID 15              (podman stop; then kill ID 9 after --time)
    kill ID 9               (podman kill --signal KILL: the signal as a number)
    delete --force ID       (also for a container already deleted: runc exits 0 then)

containerd-shim-runc-v2, with R = ``--runc-root``/NAMESPACE and B the
bundle in containerd's state directory (each call begins ``--root R --log
B/log.json --log-format json``)::

    create --bundle B --pid-file B/init.pid [--console-socket /tmp/ptyN/pty.sock] ID
    start ID
    exec --process /tmp/runc-processN [--console-socket /tmp/ptyN/pty.sock] --detach --pid-file B/EXEC.pid ID
    kill ID 15 / kill ID 9 / kill --all ID 9
    delete ID, then delete --force ID (the second finds it deleted: runc exits 0)
"""

from __future__ import annotations

import fcntl
import os
import select
import shlex
import shutil
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PREFIX = "lcoci"  # in the names of what these tests make on the host
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Runtime:
    """An OCI runtime binary with runc's command line."""

    name: str  # the name the clients see (podman decides some flags by it)
    path: str | None  # None when not installed
    default_root: str  # its state directory when the caller passes no --root (podman passes none)
    missing: str = ""  # why path is None: the skip reason


def find_runtimes() -> list[Runtime]:
    """runc, and lcrun once the project's venv has it (the one line that adds a runtime)."""
    runc = shutil.which("runc")
    runtimes = [Runtime("runc", runc, "/run/runc", "" if runc else "runc is not installed (scripts/setup installs it)")]
    lcrun = REPO / ".venv" / "bin" / "lcrun"
    if lcrun.exists():
        runtimes.append(Runtime("lcrun", str(lcrun), "/run/lcrun"))
    return runtimes


RUNTIMES = find_runtimes()

# The commands of runc's interface issue 17 asks lcrun for: a client calling
# anything else is a contract lcrun would not meet.
RUNTIME_COMMANDS = {"create", "start", "state", "kill", "delete", "run", "exec", "list", "ps", "pause", "resume",
                    "events", "update", "features", "spec"}
# runc's global options that take a value, to find the command in a call's argv.
GLOBAL_OPTIONS_WITH_VALUE = {"--root", "--log", "--log-format", "--criu"}

# What the clients make on the host when not told otherwise: no new match of
# these may appear.  (Only these names: the machine is shared, other tests
# add and remove their own network namespaces.  The runtime's default root,
# such as /run/runc, is checked for the containers of these tests only.)
HOST_GLOBS = [
    f"{d}{tail}" for d in ("/run/containerd", "/run/libpod", "/run/containers", "/var/lib/containers",
                            "/var/lib/containerd", "/opt/containerd", "/etc/cni/net.d", "/var/lib/cni",
                            "/etc/containers/networks") for tail in ("", "/*")
] + ["/run/netns/cni-*", "/dev/shm/libpod*",
     # Temporary files conmon and containerd-shim make and remove themselves.
     "/tmp/conmon-term.*", "/tmp/pty[0-9]*", "/tmp/runc-process*"]


LOG_WRAPPER = """#!/bin/sh
# Appends this call's arguments (separated by \\037, one call a line) to the log, then runs the runtime.
line=$(printf '%s\\037' "$@")
printf '%s\\n' "$line" >> {log}
exec {real} "$@"
"""


# -- the runtime under test -------------------------------------------------------------


class RuntimeUnderTest:
    """A runtime behind a logging wrapper: what the clients are given, and what they asked of it."""

    def __init__(self, runtime: Runtime, workdir: Path) -> None:
        assert runtime.path is not None
        self.name = runtime.name
        self.path = runtime.path
        self.default_root = runtime.default_root
        bindir = workdir / "bin"
        bindir.mkdir()
        self.log = workdir / "runtime-calls.log"
        self.log.touch()
        self.wrapper = bindir / runtime.name
        self.wrapper.write_text(LOG_WRAPPER.format(log=shlex.quote(str(self.log)), real=shlex.quote(self.path)))
        self.wrapper.chmod(0o755)

    def mark(self) -> int:
        """A position in the log: calls() since it."""
        return self.log.stat().st_size

    def calls(self, since: int = 0) -> list[list[str]]:
        """The argv (without the program) of every call since ``since``."""
        try:
            with open(self.log, "rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
        except FileNotFoundError:  # the module is over: its runtime's directory is removed
            return []
        return [line.split("\x1f")[:-1] for line in text.splitlines() if line]

    def calls_text(self, since: int = 0) -> str:
        return "\n".join(f"{self.name} " + " ".join(shlex.quote(a) for a in argv) for argv in self.calls(since))

    def created(self, since: int = 0) -> list[str]:
        """The id of every container created since ``since`` (the last argument of create and run)."""
        return [argv[-1] for argv in self.calls(since) if command_of(argv) in ("create", "run")]

    def root_entries(self) -> set[str] | None:
        return set(os.listdir(self.default_root)) if os.path.isdir(self.default_root) else None


def command_of(argv: Sequence[str]) -> str:
    """The runtime command of a call: the first argument that is neither a global option nor its value."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in GLOBAL_OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return ""


# -- the host: orphans, cgroups, mounts, processes ---------------------------------------------


def _children() -> dict[int, str]:
    """This process's children: pid -> state letter (from /proc/PID/stat)."""
    me = os.getpid()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            found[int(entry)] = fields[0]
    return found


def reap_zombies(keep: Collection[int] = ()) -> None:
    """Collect the dead children of this process, except ``keep`` (whose Popen objects wait for them)."""
    for pid, state in _children().items():
        if state == "Z" and pid not in keep:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def processes_mentioning(text: str) -> dict[int, str]:
    """Processes whose command line contains ``text``: pid -> command line."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found[int(entry)] = cmdline.strip()
    return found


def end_processes(text: str, grace: float, keep: Collection[int] = ()) -> list[str]:
    """Wait up to ``grace`` seconds for the processes mentioning ``text`` to end, then kill them; what had to be killed."""
    deadline = time.monotonic() + grace
    while True:
        reap_zombies(keep)
        left = {pid: cmd for pid, cmd in processes_mentioning(text).items() if _state(pid) not in ("Z", None)}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.1 if left else 0)
    reap_zombies(keep)
    return [f"killed {pid}: {cmd}" for pid, cmd in left.items()]


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def unmount_under(path: Path) -> list[str]:
    """Unmount (lazily, deepest first) every mount at or below ``path``; what was mounted there."""
    prefix = str(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    found = sorted({p for p in points if p == prefix or p.startswith(prefix + "/")}, key=len, reverse=True)
    for point in found:
        subprocess.run(["umount", "-l", point], capture_output=True)
    return found


def cgroup_dirs(relative: str) -> list[Path]:
    """The directories of cgroup ``relative`` (e.g. "lcoci-1/x") in every hierarchy where it exists.

    The v1 hierarchies (and a hybrid host's cgroup2) are /sys/fs/cgroup/NAME;
    a cgroup2-only host's is /sys/fs/cgroup itself.
    """
    rel = relative.strip("/")
    return [d for d in [*CGROUP_ROOT.glob(f"*/{rel}"), *CGROUP_ROOT.glob(rel)] if d.is_dir()]


def remove_cgroup_tree(relative: str) -> list[str]:
    """rmdir cgroup ``relative`` and everything below it in every hierarchy; what could not be removed."""
    failed = []
    for top in cgroup_dirs(relative):
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True) + [top]:
            try:
                d.rmdir()
            except OSError as e:
                failed.append(f"{d}: {e.strerror}")
    return failed


def host_cgroup(pid: int, controller: str) -> Path:
    """The host directory of the cgroup of process ``pid`` in the hierarchy of ``controller``."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            mount = "systemd" if controller == "name=systemd" else controller
            return CGROUP_ROOT / mount / path.lstrip("/")
    raise AssertionError(f"process {pid} is in no {controller} cgroup")


# -- terminals ------------------------------------------------------------------------


def run_in_terminal(argv: list[str], env: dict[str, str] | None = None, rows: int = 24, cols: int = 80,
                    timeout: float = 60) -> tuple[int, str]:
    """Run ``argv`` with a new pty of ``rows`` x ``cols`` as stdin, stdout and stderr (a user's terminal): its status and output."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    finally:
        os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            # Once the command has exited, what is still buffered comes at once: stop at the first quiet moment.
            wait = 0.2 if proc.poll() is not None else min(1.0, deadline - time.monotonic())
            ready, _, _ = select.select([master], [], [], max(wait, 0))
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: every holder of the other side closed it
                break
            if not data:
                break
            out += data
        else:
            proc.kill()
        return proc.wait(timeout=10), out.decode(errors="replace")
    finally:
        os.close(master)


# -- podman ---------------------------------------------------------------------------

CONTAINERS_CONF = """\
[containers]
# The machine's hard limits are below podman's defaults (nofile 1048576).
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{work}/events.log"
# File locks under tmp_dir: the default (shm) leaves /dev/shm/libpod_lock.
lock_type = "file"
tmp_dir = "{work}/tmp"
static_dir = "{work}/storage/libpod"
volume_path = "{work}/volumes"
# Which runtimes write their --log in JSON (conmon reads the error from it);
# podman knows runc's by name, lcrun is added here as a user would.
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "lcrun"]

[network]
network_config_dir = "{work}/networks"
"""

STORAGE_CONF = """\
[storage]
# No image layers are used (--rootfs): vfs makes no mounts.
driver = "vfs"
graphroot = "{work}/storage"
runroot = "{work}/run"
"""


class PodmanStore:
    """podman with private configuration, storage and cgroup parent, driving one runtime."""

    def __init__(self, binary: str, runtime: RuntimeUnderTest, workdir: Path) -> None:
        self.runtime = runtime
        self.workdir = workdir
        self.cgroup_parent = f"/{PREFIX}-{os.getpid()}-podman-{runtime.name}"
        (workdir / "containers.conf").write_text(CONTAINERS_CONF.format(work=workdir))
        (workdir / "storage.conf").write_text(STORAGE_CONF.format(work=workdir))
        self.env = dict(os.environ, CONTAINERS_CONF=str(workdir / "containers.conf"),
                        CONTAINERS_STORAGE_CONF=str(workdir / "storage.conf"))
        self.argv = [binary, "--runtime", str(runtime.wrapper), "--cgroup-manager=cgroupfs", "--events-backend=file",
                     "--root", str(workdir / "storage"), "--runroot", str(workdir / "run"),
                     "--tmpdir", str(workdir / "tmp"), "--storage-driver", "vfs"]

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv + list(args), env=self.env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def container_ids(self) -> list[str]:
        return self("ps", "-aq", "--no-trunc").stdout.split()

    def remove_containers(self) -> list[str]:
        """Remove every container of this store; their ids."""
        ids = self.container_ids()
        if ids:
            self("rm", "--force", "--time", "0", *ids)
        return ids

    def close(self) -> list[str]:
        """Remove the containers, wait for conmon and the cleanup processes, remove the storage and cgroups; the problems."""
        problems = [f"container left: {cid}" for cid in self.remove_containers()]
        problems += end_processes(str(self.workdir), grace=10)
        problems += [f"mount left: {m}" for m in unmount_under(self.workdir)]
        problems += remove_cgroup_tree(self.cgroup_parent)
        return problems


class Podman:
    """One test's podman: the store's, with a fresh rootfs to run with --rootfs."""

    def __init__(self, store: PodmanStore, rootfs: Path, since: int) -> None:
        self.store = store
        self.rootfs = rootfs
        self.runtime = store.runtime
        self.since = since  # where this test's calls begin in the runtime's log
        self._names = 0

    def calls(self) -> list[list[str]]:
        """The runtime calls of this test so far."""
        return self.runtime.calls(self.since)

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``podman ARGS`` with the store's global flags."""
        return self.store(*args, timeout=timeout)

    def run_argv(self, cmd: Sequence[str], options: Sequence[str] = (), rm: bool = True) -> list[str]:
        flags = ["--rm"] if rm else []
        return ["run", *flags, "--cgroup-parent", self.store.cgroup_parent, "--network", "none", *options,
                "--rootfs", str(self.rootfs), *cmd]

    def run(self, *cmd: str, options: Sequence[str] = (), timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``podman run --rm [OPTIONS] --rootfs ROOTFS CMD...``"""
        return self(*self.run_argv(cmd, options), timeout=timeout)

    def start(self, *cmd: str, options: Sequence[str] = ()) -> str:
        """``podman run -d --name NAME ...``: the name of the running container."""
        self._names += 1
        name = f"{PREFIX}-{self._names}"
        result = self(*self.run_argv(cmd, ["-d", "--name", name, *options], rm=False))
        assert result.returncode == 0, f"podman run -d failed ({result.returncode}): {result.stderr}"
        return name

    def inspect(self, name: str, template: str) -> str:
        result = self("inspect", "--format", template, name)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def pid(self, name: str) -> int:
        return int(self.inspect(name, "{{.State.Pid}}"))

    def in_terminal(self, *args: str, rows: int = 24, cols: int = 80) -> tuple[int, str]:
        """``podman ARGS`` with a pty as its terminal: status and output."""
        return run_in_terminal(self.store.argv + list(args), env=self.store.env, rows=rows, cols=cols)


# -- containerd -----------------------------------------------------------------------

CONTAINERD_CONFIG = """\
version = 2
root = "{work}/root"
state = "{work}/state"
# No CRI (it would set up CNI and images), no snapshotters this machine lacks,
# nothing restarted from an earlier run.
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.internal.v1.restart"]

[grpc]
  address = "{work}/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "{work}/opt"
"""

# containerd-shim 1.6 puts its socket under /run/containerd/s whatever the
# state directory; removed at the end when these tests made them.
SHIM_DIRS = ["/run/containerd/s", "/run/containerd"]


class Containerd:
    """A containerd of our own: private root, state, socket and config; a namespace per runtime."""

    def __init__(self, binary: str, ctr: str, runtime: RuntimeUnderTest, workdir: Path) -> None:
        self.runtime = runtime
        self.workdir = workdir
        self.address = str(workdir / "containerd.sock")
        self.namespace = f"{PREFIX}-{os.getpid()}-{runtime.name}"  # also the containers' cgroup parent
        self.runc_root = workdir / "runtime-root"  # --runc-root: the runtime's state
        self.fifo_dir = workdir / "fifo"
        self.ctr_argv = [ctr, "--address", self.address, "--namespace", self.namespace]
        self.made_dirs = [d for d in SHIM_DIRS if not os.path.exists(d)]
        config = workdir / "config.toml"
        config.write_text(CONTAINERD_CONFIG.format(work=workdir))
        self.log_path = workdir / "containerd.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([binary, "--config", str(config)], stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, start_new_session=True)

    def ctr(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.ctr_argv + list(args), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"containerd exited {self.proc.returncode}: {self.log_tail()}")
            if os.path.exists(self.address) and self.ctr("version", timeout=10).returncode == 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"containerd did not serve {self.address} in {timeout} s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def remove_containers(self) -> list[str]:
        """Delete every task (killing it) and container of the namespace; the container ids."""
        tasks = self.ctr("task", "ls", "--quiet").stdout.split()
        for tid in tasks:
            self.ctr("task", "delete", "--force", tid)
        containers = self.ctr("container", "ls", "--quiet").stdout.split()
        if containers:
            self.ctr("container", "delete", *containers)
        return sorted(set(tasks) | set(containers))

    def close(self) -> list[str]:
        """Remove containers, snapshots and the namespace, stop containerd and its shims, remove what they made."""
        problems: list[str] = []
        if self.proc.poll() is None:
            problems += [f"container left: {cid}" for cid in self.remove_containers()]
            for snapshot in self.ctr("snapshot", "ls").stdout.split("\n")[1:]:
                if snapshot.split():
                    self.ctr("snapshot", "rm", snapshot.split()[0])
            self.ctr("namespace", "remove", self.namespace)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                problems.append("containerd did not stop on SIGTERM")
                self.proc.kill()
                self.proc.wait(timeout=10)
        else:
            problems.append(f"containerd died ({self.proc.returncode}): {self.log_tail()}")
        problems += end_processes(self.address, grace=5)  # the shims
        problems += [f"mount left: {m}" for m in unmount_under(self.workdir)]
        problems += remove_cgroup_tree(self.namespace)
        for d in self.made_dirs:
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError as e:
                problems.append(f"{d}: {e.strerror}")
        return problems


class Ctr:
    """One test's ctr: the module's containerd, the runtime under test, a fresh rootfs."""

    def __init__(self, daemon: Containerd, rootfs: Path, since: int) -> None:
        self.daemon = daemon
        self.rootfs = rootfs
        self.runtime = daemon.runtime
        self.since = since  # where this test's calls begin in the runtime's log
        self._ids = 0

    def calls(self) -> list[list[str]]:
        """The runtime calls of this test so far."""
        return self.runtime.calls(self.since)

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``ctr --address SOCK --namespace NS ARGS``"""
        return self.daemon.ctr(*args, timeout=timeout)

    def new_id(self) -> str:
        self._ids += 1
        return f"c{self._ids}"

    def run_argv(self, cid: str, cmd: Sequence[str], options: Sequence[str] = (), rm: bool = True) -> list[str]:
        """ctr's argv of ``run [--rm] --runc-binary WRAPPER ... --rootfs ROOTFS ID CMD...`` (no PATH: commands by full path)."""
        return self.daemon.ctr_argv + [
            "run", *(["--rm"] if rm else []), "--runc-binary", str(self.runtime.wrapper),
            "--runc-root", str(self.daemon.runc_root), "--fifo-dir", str(self.daemon.fifo_dir), *options,
            "--rootfs", str(self.rootfs), cid, *cmd]

    def run(self, *cmd: str, options: Sequence[str] = (), timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``ctr run --rm ... CMD`` under a new id, waited for."""
        return subprocess.run(self.run_argv(self.new_id(), cmd, options), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def start(self, *cmd: str, options: Sequence[str] = ()) -> str:
        """``ctr run -d``: the id of the running task."""
        cid = self.new_id()
        result = subprocess.run(self.run_argv(cid, cmd, ["--detach", *options], rm=False), capture_output=True,
                                text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, f"ctr run -d failed ({result.returncode}): {result.stderr}"
        return cid

    def exec_argv(self, cid: str, exec_id: str, cmd: Sequence[str], options: Sequence[str] = ()) -> list[str]:
        """ctr's argv of ``task exec --exec-id EXEC_ID [OPTIONS] ID CMD...``"""
        return self.daemon.ctr_argv + ["task", "exec", "--fifo-dir", str(self.daemon.fifo_dir), "--exec-id", exec_id,
                                       *options, cid, *cmd]

    def exec(self, cid: str, exec_id: str, *cmd: str, options: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
        """``ctr task exec``, waited for."""
        return subprocess.run(self.exec_argv(cid, exec_id, cmd, options), capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def task_status(self, cid: str) -> str:
        """RUNNING, STOPPED, PAUSED ... from ``ctr task ls``; "" when there is no such task."""
        for line in self("task", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return fields[-1]
        return ""

    def task_pid(self, cid: str) -> int:
        for line in self("task", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return int(fields[1])
        raise AssertionError(f"no task {cid}")

    def in_terminal(self, argv: list[str], rows: int = 24, cols: int = 80) -> tuple[int, str]:
        return run_in_terminal(argv, rows=rows, cols=cols)

    def state_dir(self, cid: str) -> Path:
        """Where the runtime keeps the state of container ``cid`` (its --root, as containerd-shim passes it)."""
        return self.daemon.runc_root / self.daemon.namespace / cid

    def cgroup(self, cid: str) -> str:
        """The container's cgroup as ctr makes it: /NAMESPACE/ID."""
        return f"/{self.daemon.namespace}/{cid}"


