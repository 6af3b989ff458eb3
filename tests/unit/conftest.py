"""Fixtures of the config tests: small fake plugins owning the keys of the samples.

The real capabilities, namespaces, cgroups and network plugins are written in
parallel; these fakes let the config tests run without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from libcontainer.core_plugin import device_schema
from libcontainer.plugins import Plugins, get_plugin_manager, hookimpl

_CAPABILITIES = {
    "CHOWN", "DAC_OVERRIDE", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
    "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "SYS_ADMIN",
}
_NAMESPACES = {"NEWNS", "NEWUTS", "NEWIPC", "NEWPID", "NEWNET", "NEWUSER"}


def _capability(value: str) -> str:
    name = value.upper().removeprefix("CAP_")
    if name not in _CAPABILITIES:
        raise ValueError(f"unknown capability {value!r}; expected one of {', '.join(sorted(_CAPABILITIES))}")
    return name


def _namespace(value: str) -> str:
    name = value.upper().removeprefix("CLONE_")
    if name not in _NAMESPACES:
        raise ValueError(f"unknown namespace {value!r}; expected one of {', '.join(sorted(_NAMESPACES))}")
    return name


class FakeCapabilities:
    """Owns ``capabilities``: names normalised like the real plugin's."""

    __version__ = "0.0.1"

    @hookimpl
    def libcontainer_config_schema(self) -> dict[str, Any]:
        return {"capabilities": {"type": "array", "items": {"type": "string", "format": "capability"}}}

    @hookimpl
    def libcontainer_config_formats(self) -> dict[str, Any]:
        return {"capability": _capability}


class FakeNamespaces:
    """Owns ``namespaces``: keys canonicalised through propertyNames.format."""

    @hookimpl
    def libcontainer_config_schema(self) -> dict[str, Any]:
        return {
            "namespaces": {
                "type": "object",
                "propertyNames": {"type": "string", "format": "namespace"},
                "additionalProperties": {"type": "boolean"},
            }
        }

    @hookimpl
    def libcontainer_config_formats(self) -> dict[str, Any]:
        return {"namespace": _namespace}


class FakeCgroups:
    """Owns ``cgroups``, with a size in bytes and the core's device schema."""

    @hookimpl
    def libcontainer_config_schema(self) -> dict[str, Any]:
        return {
            "cgroups": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "parent": {"type": "string"},
                    "memory": {"type": ["integer", "string"], "format": "bytes", "minimum": 0},
                    "allowed_devices": {"type": "array", "items": device_schema(path_required=False)},
                },
                "additionalProperties": False,
            }
        }


class FakeNetwork:
    """Owns ``networks`` and ``routes``."""

    @hookimpl
    def libcontainer_config_schema(self) -> dict[str, Any]:
        network = {
            "type": "object",
            "properties": {
                "type": {"enum": ["loopback", "veth"]},
                "address": {"type": "string"},
                "gateway": {"type": "string"},
                "mtu": {"type": "integer", "minimum": 68},
                "context": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "required": ["type"],
            "additionalProperties": False,
        }
        return {"networks": {"type": "array", "items": network}, "routes": {"type": "array"}}


FAKES = [
    ("capabilities", FakeCapabilities()),
    ("namespaces", FakeNamespaces()),
    ("cgroups", FakeCgroups()),
    ("network", FakeNetwork()),
]


def fake_plugin_manager(*extra: tuple[str, Any]) -> Plugins:
    return get_plugin_manager(extra=[*FAKES, *extra], entry_points=False)


@pytest.fixture(scope="session")
def fake_plugins() -> Plugins:
    """The core plus fakes owning capabilities, namespaces, cgroups, networks and routes."""
    return fake_plugin_manager()


@pytest.fixture(scope="session")
def make_plugins():
    """make_plugins(("name", plugin), ...) -> the core, the fakes and these plugins."""
    return fake_plugin_manager


@pytest.fixture(scope="session")
def core_only() -> Plugins:
    """The core plugin alone."""
    return get_plugin_manager(entry_points=False)


@pytest.fixture
def write(tmp_path: Path):
    """write("name", text_or_bytes) -> the path of a new file in a temporary directory."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    return _write
