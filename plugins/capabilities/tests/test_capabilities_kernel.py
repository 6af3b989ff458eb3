"""The capability sets a process really ends with after the hooks, the user switch and execve."""

from __future__ import annotations

import os

import pytest

from capabilities_harness import NOBODY, RAW_SOCKET, STATUS, mask, run
from libcontainer import syscalls as sc
from libcontainer_capabilities import apply

pytestmark = [
    pytest.mark.privileged,
    pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("CI"), reason="needs root"),
]

KEEP = ["CHOWN", "cap_net_raw", "Setuid", "SETGID", "KILL"]


@pytest.fixture
def host_sets():
    return apply.read_sets()


# -- the sets -----------------------------------------------------------------


def test_root_keeps_exactly_the_listed_capabilities():
    result = run({"capabilities": KEEP}, STATUS)
    keep = mask(*KEEP)
    assert result.status == 0, result.err
    assert result.sets() == {"CapInh": 0, "CapPrm": keep, "CapEff": keep, "CapBnd": keep, "CapAmb": 0, "NoNewPrivs": 0}


def test_root_keeps_nsinits_capabilities_without_the_key(host_sets):
    result = run({}, STATUS)
    sets = result.sets()
    assert result.status == 0, result.err
    assert sets["CapBnd"] == host_sets["bounding"] and sets["CapEff"] == host_sets["effective"]
    assert sets["CapPrm"] == host_sets["permitted"]


def test_empty_list_leaves_root_without_any_capability():
    result = run({"capabilities": []}, STATUS)
    assert result.status == 0, result.err
    assert result.sets() == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": 0, "CapAmb": 0, "NoNewPrivs": 0}


def test_non_root_user_keeps_the_list_only_in_its_bounding_set():
    result = run({"capabilities": KEEP}, STATUS, uid=NOBODY)
    assert result.status == 0, result.err
    assert result.sets() == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": mask(*KEEP), "CapAmb": 0, "NoNewPrivs": 0}


def test_ambient_capabilities_are_effective_for_a_non_root_user():
    doc = {"capabilities": KEEP + ["NET_BIND_SERVICE"], "ambient_capabilities": ["net_bind_service", "NET_RAW"]}
    result = run(doc, STATUS, uid=NOBODY)
    amb = mask("NET_BIND_SERVICE", "NET_RAW")
    assert result.status == 0, result.err
    assert result.sets() == {
        "CapInh": amb, "CapPrm": amb, "CapEff": amb, "CapBnd": mask(*KEEP, "NET_BIND_SERVICE"), "CapAmb": amb,
        "NoNewPrivs": 0,
    }


def test_ambient_capabilities_are_kept_for_root_too():
    result = run({"capabilities": KEEP, "ambient_capabilities": ["KILL"]}, STATUS)
    assert result.status == 0, result.err
    assert result.sets()["CapAmb"] == mask("KILL") and result.sets()["CapEff"] == mask(*KEEP)


def test_ambient_set_inherited_from_nsinit_is_cleared():
    def raise_ambient(syscalls):  # as if nsinit itself ran with an ambient capability
        import prctl

        prctl.cap_inheritable.net_raw = True
        syscalls.cap_ambient_raise(13)

    # Root: a switch to a non-root uid would clear the ambient set by itself.
    result = run({"capabilities": KEEP}, STATUS, setup=raise_ambient)
    assert result.status == 0, result.err
    assert result.sets()["CapAmb"] == 0


def test_without_the_key_the_ambient_set_inherited_from_nsinit_survives():
    def raise_ambient(syscalls):
        import prctl

        prctl.cap_inheritable.net_raw = True
        syscalls.cap_ambient_raise(13)

    result = run({}, STATUS, setup=raise_ambient)
    assert result.status == 0, result.err
    assert result.sets()["CapAmb"] == mask("NET_RAW")


# -- no_new_privileges ---------------------------------------------------------


def test_no_new_privileges_sets_the_flag():
    result = run({"capabilities": KEEP, "no_new_privileges": True}, STATUS, uid=NOBODY)
    assert result.status == 0, result.err
    assert result.sets()["NoNewPrivs"] == 1


def test_no_new_privileges_alone_sets_the_flag_and_keeps_the_sets(host_sets):
    result = run({"no_new_privileges": True}, STATUS)
    assert result.status == 0, result.err
    assert result.sets()["NoNewPrivs"] == 1 and result.sets()["CapBnd"] == host_sets["bounding"]


