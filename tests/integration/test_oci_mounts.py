"""The OCI form of mounts and the process keys through nsinit exec: option strings, every mount type,
default_mounts false, masked and read-only paths, root propagation, domainname, umask, additional gids."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.privileged

NS = {"NEWNS": True, "NEWUTS": True, "NEWIPC": True, "NEWPID": True, "NEWNET": True}
ENV = ["PATH=/bin"]

# What podman and containerd list themselves (the engine mounts none of its own then).
OCI_DEFAULT_MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
]


def run(container, script: str, **keys):
    container.write_config(namespaces=keys.pop("namespaces", NS), environment=ENV, **keys)
    return container.exec("sh", "-c", script)


def mountinfo_of(text: str, point: str) -> tuple[set[str], str]:
    """(per-mount options, optional fields) of the mount at ``point`` in mountinfo text."""
    for line in text.splitlines():
        pre, _, _ = line.partition(" - ")
        fields = pre.split()
        if fields[4] == point:
            return set(fields[5].split(",")), " ".join(fields[6:])
    raise AssertionError(f"{point} is not mounted: {text}")


def start(container, **keys):
    """A container running a shell that ends on SIGTERM (relayed by nsinit): stopped cleanly by stop()."""
    container.write_config(namespaces=keys.pop("namespaces", NS), environment=ENV, **keys)
    first = container.popen("sh", "-c", "trap 'exit 0' TERM; sleep 30 & wait")
    container.wait_running()
    return first


def stop(first) -> None:
    first.terminate()
    first.wait(timeout=20)


@contextlib.contextmanager
def host_mount(*args: str, target: Path):
    """A mount on the host for the test's length (always unmounted, lazily, with what came below it)."""
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", *args, str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-R", "-l", str(target)], capture_output=True)


# -- default_mounts false ------------------------------------------------------------------


def test_without_default_mounts_only_the_list_is_mounted_in_order_with_dev_nodes_and_links(container):
    r = run(container, "cut -d' ' -f2,3 /proc/mounts; ls /dev; readlink /dev/ptmx; readlink /dev/fd; "
                       "echo x > /dev/null && head -c1 /dev/zero | wc -c",
            default_mounts=False, mounts=OCI_DEFAULT_MOUNTS)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1:7] == ["/proc proc", "/dev tmpfs", "/dev/pts devpts", "/dev/shm tmpfs", "/dev/mqueue mqueue",
                          "/sys sysfs"]
    listed = set(lines[7:-3])
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "fd", "stdin", "stdout", "stderr",
            "pts", "shm", "mqueue"} <= listed
    assert lines[-3:] == ["pts/ptmx", "/proc/self/fd", "1"]


def test_with_default_mounts_listing_proc_is_refused_in_one_line(container):
    r = run(container, "true", mounts=OCI_DEFAULT_MOUNTS[:1])
    assert r.returncode == 125
    assert r.stderr.count("\n") == 1 and "$.mounts[0].destination: mounting over /proc is not allowed" in r.stderr


def test_nothing_but_proc_goes_on_or_into_proc_without_default_mounts(container, tmp_path):
    mounts = OCI_DEFAULT_MOUNTS + [{"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs", "options": []}]
    r = run(container, "true", default_mounts=False, mounts=mounts)
    assert r.returncode == 125
    assert r.stderr.strip() == "nsinit: mounts: /proc/sys: only proc may be mounted on /proc, and nothing inside it"


# -- bind mounts -----------------------------------------------------------------------------


def test_bind_options_make_it_read_only_nosuid_noexec(container, tmp_path):
    (tmp_path / "data").mkdir()
    mounts = [{"type": "bind", "source": str(tmp_path / "data"), "destination": "/data",
               "options": ["rbind", "ro", "nosuid", "noexec", "nodev"]}]
    r = run(container, "touch /data/x 2>&1; cat /proc/self/mountinfo", mounts=mounts)
    assert r.returncode == 0, r.stderr
    assert "Read-only file system" in r.stdout
    options, _ = mountinfo_of(r.stdout, "/data")
    assert {"ro", "nosuid", "noexec", "nodev"} <= options


def test_a_bind_without_ro_is_read_write_in_the_oci_form(container, tmp_path):
    (tmp_path / "data").mkdir()
    mounts = [{"type": "bind", "source": str(tmp_path / "data"), "destination": "/data", "options": ["rbind"]}]
    r = run(container, "echo hi > /data/x", mounts=mounts)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data" / "x").read_text() == "hi\n"


