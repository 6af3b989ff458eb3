"""Scenario 6: the container sees and opens only the devices it was given.

The rootfs is the attacker's: its /dev, and any other directory, may hold
device nodes made on the host (a block device of the host's disk, /dev/kmsg).
The container's /dev is a fresh tmpfs with only the configured nodes, and the
device cgroup (v1) refuses to open or make any node outside the allowed list.
"""

from __future__ import annotations

import os
import stat
import uuid

import pytest

pytestmark = pytest.mark.privileged

# What these tests name on the host (see conftest.py).
RESOURCE_PREFIX = "lcs-a"

# Nodes the engine adds beside the configured ones: mount points and symlinks.
ENGINE_ENTRIES = {"pts", "shm", "mqueue", "ptmx", "fd", "stdin", "stdout", "stderr"}
KMSG = os.makedev(1, 11)  # readable, harmless, and in no allowed list


def node(path: str, major: int, minor: int, kind: int = 99) -> dict:
    return {"path": path, "type": kind, "major_number": major, "minor_number": minor, "file_mode": 0o666}


@pytest.fixture
def planted(container):
    """Device nodes the rootfs brings along: in its /dev and elsewhere."""
    os.mknod(container.path / "dev" / "sda", stat.S_IFBLK | 0o600, os.makedev(8, 0))
    os.mknod(container.path / "dev" / "kmsg", stat.S_IFCHR | 0o600, KMSG)
    (container.path / "opt").mkdir()
    os.mknod(container.path / "opt" / "kmsg", stat.S_IFCHR | 0o600, KMSG)
    return container


def cgroups(**keys) -> dict:
    return {"name": f"lctest-lcs-a-{uuid.uuid4().hex[:8]}", **keys}


def test_only_the_configured_nodes_exist_in_dev(planted):
    planted.write_config(device_nodes=[node("/dev/null", 1, 3), node("/dev/zero", 1, 5), node("/dev/net/tun", 10, 200)])
    r = planted.exec("sh", "-c", "ls -A /dev; ls -A /dev/net")
    assert r.returncode == 0, r.stderr
    names = r.stdout.split()
    assert set(names) == ENGINE_ENTRIES | {"null", "zero", "net", "tun"}, names


def test_without_a_device_list_the_default_nodes_exist(planted):
    """Without device_nodes the defaults are made, and still none of the rootfs's own nodes."""
    planted.write_config()
    r = planted.exec("ls", "-A", "/dev")
    names = set(r.stdout.split())
    assert {"null", "zero", "full", "random", "urandom", "tty"} <= names
    assert not names & {"sda", "kmsg"}


@pytest.mark.needs_host("cgroup-v1")
def test_device_cgroup_refuses_a_node_the_rootfs_planted_elsewhere(planted):
    planted.write_config(cgroups=cgroups())
    r = planted.exec("sh", "-c", "exec 3</opt/kmsg && echo opened")
    assert "opened" not in r.stdout
    assert "Operation not permitted" in r.stderr, r.stderr


def test_without_a_device_cgroup_a_planted_node_opens(planted):
    planted.write_config()
    r = planted.exec("sh", "-c", "exec 3</opt/kmsg && echo opened")
    assert r.stdout.strip() == "opened", r.stderr


@pytest.mark.needs_host("cgroup-v1")
def test_device_cgroup_refuses_a_node_made_inside_the_container(container):
    # mknod itself is allowed by the default list ("m"); opening is not.
    container.write_config(cgroups=cgroups())
    r = container.exec("sh", "-c", "mknod /tmp/sda b 8 0 && echo made; exec 3</tmp/sda && echo opened")
    assert r.stdout.split() == ["made"], (r.stdout, r.stderr)
    assert "Operation not permitted" in r.stderr, r.stderr


@pytest.mark.needs_host("cgroup-v1")
def test_device_cgroup_with_an_allowed_list_refuses_mknod_of_others(container):
    container.write_config(cgroups=cgroups(allowed_devices=[
        {"type": 99, "major_number": 1, "minor_number": 3, "cgroup_permissions": "rwm"},
    ]))
    r = container.exec("sh", "-c", "mknod /tmp/zero c 1 5 && echo made; echo x > /dev/null && echo null-ok")
    assert r.stdout.split() == ["null-ok"], (r.stdout, r.stderr)
    assert "Operation not permitted" in r.stderr, r.stderr


@pytest.mark.needs_host("cgroup-v1")
def test_allowed_device_opens_under_the_device_cgroup(container):
    container.write_config(cgroups=cgroups(allowed_devices=[
        {"type": 99, "major_number": 1, "minor_number": 3, "cgroup_permissions": "rwm"},
        {"type": 99, "major_number": 1, "minor_number": 5, "cgroup_permissions": "rwm"},
    ]))
    r = container.exec("sh", "-c", "mknod /tmp/zero c 1 5 && head -c 3 /tmp/zero | wc -c")
    assert r.stdout.strip() == "3", r.stderr


@pytest.mark.parametrize("path", ["/dev/../x", "/dev/pts/../../etc/x", "/dev/./../root/x"])
def test_device_path_climbing_out_of_dev_is_refused_naming_the_field(container, path):
    container.write_config(device_nodes=[node("/dev/null", 1, 3), node(path, 1, 3)])
    r = container.exec("true")
    assert r.returncode == 125
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "$.device_nodes[1].path" in lines[0] and ".." in lines[0], r.stderr
    assert not (container.path / "x").exists() and not (container.path / "etc" / "x").exists()


@pytest.mark.parametrize("path", ["/x", "/etc/x", "/dev"])
def test_device_path_outside_dev_is_refused_naming_the_field(container, path):
    container.write_config(device_nodes=[node(path, 1, 3)])
    r = container.exec("true")
    assert r.returncode == 125
    assert "$.device_nodes[0].path" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_device_path_under_dev_is_made(container):
    container.write_config(device_nodes=[node("/dev/null", 1, 3), node("/dev/lcs/x", 1, 3)])
    r = container.exec("sh", "-c", "stat -c '%t:%T %F' /dev/lcs/x")
    assert r.stdout.strip() == "1:3 character special file", r.stderr
