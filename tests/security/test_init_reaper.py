"""Scenario 2 with ``"init": true``: PID 1 is the host's interpreter for the container's whole life (libcontainer/reaper.py).

The reaper is the setup process, which stays once its child has exec'd the
command: it must be as far out of the container's reach as a joining
process before its exec.  It is non-dumpable, so without CAP_SYS_PTRACE in
the host's user namespace nothing in the container can ptrace it, read its
memory or environment, or open /proc/1/exe (the host's interpreter,
CVE-2019-5736); and it holds no fd at all.
"""

from __future__ import annotations

import pytest

from secutil import nsattack_lines

pytestmark = pytest.mark.privileged

RESOURCE_PREFIX = "lcs-i"

# Docker's default capability set: no SYS_PTRACE.
DEFAULT_CAPS = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
                "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"]
PROBE = ("readlink /proc/1/exe || echo exe denied; "
         "cat /proc/1/environ > /dev/null 2>&1 && echo environ read || echo environ denied; "
         "echo fds $(ls /proc/1/fd 2> /dev/null | wc -l); "
         "nsattack ptrace-attach 1; echo command $(readlink /proc/$$/exe)")


def test_the_init_is_out_of_the_containers_reach(container, host_python):
    container.write_config(init=True, capabilities=DEFAULT_CAPS)
    r = container.exec("sh", "-c", PROBE)
    lines = r.stdout.splitlines()
    assert "exe denied" in lines and str(host_python) not in r.stdout, r.stdout
    assert "environ denied" in lines, r.stdout
    assert "fds 0" in lines, r.stdout  # nothing to reach through /proc/1/fd (root may list it: proc(5))
    assert nsattack_lines(r.stdout, "denied") == [["denied", "1", "EPERM"]], r.stdout
    # Not a blind probe: the command itself, PID 2, is dumpable again after its exec.
    assert "command /bin/busybox" in lines, r.stdout


def test_sys_ptrace_lets_the_container_reach_the_init(container, host_python):
    """Twin, and the limit of non-dumpable (docs/security.md): CAP_SYS_PTRACE overrides it (ptrace(2))."""
    container.write_config(init=True, capabilities=DEFAULT_CAPS + ["SYS_PTRACE"])
    r = container.exec("sh", "-c", PROBE)
    assert str(host_python) in r.stdout.splitlines(), r.stdout
    assert nsattack_lines(r.stdout, "attached") == [["attached", "1"]], r.stdout
