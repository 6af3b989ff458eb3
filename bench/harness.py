"""One benchmark run: set up, warm up, alternate the runtimes round by round, clean up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .stats import Summary
from .timing import GNU_TIME, TIMEOUT, CommandFailed, can_measure_rss, deadline, peak_rss_kib, wall_time
from .workloads import (CGROUP_PARENT, RUNC_CGROUP_PARENT, RUNC_JOIN_ID, RUNC_RUN_ID, SLEEP, Tools, Workspace,
                        bwrap_argv, nsinit_command, unshare_argv)

CGROUP_ROOT = Path("/sys/fs/cgroup")
RSS_ROUNDS = 10  # measured rounds that also take a peak-RSS sample of each cold case

# Row names, used by the report and the chart too.
NSINIT_COLD = "nsinit exec /bin/true"
RUNC_RUN = "runc run"
BWRAP = "bwrap"
UNSHARE = "unshare + chroot (floor)"
API = "Python API, per container"
NSINIT_JOIN = "nsinit exec (join)"
RUNC_EXEC = "runc exec (join)"


@dataclass
class Case:
    """One command measured once per round."""

    name: str
    group: str  # "cold" (a whole container) or "join" (a process into a running one)
    argv: list[str]
    note: str = ""


@dataclass
class Results:
    """What a run measured, and what it could not."""

    times: dict[str, Summary] = field(default_factory=dict)  # by row name; seconds
    rss: dict[str, Summary] = field(default_factory=dict)  # peak RSS of the direct child, KiB
    api_containers: int = 0  # containers the API ran in the measured rounds
    api_seconds: float = 0.0  # their total time
    notes: list[str] = field(default_factory=list)  # missing peers, fallbacks, failures

    @property
    def api_per_second(self) -> float | None:
        return self.api_containers / self.api_seconds if self.api_seconds else None


class ApiWorker:
    """A ``bench/api_worker.py`` process: bursts of containers from one interpreter."""

    def __init__(self, root: Path) -> None:
        # Run as a script, not with -m from the repository: the libcontainer
        # measured is the one the interpreter finds, as for nsinit.
        script = Path(__file__).with_name("api_worker.py")
        self.proc = subprocess.Popen([sys.executable, str(script), str(root)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def burst(self, count: int) -> list[float]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"{count}\n")
        self.proc.stdin.flush()
        try:
            with deadline(TIMEOUT * count):
                line = self.proc.stdout.readline()
        except TimeoutError:
            self.proc.kill()
            raise CommandFailed(f"the API worker hung: killed after {TIMEOUT * count} s") from None
        if not line:
            raise CommandFailed(f"the API worker exited {self.proc.wait()} (its stderr is above)")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class JoinedContainers:
    """The long-running containers that ``nsinit exec`` and ``runc exec`` join."""

    def __init__(self, ws: Workspace, tools: Tools) -> None:
        self.ws = ws
        self.tools = tools
        self.nsinit: subprocess.Popen | None = None
        self.runc_started = False

    def start_nsinit(self) -> None:
        self.nsinit = subprocess.Popen([*nsinit_command(), "exec", "--root", str(self.ws.join), *SLEEP],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        from libcontainer.container import Container
        from libcontainer.state import RUNNING

        until = time.monotonic() + 20
        # The pid file comes while the container is still being built: its status says when it runs.
        while not ((self.ws.join / "pid").exists() and Container(self.ws.join).status() == RUNNING):
            if self.nsinit.poll() is not None or time.monotonic() > until:
                raise CommandFailed(f"the nsinit container to join did not start (nsinit exited {self.nsinit.poll()})")
            time.sleep(0.01)

    def start_runc(self) -> None:
        assert self.tools.runc
        self.runc_started = True  # stop() deletes it even if `run -d` failed half-way
        subprocess.run(self.ws.runc(self.tools.runc, "run", "-d", "--bundle", str(self.ws.runc_join), RUNC_JOIN_ID),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True, timeout=30)

    def stop(self) -> None:
        if self.nsinit is not None:
            try:  # PID 1 of a pid namespace ignores SIGTERM from outside: SIGKILL it, nsinit then tears down
                os.kill(int((self.ws.join / "pid").read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            try:
                self.nsinit.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.nsinit.kill()
                self.nsinit.wait()
            self.nsinit = None
        if self.runc_started and self.tools.runc:
            _quiet(self.ws.runc(self.tools.runc, "delete", "--force", RUNC_JOIN_ID))
            self.runc_started = False


def _quiet(argv: list[str]) -> None:
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)


def probe_cgroups(ws: Workspace) -> str | None:
    """None when nsinit puts the container in the memory cgroup; else why not."""
    try:
        out = subprocess.run([*nsinit_command(), "exec", "--root", str(ws.cold), "cat", "/proc/self/cgroup"],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"nsinit exec with a cgroups key hung for {TIMEOUT} s"
    if out.returncode != 0:
        return f"nsinit exec with a cgroups key failed: {out.stderr.strip()}"
    for line in out.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and "memory" in parts[1].split(",") and parts[2].startswith(f"/{CGROUP_PARENT}/"):
            return None
    return f"the container is not in a /{CGROUP_PARENT}/ memory cgroup: {out.stdout.strip()}"


def make_cases(ws: Workspace, tools: Tools, results: Results, cgroups: bool,
               compare: list[tuple[str, str]] = ()) -> tuple[list[Case], list[Case]]:
    """The cold and the join cases that can run here; missing peers go to the notes.

    ``compare``: (name, nsinit script) of other installs (another commit's,
    say), each a cold row of its own in the same rounds: an A/B in one run.
    """
    nsinit = nsinit_command()
    cold = [Case(NSINIT_COLD, "cold", [*nsinit, "exec", "--root", str(ws.cold), "/bin/true"],
                 "" if cgroups else "without the memory cgroup")]
    for name, script in compare:
        cold.append(Case(f"{NSINIT_COLD} [{name}]", "cold", [script, "exec", "--root", str(ws.cold), "/bin/true"],
                         f"{script}" + ("" if cgroups else ", without the memory cgroup")))
    join = [Case(NSINIT_JOIN, "join", [*nsinit, "exec", "--root", str(ws.join), "/bin/true"])]
    if tools.runc:
        cold.append(Case(RUNC_RUN, "cold", ws.runc(tools.runc, "run", "--bundle", str(ws.runc_run), RUNC_RUN_ID)))
        join.append(Case(RUNC_EXEC, "join", ws.runc(tools.runc, "exec", RUNC_JOIN_ID, "/bin/true")))
    if tools.bwrap:
        cold.append(Case(BWRAP, "cold", bwrap_argv(tools.bwrap, ws.rootfs), "no cgroup (bwrap has none)"))
    if tools.unshare:
        cold.append(Case(UNSHARE, "cold", unshare_argv(tools.unshare, ws.rootfs), "no cgroup, no mounts, no caps"))
    for name in tools.missing():
        results.notes.append(f"{name} is missing (not installed, or --skip): its rows are left out; bench/setup installs it")
    return cold, join


def alternate(cases: list[Case], api: ApiWorker | None, warmup: int, rounds: int, burst: int, results: Results,
              progress: Callable[[str], None]) -> None:
    """``warmup`` unmeasured rounds, then ``rounds`` measured ones: each case once per round, in rotating order.

    In the first RSS_ROUNDS measured rounds, each cold case also runs once
    more under GNU time for its peak RSS (not timed).  A case that fails is
    dropped with a note; the others go on.
    """
    times: dict[str, list[float]] = {c.name: [] for c in cases}
    rss: dict[str, list[float]] = {c.name: [] for c in cases}
    latencies: list[float] = []
    steps: list[str | Case] = [*cases, API] if api else list(cases)
    live = {c.name for c in cases} | ({API} if api else set())
    with_rss = can_measure_rss()
    if not with_rss:
        results.notes.append(f"peak RSS not measured: {GNU_TIME} is missing (bench/setup installs it)")
    for r in range(warmup + rounds):
        measured = r >= warmup
        shift = r % len(steps)
        for step in steps[shift:] + steps[:shift]:
            name = step if isinstance(step, str) else step.name
            if name not in live:
                continue
            try:
                if isinstance(step, str):
                    got = api.burst(burst)  # type: ignore[union-attr]
                    if measured:
                        latencies += got
                        results.api_seconds += sum(got)
                        results.api_containers += len(got)
                    continue
                seconds = wall_time(step.argv)
                if measured:
                    times[name].append(seconds)
                    if with_rss and step.group == "cold" and r - warmup < RSS_ROUNDS:
                        rss[name].append(float(peak_rss_kib(step.argv)))
            except (CommandFailed, OSError, ValueError) as e:
                live.discard(name)
                results.notes.append(f"{name}: dropped after a failure: {e}")
        progress(f"round {r + 1}/{warmup + rounds}{'' if measured else ' (warm-up)'}")
    for case in cases:
        if times[case.name]:
            results.times[case.name] = Summary(case.name, times[case.name], "ms", case.note)
        if rss[case.name]:
            results.rss[case.name] = Summary(case.name, rss[case.name], "KiB", case.note)
    if latencies:
        results.times[API] = Summary(API, latencies, "ms", f"{burst} back to back per round, one process")


def remove_cgroups() -> list[str]:
    """rmdir the bench's parent cgroups (and leftover children) in every hierarchy; what could not be removed."""
    left = []
    if not CGROUP_ROOT.is_dir():
        return left
    for hierarchy in CGROUP_ROOT.iterdir():
        for parent in (RUNC_CGROUP_PARENT, CGROUP_PARENT):
            top = hierarchy / parent
            if not top.is_dir():
                continue
            for child in [p for p in top.iterdir() if p.is_dir()] + [top]:
                try:
                    child.rmdir()
                except OSError as e:
                    left.append(f"{child}: {e.strerror}")
    return left


