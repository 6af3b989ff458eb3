"""The docs name tests that exist: docs/security.md maps each scenario to its tests, and must not drift."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def named_tests(text: str) -> set[str]:
    """Test function names written in backticks (parametrisations like ``[root|user]`` stripped)."""
    return {m.group(1) for m in re.finditer(r"`(test_[a-z0-9_]+)(?:\[[^\]]*\])?`", text)}


def defined_tests() -> set[str]:
    found = set()
    for path in [*ROOT.glob("tests/**/test_*.py"), *ROOT.glob("plugins/*/tests/test_*.py")]:
        found |= set(re.findall(r"^def (test_[a-z0-9_]+)\(", path.read_text(), re.M))
    return found


def test_every_test_named_in_the_security_doc_exists():
    named = named_tests((ROOT / "docs" / "security.md").read_text())
    assert len(named) > 50  # the doc really is read
    assert sorted(named - defined_tests()) == []


def test_a_misspelled_test_name_is_reported():
    """Twin: a name no test file defines is reported."""
    assert named_tests("see `test_no_such_behaviour[x]`") - defined_tests() == {"test_no_such_behaviour"}


def test_no_test_name_uses_the_ambiguous_suffix():
    """A name says what the test shows (refused, reported, without the protection), not ``_fail``,
    which meant a refusal, an attack working without the defence and an error message alike."""
    assert sorted(name for name in defined_tests() if re.search(r"_fail(_|$)", name)) == []
