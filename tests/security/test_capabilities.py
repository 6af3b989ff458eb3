"""Scenario 5: capabilities the container did not ask for never reach it (CVE-2022-29162).

nsinit's caller may run with inheritable and ambient capabilities (a
service manager's AmbientCapabilities=, a capsh wrapper).  A process with an
inheritable capability gains it from any program whose file has it
inheritable, even as a non-root user; an ambient one is effective after
every execve.  Neither must pass from the caller into the container.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from secutil import nsattack_lines
from libcontainer.testing.fixtures import nsinit_command

pytestmark = pytest.mark.privileged

# What these tests name on the host (see conftest.py).
RESOURCE_PREFIX = "lcs-a"

CAP_NET_RAW, CAP_SYS_ADMIN = 13, 21
CALLER_INHERITABLE = (1 << CAP_NET_RAW) | (1 << CAP_SYS_ADMIN)
CALLER_AMBIENT = 1 << CAP_NET_RAW
FEW = ["CHOWN", "SETUID", "SETGID", "KILL"]


def _raise_callers_sets() -> None:
    """In the caller, before exec: NET_RAW and SYS_ADMIN inheritable, NET_RAW ambient."""
    import prctl

    from libcontainer import syscalls

    prctl.cap_inheritable.net_raw = True
    prctl.cap_inheritable.sys_admin = True
    syscalls.real().cap_ambient_raise(CAP_NET_RAW)


def caps_of(text: str) -> dict[str, int]:
    return {w[0].rstrip(":"): int(w[1], 16) for w in (nsattack_lines(text, k)[0] for k in
                                                       ("CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"))}


def exec_from_capable_caller(container, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(nsinit_command() + ["exec", "--", *cmd], cwd=container.path, preexec_fn=_raise_callers_sets,
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def first_and_joined(container, *cmd: str) -> list[subprocess.CompletedProcess[str]]:
    """``cmd`` as the first process, then joining a running first process; both from a capable caller."""
    first = exec_from_capable_caller(container, *cmd)
    container.popen("sleep", "30")
    container.wait_running()
    return [first, exec_from_capable_caller(container, *cmd)]


# -- inheritable and ambient sets ---------------------------------------------------------------


@pytest.mark.parametrize("user", ["root", "user"])
def test_callers_inheritable_and_ambient_sets_do_not_reach_a_container_without_the_key(container, user):
    container.write_config(user=user)
    for r in first_and_joined(container, "nsattack", "caps"):
        assert r.returncode == 0, r.stderr
        caps = caps_of(r.stdout)
        assert (caps["CapInh"], caps["CapAmb"]) == (0, 0), r.stdout


@pytest.mark.parametrize("user", ["root", "user"])
def test_callers_inheritable_and_ambient_sets_are_cleared_with_the_key(container, user):
    container.write_config(user=user, capabilities=FEW + ["NET_RAW", "SYS_ADMIN"])
    for r in first_and_joined(container, "nsattack", "caps"):
        assert r.returncode == 0, r.stderr
        caps = caps_of(r.stdout)
        assert (caps["CapInh"], caps["CapAmb"]) == (0, 0), r.stdout


def test_asked_for_ambient_capability_is_the_only_one(container):
    """The key's ambient list is the one way in: then CapInh and CapAmb hold exactly it."""
    container.write_config(user="user", capabilities=FEW + ["NET_RAW"], ambient_capabilities=["NET_RAW"])
    for r in first_and_joined(container, "nsattack", "caps"):
        caps = caps_of(r.stdout)
        assert (caps["CapInh"], caps["CapAmb"], caps["CapEff"]) == (CALLER_AMBIENT,) * 3, r.stdout


def test_without_nsinit_the_capable_callers_helper_has_the_sets(nsattack):
    """The caller really holds them: the same helper started without nsinit shows both."""
    r = subprocess.run([str(nsattack), "caps"], preexec_fn=_raise_callers_sets, capture_output=True, text=True,
                       timeout=10)
    caps = caps_of(r.stdout)
    assert (caps["CapInh"], caps["CapAmb"]) == (CALLER_INHERITABLE, CALLER_AMBIENT)


# -- a non-root user ---------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [None, FEW], ids=["no-key", "key"])
def test_non_root_user_has_no_effective_or_permitted_capability(container, keep):
    container.write_config(user="user", **({"capabilities": keep} if keep else {}))
    container.popen("sleep", "30")
    container.wait_running()
    r = container.exec("nsattack", "caps")  # joins, as the same user
    assert r.returncode == 0, r.stderr
    caps = caps_of(r.stdout)
    assert (caps["CapEff"], caps["CapPrm"], caps["CapAmb"]) == (0, 0, 0), r.stdout


# -- what the missing capabilities forbid ------------------------------------------------------------

ATTEMPTS = "nsattack mknod-block /tmp/lcs-sda; nsattack mount-tmpfs /mnt; ip link add lcsbr type bridge && echo link ok"


@pytest.mark.parametrize("joined", [False, True], ids=["first", "joined"])
def test_block_device_mount_and_interface_are_refused_without_their_capabilities(container, joined):
    container.write_config(capabilities=FEW)
    if joined:
        container.popen("sleep", "30")
        container.wait_running()
    r = container.exec("sh", "-c", ATTEMPTS)
    assert nsattack_lines(r.stdout, "mknod") == [["mknod", "EPERM"]], r.stdout
    assert nsattack_lines(r.stdout, "mount") == [["mount", "EPERM"]], r.stdout
    assert "link ok" not in r.stdout and "Operation not permitted" in r.stderr, r.stderr


def test_block_device_mount_and_interface_work_with_their_capabilities(container):
    container.write_config(capabilities=FEW + ["MKNOD", "SYS_ADMIN", "NET_ADMIN"])
    r = container.exec("sh", "-c", ATTEMPTS)
    assert nsattack_lines(r.stdout, "mknod") == [["mknod", "ok"]], r.stdout
    assert nsattack_lines(r.stdout, "mount") == [["mount", "ok"]], r.stdout
    assert "link ok" in r.stdout, r.stderr


def test_exec_from_capable_caller_uses_this_interpreter():
    # The helpers above run nsinit from the test's own interpreter: the
    # capability sets are those the preexec function raised, nothing else.
    assert nsinit_command()[0] == sys.executable