def test_no_new_privileges_false_leaves_the_flag_clear():
    result = run({"capabilities": KEEP, "no_new_privileges": False}, STATUS, uid=NOBODY)
    assert result.status == 0, result.err
    assert result.sets()["NoNewPrivs"] == 0


@pytest.fixture
def setuid_id():
    """A setuid-root copy of id(1) in a directory any user may enter; removed afterwards."""
    import shutil
    import tempfile

    where = tempfile.mkdtemp(prefix="lctest-capabilities-")
    try:
        os.chmod(where, 0o755)
        path = os.path.join(where, "id")
        shutil.copy("/usr/bin/id", path)
        os.chmod(path, 0o4755)
        yield path
    finally:
        shutil.rmtree(where)


def test_setuid_binary_grants_nothing_under_no_new_privileges(setuid_id):
    result = run({"capabilities": KEEP, "no_new_privileges": True}, [setuid_id, "-u"], uid=NOBODY)
    assert result.status == 0, result.err
    assert result.out.strip() == str(NOBODY)


def test_without_no_new_privileges_a_setuid_binary_makes_root(setuid_id):
    result = run({"capabilities": KEEP}, [setuid_id, "-u"], uid=NOBODY)
    assert result.status == 0, result.err
    assert result.out.strip() == "0"


# -- what the capabilities allow -----------------------------------------------


def test_raw_socket_is_refused_without_net_raw():
    result = run({"capabilities": ["CHOWN"]}, RAW_SOCKET)
    assert result.status == 1 and "PermissionError" in result.err


def test_raw_socket_is_allowed_with_net_raw():
    result = run({"capabilities": ["NET_RAW"]}, RAW_SOCKET)
    assert result.status == 0, result.err


def test_raw_socket_is_allowed_for_non_root_with_ambient_net_raw():
    result = run({"capabilities": ["NET_RAW"], "ambient_capabilities": ["NET_RAW"]}, RAW_SOCKET, uid=NOBODY)
    assert result.status == 0, result.err


def test_raw_socket_is_refused_for_non_root_with_net_raw_kept_but_not_ambient():
    result = run({"capabilities": ["NET_RAW"]}, RAW_SOCKET, uid=NOBODY)
    assert result.status == 1 and "PermissionError" in result.err


def _new_net_with_lo(syscalls):
    """A private network namespace with lo up; there ping_group_range is "1 0", so no ICMP datagram fallback."""
    syscalls.unshare(sc.CLONE_NEWNET)
    import subprocess

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


PING = ["/bin/busybox", "ping", "-c", "1", "-W", "1", "127.0.0.1"]


def test_busybox_ping_fails_without_net_raw():
    result = run({"capabilities": ["CHOWN"]}, PING, setup=_new_net_with_lo)
    assert result.status != 0
    assert "permission denied" in result.err.lower() or "not permitted" in result.err.lower(), result.err


def test_busybox_ping_works_with_net_raw():
    result = run({"capabilities": ["NET_RAW"]}, PING, setup=_new_net_with_lo)
    assert result.status == 0, result.err
    assert "1 packets received" in result.out


def _private_mounts(syscalls):
    """A mount namespace of its own, so that nothing reaches the host's mounts."""
    syscalls.unshare(sc.CLONE_NEWNS)
    syscalls.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)


def test_mount_fails_without_sys_admin(tmp_path):
    result = run({"capabilities": ["CHOWN"]}, ["/bin/busybox", "mount", "-t", "tmpfs", "none", str(tmp_path)],
                 setup=_private_mounts)
    assert result.status != 0
    assert "permission denied" in result.err.lower() or "not permitted" in result.err.lower(), result.err


def test_mount_works_with_sys_admin(tmp_path):
    script = f"/bin/busybox mount -t tmpfs none {tmp_path} && /bin/busybox grep -q ' {tmp_path} tmpfs' /proc/self/mounts"
    result = run({"capabilities": ["SYS_ADMIN"]}, ["/bin/sh", "-c", script], setup=_private_mounts)
    assert result.status == 0, result.err
    assert f" {tmp_path} tmpfs" not in open("/proc/self/mounts").read()  # the host never saw it


