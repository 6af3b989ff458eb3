"""The warm pool's rows of issue 18: ``Pool.run`` beside ``runc run`` and the floors, in one run.

``python -m bench.pool`` (as root; ``--help``).  The pool is
``Pool(ROOTFS, config, size=N)`` on the bench's busybox rootfs with the
config of the bench's other Python API rows (``workloads.nsinit_config``:
new mount, UTS, IPC, pid and network namespaces, the 12 capabilities of
``sample_configs/minimal.json``, ``cgroups: {parent: lcbench, memory:
64M}``) and the Pool's default copy-on-write layer (``"layer": {}``, an
overlayfs over the rootfs on a tmpfs of the container's own).

Latency rows, each once per round in a rotating order after warm-up rounds:

``pool.run, warm``
    ``pool.run(["/bin/true"])`` from the call to its CompletedProcess, with
    the pool full: before each call the bench waits until the image's
    containers under /run/nsinit are exactly ``size``, all ``created`` (the
    one handed out last has been torn down and its replacement made), then
    ``SETTLE`` more.  ``--warm`` calls per round.
``pool.run, back to back``
    ``--burst`` calls one after the other from a full pool: the first
    ``size`` find a container waiting, the rest wait for one being made.
``runc run``
    ``runc run`` of /bin/true in the bench's runc configuration
    (``workloads.runc_config``: same rootfs, namespaces, capabilities, 64M
    memory cgroup), a whole process.
``unshare + chroot (floor)``
    ``unshare --fork --pid --mount --uts --ipc --net chroot ROOTFS /bin/true``.
``posix_spawn /bin/true (floor)``
    ``os.posix_spawn`` of the rootfs's busybox /bin/true from this process
    and ``waitpid``: what starting and reaping any process costs here.
``exit, last in new namespaces (floor)`` and ``exit, no namespaces of its own``
    A forked process (in the first, PID 1 of new pid, mount, UTS, IPC and
    network namespaces, under an intermediate process that waits for it)
    is told to exit: the time from telling it to having reaped it (the
    intermediate too).  The difference is the kernel's teardown of the
    namespaces, which a pool's container pays when its command ends.

Throughput rows, alternated over ``--rate-rounds`` rounds, each a rate of
/bin/true completed per second: ``pool.arun`` from one asyncio event loop
with ``size`` calls in flight (the Pool is not documented as safe for
concurrent calls from several threads; asyncio is its concurrent form),
``runc run`` one after the other, and ``runc run`` in two concurrent loops.
The target (>= 4x) is taken against the better of runc's two rates.

Growth: a fresh pool runs ``--growth`` calls one after the other; this
process's open fds, threads, child processes (and all descendants), and
RSS are printed after the first 50 and at the end, each read with the pool
full.

Everything made is removed: the pools are closed (their containers
deleted), runc's containers deleted, the bench's cgroups removed, the
workspace under /tmp/lcbench-* deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .harness import RUNC_RUN, UNSHARE, remove_cgroups
from .stats import Summary, rotating_rounds
from .timing import TIMEOUT, CommandFailed, deadline, is_root, progress_printer, wall_time
from .workloads import RUNC_RUN_ID, Tools, Workspace, nsinit_config, runc_config, unshare_argv

TRUE = ["/bin/true"]
SETTLE = 0.01  # seconds of quiet after the pool is full again, before a warm call
GROWTH_WARM = 50  # calls before the first growth figures

POOL_WARM = "pool.run, warm"
POOL_BURST = "pool.run, back to back"
SPAWN = "posix_spawn /bin/true (floor)"
EXIT_NS = "exit, last in new namespaces (floor)"
EXIT_PLAIN = "exit, no namespaces of its own"
POOL_RATE = "pool.arun, asyncio"
RUNC_SEQ = "runc run, one after the other"
RUNC_PAR = "runc run, two concurrent loops"
RUNC_PAR_ID = "lcbench-run-2"  # the second loop's container

# Issue 18's targets.
P50_LIMIT = 0.003
P95_LIMIT = 0.006
RATE_LIMIT = 4.0
RSS_SLACK_KIB = 1024  # RSS "not grown": less than this more (the allocator's noise)

NAMESPACES_FLAGS = 0x00020000 | 0x04000000 | 0x08000000 | 0x20000000 | 0x40000000  # NEWNS UTS IPC PID NET


@dataclass
class Figures:
    """What a program holds: open fds, threads, direct children, all descendants, RSS in KiB."""

    fds: int
    threads: int
    children: int
    descendants: int
    rss_kib: int

    @classmethod
    def now(cls) -> Figures:
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
        tree = _process_tree()
        me = os.getpid()
        descendants, todo = 0, [me]
        while todo:
            kids = tree.get(todo.pop(), [])
            descendants += len(kids)
            todo += kids
        return cls(fds=len(os.listdir("/proc/self/fd")) - 1,  # less listdir's own
                   threads=int(status["Threads"]), children=len(tree.get(me, [])), descendants=descendants,
                   rss_kib=int(status["VmRSS"].split()[0]))


def _process_tree() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


@dataclass
class PoolResults:
    times: dict[str, Summary] = field(default_factory=dict)  # by row name; seconds
    rates: dict[str, Summary] = field(default_factory=dict)  # by row name; containers per second, one per round
    growth: list[tuple[int, Figures]] = field(default_factory=list)  # (calls made, figures)
    notes: list[str] = field(default_factory=list)


# -- the pool ---------------------------------------------------------------------------------


def wait_full(pool: Any, timeout: float = TIMEOUT) -> None:
    """Until the pool's containers under the state root are exactly ``size``, all created; then SETTLE more."""
    from libcontainer.container import list_containers

    until = time.monotonic() + timeout
    while True:
        mine = [s for s in list_containers() if s.id.startswith(pool.prefix)]
        if len(mine) == pool.size and all(s.status == "created" for s in mine):
            break
        if time.monotonic() > until:
            raise CommandFailed(f"the pool did not refill in {timeout} s: {[(s.id, s.status) for s in mine]}")
        time.sleep(0.002)
    time.sleep(SETTLE)


