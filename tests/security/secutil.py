"""Small helpers shared by the security tests: parsing the nsattack helper's output."""

from __future__ import annotations


def nsattack_lines(text: str, key: str) -> list[list[str]]:
    """The helper's result lines that start with ``key``, split into words."""
    return [line.split() for line in text.splitlines() if line.split()[:1] == [key]]
