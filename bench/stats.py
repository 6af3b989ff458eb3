"""Summaries of timing samples: median, p95, ratios."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable


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


def rotating_rounds(steps: list[tuple[str, Callable[[], list[float] | float]]], warmup: int, rounds: int,
                    errors: tuple[type[BaseException], ...], failed: Callable[[str, BaseException], None],
                    progress: Callable[[int], None]) -> dict[str, list[float]]:
    """Each step once per round in a rotating order, ``warmup`` unmeasured rounds first: the samples by name.

    A step returns one sample or a list of them.  A step raising one of
    ``errors`` is dropped for the rest of the run (``failed(name, error)``);
    ``progress(round)`` after each round, from 1.
    """
    samples: dict[str, list[float]] = {name: [] for name, _ in steps}
    live = set(samples)
    for r in range(warmup + rounds):
        shift = r % len(steps)
        for name, step in steps[shift:] + steps[:shift]:
            if name not in live:
                continue
            try:
                got = step()
            except errors as e:
                live.discard(name)
                failed(name, e)
                continue
            if r >= warmup:
                samples[name] += got if isinstance(got, list) else [got]
        progress(r + 1)
    return samples