def timed_run(pool: Any) -> float:
    start = time.perf_counter()
    result = pool.run(TRUE)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise CommandFailed(f"pool.run(['/bin/true']) exited {result.returncode}")
    return seconds


def warm_calls(pool: Any, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        wait_full(pool)
        samples.append(timed_run(pool))
    return samples


def burst_calls(pool: Any, count: int) -> list[float]:
    wait_full(pool)
    return [timed_run(pool) for _ in range(count)]


def pool_rate(pool: Any, loop: asyncio.AbstractEventLoop, count: int, in_flight: int) -> float:
    """/bin/true per second through ``pool.arun``, ``in_flight`` at a time from ``loop``.

    One event loop for the pool's life, as a server has: the Pool keeps an
    asyncio.Lock made in the first loop that uses it, and refuses another.
    """
    async def main() -> None:
        left = count

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                result = await pool.arun(TRUE)
                if result.returncode != 0:
                    raise CommandFailed(f"pool.arun(['/bin/true']) exited {result.returncode}")

        await asyncio.gather(*(worker() for _ in range(in_flight)))

    wait_full(pool)
    start = time.perf_counter()
    with deadline(TIMEOUT):
        loop.run_until_complete(main())
    return count / (time.perf_counter() - start)


# -- the floors -------------------------------------------------------------------------------


def spawn_time(path: str) -> float:
    """Seconds from posix_spawn of ``path`` to reaping it (no tempfile, no pipes: the bare cost)."""
    start = time.perf_counter()
    pid = os.posix_spawn(path, [path], {})
    _, status = os.waitpid(pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise CommandFailed(f"{path} exited {os.waitstatus_to_exitcode(status)}")
    return seconds


def exit_time(namespaces: bool) -> float:
    """Seconds from telling a waiting process to exit to having reaped it; with ``namespaces``, the
    process is PID 1 of new pid, mount, UTS, IPC and network namespaces (under an intermediate)."""
    from libcontainer.syscalls import real

    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the intermediate
        try:
            os.close(go_w)
            os.close(ready_r)
            if namespaces:
                real().unshare(NAMESPACES_FLAGS)
            inner = os.fork()
            if inner == 0:  # PID 1 of the new pid namespace, when there is one
                os.write(ready_w, b"r")
                os.read(go_r, 1)
                os._exit(0)
            os.waitpid(inner, 0)
            os._exit(0)
        finally:
            os._exit(1)
    os.close(go_r)
    os.close(ready_w)
    try:
        if os.read(ready_r, 1) != b"r":
            raise CommandFailed("the exiting process did not start")
        start = time.perf_counter()
        os.write(go_w, b"g")
        _, status = os.waitpid(pid, 0)
        seconds = time.perf_counter() - start
    finally:
        os.close(go_w)
        os.close(ready_r)
    if status != 0:
        raise CommandFailed(f"the exiting process failed ({os.waitstatus_to_exitcode(status)})")
    return seconds


# -- runc -------------------------------------------------------------------------------------


def build_runc(ws: Workspace, runc: str) -> Path:
    """The bench's `runc run` bundle, and a second one for the concurrent loop: its bundle."""
    ws.build_runc(runc)
    second = ws.base / "runc-run-2"
    second.mkdir()
    spec = json.loads((ws.runc_run / "config.json").read_text())
    config = runc_config(spec, ws.rootfs, TRUE, RUNC_PAR_ID)
    (second / "config.json").write_text(json.dumps(config, indent=2))
    return second


def command_rate(argvs: list[list[str]], count: int) -> float:
    """Commands per second, ``count`` in all, ``len(argvs)`` at a time (one loop per argv)."""
    null = os.open(os.devnull, os.O_RDWR)
    actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
    running: dict[int, tuple[int, int]] = {}  # pidfd: (pid, loop)
    started = 0

    def spawn(loop: int) -> None:
        nonlocal started
        argv = argvs[loop]
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
        running[os.pidfd_open(pid)] = (pid, loop)
        started += 1

    start = time.perf_counter()
    try:
        for loop in range(min(len(argvs), count)):
            spawn(loop)
        while running:
            ready = select.select(list(running), [], [], TIMEOUT)[0]
            if not ready:
                raise CommandFailed(f"{' '.join(argvs[0])} hung: killed after {TIMEOUT} s")
            for fd in ready:
                pid, loop = running.pop(fd)
                os.close(fd)
                _, status = os.waitpid(pid, 0)
                if status != 0:
                    raise CommandFailed(f"{' '.join(argvs[loop])} exited {os.waitstatus_to_exitcode(status)}")
                if started < count:
                    spawn(loop)
        return count / (time.perf_counter() - start)
    finally:
        for fd, (pid, _) in running.items():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            os.waitpid(pid, 0)
            os.close(fd)
        os.close(null)


# -- one run ----------------------------------------------------------------------------------


@dataclass
class Settings:
    size: int = 4
    warmup: int = 3
    rounds: int = 30
    warm: int = 3  # warm calls per round
    burst: int = 8  # back-to-back calls per round
    rate_rounds: int = 3
    rate_count: int = 200  # pool.arun calls per throughput round
    runc_count: int = 40  # runc runs per throughput round (each of the two rows)
    growth: int = 1000


def alternate(steps: list[tuple[str, Callable[[], list[float] | float]]], warmup: int, rounds: int,
              results: PoolResults, store: dict[str, Summary], progress: Callable[[str], None], what: str) -> None:
    """Each step once per round, rotating, after ``warmup`` unmeasured rounds; a failing step is dropped."""
    def failed(name: str, e: BaseException) -> None:
        results.notes.append(f"{name}: dropped after a failure: {e}")

    def done(r: int) -> None:
        progress(f"{what} round {r}/{warmup + rounds}{'' if r > warmup else ' (warm-up)'}")

    from libcontainer.errors import LibcontainerError

    errors = (CommandFailed, LibcontainerError, OSError, RuntimeError, ValueError, TimeoutError)
    samples = rotating_rounds(steps, warmup, rounds, errors, failed, done)
    for name, got in samples.items():
        if got:
            store[name] = Summary(name, got)


def measure_growth(ws: Workspace, config: dict, s: Settings, results: PoolResults) -> None:
    from libcontainer import Pool

    with Pool(ws.rootfs, config, size=s.size) as pool:
        for n in range(1, s.growth + 1):
            timed_run(pool)
            if n in (min(GROWTH_WARM, s.growth), s.growth):
                wait_full(pool)
                results.growth.append((n, Figures.now()))


def run(tools: Tools, s: Settings, progress: Callable[[str], None]) -> PoolResults:
    """Measure every row; always remove what was made."""
    from libcontainer import Pool
    from libcontainer.testing.rootfs import build_busybox_rootfs

    results = PoolResults()
    ws = Workspace(Path(tempfile.mkdtemp(prefix="lcbench-pool-")))
    pool = None
    loop = asyncio.new_event_loop()
    try:
        build_busybox_rootfs(ws.rootfs)
        config = nsinit_config(ws.rootfs, cgroups=True)
        second = build_runc(ws, tools.runc) if tools.runc else None
        pool = Pool(ws.rootfs, config, size=s.size)
        true = str(ws.rootfs / "bin" / "true")
        latency: list[tuple[str, Callable[[], Any]]] = [
            (POOL_WARM, lambda: warm_calls(pool, s.warm)),
            (POOL_BURST, lambda: burst_calls(pool, s.burst)),
            (SPAWN, lambda: spawn_time(true)),
            (EXIT_NS, lambda: exit_time(True)),
            (EXIT_PLAIN, lambda: exit_time(False)),
        ]
        rates: list[tuple[str, Callable[[], Any]]] = [(POOL_RATE, lambda: pool_rate(pool, loop, s.rate_count, s.size))]
        if tools.runc:
            runc_argv = ws.runc(tools.runc, "run", "--bundle", str(ws.runc_run), RUNC_RUN_ID)
            runc_argv2 = ws.runc(tools.runc, "run", "--bundle", str(second), RUNC_PAR_ID)
            latency.append((RUNC_RUN, lambda: wall_time(runc_argv)))
            rates += [(RUNC_SEQ, lambda: command_rate([runc_argv], s.runc_count)),
                      (RUNC_PAR, lambda: command_rate([runc_argv, runc_argv2], s.runc_count))]
        if tools.unshare:
            latency.append((UNSHARE, lambda: wall_time(unshare_argv(tools.unshare, ws.rootfs))))
        for name in ("runc", "unshare"):
            if getattr(tools, name) is None:
                results.notes.append(f"{name} is missing: its rows are left out")
        # Every step starts with the pool full and quiet: a refill never overlaps another row.
        settled = [(name, _after_refill(pool, step)) for name, step in latency]
        alternate(settled, s.warmup, s.rounds, results, results.times, progress, "latency")
        settled = [(name, _after_refill(pool, step)) for name, step in rates]
        alternate(settled, 0, s.rate_rounds, results, results.rates, progress, "throughput")
        pool.close()
        pool = None
        progress(f"growth: {s.growth} calls")
        try:
            measure_growth(ws, config, s, results)
        except (CommandFailed, OSError) as e:
            results.notes.append(f"growth: not measured: {e}")
    finally:
        if pool is not None:
            pool.close()
        loop.close()
        results.notes += clean_up(ws, tools)
    return results


def _after_refill(pool: Any, step: Callable[[], Any]) -> Callable[[], Any]:
    def settled() -> Any:
        wait_full(pool)
        return step()

    return settled


def clean_up(ws: Workspace, tools: Tools) -> list[str]:
    """runc's containers deleted, the bench's cgroups removed, the workspace deleted; what stayed."""
    if tools.runc and ws.runc_root.exists():
        for cid in (RUNC_RUN_ID, RUNC_PAR_ID):
            subprocess.run(ws.runc(tools.runc, "delete", "--force", cid), capture_output=True, timeout=TIMEOUT)
    left = remove_cgroups()
    shutil.rmtree(ws.base, ignore_errors=True)
    return [f"could not remove: {'; '.join(left)}"] if left else []


# -- the report -------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _met(ok: bool | None) -> str:
    return "not measured" if ok is None else ("yes" if ok else "**no**")


def best_runc_rate(results: PoolResults) -> Summary | None:
    found = [results.rates[n] for n in (RUNC_SEQ, RUNC_PAR) if n in results.rates]
    return max(found, key=lambda s: s.median) if found else None


def targets(results: PoolResults) -> list[tuple[str, str, str, bool | None]]:
    """(target, limit, measured, met) for issue 18's speed targets."""
    rows: list[tuple[str, str, str, bool | None]] = []
    warm = results.times.get(POOL_WARM)
    rows.append(("pool.run warm, p50", "<= 3 ms", _ms(warm.median) if warm else "—",
                 warm.median <= P50_LIMIT if warm else None))
    rows.append(("pool.run warm, p95", "<= 6 ms", _ms(warm.p95) if warm else "—",
                 warm.p95 <= P95_LIMIT if warm else None))
    mine, runc = results.rates.get(POOL_RATE), best_runc_rate(results)
    ratio = mine.median / runc.median if mine and runc else None
    rows.append((f"{POOL_RATE} rate / {runc.name if runc else 'runc run'}'s", f">= {RATE_LIMIT:g}x",
                 "—" if ratio is None else f"{ratio:.2f}x", None if ratio is None else ratio >= RATE_LIMIT))
    grown = growth(results)
    rows.append((f"growth after the first {GROWTH_WARM} calls (fds, threads, children, RSS)", "none",
                 "—" if grown is None else ", ".join(f"{k} {v:+d}" for k, v in grown.items()),
                 None if grown is None else not any(v > (RSS_SLACK_KIB if k == "RSS KiB" else 0)
                                                    for k, v in grown.items())))
    return rows


def growth(results: PoolResults) -> dict[str, int] | None:
    if len(results.growth) < 2:
        return None
    (_, a), (_, b) = results.growth[0], results.growth[-1]
    return {"fds": b.fds - a.fds, "threads": b.threads - a.threads, "children": b.children - a.children,
            "descendants": b.descendants - a.descendants, "RSS KiB": b.rss_kib - a.rss_kib}


def markdown(results: PoolResults, settings: str) -> str:
    runc = results.times.get(RUNC_RUN)
    lines = ["### Latency (call or spawn to exit status)", "", settings, "",
             "| measurement | median | p95 | vs runc run | samples |", "|---|---|---|---|---|"]
    for s in results.times.values():
        ratio = s.ratio_to(runc)
        lines.append(f"| {s.name} | {_ms(s.median)} | {_ms(s.p95)} | {'—' if ratio is None else f'{ratio:.2f}x'} "
                     f"| {len(s.samples)} |")
    best = best_runc_rate(results)
    lines += ["", "### Throughput (/bin/true per second, one rate per round)", "",
              "| measurement | median | lowest | vs runc's better | rounds |", "|---|---|---|---|---|"]
    for s in results.rates.values():
        ratio = f"{s.median / best.median:.2f}x" if best else "—"
        lines.append(f"| {s.name} | {s.median:.1f}/s | {min(s.samples):.1f}/s | {ratio} | {len(s.samples)} |")
    lines += ["", "### This process after N sequential pool.run calls (read with the pool full)", "",
              "| calls | open fds | threads | children | descendants | RSS |", "|---|---|---|---|---|---|"]
    for n, f in results.growth:
        lines.append(f"| {n} | {f.fds} | {f.threads} | {f.children} | {f.descendants} | {f.rss_kib} KiB |")
    lines += ["", "### Targets (issue 18)", "", "| target | limit | measured | met |", "|---|---|---|---|"]
    for label, limit, measured, ok in targets(results):
        lines.append(f"| {label} | {limit} | {measured} | {_met(ok)} |")
    if results.notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in results.notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    d = Settings()
    p = argparse.ArgumentParser(prog="python -m bench.pool", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=d.size, help="containers the pool keeps waiting")
    p.add_argument("--rounds", type=int, default=d.rounds, help="measured latency rounds (each row once per round)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="unmeasured latency rounds first")
    p.add_argument("--warm", type=int, default=d.warm, help="warm pool.run calls per round (the pool full before each)")
    p.add_argument("--burst", type=int, default=d.burst, help="back-to-back pool.run calls per round")
    p.add_argument("--rate-rounds", type=int, default=d.rate_rounds, help="throughput rounds (each rate once)")
    p.add_argument("--rate-count", type=int, default=d.rate_count, help="pool.arun calls per throughput round")
    p.add_argument("--runc-count", type=int, default=d.runc_count, help="runc runs per throughput round and row")
    p.add_argument("--growth", type=int, default=d.growth, help="sequential pool.run calls for the growth figures")
    p.add_argument("--skip", action="append", default=[], choices=["runc", "unshare"],
                   help="leave a peer out, as if it were not installed (repeatable)")
    args = p.parse_args(argv)
    s = Settings(args.size, args.warmup, args.rounds, args.warm, args.burst, args.rate_rounds, args.rate_count,
                 args.runc_count, args.growth)
    if min(s.size, s.rounds, s.warm, s.burst, s.rate_rounds, s.rate_count, s.runc_count, s.growth) < 1 or s.warmup < 0:
        p.error("every count must be at least 1, --warmup at least 0")
    if not is_root("bench.pool"):
        return 2

    progress = progress_printer("bench.pool")
    results = run(Tools().without(args.skip), s, progress)
    settings = (f"Pool size {s.size}; {s.rounds} measured latency rounds after {s.warmup} warm-up rounds, rows "
                f"alternated (rotating order), the pool full and settled before every row; {s.warm} warm calls and "
                f"{s.burst} back-to-back calls per round; {s.rate_rounds} throughput rounds of {s.rate_count} "
                f"pool.arun calls ({s.size} in flight) and {s.runc_count} runc runs per row; {s.growth} calls "
                f"for the growth figures.")
    print(markdown(results, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
