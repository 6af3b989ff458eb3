"""bench/oci.py, the OCI rows of issue 17, in a short real run: runc beside a second runtime, a failing one, nothing left.

The numbers are not judged here; what is: every row is measured for every
runtime that works, the ratio to runc is made for each other runtime (what
lcrun's rows will be), a runtime that fails is dropped with a note, and
nothing of the run remains.
"""

from __future__ import annotations

import glob
import os
import shutil

import pytest

from bench.oci import CGROUP_PARENT, CYCLE, PODMAN, PODMAN_CGROUP_PARENT, STATE, OciRuntime, markdown, row, run, targets

pytestmark = pytest.mark.privileged


def _made_by_the_run() -> set[str]:
    found = set(glob.glob("/tmp/lcbench-oci-*"))
    for parent in (CGROUP_PARENT, PODMAN_CGROUP_PARENT):
        found |= set(glob.glob(f"/sys/fs/cgroup/*/{parent}"))
    return found | ({"/run/runc"} if os.path.exists("/run/runc") else set())


@pytest.fixture
def runc() -> str:
    path = shutil.which("runc")
    if path is None:
        pytest.skip("runc is not installed (scripts/setup installs it)")
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/setup installs it)")
    return path


def test_a_second_runtime_gets_every_row_and_its_ratios_to_runc(runc):
    before = _made_by_the_run()
    # runc under a second name stands for lcrun: its rows come from naming the binary.
    runtimes = [OciRuntime("runc", runc), OciRuntime("other", runc)]
    results = run(runtimes, warmup=0, rounds=2, progress=lambda _message: None)

    for name in ("runc", "other"):
        for kind in (CYCLE, STATE, PODMAN):
            assert len(results.times[row(kind, name)].samples) == 2, results.notes
    assert not results.notes
    assert [(label, limit) for label, _, limit in targets(results, runtimes)] == [
        ("other create+start+wait+delete / runc's", 2.0), ("other state / runc's", 2.0),
        ("podman run --rm (other) / runc's", 1.25)]
    assert all(value is not None for _, value, _ in targets(results, runtimes))
    assert "| other state / runc's | <= 2x |" in markdown(results, runtimes, "")
    assert _made_by_the_run() == before


def test_a_runtime_that_fails_is_dropped_with_a_note_and_runc_measured(runc):
    before = _made_by_the_run()
    runtimes = [OciRuntime("runc", runc), OciRuntime("broken", "/bin/false")]
    results = run(runtimes, warmup=0, rounds=2, progress=lambda _message: None)

    assert {s.name for s in results.times.values()} == {row(kind, "runc") for kind in (CYCLE, STATE, PODMAN)}
    dropped = [n for n in results.notes if n.startswith(("broken ", "podman run --rm (broken)"))]
    assert len(dropped) == 3, results.notes  # the state container's create, the two other rows
    assert "| broken state / runc's | <= 2x | — | not measured |" in markdown(results, runtimes, "")
    assert _made_by_the_run() == before
