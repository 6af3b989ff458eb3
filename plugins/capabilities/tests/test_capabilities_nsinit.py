"""The capabilities plugin end to end: ``nsinit exec`` in a busybox container, first and joined processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from capabilities_harness import mask
from libcontainer.testing.fixtures import nsinit_command, require_root
from libcontainer_capabilities import apply

pytestmark = pytest.mark.privileged

KEEP = ["CHOWN", "NET_RAW", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE"]
STATUS = ["grep", "-E", "^(Cap|NoNewPrivs)", "/proc/self/status"]
LOOPBACK = [{"type": "loopback", "address": "127.0.0.1/0", "gateway": "localhost", "mtu": 1500}]
PING = ["ping", "-c", "1", "-W", "1", "127.0.0.1"]


@pytest.fixture
def box(container):
    """The container fixture, as root only."""
    require_root()
    return container


def sets_of(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    assert result.returncode == 0, result.stderr
    found = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(":")
        found[key] = int(value.strip(), 16 if key.startswith("Cap") else 10)
    return found


def exact(bnd: int, prm: int = 0, inh: int = 0, amb: int = 0, nnp: int = 0) -> dict[str, int]:
    return {"CapInh": inh, "CapPrm": prm, "CapEff": prm, "CapBnd": bnd, "CapAmb": amb, "NoNewPrivs": nnp}


# -- the sets -------------------------------------------------------------------


def test_root_in_a_container_has_exactly_the_listed_capabilities(box):
    box.write_config(capabilities=KEEP)
    assert sets_of(box.exec(*STATUS)) == exact(bnd=mask(*KEEP), prm=mask(*KEEP))


def test_non_root_user_in_a_container_has_them_only_in_its_bounding_set(box):
    box.write_config(capabilities=KEEP, user="user")
    assert sets_of(box.exec(*STATUS)) == exact(bnd=mask(*KEEP))


def test_ambient_capabilities_are_effective_for_a_non_root_user_in_a_container(box):
    box.write_config(capabilities=KEEP, ambient_capabilities=["NET_BIND_SERVICE"], user="user")
    amb = mask("NET_BIND_SERVICE")
    assert sets_of(box.exec(*STATUS)) == exact(bnd=mask(*KEEP), prm=amb, inh=amb, amb=amb)


def test_container_without_the_key_keeps_nsinits_capabilities(box):
    box.write_config()
    host = apply.read_sets()
    sets = sets_of(box.exec(*STATUS))
    assert sets["CapBnd"] == host["bounding"] and sets["CapEff"] == host["effective"]


def test_no_new_privileges_is_set_in_the_container(box):
    box.write_config(capabilities=KEEP, no_new_privileges=True, user="user")
    assert sets_of(box.exec(*STATUS))["NoNewPrivs"] == 1


def test_without_the_key_no_new_privileges_is_clear(box):
    box.write_config(capabilities=KEEP, user="user")
    assert sets_of(box.exec(*STATUS))["NoNewPrivs"] == 0


def test_joined_process_has_the_same_sets_as_the_first(box):
    box.write_config(capabilities=KEEP, ambient_capabilities=["NET_RAW"], no_new_privileges=True, user="user")
    first = box.popen("sh", "-c", "grep -E '^(Cap|NoNewPrivs)' /proc/self/status > /tmp/first; exec sleep 30")
    pid = box.wait_running()
    joined = sets_of(box.exec(*STATUS))
    running = apply.read_sets(pid)  # the first process itself, seen from the host
    amb = mask("NET_RAW")
    assert joined == exact(bnd=mask(*KEEP), prm=amb, inh=amb, amb=amb, nnp=1)
    assert {field: running[name] for field, name in apply.STATUS_FIELDS.items()} == {
        k: v for k, v in joined.items() if k.startswith("Cap")
    }
    first.kill()


def test_joined_process_of_a_root_container_has_the_same_sets(box):
    box.write_config(capabilities=KEEP)
    box.popen("sleep", "30")
    pid = box.wait_running()
    joined = sets_of(box.exec(*STATUS))
    assert joined == exact(bnd=mask(*KEEP), prm=mask(*KEEP))
    assert apply.read_sets(pid)["bounding"] == joined["CapBnd"]


# -- what the capabilities allow ------------------------------------------------------


def test_ping_fails_in_a_container_without_net_raw(box):
    box.write_config(capabilities=["CHOWN"], networks=LOOPBACK)
    result = box.exec(*PING)
    assert result.returncode != 0 and "permission denied" in result.stderr.lower(), result.stderr


def test_ping_works_in_a_container_with_net_raw(box):
    box.write_config(capabilities=["NET_RAW"], networks=LOOPBACK)
    result = box.exec(*PING)
    assert result.returncode == 0, result.stderr
    assert "1 packets received" in result.stdout


def test_mount_fails_in_a_container_without_sys_admin(box):
    box.write_config(capabilities=["CHOWN"])
    result = box.exec("mount", "-t", "tmpfs", "none", "/mnt")
    assert result.returncode != 0 and "permission denied" in result.stderr.lower(), result.stderr


def test_mount_works_in_a_container_with_sys_admin(box):
    box.write_config(capabilities=["SYS_ADMIN"])
    result = box.exec("sh", "-c", "mount -t tmpfs none /mnt && grep ' /mnt tmpfs' /proc/self/mounts")
    assert result.returncode == 0, result.stderr


def test_mknod_fails_in_a_container_without_mknod(box):
    box.write_config(capabilities=["CHOWN"])
    result = box.exec("mknod", "/tmp/null", "c", "1", "3")
    assert result.returncode != 0 and not (box.path / "tmp" / "null").exists()


def test_mknod_works_in_a_container_with_mknod(box):
    box.write_config(capabilities=["MKNOD"])
    result = box.exec("mknod", "/tmp/null", "c", "1", "3")
    assert result.returncode == 0, result.stderr
    assert os.major(os.stat(box.path / "tmp" / "null").st_rdev) == 1


def test_chown_fails_in_a_container_without_chown(box):
    box.write_config(capabilities=["MKNOD"])
    result = box.exec("sh", "-c", "touch /tmp/f && chown 4321 /tmp/f")
    assert result.returncode != 0 and os.stat(box.path / "tmp" / "f").st_uid == 0


def test_chown_works_in_a_container_with_chown(box):
    box.write_config(capabilities=["CHOWN"])
    result = box.exec("sh", "-c", "touch /tmp/f && chown 4321 /tmp/f")
    assert result.returncode == 0, result.stderr
    assert os.stat(box.path / "tmp" / "f").st_uid == 4321


# -- errors ------------------------------------------------------------------------------


def test_misspelled_capability_is_refused_with_a_suggestion(box):
    box.write_config(capabilities=["CHOWN", "NET_RAWW"])
    result = box.exec("true")
    assert result.returncode != 0
    assert "$.capabilities[1]: unknown capability 'NET_RAWW': did you mean NET_RAW?" in result.stderr
    assert "Traceback" not in result.stderr


def test_capability_nsinit_lacks_is_refused(box):
    box.write_config(capabilities=["SYS_TIME", "CHOWN"])
    # nsinit started with SYS_TIME dropped from its bounding set: for root,
    # execve then leaves it out of the permitted set too (capabilities(7)).
    drop_then_exec = (
        "import os, sys, prctl; prctl.capbset_drop(prctl.CAP_SYS_TIME); "
        "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"
    )
    result = subprocess.run([sys.executable, "-c", drop_then_exec, *nsinit_command()[1:], "exec", "--", "true"],
                            cwd=box.path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 125
    assert "cannot keep SYS_TIME: nsinit's own process does not have it" in result.stderr
    assert "Traceback" not in result.stderr


def test_capability_nsinit_has_is_kept(box):
    box.write_config(capabilities=["SYS_TIME", "CHOWN"])
    assert sets_of(box.exec(*STATUS))["CapBnd"] == mask("SYS_TIME", "CHOWN")


def _nsinit_seeing_last_cap(box, last_cap: int) -> subprocess.CompletedProcess[str]:
    """Run ``nsinit exec true`` where /proc/sys/kernel/cap_last_cap reads ``last_cap`` (a private mount namespace)."""
    fake = box.path.parent / "lctest-capabilities-last-cap"
    fake.write_text(f"{last_cap}\n")
    nsinit = " ".join(nsinit_command())
    script = f"mount --bind {fake} /proc/sys/kernel/cap_last_cap && exec {nsinit} exec -- true"
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=box.path,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_capability_the_kernel_does_not_know_is_reported(box):
    box.write_config(capabilities=["CHOWN", "CHECKPOINT_RESTORE"])
    result = _nsinit_seeing_last_cap(box, 39)
    assert result.returncode != 0
    assert ("$.capabilities[1]: CHECKPOINT_RESTORE (capability 40) is not known to the running kernel, "
            "whose highest capability is BPF (39") in result.stderr


def test_capability_the_kernel_knows_is_accepted(box):
    box.write_config(capabilities=["CHOWN", "CHECKPOINT_RESTORE"])
    result = _nsinit_seeing_last_cap(box, 40)
    assert result.returncode == 0, result.stderr


# -- the five sets (OCI's process.capabilities) ---------------------------------------------


def test_capability_sets_give_root_its_bounding_set(box):
    box.write_config(capability_sets={"bounding": KEEP, "effective": ["KILL"], "permitted": ["KILL", "CHOWN"]})
    # For root, execve makes permitted and effective the bounding set whatever was set before (capabilities(7)).
    assert sets_of(box.exec(*STATUS)) == exact(bnd=mask(*KEEP), prm=mask(*KEEP))


def test_capability_sets_give_a_user_its_ambient_ones(box):
    one = ["NET_BIND_SERVICE"]
    box.write_config(capability_sets={"bounding": KEEP, "effective": one, "permitted": one, "inheritable": one,
                                      "ambient": one}, user="user")
    amb = mask(*one)
    assert sets_of(box.exec(*STATUS)) == exact(bnd=mask(*KEEP), prm=amb, inh=amb, amb=amb)


def test_capability_sets_that_capset_refuses_are_a_config_error(box):
    box.write_config(capability_sets={"bounding": KEEP, "effective": ["KILL"]}, user="user")
    r = box.exec("true")
    assert r.returncode == 125
    assert "$.capability_sets.effective[0]: KILL is not in permitted" in r.stderr and r.stderr.count("\n") == 1