def test_rbind_brings_the_submounts_and_bind_does_not(container, tmp_path):
    with host_mount("-t", "tmpfs", "tmpfs", target=tmp_path / "src" / "sub"):
        (tmp_path / "src" / "sub" / "marker").write_text("")
        mounts = [{"type": "bind", "source": str(tmp_path / "src"), "destination": "/r", "options": ["rbind"]},
                  {"type": "bind", "source": str(tmp_path / "src"), "destination": "/b", "options": ["bind"]}]
        r = run(container, "ls /r/sub; echo --; ls /b/sub", mounts=mounts)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["marker", "--"]


def test_rro_makes_every_submount_read_only_and_ro_only_the_top(container, tmp_path):
    with host_mount("-t", "tmpfs", "tmpfs", target=tmp_path / "src" / "sub"):
        mounts = [{"type": "bind", "source": str(tmp_path / "src"), "destination": "/rro",
                   "options": ["rbind", "rro"]},
                  {"type": "bind", "source": str(tmp_path / "src"), "destination": "/ro", "options": ["rbind", "ro"]}]
        r = run(container, "touch /rro/sub/x 2>&1; touch /ro/sub/y && echo ro-sub-writable", mounts=mounts)
    assert r.returncode == 0, r.stderr
    assert "Read-only file system" in r.stdout and "ro-sub-writable" in r.stdout


def test_rslave_receives_the_hosts_later_mounts_and_rprivate_does_not(container, tmp_path):
    with host_mount("-t", "tmpfs", "tmpfs", target=tmp_path / "shared") as shared:
        subprocess.run(["mount", "--make-rshared", str(shared)], check=True)
        # The root slave (runc's default), so that the host's shared mount stays a peer when it is bound.
        first = start(container, rootfs_propagation="rslave", mounts=[
            {"type": "bind", "source": str(shared), "destination": "/slave", "options": ["rbind", "rslave"]},
            {"type": "bind", "source": str(shared), "destination": "/private", "options": ["rbind", "rprivate"]}])
        with host_mount("-t", "tmpfs", "tmpfs", target=shared / "later"):
            (shared / "later" / "marker").write_text("")
            r = container.exec("sh", "-c", "ls /slave/later; echo --; ls /private/later")
        stop(first)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["marker", "--"]


# -- filesystems -----------------------------------------------------------------------------


def test_tmpfs_size_mode_uid_gid_apply(container):
    mounts = [{"type": "tmpfs", "source": "tmpfs", "destination": "/scratch",
               "options": ["nosuid", "nodev", "size=1m", "mode=1770", "uid=1000", "gid=100"]}]
    r = run(container, "stat -c '%a %u %g' /scratch; grep ' /scratch ' /proc/mounts", mounts=mounts)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "1770 1000 100"
    assert "size=1024k" in lines[1] and "nosuid" in lines[1] and "nodev" in lines[1]


def test_tmpcopyup_starts_the_tmpfs_with_the_directorys_content(container):
    (container.path / "etc" / "sub").mkdir()
    (container.path / "etc" / "sub" / "f").write_text("kept\n")
    mounts = [{"type": "tmpfs", "source": "tmpfs", "destination": "/etc", "options": ["tmpcopyup", "size=4m"]}]
    r = run(container, "cat /etc/sub/f; head -1 /etc/passwd; echo new > /etc/added; grep ' /etc ' /proc/mounts",
            mounts=mounts)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:2] == ["kept", "root:x:0:0:root:/root:/bin/sh"]
    assert "tmpfs" in r.stdout.splitlines()[2]
    assert not (container.path / "etc" / "added").exists()  # written to the tmpfs, not the rootfs


def test_a_tmpfs_destination_through_a_symlink_stays_in_the_rootfs(container, tmp_path):
    os.symlink("../../../../../../../" + str(tmp_path / "outside").lstrip("/"), container.path / "escape")
    mounts = [{"type": "tmpfs", "source": "tmpfs", "destination": "/escape/t", "options": ["size=1m"]}]
    r = run(container, "grep -c ' /escape' /proc/mounts || true", mounts=mounts)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "outside").exists()  # the directories were made inside the rootfs


