"""The benchmark's summaries and its verdicts on the targets of issue 10 (bench/stats.py, bench/report.py)."""

from __future__ import annotations

import pytest

from bench import report
from bench.harness import API, NSINIT_COLD, NSINIT_JOIN, RUNC_EXEC, RUNC_RUN, UNSHARE, Results
from bench.stats import Summary, percentile


def test_percentiles_are_nearest_rank():
    samples = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(samples, 50) == 3.0
    assert percentile(samples, 95) == 5.0
    assert percentile(samples, 20) == 1.0
    assert percentile([7.0], 95) == 7.0


def _results(cold_ms: float, join_ms: float, api_ms: float) -> Results:
    ms = lambda name, value: Summary(name, [value / 1000] * 3)  # noqa: E731
    results = Results()
    for s in (ms(NSINIT_COLD, cold_ms), ms(RUNC_RUN, 20), ms(UNSHARE, 2), ms(NSINIT_JOIN, join_ms),
              ms(RUNC_EXEC, 10), ms(API, api_ms)):
        results.times[s.name] = s
    results.rss[NSINIT_COLD] = Summary(NSINIT_COLD, [15000.0], "KiB")
    results.rss[RUNC_RUN] = Summary(RUNC_RUN, [10000.0], "KiB")
    results.api_containers, results.api_seconds = 10, 10 * api_ms / 1000
    return results


def _verdicts(results: Results) -> dict[str, str]:
    rows = report.targets_table(results).splitlines()[2:]
    return {cells[1].strip(): cells[4].strip() for cells in (row.split("|") for row in rows)}


def test_targets_within_their_limits_are_met():
    verdicts = _verdicts(_results(cold_ms=40, join_ms=10, api_ms=4))
    assert set(verdicts.values()) == {"yes"}, verdicts


@pytest.mark.parametrize("cold_ms, join_ms, api_ms, missed", [
    (40.2, 10, 4, "cold nsinit exec / runc run (wall)"),  # 2.01x runc run
    (40, 10.1, 4, "nsinit exec (join) / runc exec"),  # slower than runc exec
    (40, 10, 4.5, "Python API latency / unshare floor"),  # 2.25x the floor (and 4.4x runc's rate: met)
    (40, 10, 5.1, "Python API containers/s / runc's"),  # 3.9x runc's rate
])
def test_a_target_beyond_its_limit_is_missed(cold_ms, join_ms, api_ms, missed):
    verdicts = _verdicts(_results(cold_ms, join_ms, api_ms))
    assert verdicts[missed] == "**no**", verdicts


def test_a_ratio_to_a_peer_not_measured_is_not_made_up():
    results = _results(40, 10, 4)
    del results.times[RUNC_RUN], results.rss[RUNC_RUN]
    verdicts = _verdicts(results)
    assert verdicts["cold nsinit exec / runc run (wall)"] == "not measured"
    assert verdicts["Python API containers/s / runc's"] == "not measured"
    assert verdicts["nsinit exec (join) / runc exec"] == "yes"
