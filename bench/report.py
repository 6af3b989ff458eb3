"""The run as markdown tables (with the targets met or missed) and as JSON."""

from __future__ import annotations

from .harness import API, NSINIT_COLD, NSINIT_JOIN, RUNC_EXEC, RUNC_RUN, UNSHARE, Results
from .stats import Summary

# The targets of issue 10: (label, measured value, limit, True when lower is better).
TargetRow = tuple[str, "float | None", float, bool]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}x"


def times_table(results: Results) -> str:
    runc_run = results.times.get(RUNC_RUN)
    runc_exec = results.times.get(RUNC_EXEC)
    lines = ["| measurement | median | p95 | vs runc | samples | note |", "|---|---|---|---|---|---|"]
    for s in results.times.values():
        ref = runc_exec if s.name in (NSINIT_JOIN, RUNC_EXEC) else runc_run
        lines.append(f"| {s.name} | {_ms(s.median)} | {_ms(s.p95)} | {_ratio(s.ratio_to(ref))} | {len(s.samples)} | {s.note} |")
    return "\n".join(lines)


def rss_table(results: Results) -> str:
    ref = results.rss.get(RUNC_RUN)
    lines = ["| command (its process or a child it reaped, GNU time %M) | median peak RSS | p95 | vs runc |", "|---|---|---|---|"]
    for s in results.rss.values():
        lines.append(f"| {s.name} | {s.median / 1024:.1f} MiB | {s.p95 / 1024:.1f} MiB | {_ratio(s.ratio_to(ref))} |")
    return "\n".join(lines)


def _per_second(s: Summary | None) -> float | None:
    return 1 / s.median if s is not None and s.median else None


def targets(results: Results) -> list[TargetRow]:
    t = results.times
    rows: list[TargetRow] = []
    cold = t.get(NSINIT_COLD)
    rows.append(("cold nsinit exec / runc run (wall)", cold.ratio_to(t.get(RUNC_RUN)) if cold else None, 2.0, True))
    runc_cps = _per_second(t.get(RUNC_RUN))
    api_cps = results.api_per_second
    rows.append(("Python API containers/s / runc's", api_cps / runc_cps if api_cps and runc_cps else None, 4.0, False))
    api = t.get(API)
    rows.append(("Python API latency / unshare floor", api.ratio_to(t.get(UNSHARE)) if api else None, 2.0, True))
    join = t.get(NSINIT_JOIN)
    rows.append(("nsinit exec (join) / runc exec", join.ratio_to(t.get(RUNC_EXEC)) if join else None, 1.0, True))
    rss = results.rss.get(NSINIT_COLD)
    rows.append(("nsinit peak RSS / runc's", rss.ratio_to(results.rss.get(RUNC_RUN)) if rss else None, 2.0, True))
    return rows


def targets_table(results: Results) -> str:
    lines = ["| target | limit | measured | met |", "|---|---|---|---|"]
    for label, value, limit, lower in targets(results):
        if value is None:
            met = "not measured"
        else:
            met = "yes" if (value <= limit if lower else value >= limit) else "**no**"
        lines.append(f"| {label} | {'<=' if lower else '>='} {limit:g}x | {_ratio(value)} | {met} |")
    return "\n".join(lines)


def markdown(results: Results, machine: dict[str, str], settings: str) -> str:
    api_cps = results.api_per_second
    runc_cps = _per_second(results.times.get(RUNC_RUN))
    parts = [
        "### Machine",
        "\n".join(f"- {k}: {v}" for k, v in machine.items()),
        f"\n{settings}",
        "\n### Wall time (spawn to reaped)",
        times_table(results),
        "\n### Throughput",
        f"- Python API: {api_cps:.1f} containers/s from one process ({results.api_containers} containers)"
        if api_cps else "- Python API: not measured",
        f"- runc run: {runc_cps:.1f} containers/s (1 / median)" if runc_cps else "- runc run: not measured",
        "\n### Peak memory",
        rss_table(results),
        "\n### Targets",
        targets_table(results),
    ]
    if results.notes:
        parts += ["\n### Notes", "\n".join(f"- {n}" for n in results.notes)]
    return "\n".join(parts) + "\n"


def as_json(results: Results, machine: dict[str, str]) -> dict:
    return {
        "machine": machine,
        "times_s": {n: s.samples for n, s in results.times.items()},
        "maxrss_kib": {n: s.samples for n, s in results.rss.items()},
        "api": {"containers": results.api_containers, "seconds": results.api_seconds},
        "targets": [{"target": l, "value": v, "limit": lim, "lower_is_better": low} for l, v, lim, low in targets(results)],
        "notes": results.notes,
    }