@pytest.mark.needs_host("cgroup-v1")
def test_a_cgroup_mount_on_v1_shows_the_containers_own_cgroups_read_only(container):
    mounts = [{"type": "cgroup", "source": "cgroup", "destination": "/sys/fs/cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}]
    r = run(container, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; "
                       "sh -c 'echo 1 > /sys/fs/cgroup/pids/pids.max' 2>&1; grep -c ' /sys/fs/cgroup/' /proc/mounts",
            cgroups={"memory": "64M", "pids_limit": 77}, mounts=mounts)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == ["67108864", "77"]
    assert "Read-only file system" in lines[2]
    assert int(lines[3]) >= 2


@pytest.mark.needs_host("cgroup-v1")
def test_a_cgroup_mount_in_a_cgroup_namespace_mounts_each_hierarchy_at_the_containers_cgroup(container):
    mounts = [{"type": "cgroup", "source": "cgroup", "destination": "/sys/fs/cgroup", "options": ["ro"]}]
    r = run(container, "cat /sys/fs/cgroup/pids/pids.max /proc/self/cgroup",
            namespaces={**NS, "NEWCGROUP": True}, cgroups={"pids_limit": 66}, mounts=mounts)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "66"
    assert any(line.endswith(":pids:/") for line in lines)


# -- masked and read-only paths, root propagation --------------------------------------------


def test_masked_and_readonly_paths_of_the_config_replace_the_fixed_lists(container):
    (container.path / "srv").mkdir()
    (container.path / "srv" / "secret").write_text("s3cret")
    (container.path / "etc" / "token").write_text("t0ken")
    r = run(container, "cat /etc/token; ls /srv; touch /tmp/x 2>&1; grep -c /proc/kcore /proc/mounts; true",
            masked_paths=["/etc/token", "/srv", "/does/not/exist"], readonly_paths=["/tmp"])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "t0ken" not in out and "secret" not in out
    assert "Read-only file system" in out
    assert out.splitlines()[-1] == "0"  # /proc/kcore is not in this config's list: not masked


@pytest.mark.parametrize("propagation, receives", [("rslave", True), ("slave", True), ("rprivate", False),
                                                     (None, False)])
def test_rootfs_propagation_slave_receives_the_hosts_mounts_below_the_rootfs_and_private_does_not(
        container, propagation, receives):
    box = container.path
    with host_mount("--bind", str(box), target=box):
        subprocess.run(["mount", "--make-rshared", str(box)], check=True)
        first = start(container, **({"rootfs_propagation": propagation} if propagation else {}))
        with host_mount("-t", "tmpfs", "tmpfs", target=box / "mnt" / "late"):
            (box / "mnt" / "late" / "marker").write_text("")
            r = container.exec("sh", "-c", "ls /mnt/late; awk '$5 == \"/\"' /proc/self/mountinfo")
        stop(first)
    assert r.returncode == 0, r.stderr
    assert ("marker" in r.stdout.split()) == receives
    assert ("master:" in r.stdout) == receives


def test_rootfs_propagation_shared_is_a_peer_group_of_the_containers_own(container):
    r = run(container, "awk '$5 == \"/\"' /proc/self/mountinfo", rootfs_propagation="shared")
    assert r.returncode == 0, r.stderr
    _, optional = mountinfo_of(r.stdout, "/")
    assert optional.startswith("shared:")
    with open("/proc/self/mountinfo") as f:
        host_groups = {field for line in f for field in line.split(" - ")[0].split()[6:]}
    assert optional.split()[0] not in host_groups  # a new peer group, never one of the host's


# -- the process ------------------------------------------------------------------------------


def test_domainname_umask_and_additional_gids_apply(container):
    r = run(container, "cat /proc/sys/kernel/domainname; umask; id -G; touch /tmp/f; stat -c %a /tmp/f",
            user="1000:1000", domainname="example.test", umask="027", additional_gids=[44, 4242])
    assert r.returncode == 0, r.stderr
    domain, mask, groups, mode = r.stdout.splitlines()
    assert (domain, mask, mode) == ("example.test", "0027", "640")
    assert groups.split() == ["1000", "29", "44", "100", "4242"]  # /etc/group's (44 once), then the config's


def test_without_the_keys_the_umask_and_groups_are_as_before(container):
    os.umask(0o022)
    r = run(container, "umask; id -G; cat /proc/sys/kernel/domainname", user="1000:1000")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0022", "1000", "29", "44", "100", "(none)"]
