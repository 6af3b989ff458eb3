"""The OCI-shaped core keys without root: mount options, default_mounts, masked and read-only paths,
root propagation, domainname, umask, additional gids; the cgroup hierarchies a cgroup mount shows."""

from __future__ import annotations

import os
import stat

import pytest

from libcontainer import mountopts
from libcontainer import syscalls as sc
from libcontainer.config import Config, Mount
from libcontainer.configfile import parse_config
from libcontainer.core_plugin import parse_umask
from libcontainer.errors import ConfigError
from libcontainer.plugins import get_plugin_manager
from libcontainer.rootfs import _options_of, cgroup_hierarchies, copy_tree
from libcontainer.user import resolve_user


@pytest.fixture(scope="module")
def plugins():
    return get_plugin_manager()


def problems(doc, plugins):
    with pytest.raises(ConfigError) as e:
        parse_config(doc, "c.json", plugins)
    return str(e.value).splitlines()


NS = {"NEWNS": True, "NEWUTS": True, "NEWPID": True}


# -- option strings ---------------------------------------------------------------------


def test_flags_fold_in_order_and_a_later_option_wins():
    opts = mountopts.parse_options(["ro", "nosuid", "nodev", "rw", "noexec"])
    assert opts.flags == sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
    assert opts.cleared == sc.MS_RDONLY  # rw says so: a bind remount drops the source's ro


def test_one_access_time_option_replaces_the_others():
    opts = mountopts.parse_options(["noatime", "strictatime"])
    assert opts.flags == sc.MS_STRICTATIME and opts.atime_given
    assert not mountopts.parse_options(["nosuid"]).atime_given


@pytest.mark.parametrize("option, propagation", [
    ("private", sc.MS_PRIVATE), ("rprivate", sc.MS_PRIVATE | sc.MS_REC), ("slave", sc.MS_SLAVE),
    ("rslave", sc.MS_SLAVE | sc.MS_REC), ("shared", sc.MS_SHARED), ("rshared", sc.MS_SHARED | sc.MS_REC),
    ("unbindable", sc.MS_UNBINDABLE), ("runbindable", sc.MS_UNBINDABLE | sc.MS_REC),
])
def test_propagation_options(option, propagation):
    assert mountopts.parse_options(["rbind", option]).propagation == propagation


def test_recursive_attributes_go_to_mount_setattr():
    opts = mountopts.parse_options(["rro", "rnosuid", "rnoatime", "rrelatime"])
    assert opts.attr_set == sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_RELATIME
    assert opts.attr_clr == sc.MOUNT_ATTR__ATIME


def test_bind_rbind_tmpcopyup_and_filesystem_data():
    assert mountopts.parse_options(["bind"]).bind and not mountopts.parse_options(["bind"]).recursive
    assert mountopts.parse_options(["rbind"]).recursive
    opts = mountopts.parse_options(["nosuid", "size=64m", "tmpcopyup", "mode=1777"])
    assert opts.tmpcopyup and opts.data == ("size=64m", "mode=1777") and opts.flags == sc.MS_NOSUID


def test_the_libcontainer_form_of_a_bind_is_rbind_read_only_and_slave():
    legacy = _options_of(Mount(type="bind", source="/a", destination="/b"))
    assert (legacy.recursive, legacy.flags, legacy.propagation) == (True, sc.MS_RDONLY, sc.MS_SLAVE | sc.MS_REC)
    writable = _options_of(Mount(type="bind", source="/a", destination="/b", writable=True, private=True))
    assert (writable.flags, writable.propagation) == (0, sc.MS_PRIVATE | sc.MS_REC)
    oci = _options_of(Mount(type="bind", source="/a", destination="/b", options=["nosuid"]))
    assert oci.bind and not oci.recursive and oci.propagation == 0  # read-write, its propagation kept


@pytest.mark.parametrize("option, message", [
    ("remount", "remounting one is not supported"),
    ("idmap", "id-mapped mounts are not supported"),
    ("size=1m,mode=755", "one option per string"),
    ("mand", "mandatory locking is gone"),
])
def test_options_refused_with_their_reason(plugins, option, message):
    found = problems({"namespaces": NS, "mounts": [{"type": "tmpfs", "destination": "/t", "options": [option]}]},
                     plugins)
    assert len(found) == 1 and found[0].startswith("c.json: $.mounts[0].options[0]: ") and message in found[0]


