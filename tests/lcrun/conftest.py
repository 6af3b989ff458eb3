"""Fixtures of lcrun's tests: a bundle directory made from one of bundles/ (ocibundles.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from ocibundles import make_bundle, read_fixture


@pytest.fixture
def bundle(tmp_path: Path) -> Callable[..., Path]:
    """``bundle("podman-run")`` (or ``bundle(name, doc)``): a bundle of that fixture in tmp_path, its rootfs empty."""

    def make(name: str, doc: dict[str, Any] | None = None) -> Path:
        return make_bundle(tmp_path / name, doc if doc is not None else read_fixture(name))

    return make