def compile_bytecode() -> list[str]:
    """Run bench/bytecode.py with nsinit's interpreter: the packages it compiled."""
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("bytecode.py"))], capture_output=True,
                         text=True, timeout=120, cwd="/", stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise CommandFailed(f"compiling bytecode failed: {out.stderr.strip()[-2000:]}")
    return out.stdout.split("\n")[:-1]


def run(tools: Tools, warmup: int, rounds: int, burst: int, progress: Callable[[str], None],
        compare: list[tuple[str, str]] = ()) -> Results:
    """Measure everything once; always remove what was created."""
    import shutil

    results = Results()
    ws = Workspace(Path(tempfile.mkdtemp(prefix="lcbench-")))
    api = None
    joined = JoinedContainers(ws, tools)
    try:
        compiled = compile_bytecode()
        results.notes.append(f"bytecode compiled beforehand, as pip install does: {', '.join(compiled)}")  # see bytecode.py
        ws.build(cgroups=True)
        why = probe_cgroups(ws)
        if why:
            results.notes.append(f"nsinit measured WITHOUT the memory cgroup: {why}")
            ws.write_nsinit_configs(cgroups=False)
        if tools.runc:
            ws.build_runc(tools.runc)
        cold, join = make_cases(ws, tools, results, cgroups=why is None, compare=compare)
        progress("starting the containers to join")
        for start, name in ((joined.start_nsinit, NSINIT_JOIN), (joined.start_runc if tools.runc else None, RUNC_EXEC)):
            try:
                if start is not None:
                    start()
            except (CommandFailed, OSError, subprocess.SubprocessError) as e:
                results.notes.append(f"{name}: not measured, the container to join did not start: {e}")
                join = [c for c in join if c.name != name]
        api = ApiWorker(ws.api)
        alternate(cold + join, api, warmup, rounds, burst, results, progress)
    finally:
        if api is not None:
            api.close()
        joined.stop()
        if tools.runc and ws.runc_root.exists():
            _quiet(ws.runc(tools.runc, "delete", "--force", RUNC_RUN_ID))
        left = remove_cgroups()
        if left:
            results.notes.append(f"could not remove: {'; '.join(left)}")
        shutil.rmtree(ws.base, ignore_errors=True)
    return results