def test_options_and_the_libcontainer_fields_are_not_mixed(plugins):
    assert problems({"mounts": [{"source": "/a", "destination": "/b", "writable": True, "options": ["ro"]}]},
                    plugins) == ["c.json: $.mounts[0].writable: give either options or writable, not both (options "
                                 "say ro/rw and the propagation)"]


def test_a_bind_mount_takes_no_filesystem_options(plugins):
    assert problems({"mounts": [{"source": "/a", "destination": "/b", "options": ["rbind", "size=1m"]}]},
                    plugins) == ["c.json: $.mounts[0].options[1]: 'size=1m' is no mount flag, and a bind mount "
                                 "takes no filesystem options"]


def test_tmpcopyup_is_for_tmpfs_only(plugins):
    assert problems({"mounts": [{"source": "/a", "destination": "/b", "options": ["tmpcopyup"]}]}, plugins) == [
        "c.json: $.mounts[0].options[0]: 'tmpcopyup' applies to tmpfs mounts only"]


def test_proc_is_mounted_on_proc_only(plugins):
    assert problems({"default_mounts": False, "namespaces": NS,
                     "mounts": [{"type": "proc", "destination": "/mnt/proc"}]}, plugins) == [
        "c.json: $.mounts[0].destination: proc can only be mounted on /proc, not /mnt/proc (a procfs elsewhere "
        "would escape the masks)"]


def test_proc_sys_dev_in_the_list_need_default_mounts_false(plugins):
    doc = {"namespaces": NS, "mounts": [{"type": "proc", "destination": "/proc"},
                                        {"type": "tmpfs", "destination": "/dev/"}]}
    assert problems(doc, plugins) == [
        f"c.json: $.mounts[{i}].destination: mounting over {d} is not allowed: the engine mounts it (set "
        "default_mounts to false to list /proc, /sys and /dev yourself)" for i, d in enumerate(["/proc", "/dev"])]
    config = parse_config({**doc, "default_mounts": False}, "c.json", plugins)
    assert not config.mounts_defaults and [m.type for m in config.mounts] == ["proc", "tmpfs"]


def test_every_mount_type_and_option_is_accepted_and_written_back(plugins):
    mounts = [{"type": t, "source": t, "destination": f"/m/{t}", "options": ["nosuid", "rprivate"]}
              for t in ("tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup")]
    mounts[1]["destination"] = "/proc"
    mounts.append({"type": "bind", "source": "/srv", "destination": "/srv", "options": ["rbind", "rro"]})
    config = parse_config({"namespaces": NS, "default_mounts": False, "mounts": mounts}, "c.json", plugins)
    assert config.to_dict()["mounts"] == mounts


# -- the other keys ----------------------------------------------------------------------


@pytest.mark.parametrize("value, mask", [(18, 0o022), ("022", 0o022), ("0o77", 0o077), ("0", 0), (0o777, 0o777)])
def test_umask_forms(value, mask):
    assert parse_umask(value) == mask


@pytest.mark.parametrize("value", ["999", 512, -1, True, "", "u=rwx"])
def test_bad_umask_names_the_forms(value):
    with pytest.raises(ValueError, match='an integer 0..511 .* or an octal string such as "022"'):
        parse_umask(value)


def test_new_keys_round_trip(plugins):
    doc = {"namespaces": NS, "hostname": "h", "domainname": "example.test", "umask": "027",
           "additional_gids": [44, 4242], "masked_paths": ["/proc/kcore"], "readonly_paths": ["/proc/sys"],
           "rootfs_propagation": "rslave", "default_mounts": True}
    config = parse_config(doc, "c.json", plugins)
    assert (config.umask, config.additional_gids, config.domainname) == (0o027, [44, 4242], "example.test")
    assert config.restricted  # paths to mask: the restrictions step runs
    assert Config.from_dict(config.to_dict()).to_dict() == config.to_dict() == {**doc, "umask": 0o027}


