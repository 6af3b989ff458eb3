"""The OCI rows of issue 17: runtimes with runc's command line side by side, alone and under podman.

``python -m bench.oci`` (as root; ``--help``) measures each runtime found:
runc when installed, lcrun, and any named with ``--runtime NAME=PATH``.
lcrun is measured as a user installs it (README, docs/oci.md): the working
tree installed by ``scripts/install`` into a fresh virtual environment
(not editable: its console script starts an interpreter without the
editable install's import finder), removed afterwards; ``--lcrun editable``
measures ``.venv/bin/lcrun`` instead.  Rows, each runtime once per round in a
rotating order after warm-up rounds (as ``bench/run`` does):

``NAME create+start+wait+delete``
    ``NAME --root STATE create --bundle B --pid-file P ID``, ``start ID``,
    waiting for the container's process to exit, ``delete ID``: /bin/true
    in the bench's runc configuration (``workloads.runc_config``: the same
    rootfs, namespaces, capabilities and 64M memory cgroup as ``runc run``
    of ``bench/run``), cgroup ``/lcbench-oci/ID``.  This process is a child
    subreaper, as conmon and containerd-shim are, so the container's process
    comes back to it when ``create`` exits and is waited for, not polled.
``NAME state``
    ``NAME --root STATE state ID`` of a created container (its process
    waiting to be started), what clients call most.
``podman run --rm (NAME)``
    ``podman --runtime PATH run --rm --rootfs ROOTFS --network none /bin/true``
    with private storage, configuration and cgroup parent
    (``/lcbench-oci-podman``), cgroupfs, file events, ulimits below this
    machine's hard limits.

The ratios of each runtime to runc are checked against issue 17's targets
(<= 2x, <= 2x, <= 1.25x).  Everything made is removed: the containers, the
podman storage, the cgroups, the workspace under /tmp/lcbench-oci-*, and
the runtime's default root (/run/runc ...) when the run made it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .stats import Summary, rotating_rounds
from .timing import TIMEOUT, CommandFailed, deadline, is_root, progress_printer, wall_time
from .workloads import REPO, runc_config

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "lcbench-oci"  # the containers created directly: /sys/fs/cgroup/<controller>/lcbench-oci/<id>
PODMAN_CGROUP_PARENT = "lcbench-oci-podman"  # podman's containers, and conmon's cgroup
CYCLE_ID = "lcbench-oci-cycle"  # created, started, waited for and deleted once per round
STATE_ID = "lcbench-oci-state"  # created once, its state read once per round
TRUE = ["/bin/true"]
SLEEP = ["/bin/sleep", "1000000"]
# Default state directories of runtimes called without --root (podman calls them so), by file name.
DEFAULT_ROOTS = {"runc": "/run/runc", "lcrun": "/run/lcrun", "crun": "/run/crun"}

CYCLE = "create+start+wait+delete"
STATE = "state"
PODMAN = "podman run --rm"
# Issue 17's targets: the row of a runtime over runc's.
TARGETS = {CYCLE: 2.0, STATE: 2.0, PODMAN: 1.25}

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{work}/events.log"
lock_type = "file"
tmp_dir = "{work}/tmp"
static_dir = "{work}/storage/libpod"
volume_path = "{work}/volumes"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "lcrun"]

[network]
network_config_dir = "{work}/networks"
"""

STORAGE_CONF = """\
[storage]
driver = "vfs"
graphroot = "{work}/storage"
runroot = "{work}/run"
"""


@dataclass(frozen=True)
class OciRuntime:
    """A binary with runc's command line."""

    name: str
    path: str


def find_runtimes(named: list[str], lcrun: str | None = None) -> list[OciRuntime]:
    """runc if installed, ``lcrun`` (default: the project's venv's, if any), then each ``NAME=PATH`` (replacing a found one)."""
    found: dict[str, str] = {}
    runc = shutil.which("runc")
    if runc:
        found["runc"] = runc
    if lcrun is None:
        editable = REPO / ".venv" / "bin" / "lcrun"
        lcrun = str(editable) if editable.exists() else None
    if lcrun:
        found["lcrun"] = lcrun
    for spec in named:
        name, _, path = spec.partition("=")
        found[name] = path
    return [OciRuntime(name, path) for name, path in found.items()]


