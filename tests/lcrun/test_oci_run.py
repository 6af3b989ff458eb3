"""Bundles real clients wrote, translated and run by the engine: what config.json asks for holds inside.

Each test runs one bundle through ``Container(bundle, config=translated, id=..., state_root=...)``,
create, start, wait and delete, as lcrun will; the command writes what it sees to /results, a
directory of the test's bound into the container.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ocibundles import make_bundle, read_fixture
from lcrun.oci import load_bundle
from libcontainer.container import Container

pytestmark = pytest.mark.privileged

# Capability bits of /proc/PID/status (linux/capability.h).
CAP_NET_ADMIN, CAP_CHOWN = 12, 0


def run_bundle(tmp_path: Path, rootfs_template: Path, doc: dict, script: str) -> tuple[int, dict[str, str]]:
    """Run ``sh -c script`` as the bundle's process; its exit status and the files it wrote in /results."""
    results = tmp_path / "results"
    results.mkdir()
    os.chmod(results, 0o777)
    doc["process"]["args"] = ["/bin/sh", "-c", script]
    doc["mounts"].append({"destination": "/results", "type": "bind", "source": str(results), "options": ["rbind"]})
    path = make_bundle(tmp_path / "bundle", doc, rootfs_template)
    config, extras = load_bundle(path, container_id="lctest-oci")
    box = Container(path, config=config, id="lctest-oci", state_root=tmp_path / "state")
    proc = box.create(extras.process.args, detach=True)
    try:
        proc.start()
        status = proc.wait()
    finally:
        proc.close()
        box.delete(force=True)
    assert box.status() is None and not (tmp_path / "state" / "lctest-oci").exists()
    return status, {p.name: p.read_text() for p in results.iterdir()}


def lines(text: str) -> dict[str, str]:
    """``key: value`` lines as a dict."""
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


PODMAN_CHECKS = r"""
out=/results
{ id -u; id -G; umask; hostname; cat /proc/sys/kernel/domainname; } > $out/who
grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status > $out/status
{ ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; cat /proc/sys/kernel/msgmax; } > $out/limits
cat /proc/mounts > $out/mounts
{ cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes \
      /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares; } > $out/cgroups 2>&1
{ cat /etc/hosts; stat -c '%t:%T %a' /dev/fuse; ls /scratch; cat /proc/kcore | wc -c; } > $out/files 2>&1
{ touch /data/x; echo 1 > /proc/sys/kernel/msgmax; mkdir /sys/fs/cgroup/memory/sub; } > $out/denied 2>&1
{ cat /dev/fuse; head -c 1 /dev/zero | wc -c; } > $out/devices 2>&1
true
"""


@pytest.mark.needs_host("cgroup-v1")
def test_podmans_bundle_runs_with_everything_it_asks_for(tmp_path, rootfs_template):
    doc = read_fixture("podman-run")
    doc["domainname"] = "oci.test"
    # podman wrote its default nproc limit, above this machine's hard limit (raising it needs CAP_SYS_RESOURCE,
    # which the test machine's root may lack); its tests configure the same value instead.
    doc["process"]["rlimits"][1].update(soft=32768, hard=32768)
    status, out = run_bundle(tmp_path, rootfs_template, doc, PODMAN_CHECKS)
    assert status == 0, out
    who = out["who"].split()
    # uid 1000; gid 1000 with /etc/group's groups of user (29 44 100) and additionalGids (1000, 44) once each;
    # umask 18 = 0022; the hostname and domainname of its UTS namespace.
    assert who == ["1000", "1000", "29", "44", "100", "0022", "box", "oci.test"]
    status_ = {k: int(v, 16) if k.startswith("Cap") else int(v) for k, v in lines(out["status"]).items()}
    assert status_["CapEff"] == status_["CapAmb"] == 1 << CAP_NET_ADMIN  # the user's ambient NET_ADMIN
    assert status_["CapBnd"] >> CAP_CHOWN & 1 and not status_["CapBnd"] >> 21 & 1  # CHOWN kept, SYS_ADMIN not
    assert status_["Seccomp"] == 2 and status_["NoNewPrivs"] == 1  # filtered; a user needs no_new_privs for it
    assert out["limits"].split() == ["100", "200", "100", "9000"]
    mounts = {line.split()[1]: line.split() for line in out["mounts"].splitlines()}
    assert mounts["/scratch"][2] == "tmpfs" and "size=1024k" in mounts["/scratch"][3]
    assert mounts["/data"][3].startswith("ro,")
    assert mounts["/sys/fs/cgroup"][2] == "tmpfs" and mounts["/sys/fs/cgroup/memory"][3].startswith("ro,")
    assert mounts["/proc/keys"][2] == "tmpfs" and mounts["/proc/acpi"][3].startswith("ro,")  # masked
    assert mounts["/proc/sys"][3].startswith("ro,")
    assert out["cgroups"].split() == [str(64 << 20), str(128 << 20), "50", "512"]
    files = out["files"].splitlines()
    assert files[0] == "127.0.0.1 localhost" and files[1] == "a:e5 600" and files[-1] == "0"
    denied = out["denied"]
    assert denied.count("Read-only file system") == 3, denied
    devices = out["devices"].splitlines()
    assert "Operation not permitted" in devices[0] or "Permission denied" in devices[0]
    assert devices[-1] == "1"


def test_containerds_bundle_runs_its_command_as_root_without_an_environment(tmp_path, rootfs_template):
    doc = read_fixture("ctr-run")
    script = ("{ id; env | sort; grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status; ulimit -n; "
              "cat /proc/self/cgroup; ls /dev; } > /results/out 2>&1")
    status, out = run_bundle(tmp_path, rootfs_template, doc, script)
    assert status == 0, out
    text = out["out"]
    assert text.startswith("uid=0(root) gid=0(root)")
    assert "NoNewPrivs:\t1" in text and "\n1024\n" in text
    assert ":/lctest-oci-ctr/c1" in text  # the cgroupsPath
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue"} <= set(text.split())


def test_the_default_spec_runs_read_only_with_its_three_capabilities(tmp_path, rootfs_template):
    from lcrun.spec import default_spec

    doc = default_spec()
    doc["process"]["terminal"] = False
    script = "{ grep CapBnd /proc/self/status; hostname; touch /x; } > /results/out 2>&1"
    status, out = run_bundle(tmp_path, rootfs_template, doc, script)
    assert status == 1, out  # touch / fails: the root is read-only
    bnd = int(out["out"].split()[1], 16)
    assert bnd == (1 << 29) | (1 << 5) | (1 << 10)  # AUDIT_WRITE, KILL, NET_BIND_SERVICE
    assert "lcrun" in out["out"] and "Read-only file system" in out["out"]
