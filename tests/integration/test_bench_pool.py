"""bench/pool.py, issue 18's pool rows, in a short real run: every row measured, the targets judged, nothing left.

The numbers are not judged here; what is: each latency, throughput and
growth row is there with the samples asked for, runc's rows are left out
with a note when runc is missing, the targets table names issue 18's
limits, and the pools, runc's containers, the cgroups and the workspace
are gone afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil

import pytest

from bench import pool as bench_pool
from bench.harness import RUNC_RUN, UNSHARE
from bench.workloads import CGROUP_PARENT, RUNC_CGROUP_PARENT, Tools

pytestmark = pytest.mark.privileged

QUICK = bench_pool.Settings(size=2, warmup=0, rounds=2, warm=1, burst=3, rate_rounds=2, rate_count=6, runc_count=3,
                            growth=55)


def _made_by_the_run() -> set[str]:
    found = set(glob.glob("/tmp/lcbench-pool-*"))
    for parent in (CGROUP_PARENT, RUNC_CGROUP_PARENT):
        found |= set(glob.glob(f"/sys/fs/cgroup/*/{parent}"))
    return found | set(glob.glob("/run/nsinit/pool-rootfs-*"))


def test_every_row_is_measured_and_the_targets_judged():
    if shutil.which("runc") is None or shutil.which("unshare") is None:
        pytest.skip("runc and unshare are needed (bench/setup installs runc)")
    before = _made_by_the_run()
    results = bench_pool.run(Tools(), QUICK, progress=lambda _message: None)

    assert not results.notes
    times = {name: len(s.samples) for name, s in results.times.items()}
    assert times == {bench_pool.POOL_WARM: 2, bench_pool.POOL_BURST: 6, bench_pool.SPAWN: 2, bench_pool.EXIT_NS: 2,
                     bench_pool.EXIT_PLAIN: 2, RUNC_RUN: 2, UNSHARE: 2}
    assert set(results.rates) == {bench_pool.POOL_RATE, bench_pool.RUNC_SEQ, bench_pool.RUNC_PAR}
    assert [n for n, _ in results.growth] == [50, 55]
    first, last = results.growth[0][1], results.growth[-1][1]
    assert first.threads == last.threads == 1 and first.children == 1  # the pool's helper
    assert first.descendants >= 1 + 2 * QUICK.size  # the helper, and a keeper and a container per waiting one
    judged = bench_pool.targets(results)
    assert [limit for _, limit, _, _ in judged] == ["<= 3 ms", "<= 6 ms", ">= 4x", "none"]
    assert all(ok is not None for _, _, _, ok in judged)
    text = bench_pool.markdown(results, "settings")
    assert "| pool.run warm, p50 | <= 3 ms |" in text and "| 55 |" in text
    assert _made_by_the_run() == before


def test_without_runc_its_rows_are_left_out_with_a_note():
    before = _made_by_the_run()
    quick = bench_pool.Settings(size=1, warmup=0, rounds=1, warm=1, burst=1, rate_rounds=1, rate_count=2,
                                runc_count=1, growth=1)
    results = bench_pool.run(Tools().without(["runc"]), quick, progress=lambda _message: None)

    assert RUNC_RUN not in results.times and set(results.rates) == {bench_pool.POOL_RATE}
    assert "runc is missing: its rows are left out" in results.notes
    assert [n for n, _ in results.growth] == [1]
    assert "| pool.arun, asyncio rate / runc run's | >= 4x | — | not measured |" in bench_pool.markdown(results, "")
    assert _made_by_the_run() == before


def test_help_and_bad_counts():
    with pytest.raises(SystemExit) as done:
        bench_pool.main(["--help"])
    assert done.value.code == 0
    with pytest.raises(SystemExit) as done:
        bench_pool.main(["--rounds", "0"])
    assert done.value.code == 2
