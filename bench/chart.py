"""The run as a PNG: median wall time with p95 whiskers, and peak RSS, per runtime."""

from __future__ import annotations

import sys
from pathlib import Path

from .harness import Results

DEPS = Path(__file__).resolve().parent / ".deps"  # matplotlib lives here (bench/setup), not in .venv


def _pyplot():
    if DEPS.is_dir() and str(DEPS) not in sys.path:
        sys.path.append(str(DEPS))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw(results: Results, title: str, path: Path) -> Path | None:
    """Write the chart; None (and a message) when matplotlib is missing."""
    try:
        plt = _pyplot()
    except ImportError:
        print("bench: no chart: matplotlib is missing (run bench/setup)", file=sys.stderr)
        return None
    times = list(results.times.values())
    rss = list(results.rss.values())
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    names = [s.name for s in times]
    medians = [s.median * 1000 for s in times]
    whiskers = [[0] * len(times), [(s.p95 - s.median) * 1000 for s in times]]
    colors = ["tab:blue" if "nsinit" in n or "Python" in n else "tab:gray" for n in names]
    left.barh(names, medians, xerr=whiskers, color=colors, capsize=3)
    left.invert_yaxis()
    left.set_xlabel("wall time per container or process, ms (bar: median, whisker: p95)")
    for y, m in enumerate(medians):
        left.annotate(f"{m:.1f}", (m, y), xytext=(4, -10), textcoords="offset points", fontsize=8)
    right.barh([s.name for s in rss], [s.median / 1024 for s in rss],
               color=["tab:blue" if "nsinit" in s.name else "tab:gray" for s in rss])
    right.invert_yaxis()
    right.set_xlabel("peak RSS of the command's process, MiB (median)")
    for y, s in enumerate(rss):
        right.annotate(f"{s.median / 1024:.1f}", (s.median / 1024, y), xytext=(4, -3), textcoords="offset points",
                       fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