@contextlib.contextmanager
def installed_lcrun(progress: Callable[[str], None]):
    """lcrun as scripts/install installs it, into a fresh venv under /tmp (removed afterwards): its path."""
    venv = Path(tempfile.mkdtemp(prefix="lcbench-oci-lcrun-"))
    try:
        progress(f"installing lcrun with scripts/install into {venv} ...")
        done = subprocess.run([str(REPO / "scripts" / "install"), str(venv / "venv")], capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            raise CommandFailed(f"scripts/install failed: {done.stderr.strip()}")
        yield str(venv / "venv" / "bin" / "lcrun")
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def row(kind: str, runtime: str) -> str:
    return f"{PODMAN} ({runtime})" if kind == PODMAN else f"{runtime} {kind}"


@dataclass
class OciResults:
    times: dict[str, Summary] = field(default_factory=dict)  # by row name; seconds
    notes: list[str] = field(default_factory=list)


class Workspace:
    """Everything a run makes, under one temporary directory."""

    def __init__(self, base: Path, runtimes: list[OciRuntime], podman: str | None) -> None:
        self.base = base
        self.runtimes = runtimes
        self.rootfs = base / "rootfs"
        self.podman_rootfs = base / "podman-rootfs"  # podman writes mount points into its rootfs
        self.podman_dir = base / "podman"
        self.podman = podman
        self.env: dict[str, str] = {}
        # podman passes no --root: the binary's own default applies (by its file name).
        self.default_roots = {rt.name: DEFAULT_ROOTS.get(Path(rt.path).name) for rt in runtimes}
        self.roots_existed = {name: root is not None and os.path.exists(root) for name, root in self.default_roots.items()}

    def root(self, rt: OciRuntime) -> Path:
        return self.base / f"{rt.name}-root"

    def bundle(self, rt: OciRuntime, kind: str) -> Path:
        return self.base / f"{rt.name}-{kind}"

    def argv(self, rt: OciRuntime, *args: str) -> list[str]:
        return [rt.path, "--root", str(self.root(rt)), *args]

    def build(self, spec_runtime: OciRuntime) -> None:
        from libcontainer.testing.rootfs import build_busybox_rootfs

        build_busybox_rootfs(self.rootfs)
        spec_dir = self.base / "spec"
        spec_dir.mkdir()
        subprocess.run([spec_runtime.path, "spec"], cwd=spec_dir, check=True, timeout=TIMEOUT)
        spec = json.loads((spec_dir / "config.json").read_text())
        for rt in self.runtimes:
            self.root(rt).mkdir()
            for kind, args, cid in (("cycle", TRUE, CYCLE_ID), ("state", SLEEP, STATE_ID)):
                config = runc_config(spec, self.rootfs, args, cid)
                config["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{rt.name}-{cid}"
                self.bundle(rt, kind).mkdir()
                (self.bundle(rt, kind) / "config.json").write_text(json.dumps(config, indent=2))
        if self.podman:
            build_busybox_rootfs(self.podman_rootfs)
            self.podman_dir.mkdir()
            (self.podman_dir / "containers.conf").write_text(CONTAINERS_CONF.format(work=self.podman_dir))
            (self.podman_dir / "storage.conf").write_text(STORAGE_CONF.format(work=self.podman_dir))
            self.env = {"CONTAINERS_CONF": str(self.podman_dir / "containers.conf"),
                        "CONTAINERS_STORAGE_CONF": str(self.podman_dir / "storage.conf")}

    def podman_argv(self, *args: str, runtime: OciRuntime | None = None) -> list[str]:
        assert self.podman
        d = self.podman_dir
        flags = ["--runtime", runtime.path] if runtime else []
        return [self.podman, *flags, "--cgroup-manager=cgroupfs", "--events-backend=file", "--root", str(d / "storage"),
                "--runroot", str(d / "run"), "--tmpdir", str(d / "tmp"), "--storage-driver", "vfs", *args]

    def podman_run(self, rt: OciRuntime) -> list[str]:
        return self.podman_argv("run", "--rm", "--cgroup-parent", f"/{PODMAN_CGROUP_PARENT}", "--network", "none",
                                "--rootfs", str(self.podman_rootfs), *TRUE, runtime=rt)


def cycle(ws: Workspace, rt: OciRuntime) -> float:
    """Seconds from create to the container deleted, its /bin/true waited for in between."""
    pid_file = ws.base / f"{rt.name}-cycle.pid"
    start = time.perf_counter()
    wall_time(ws.argv(rt, "create", "--bundle", str(ws.bundle(rt, "cycle")), "--pid-file", str(pid_file), CYCLE_ID))
    pid = int(pid_file.read_text())
    wall_time(ws.argv(rt, "start", CYCLE_ID))
    try:
        with deadline(TIMEOUT):
            os.waitpid(pid, 0)  # ours: we are a child subreaper
    except ChildProcessError:  # not our child after all (the runtime double-forked past us?): poll
        _wait_gone(pid)
    except TimeoutError:
        raise CommandFailed(f"the container's /bin/true (pid {pid}) did not exit in {TIMEOUT} s") from None
    wall_time(ws.argv(rt, "delete", CYCLE_ID))
    return time.perf_counter() - start


def _reaped(step: Callable[[], float]) -> float:
    """``step``'s sample, and whatever of ours ended meanwhile reaped (we are a child subreaper)."""
    try:
        return step()
    finally:
        _reap()


def _wait_gone(pid: int) -> None:
    until = time.monotonic() + TIMEOUT
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < until:
        time.sleep(0.001)


def _reap() -> None:
    """Collect the orphans that came back to us (conmon after a podman run)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


@contextlib.contextmanager
def _subreaper():
    from libcontainer import syscalls

    door = syscalls.real()
    door.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1, what="PR_SET_CHILD_SUBREAPER")
    try:
        yield
    finally:
        door.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 0, what="PR_SET_CHILD_SUBREAPER")


@contextlib.contextmanager
def _environ(extra: dict[str, str]):
    """``extra`` in os.environ meanwhile (wall_time spawns with it)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def measure(ws: Workspace, warmup: int, rounds: int, results: OciResults, progress: Callable[[str], None],
            skip: set[str]) -> None:
    """Each row not in ``skip`` once per round, rotating; a row that fails is dropped with a note."""
    steps: list[tuple[str, Callable[[], float]]] = []
    for rt in ws.runtimes:
        steps.append((row(CYCLE, rt.name), lambda rt=rt: cycle(ws, rt)))
        steps.append((row(STATE, rt.name), lambda rt=rt: wall_time(ws.argv(rt, "state", STATE_ID))))
        if ws.podman:
            steps.append((row(PODMAN, rt.name), lambda rt=rt: wall_time(ws.podman_run(rt))))
    steps = [(name, lambda step=step: _reaped(step)) for name, step in steps if name not in skip]
    total = warmup + rounds
    samples = rotating_rounds(
        steps, warmup, rounds, (CommandFailed, OSError, ValueError),
        failed=lambda name, e: results.notes.append(f"{name}: dropped after a failure: {e}"),
        progress=lambda r: progress(f"round {r}/{total}{'' if r > warmup else ' (warm-up)'}"))
    for name, got in samples.items():
        if got:
            results.times[name] = Summary(name, got)


def run(runtimes: list[OciRuntime], warmup: int, rounds: int, progress: Callable[[str], None]) -> OciResults:
    """Measure every row once; always remove what was made."""
    results = OciResults()
    if not runtimes:
        results.notes.append("no runtime to measure: runc is not installed (bench/setup installs it) and "
                             ".venv/bin/lcrun does not exist")
        return results
    podman = shutil.which("podman")
    if podman is None:
        results.notes.append("podman is missing (apt-get install podman): its rows are left out")
    ws = Workspace(Path(tempfile.mkdtemp(prefix="lcbench-oci-")), runtimes, podman)
    try:
        with _subreaper():
            ws.build(runtimes[0])
            with _environ(ws.env):
                skip = set()
                for rt in runtimes:
                    try:
                        wall_time(ws.argv(rt, "create", "--bundle", str(ws.bundle(rt, "state")), STATE_ID))
                    except CommandFailed as e:
                        skip.add(row(STATE, rt.name))
                        results.notes.append(f"{row(STATE, rt.name)}: not measured, create failed: {e}")
                measure(ws, warmup, rounds, results, progress, skip)
    finally:
        results.notes += clean_up(ws)
    return results


def clean_up(ws: Workspace) -> list[str]:
    """Delete the containers, empty podman's store, remove the cgroups, default roots made, the workspace; what stayed."""
    left: list[str] = []
    for rt in ws.runtimes:
        for cid in (CYCLE_ID, STATE_ID):
            if ws.root(rt).exists():
                subprocess.run(ws.argv(rt, "delete", "--force", cid), capture_output=True, timeout=TIMEOUT)
    if ws.podman and ws.podman_dir.exists():
        with _environ(ws.env):
            subprocess.run(ws.podman_argv("rm", "--all", "--force", "--time", "0"), capture_output=True,
                           timeout=TIMEOUT)
        left += _end_processes(str(ws.podman_dir))
    for parent in (PODMAN_CGROUP_PARENT, CGROUP_PARENT):
        left += _remove_cgroup_tree(parent)
    for name, root in ws.default_roots.items():
        if root and not ws.roots_existed[name]:
            with contextlib.suppress(OSError):
                os.rmdir(root)
    shutil.rmtree(ws.base, ignore_errors=True)
    _reap()
    return [f"could not remove: {'; '.join(left)}"] if left else []


def _end_processes(text: str, grace: float = 10) -> list[str]:
    """Wait for the processes whose command line has ``text`` (conmon, podman's cleanup) to end; kill the rest."""
    def mentioning() -> list[int]:
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        if text.encode() in f.read():
                            pids.append(int(entry))
                except OSError:
                    pass
        return pids

    until = time.monotonic() + grace
    while (pids := mentioning()) and time.monotonic() < until:
        _reap()
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    _reap()
    return [f"process {pid} killed" for pid in pids]


def _remove_cgroup_tree(parent: str) -> list[str]:
    left = []
    for top in CGROUP_ROOT.glob(f"*/{parent}"):
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True) + [top]:
            try:
                d.rmdir()
            except OSError as e:
                left.append(f"{d}: {e.strerror}")
    return left


# -- the report --------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}x"


def _kind_and_runtime(name: str) -> tuple[str, str]:
    if name.startswith(PODMAN + " ("):
        return PODMAN, name[len(PODMAN) + 2:-1]
    runtime, _, kind = name.partition(" ")
    return kind, runtime


def targets(results: OciResults, runtimes: list[OciRuntime]) -> list[tuple[str, float | None, float]]:
    """(label, the row of a runtime over runc's, the limit) for every runtime but runc."""
    rows = []
    for rt in runtimes:
        if rt.name == "runc":
            continue
        for kind, limit in TARGETS.items():
            mine, runc = results.times.get(row(kind, rt.name)), results.times.get(row(kind, "runc"))
            rows.append((f"{row(kind, rt.name)} / runc's", mine.ratio_to(runc) if mine else None, limit))
    return rows


def markdown(results: OciResults, runtimes: list[OciRuntime], settings: str) -> str:
    lines = ["### Wall time (spawn to reaped)", "", settings, "",
             "| measurement | median | p95 | vs runc | samples |", "|---|---|---|---|---|"]
    for s in results.times.values():
        kind, _ = _kind_and_runtime(s.name)
        ratio = s.ratio_to(results.times.get(row(kind, "runc")))
        lines.append(f"| {s.name} | {_ms(s.median)} | {_ms(s.p95)} | {_ratio(ratio)} | {len(s.samples)} |")
    found = targets(results, runtimes)
    lines += ["", "### Targets (issue 17)", ""]
    if found:
        lines += ["| target | limit | measured | met |", "|---|---|---|---|"]
        for label, value, limit in found:
            met = "not measured" if value is None else ("yes" if value <= limit else "**no**")
            lines.append(f"| {label} | <= {limit:g}x | {_ratio(value)} | {met} |")
    else:
        lines.append("Only runc measured: name another runtime (lcrun: `.venv/bin/lcrun`, or `--runtime NAME=PATH`).")
    if results.notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in results.notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.oci", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=30, help="measured rounds (each row once per round)")
    p.add_argument("--warmup", type=int, default=3, help="unmeasured rounds first")
    p.add_argument("--runtime", action="append", default=[], metavar="NAME=PATH",
                   help="measure this runtime too (repeatable); runc and lcrun are found by themselves")
    p.add_argument("--lcrun", choices=("installed", "editable", "none"), default="installed",
                   help="installed (default): the working tree installed by scripts/install into a fresh venv; "
                        "editable: .venv/bin/lcrun; none: no lcrun")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        p.error("--rounds must be at least 1, --warmup at least 0")
    if not is_root("bench.oci"):
        return 2
    progress = progress_printer("bench.oci")
    with contextlib.ExitStack() as stack:
        if args.lcrun == "installed":
            lcrun: str | None = stack.enter_context(installed_lcrun(progress))
            how = "lcrun installed by scripts/install into a fresh venv (not editable)"
        else:
            lcrun = None if args.lcrun == "editable" else ""
            how = "lcrun of the editable .venv" if args.lcrun == "editable" else "no lcrun"
        runtimes = find_runtimes(args.runtime, lcrun)
        results = run(runtimes, args.warmup, args.rounds, progress)
    settings = (f"{args.rounds} measured rounds after {args.warmup} warm-up rounds, rows alternated (rotating order); "
                f"runtimes: {', '.join(f'{rt.name} ({rt.path})' for rt in runtimes) or 'none'}; {how}.")
    print(markdown(results, runtimes, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
