"""Summaries of timing samples: median, p95, ratios."""

from __future__ import annotations

import math
from dataclasses import dataclass


def percentile(samples: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of a non-empty list."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Summary:
    """One measured row: what it is and its samples (seconds, or KiB for memory)."""

    name: str  # row label, e.g. "runc run"
    samples: list[float]
    unit: str = "ms"  # how the table shows the values: "ms" (samples in seconds) or "KiB"
    note: str = ""  # what differs from the others (no cgroup, ...)

    @property
    def median(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 95)

    def ratio_to(self, other: Summary | None) -> float | None:
        """Median over ``other``'s median: below 1 is better for times and memory."""
        if other is None or not other.samples or not self.samples or other.median == 0:
            return None
        return self.median / other.median