def test_mknod_fails_without_mknod(tmp_path):
    result = run({"capabilities": ["CHOWN"]}, ["/bin/busybox", "mknod", str(tmp_path / "null"), "c", "1", "3"])
    assert result.status != 0 and not (tmp_path / "null").exists()


def test_mknod_works_with_mknod(tmp_path):
    result = run({"capabilities": ["MKNOD"]}, ["/bin/busybox", "mknod", str(tmp_path / "null"), "c", "1", "3"])
    assert result.status == 0, result.err
    assert os.major(os.stat(tmp_path / "null").st_rdev) == 1


def test_chown_to_another_user_fails_without_chown(tmp_path):
    (tmp_path / "f").write_text("")
    result = run({"capabilities": ["MKNOD"]}, ["/bin/busybox", "chown", "4321", str(tmp_path / "f")])
    assert result.status != 0 and os.stat(tmp_path / "f").st_uid == 0


def test_chown_to_another_user_works_with_chown(tmp_path):
    (tmp_path / "f").write_text("")
    result = run({"capabilities": ["CHOWN"]}, ["/bin/busybox", "chown", "4321", str(tmp_path / "f")])
    assert result.status == 0, result.err
    assert os.stat(tmp_path / "f").st_uid == 4321


# -- order and errors ------------------------------------------------------------


def test_user_switch_works_when_setuid_is_not_kept():
    result = run({"capabilities": ["CHOWN"]}, STATUS, uid=NOBODY)
    assert result.status == 0, result.err
    assert result.sets()["CapBnd"] == mask("CHOWN")


def test_final_sets_set_before_the_user_switch_break_it_with_eperm():
    result = run({"capabilities": ["CHOWN"]}, STATUS, uid=NOBODY, order="caps-first")
    assert result.status == 125
    assert "Operation not permitted" in result.err


def test_bounding_set_drop_after_the_user_switch_is_refused_naming_cap_setpcap():
    from libcontainer_capabilities import apply as apply_mod

    def drop_after_switch(syscalls):
        os.setresuid(NOBODY, NOBODY, NOBODY)
        apply_mod.drop_bounding_set(frozenset(), 40, syscalls)

    result = run({}, STATUS, setup=drop_after_switch)
    assert result.status == 125
    assert "from the bounding set: Operation not permitted (needs CAP_SETPCAP)" in result.err


def _drop_sys_time_from_nsinit(syscalls):
    import prctl

    prctl.capbset_drop(prctl.CAP_SYS_TIME)
    prctl.set_caps((prctl.CAP_SYS_TIME, [prctl.CAP_EFFECTIVE, prctl.CAP_PERMITTED], False))


def test_keeping_a_capability_nsinit_lacks_is_refused():
    result = run({"capabilities": ["SYS_TIME", "CHOWN"]}, STATUS, setup=_drop_sys_time_from_nsinit)
    assert result.status == 125
    assert "cannot keep SYS_TIME: nsinit's own process does not have it" in result.err


def test_keeping_a_capability_nsinit_has_works():
    result = run({"capabilities": ["SYS_TIME", "CHOWN"]}, STATUS)
    assert result.status == 0, result.err
    assert result.sets()["CapBnd"] == mask("SYS_TIME", "CHOWN")


def _kernel_without_checkpoint_restore(syscalls, tmp="/tmp/lctest-capabilities-last-cap"):
    """Make /proc/sys/kernel/cap_last_cap read 39 in a private mount namespace only."""
    _private_mounts(syscalls)
    with open(tmp, "w") as f:
        f.write("39\n")
    try:
        syscalls.mount(tmp, "/proc/sys/kernel/cap_last_cap", None, sc.MS_BIND)
    finally:
        os.unlink(tmp)  # the bind mount keeps the inode


def test_capability_the_kernel_does_not_know_is_reported():
    result = run({"capabilities": ["CHECKPOINT_RESTORE"]}, STATUS, setup=_kernel_without_checkpoint_restore)
    assert result.status == 125
    assert "CHECKPOINT_RESTORE (capability 40) is not known to the running kernel" in result.err


def test_capability_the_kernel_knows_is_kept():
    result = run({"capabilities": ["CHECKPOINT_RESTORE"]}, STATUS)
    assert result.status == 0, result.err
    assert result.sets()["CapBnd"] == mask("CHECKPOINT_RESTORE")
