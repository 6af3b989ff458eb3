"""The layer key without root: sizes normalised, what cannot work named with its JSON path, the refusals' words."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

import libcontainer_layer
from libcontainer.configfile import parse_config
from libcontainer.errors import ConfigError, ContainerError
from libcontainer.plugins import get_plugin_manager
from libcontainer.syscalls import RecordingSyscalls
from libcontainer_layer import layer as L

NEWNS = {"NEWNS": True, "NEWPID": True}


def load(section, namespaces=NEWNS):
    import libcontainer_namespaces

    plugins = get_plugin_manager(extra=[("layer", libcontainer_layer), ("namespaces", libcontainer_namespaces)],
                                 entry_points=False)
    doc = {"layer": section} if namespaces is None else {"layer": section, "namespaces": namespaces}
    return parse_config(doc, "<test>", plugins)


def problems(section, namespaces=NEWNS) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(section, namespaces)
    return [f"{p.path}: {p.message}" for p in info.value.problems]


def test_an_empty_layer_gets_the_default_size_and_inodes():
    cfg = load({})
    assert cfg.sections["layer"] == {}
    assert L.layer_of(cfg.sections["layer"]) == L.Layer(size=64 << 20, inodes=(64 << 20) // 4096)


@pytest.mark.parametrize("size, expected", [("64M", 64 << 20), ("1.5G", 3 << 29), ("100MiB", 100 << 20),
                                            (1048576, 1 << 20), ("4k", 4096)])
def test_human_sizes_are_written_back_in_bytes(size, expected):
    cfg = load({"size": size})
    assert cfg.sections["layer"]["size"] == expected
    assert L.layer_of(cfg.sections["layer"]).size == expected


def test_inodes_default_to_one_per_page_and_never_below_the_floor():
    assert L.layer_of({"size": 1 << 30}).inodes == (1 << 30) // 4096
    assert L.layer_of({"size": 4096}).inodes == L.MIN_INODES
    assert L.layer_of({"size": 4096, "inodes": 20}).inodes == 20
    assert L.Layer(size=1 << 20, inodes=300).tmpfs_options() == "size=1048576,nr_inodes=300,mode=0700"


@pytest.mark.parametrize("section, expected", [
    ({"size": "lots"}, "$.layer.size: expected an integer number of bytes or a string such as"),
    ({"size": "64Q"}, "$.layer.size: expected an integer number of bytes"),
    ({"size": 0}, "$.layer.size: "),
    ({"size": -1}, "$.layer.size: "),
    ({"size": True}, "$.layer.size: "),
    ({"inodes": 0}, "$.layer.inodes: "),
    ({"inodes": "many"}, "$.layer.inodes: "),
    ({"sise": "64M"}, "$.layer"),
    ("64M", "$.layer"),
])
def test_a_bad_layer_is_named_with_its_path(section, expected):
    found = problems(section)
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize("namespaces, expected", [
    ({"NEWPID": True}, "$.layer: the layer needs a new mount namespace"),
    ({"NEWNS": False, "NEWPID": True}, "$.layer: the layer needs a new mount namespace"),
    (None, "$.layer: the layer needs a new mount namespace"),
    ({"NEWNS": "/proc/1/ns/mnt"}, "$.layer: the layer is mounted in a new mount namespace, not in one joined"),
])
def test_a_layer_without_a_new_mount_namespace_is_refused(namespaces, expected):
    found = problems({}, namespaces)
    assert len(found) == 1 and found[0].startswith(expected) and "NEWNS: true" in found[0], found


def test_a_layer_with_a_new_mount_namespace_spelled_otherwise_is_accepted():
    """Twin: "mnt" is the namespaces plugin's alias of NEWNS."""
    assert load({}, {"mnt": True}).sections["namespaces"] == {"NEWNS": True}


# -- the mounts, against the recording kernel door ---------------------------------------


class Door(RecordingSyscalls):
    """A recording door whose statfs says what the test wants (RecordingSyscalls returns 0 for everything)."""

    def __init__(self, magic: int = 0) -> None:
        super().__init__()
        self.magic = magic

    def fs_magic(self, path: str) -> int:
        self.calls.append(("fs_magic", (path,)))
        return self.magic


