"""Random documents, text and bytes never make the config loader raise anything but ConfigError."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libcontainer.config import Config
from libcontainer.configfile import dump, load_config, parse_config
from libcontainer.errors import ConfigError

SAMPLES = Path(__file__).resolve().parents[2] / "sample_configs"
KEYS = [
    "hostname", "rootfs", "readonly_fs", "no_pivot_root", "user", "working_dir", "environment", "tty", "context",
    "mounts", "device_nodes", "capabilities", "namespaces", "cgroups", "networks", "routes",
    "type", "source", "destination", "path", "major_number", "minor_number", "file_mode", "memory", "NEWPID",
]
FUZZ = settings(max_examples=int(os.environ.get("CONFIG_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["/dev/null", "/", "c", "b", "512M", "A=1", "bind", "tmpfs", "chown", "newpid", "..", "/dev/.."])
)
keys = st.sampled_from(KEYS) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=30,
)
documents = st.dictionaries(keys, json_values, max_size=8)


def _sample_mutations():
    """The samples with one top-level value replaced by a random one."""
    base = json.loads((SAMPLES / "attach_to_bridge.json").read_text())
    return st.tuples(st.sampled_from(sorted(base)), json_values).map(lambda kv: {**base, kv[0]: kv[1]})


def _load_text(suffix: str, data: bytes, plugins) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"container{suffix}"
        path.write_bytes(data)
        try:
            load_config(path, plugins)
        except ConfigError:
            pass


@FUZZ
@given(doc=documents | _sample_mutations())
def test_random_documents_give_a_config_or_a_config_error(doc, fake_plugins):
    try:
        cfg = parse_config(doc, "fuzz.json", fake_plugins)
    except ConfigError as e:
        assert e.problems and all(p.path.startswith("$") for p in e.problems)
        return
    # Whatever is accepted is canonical: dumping and loading it again changes nothing.
    canonical = cfg.to_dict()
    assert Config.from_dict(canonical).to_dict() == canonical
    assert parse_config(json.loads(dump(cfg)), "again.json", fake_plugins).to_dict() == canonical


@FUZZ
@given(text=st.text(max_size=300), suffix=st.sampled_from([".json", ".yaml", ""]))
def test_random_text_gives_only_config_errors(text, suffix, fake_plugins):
    _load_text(suffix, text.encode("utf-8", "surrogatepass"), fake_plugins)


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".json", ".yaml", ""]))
def test_random_bytes_give_only_config_errors(data, suffix, fake_plugins):
    _load_text(suffix, data, fake_plugins)


@FUZZ
@given(doc=documents)
def test_random_yaml_of_random_documents_gives_only_config_errors(doc, fake_plugins):
    _load_text(".yaml", dump(doc, "yaml").encode(), fake_plugins)
