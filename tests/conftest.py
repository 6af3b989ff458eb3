"""Shared test configuration: privileged tests need root (and must run in CI)."""

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="privileged test: needs root")
    for item in items:
        if item.get_closest_marker("privileged"):
            item.add_marker(skip)