def test_nothing_is_written_to_the_image_when_the_tmpfs_is_not_where_it_was_mounted(tmp_path):
    """The recording door mounts nothing: the rootfs still leads to the image, which must stay as it was."""
    image = tmp_path / "image"
    image.mkdir()
    door = Door(magic=L.TMPFS_MAGIC)  # says tmpfs; the device number still says otherwise
    with pytest.raises(ContainerError) as info:
        L.mount_layer(door, str(image), L.Layer(size=1 << 20, inodes=256))
    assert "no longer leads to the tmpfs just mounted on it" in str(info.value)
    assert os.listdir(image) == []
    (first, (src, target, fstype, flags, data, *_)), (second, args) = door.calls[:2]
    assert (first, src, target, fstype, flags) == ("mount", None, "/", None, L.sc.MS_SLAVE | L.sc.MS_REC)
    assert second == "mount" and args[2] == "tmpfs" and args[4] == "size=1048576,nr_inodes=256,mode=0700"
    assert args[1].startswith("/proc/self/fd/")
    assert "overlay" not in [a[2] for op, a in door.calls if op == "mount"]


def test_the_hosts_root_is_refused_as_a_rootfs_before_any_mount():
    door = Door()
    with pytest.raises(ContainerError, match="the rootfs is the host's \"/\""):
        L.mount_layer(door, "/", L.Layer(size=1 << 20, inodes=256))
    assert door.calls == []


def test_a_tmpfs_the_kernel_refuses_is_one_line_naming_the_rootfs(tmp_path):
    door = Door()
    door.fail("mount", errno.EPERM, match="tmpfs")
    with pytest.raises(ContainerError) as info:
        L.mount_layer(door, str(tmp_path), L.Layer(size=1 << 20, inodes=256))
    assert str(info.value) == f"layer: mounting a tmpfs on {tmp_path}: Operation not permitted"


def test_overlay_options_use_userxattr_only_in_a_user_namespace():
    plain = L.overlay_options("/proc/self/fd/5", "/proc/self/fd/6", userxattr=False)
    assert plain == "lowerdir=/proc/self/fd/5,upperdir=/proc/self/fd/6/upper,workdir=/proc/self/fd/6/work"
    assert L.overlay_options("/proc/self/fd/5", "/proc/self/fd/6", userxattr=True) == plain + ",userxattr"


@pytest.mark.parametrize("err, on_overlay, userns, kernel, expected", [
    (errno.EINVAL, True, False, (6, 1),
     "/img is itself on an overlay, and the kernel stacks overlays at most two deep"),
    (errno.ENODEV, False, False, (6, 1), "this kernel has no overlay filesystem"),
    (errno.EPERM, False, True, (5, 10), "an overlay in a user namespace needs Linux 5.11 or later"),
    (errno.EPERM, False, True, (6, 1), None),
    (errno.EINVAL, False, False, (6, 1), None),
])
def test_why_the_kernel_refused_an_overlay_is_said_when_known(monkeypatch, err, on_overlay, userns, kernel, expected):
    monkeypatch.setattr(L, "kernel_release", lambda: kernel)
    text = L.overlay_refusal(err, "/img", on_overlay, userns)
    assert text.startswith(f"the kernel refused an overlay over /img: {os.strerror(err)}")
    assert "\n" not in text
    if expected:
        assert text.endswith(expected) or expected in text
    else:
        assert text == f"the kernel refused an overlay over /img: {os.strerror(err)}"


def test_this_process_is_in_the_initial_user_namespace():
    """The test runner is not in a user namespace of its own (the privileged tests cover the other case)."""
    with open("/proc/self/uid_map") as f:
        initial = f.read().split() == ["0", "0", "4294967295"]
    assert L.in_initial_user_namespace() is initial


# -- installed, as a third party's plugin is -----------------------------------------------


def nsinit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nsinit", *args], capture_output=True, text=True, timeout=60)


def test_nsinit_plugins_and_config_schema_include_layer():
    listed = nsinit("plugins")
    assert listed.returncode == 0 and "layer" in listed.stdout, listed.stdout + listed.stderr
    schema = json.loads(nsinit("config", "schema").stdout)
    assert "layer plugin" in schema["properties"]["layer"]["title"]


def test_nsinit_config_validate_names_a_bad_size_in_one_line(tmp_path):
    path = tmp_path / "container.json"
    path.write_text(json.dumps({"namespaces": NEWNS, "layer": {"size": "lots"}}))
    r = nsinit("config", "validate", str(path))
    assert r.returncode == 1
    assert r.stdout == f"{path}: $.layer.size: expected an integer number of bytes or a string such as \"512M\", " \
                       "\"1.5G\", \"64k\" or \"100MiB\", got 'lots'\n", r.stdout + r.stderr
