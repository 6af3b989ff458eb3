"""The core keys: their formats (sizes, paths, environment, devices) and cross-field checks."""

from __future__ import annotations

from dataclasses import fields

import pytest

from libcontainer.config import CORE_KEYS, Config, Context, DeviceNode, Mount
from libcontainer.configfile import parse_config
from libcontainer.core_plugin import (
    CORE_SCHEMA,
    MOUNT_SCHEMA,
    device_schema,
    parse_absolute_path,
    parse_bytes,
    parse_device_type,
    parse_env_entry,
    parse_file_mode,
)
from libcontainer.errors import ConfigError


def problems(doc, plugins):
    with pytest.raises(ConfigError) as e:
        parse_config(doc, "c.json", plugins)
    return str(e.value).splitlines()


@pytest.mark.parametrize(
    "text, size",
    [
        (536870912, 536870912),
        (-1, -1),
        ("512M", 512 << 20),
        ("512m", 512 << 20),
        ("1.5G", 3 << 29),
        ("64k", 64 << 10),
        ("100MiB", 100 << 20),
        ("2GB", 2 << 30),
        ("4096", 4096),
        ("1 K", 1024),
        ("0.5k", 512),
    ],
)
def test_sizes_become_bytes(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["lots", "12X", "-5M", "1.2.3G", "M", "", "1e9", True, [1], "١٢M"])
def test_bad_size_names_the_accepted_forms(text):
    with pytest.raises(ValueError, match='"512M", "1.5G", "64k" or "100MiB"'):
        parse_bytes(text)


def test_bad_size_in_a_config_is_reported_at_its_path(fake_plugins):
    assert problems({"cgroups": {"memory": "lots"}}, fake_plugins) == [
        'c.json: $.cgroups.memory: expected an integer number of bytes or a string such as "512M", "1.5G", '
        "\"64k\" or \"100MiB\", got 'lots'"
    ]


def test_size_in_a_config_is_normalised_to_bytes(fake_plugins):
    assert parse_config({"cgroups": {"memory": "512M"}}, "c", fake_plugins).section("cgroups") == {"memory": 536870912}


@pytest.mark.parametrize("path", ["/", "/dev/null", "/a/./b", "/a//b/"])
def test_absolute_paths_are_kept_as_written(path):
    assert parse_absolute_path(path) == path


@pytest.mark.parametrize(
    "path, why",
    [("dev/null", "absolute"), ("", "absolute"), ("/a/../b", "'..'"), ("/..", "'..'"), ("/a\0b", "NUL"), (5, "absolute")],
)
def test_bad_paths_are_refused_with_the_reason(path, why):
    with pytest.raises(ValueError, match=why):
        parse_absolute_path(path)


@pytest.mark.parametrize("entry", ["A=1", "PATH=/bin:/usr/bin", "EMPTY=", "X==y"])
def test_env_entries(entry):
    assert parse_env_entry(entry) == entry


@pytest.mark.parametrize("entry", ["NOVALUE", "=value", "A=\0"])
def test_bad_env_entries_are_refused(entry):
    with pytest.raises(ValueError):
        parse_env_entry(entry)


def test_device_type_letters_become_libcontainer_ints():
    assert [parse_device_type(v) for v in ("c", "b", "C", 99, 98)] == [99, 98, 99, 99, 98]


@pytest.mark.parametrize("value", ["x", 97, True, "char"])
def test_bad_device_type_lists_the_valid_ones(value):
    with pytest.raises(ValueError, match="99 or 'c'"):
        parse_device_type(value)


def test_file_mode_accepts_int_and_octal_strings():
    assert [parse_file_mode(v) for v in (438, "0666", "0o666", "666")] == [438, 438, 438, 438]
    with pytest.raises(ValueError):
        parse_file_mode("0999")
    with pytest.raises(ValueError):
        parse_file_mode(0o10000)


def test_core_schema_describes_exactly_the_core_keys_and_dataclass_fields():
    assert set(CORE_SCHEMA) == set(CORE_KEYS)
    assert set(MOUNT_SCHEMA["properties"]) == {f.name for f in fields(Mount)}
    assert set(device_schema()["properties"]) == {f.name for f in fields(DeviceNode)}
    assert set(CORE_SCHEMA["context"]["properties"]) == {f.name for f in fields(Context)} - {"extra"}


def test_relative_working_dir_is_refused(core_only):
    assert problems({"working_dir": "srv"}, core_only) == [
        "c.json: $.working_dir: expected an absolute path (starting with '/'), got 'srv'"
    ]


def test_absolute_working_dir_is_accepted(core_only):
    assert parse_config({"working_dir": "/srv"}, "c", core_only).cwd == "/srv"


