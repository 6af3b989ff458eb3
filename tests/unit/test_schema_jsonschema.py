"""The exported schema is JSON Schema 2020-12, and the `jsonschema` package agrees with our validator on it.

``jsonschema`` is a test dependency only.  It does not know libcontainer's
formats (``capability``, ``bytes``, ``cidr`` ...), which JSON Schema treats as
annotations: a value that only a format refuses is valid to it and invalid to
us, and is listed apart.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from libcontainer.configfile import load_document
from libcontainer.plugins import get_plugin_manager
from libcontainer.validate import validate
from nsinit.cli import app

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "sample_configs").glob("*.*"))


@pytest.fixture(scope="module")
def exported() -> dict:
    """What `nsinit config schema` prints."""
    result = CliRunner().invoke(app, ["config", "schema"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def formats() -> dict:
    return get_plugin_manager().formats


def theirs(doc, schema) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(doc)


def ours(doc, schema, formats) -> bool:
    return validate(doc, schema, formats)[1] == []


def test_the_exported_schema_is_a_valid_2020_12_schema(exported):
    assert exported["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert jsonschema.validators.validator_for(exported) is jsonschema.Draft202012Validator
    jsonschema.Draft202012Validator.check_schema(exported)


def test_a_schema_that_is_not_2020_12_is_told_apart():
    """Twin: check_schema does refuse a malformed schema."""
    with pytest.raises(jsonschema.SchemaError):
        jsonschema.Draft202012Validator.check_schema({"type": "object", "properties": {"a": {"type": "strnig"}}})


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_both_validators_accept_every_sample(sample, exported, formats):
    doc = load_document(sample)
    assert theirs(doc, exported)
    assert ours(doc, exported, formats)


BAD = {
    "a type error at the top": {"hostname": 5},
    "a string for a boolean": {"tty": "yes"},
    "a string for a list": {"environment": "A=1"},
    "an unknown top-level key": {"hostnme": "box"},
    "an unknown key in a mount": {"mounts": [{"destination": "/a", "bogus": 1}]},
    "an unknown key in a cgroup": {"cgroups": {"name": "x", "memroy": 1}},
    "a bad mount type": {"mounts": [{"type": "nfs", "destination": "/a"}]},
    "a bad device rule type": {"cgroups": {"allowed_devices": [{"type": 120}]}},
    "a user with a space": {"user": "a b"},
    "permissions outside rwm": {"device_nodes": [{"path": "/dev/x", "cgroup_permissions": "rwx"}]},
    "a hostname too long": {"hostname": "h" * 65},
    "an mtu too large": {"networks": [{"type": "veth", "mtu": 70000}]},
    "a network without a type": {"networks": [{"address": "198.18.0.2/24"}]},
    "an id map of size 0": {"uid_mappings": [{"container_id": 0, "host_id": 0, "size": 0}]},
    "a number for a namespace": {"namespaces": {"NEWNET": 1}},
    "a number for a capability": {"capabilities": [5]},
    "a seccomp filter without its default": {"seccomp": {}},
    "an rlimit without its hard value": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1}]},
    "a route with an unknown key": {"routes": [{"destination": "0.0.0.0/0", "via": "x"}]},
    "a boolean for an integer": {"uid_mappings": [{"container_id": True, "host_id": 0, "size": 1}]},
}


@pytest.mark.parametrize("doc", BAD.values(), ids=BAD.keys())
def test_both_validators_refuse_every_bad_config(doc, exported, formats):
    assert not theirs(doc, exported)
    assert not ours(doc, exported, formats)


# Refused only by one of libcontainer's formats: JSON Schema leaves unknown formats unchecked.
ONLY_A_FORMAT = {
    "an unknown capability": {"capabilities": ["FLY"]},
    "a relative working_dir": {"working_dir": "relative"},
    "a size that is no size": {"cgroups": {"memory": "lots"}},
    "an address without a prefix": {"networks": [{"type": "veth", "address": "198.18.0.2"}]},
    "an unknown namespace": {"namespaces": {"NEWPIG": True}},
}


@pytest.mark.parametrize("doc", ONLY_A_FORMAT.values(), ids=ONLY_A_FORMAT.keys())
def test_a_value_only_a_format_refuses_is_valid_to_jsonschema_and_not_to_us(doc, exported, formats):
    assert theirs(doc, exported)
    assert not ours(doc, exported, formats)
