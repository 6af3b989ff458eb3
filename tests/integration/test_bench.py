"""The benchmark harness (bench/): a short real run, peers missing or broken, and what it leaves behind.

The numbers are not judged here (the benchmark is not part of the suite's
pass/fail); what is judged is that a run measures what it can, says what it
could not, and removes everything it made.
"""

from __future__ import annotations

import glob
import os
import shutil

import pytest

from bench import report
from bench.harness import API, BWRAP, NSINIT_COLD, NSINIT_JOIN, RUNC_EXEC, RUNC_RUN, UNSHARE, run
from bench.workloads import CGROUP_PARENT, RUNC_CGROUP_PARENT, Tools

pytestmark = pytest.mark.privileged


def _made_by_bench() -> set[str]:
    found = set(glob.glob("/tmp/lcbench-*"))
    for parent in (CGROUP_PARENT, RUNC_CGROUP_PARENT):
        found |= set(glob.glob(f"/sys/fs/cgroup/*/{parent}"))
    return found | {f"/run/nsinit/{n}" for n in (os.listdir("/run/nsinit") if os.path.isdir("/run/nsinit") else [])}


@pytest.fixture
def untouched():
    """Fails the test if the run leaves a workspace, a cgroup or container state behind."""
    before = _made_by_bench()
    yield
    assert _made_by_bench() == before


def _short_run(tools: Tools):
    return run(tools, warmup=1, rounds=2, burst=2, progress=lambda _message: None)


def test_without_runc_and_bwrap_nsinit_is_measured_and_the_missing_peers_are_named(untouched):
    results = _short_run(Tools(runc=None, bwrap=None, unshare=shutil.which("unshare")))

    assert len(results.times[NSINIT_COLD].samples) == 2
    assert len(results.times[NSINIT_JOIN].samples) == 2
    assert len(results.times[API].samples) == 4 and results.api_containers == 4
    assert (UNSHARE in results.times) == (shutil.which("unshare") is not None)
    assert not {RUNC_RUN, RUNC_EXEC, BWRAP} & set(results.times)
    missing = [n for n in results.notes if "is missing" in n]
    assert any(n.startswith("runc is missing") for n in missing) and any(n.startswith("bwrap is missing") for n in missing)
    assert not [n for n in results.notes if "dropped" in n or "not measured, the container" in n], results.notes
    rows = {label: value for label, value, _, _ in report.targets(results)}
    assert rows["cold nsinit exec / runc run (wall)"] is None  # no runc: a ratio to runc is not made up
    assert "not measured" in report.targets_table(results)
    assert "runc run: not measured" in report.markdown(results, {"nproc": "2"}, "")


def test_a_peer_that_fails_is_dropped_with_a_note_and_the_rest_measured(untouched):
    """The twin: a peer that is there but fails (bwrap that exits 1) gives no row, and a note that says why."""
    results = _short_run(Tools(runc=None, bwrap="/bin/false", unshare=None))

    assert BWRAP not in results.times
    assert any(n.startswith(f"{BWRAP}: dropped after a failure") for n in results.notes), results.notes
    assert len(results.times[NSINIT_COLD].samples) == 2 and len(results.times[NSINIT_JOIN].samples) == 2