def test_relative_rootfs_is_refused(core_only):
    assert problems({"rootfs": "rootfs"}, core_only) == [
        "c.json: $.rootfs: expected an absolute path (starting with '/'), got 'rootfs'"
    ]


def test_duplicate_environment_key_is_refused(core_only):
    assert problems({"environment": ["HOME=/", "TERM=xterm", "HOME=/root"]}, core_only) == [
        "c.json: $.environment[2]: HOME is set twice (also at [0])"
    ]


def test_environment_entry_without_equals_is_refused(core_only):
    assert problems({"environment": ["HOME"]}, core_only) == [
        "c.json: $.environment[0]: expected \"KEY=value\", got 'HOME'"
    ]


@pytest.mark.parametrize("path", ["/dev/../etc/shadow", "/etc/passwd", "/dev", "/dev/"])
def test_device_node_outside_dev_is_refused(core_only, path):
    found = problems({"device_nodes": [{"path": path, "major_number": 1, "minor_number": 3}]}, core_only)
    assert len(found) == 1 and found[0].startswith("c.json: $.device_nodes[0].path: ")


def test_device_node_under_dev_is_accepted(core_only):
    cfg = parse_config({"device_nodes": [{"path": "/dev/net/tun", "type": "c", "major_number": 10}]}, "c", core_only)
    assert cfg.device_nodes == [DeviceNode(type=99, path="/dev/net/tun", major_number=10)]


def test_device_node_created_twice_is_refused(core_only):
    nodes = [{"path": "/dev/null", "major_number": 1, "minor_number": 3}] * 2
    assert problems({"device_nodes": nodes}, core_only) == [
        "c.json: $.device_nodes[1].path: /dev/null is already created by $.device_nodes[0]"
    ]


def test_bind_mount_without_source_is_refused(core_only):
    assert problems({"mounts": [{"type": "bind", "destination": "/data"}]}, core_only) == [
        "c.json: $.mounts[0]: a bind mount needs a 'source' (the host path to mount at /data)"
    ]


def test_tmpfs_mount_needs_no_source(core_only):
    cfg = parse_config({"mounts": [{"type": "tmpfs", "destination": "/tmp", "data": "size=1m"}]}, "c", core_only)
    assert cfg.mounts == [Mount(type="tmpfs", destination="/tmp", data="size=1m")]


@pytest.mark.parametrize("destination", ["/", "//", "data", "/a/../b"])
def test_bad_mount_destination_is_refused(core_only, destination):
    found = problems({"mounts": [{"source": "/srv", "destination": destination}]}, core_only)
    assert len(found) == 1 and found[0].startswith("c.json: $.mounts[0].destination: ")


def test_mount_type_typo_is_refused_with_the_valid_types(core_only):
    assert problems({"mounts": [{"type": "bnid", "source": "/a", "destination": "/b"}]}, core_only) == [
        "c.json: $.mounts[0].type: expected one of 'bind', 'tmpfs', 'proc', 'sysfs', 'devpts', 'mqueue', "
            "'cgroup'; got 'bnid'; did you mean 'bind'?"
    ]


def test_context_values_are_strings_and_yaml_booleans_become_strings(core_only):
    cfg = parse_config({"context": {"restrictions": True, "apparmor_profile": "x"}}, "c", core_only)
    assert cfg.to_dict() == {"context": {"restrictions": "true", "apparmor_profile": "x"}}
    assert cfg.restricted


def test_namespaces_are_not_checked_by_the_core(core_only):
    assert "namespaces" not in CORE_SCHEMA
    assert problems({"namespaces": {"NEWPID": True}}, core_only)[0].startswith(
        "c.json: $.namespaces: unknown key 'namespaces': no installed plugin owns it"
    )


def test_config_from_valid_core_document_keeps_every_field(core_only):
    doc = {
        "hostname": "box",
        "rootfs": "/srv/box/rootfs",
        "readonly_fs": True,
        "no_pivot_root": False,
        "user": "1000:1000",
        "working_dir": "/home",
        "environment": ["A=1"],
        "tty": False,
        "context": {"mount_label": "", "restrictions": "true"},
        "mounts": [{"type": "bind", "source": "/srv", "destination": "/srv", "writable": True, "private": True}],
        "device_nodes": [{"path": "/dev/null", "type": 99, "major_number": 1, "minor_number": 3, "file_mode": 438,
                          "uid": 0, "gid": 0, "cgroup_permissions": "rwm"}],
    }
    cfg = parse_config(doc, "c", core_only)
    assert isinstance(cfg, Config) and cfg.to_dict() == doc


@pytest.mark.parametrize("user", ["", "a b", "a:b:c", ":0"])
def test_malformed_user_is_refused(core_only, user):
    assert problems({"user": user}, core_only) == [
        f"c.json: $.user: expected a user: \"name\", \"uid\", \"uid:gid\" or \"name:group\", got {user!r}"
    ]