def test_bad_new_keys_each_name_their_path(plugins):
    found = problems({"namespaces": {"NEWNS": True}, "additional_gids": [-1], "masked_paths": ["proc/kcore"],
                      "rootfs_propagation": "sideways", "domainname": "d" * 65}, plugins)
    assert [line.split(": ")[1] for line in found] == [
        "$.additional_gids[0]", "$.masked_paths[0]", "$.rootfs_propagation", "$.domainname"]


def test_domainname_needs_a_uts_namespace(plugins):
    assert problems({"namespaces": {"NEWNS": True}, "domainname": "d"}, plugins) == [
        "c.json: $.domainname: unable to set domainname without a private UTS namespace (add NEWUTS: true to "
        "namespaces)"]


def test_masked_paths_need_a_mount_namespace(plugins):
    assert problems({"namespaces": {"NEWUTS": True}, "masked_paths": ["/proc/kcore"]}, plugins) == [
        "c.json: $.masked_paths: needs a new mount namespace (add NEWNS: true to namespaces): without one "
        "nothing is mounted"]


def test_a_private_root_cannot_be_moved_without_pivot_root(plugins):
    assert problems({"namespaces": NS, "no_pivot_root": True, "rootfs_propagation": "private"}, plugins) == [
        "c.json: $.rootfs_propagation: private cannot be used with no_pivot_root, which moves the rootfs over a "
        "slave '/'"]


def test_additional_gids_follow_the_groups_of_etc_group(tmp_path):
    (tmp_path / "passwd").write_text("user:x:1000:1000::/home/user:/bin/sh\n")
    (tmp_path / "group").write_text("video:x:44:user\n")
    user = resolve_user("1000:1000", str(tmp_path / "passwd"), str(tmp_path / "group"),
                        additional_gids=[44, 4242, 1000])
    assert user.groups == [44, 4242, 1000]  # 44 once; the primary gid may be listed too, as OCI allows


# -- cgroup mounts ------------------------------------------------------------------------

V1_MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 27 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
32 30 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
33 30 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
34 30 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
"""
V1_CGROUP = "4:memory:/box/c1\n3:cpu,cpuacct:/box/c1\n2:name=systemd:/\n0::/\n"


def test_a_v1_host_shows_each_hierarchy_by_its_mount_name_and_the_containers_directory():
    found = cgroup_hierarchies(V1_MOUNTINFO, V1_CGROUP)
    assert [(h.name, h.fstype, h.options, h.host_dir) for h in found] == [
        ("memory", "cgroup", "memory", "/sys/fs/cgroup/memory/box/c1"),
        ("cpu,cpuacct", "cgroup", "cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/box/c1"),
        ("systemd", "cgroup", "name=systemd", "/sys/fs/cgroup/systemd"),
        ("unified", "cgroup2", "", "/sys/fs/cgroup/unified"),
    ]


def test_a_cgroup2_host_has_one_hierarchy():
    found = cgroup_hierarchies("40 27 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n", "0::/ns/c1\n")
    assert [(h.name, h.fstype, h.host_dir) for h in found] == [("cgroup", "cgroup2", "/sys/fs/cgroup/ns/c1")]


def test_a_cgroup_outside_the_mounts_root_has_no_host_directory():
    """In a cgroup namespace mountinfo roots read /.. ; the container then mounts the hierarchy anew."""
    found = cgroup_hierarchies("41 27 0:32 /.. /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", "4:memory:/\n")
    assert found[0].host_dir is None


# -- tmpcopyup's copy -----------------------------------------------------------------------


def test_copy_tree_keeps_links_as_links_and_modes(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d").mkdir(parents=True)
    dst.mkdir()
    (src / "d" / "f").write_text("data")
    os.chmod(src / "d" / "f", 0o640)
    os.symlink("/etc/shadow", src / "link")  # copied as a link, never read through
    os.mkfifo(src / "fifo")
    a, b = os.open(src, os.O_RDONLY | os.O_DIRECTORY), os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        copy_tree(a, b)
    finally:
        os.close(a)
        os.close(b)
    assert (dst / "d" / "f").read_text() == "data"
    assert stat.S_IMODE(os.stat(dst / "d" / "f").st_mode) == 0o640
    assert os.readlink(dst / "link") == "/etc/shadow"
    assert stat.S_ISFIFO(os.lstat(dst / "fifo").st_mode)
