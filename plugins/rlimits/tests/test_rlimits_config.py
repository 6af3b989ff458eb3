"""The rlimits key: names and values normalised, impossible combinations named with their JSON path."""

from __future__ import annotations

import pytest

import libcontainer_rlimits
from libcontainer.configfile import parse_config
from libcontainer.errors import ConfigError
from libcontainer.plugins import get_plugin_manager


def load(section):
    plugins = get_plugin_manager(extra=[("rlimits", libcontainer_rlimits)], entry_points=False)
    return parse_config({"rlimits": section}, "<test>", plugins)


def problems(section) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(section)
    return [f"{p.path}: {p.message}" for p in info.value.problems]


def test_names_and_values_are_normalised():
    cfg = load([{"type": "nofile", "soft": 1024, "hard": 4096}, {"type": "CORE", "soft": 0, "hard": "Unlimited"},
                {"type": "RLIMIT_STACK", "soft": -1, "hard": "infinity"}])
    assert cfg.sections["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
                                       {"type": "RLIMIT_CORE", "soft": 0, "hard": "unlimited"},
                                       {"type": "RLIMIT_STACK", "soft": "unlimited", "hard": "unlimited"}]


@pytest.mark.parametrize("section, expected", [
    ([{"type": "NOFILEZ", "soft": 1, "hard": 1}], "$.rlimits[0].type: unknown limit 'NOFILEZ'"),
    ([{"type": "NOFILE", "soft": -5, "hard": 1}], "$.rlimits[0].soft: expected a number"),
    ([{"type": "NOFILE", "soft": "lots", "hard": 1}], "$.rlimits[0].soft: expected a number"),
    ([{"type": "NOFILE", "soft": 1}], "$.rlimits[0]"),
    ([{"type": "NOFILE", "soft": 8, "hard": 4}], "$.rlimits[0].soft: RLIMIT_NOFILE soft limit 8 is above its hard limit 4"),
    ([{"type": "NOFILE", "soft": "unlimited", "hard": 4}], "$.rlimits[0].soft: RLIMIT_NOFILE soft limit unlimited is above"),
    ([{"type": "CPU", "soft": 1, "hard": 1}, {"type": "cpu", "soft": 2, "hard": 2}],
     "$.rlimits[1].type: RLIMIT_CPU is already set by $.rlimits[0]"),
    ({"NOFILE": 1}, "$.rlimits"),
])
def test_bad_limits_are_named_with_their_path(section, expected):
    found = problems(section)
    assert any(p.startswith(expected) for p in found), found


def test_soft_at_most_hard_is_accepted():
    """Twin: equal, lower, and unlimited hard limits are fine."""
    cfg = load([{"type": "NOFILE", "soft": 4, "hard": 4}, {"type": "CPU", "soft": 1, "hard": "unlimited"}])
    assert cfg.sections["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 4, "hard": 4},
                                       {"type": "RLIMIT_CPU", "soft": 1, "hard": "unlimited"}]


# -- installed, as a third party's plugin is -----------------------------------------------

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[3] / "sample_configs"


def nsinit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nsinit", *args], capture_output=True, text=True, timeout=60)


def test_nsinit_plugins_and_config_schema_include_rlimits():
    listed = nsinit("plugins")
    assert listed.returncode == 0 and "rlimits" in listed.stdout, listed.stdout + listed.stderr
    schema = json.loads(nsinit("config", "schema").stdout)
    assert "rlimits" in schema["properties"]
    assert "rlimits plugin" in schema["properties"]["rlimits"]["description"]


def test_the_sample_in_yaml_converts_to_the_sample_in_json():
    assert nsinit("config", "validate", str(SAMPLES / "rlimits.json")).returncode == 0
    converted = nsinit("config", "convert", str(SAMPLES / "rlimits.yaml"), "--to", "json")
    assert converted.returncode == 0, converted.stderr
    assert json.loads(converted.stdout) == json.loads((SAMPLES / "rlimits.json").read_text())
