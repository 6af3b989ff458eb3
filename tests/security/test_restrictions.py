"""context.restrictions: /proc/sys, /proc/sysrq-trigger and /sys read-only, kernel files masked, the host unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.privileged

RESTRICTED = {"restrictions": "true"}
# The capabilities of the reference minimal sample: no SYS_ADMIN, so no remount.
SAMPLE_CAPABILITIES = json.loads((Path(__file__).parents[2] / "sample_configs" / "minimal.json").read_text())["capabilities"]

# Host files a container could try to change through /proc/sys or /sys; their
# values are compared before and after every test of this module.
HOST_SENTINELS = ["/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname", "/proc/sys/kernel/core_pattern",
                  "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/sysrq", "/sys/class/net/lo/mtu"]


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


@pytest.fixture(autouse=True)
def host_values_unchanged():
    """Every host sentinel reads the same after the test as before it."""
    before = {p: _read(p) for p in HOST_SENTINELS}
    yield before
    after = {p: _read(p) for p in HOST_SENTINELS}
    assert after == before, "a host value changed"


def _write_script(path: str, value: str) -> str:
    """Shell that writes ``value`` to ``path`` and prints "PATH: ok" or the shell's error."""
    return f"if printf '%s\\n' '{value}' > {path}; then echo '{path}: ok'; fi"


# Each write, if the restriction failed, is harmless: namespaced files get a
# test value, global ones the host's own value back.
def _writes(host: dict[str, str | None]) -> list[tuple[str, str]]:
    writes = [("/proc/sys/kernel/hostname", "lctest-sb"), ("/proc/sys/kernel/domainname", "lctest-sb"),
              ("/proc/sys/net/ipv4/ip_forward", "0"), ("/sys/class/net/lo/mtu", "65536")]
    core = host["/proc/sys/kernel/core_pattern"]
    if core is not None:
        writes.append(("/proc/sys/kernel/core_pattern", core.rstrip("\n")))
    if os.path.exists("/proc/sysrq-trigger"):
        writes.append(("/proc/sysrq-trigger", "h"))  # "h" only prints help to the kernel log
    return writes


def test_restrictions_refuse_writes_to_proc_sys_sysrq_and_sys_with_erofs(container, host_values_unchanged):
    writes = _writes(host_values_unchanged)
    container.write_config(context=RESTRICTED)
    script = "; ".join(_write_script(p, v) for p, v in writes) + "; touch /sys/lctest-sb"
    r = container.exec("sh", "-c", script)
    assert "ok" not in r.stdout, r.stdout
    errors = r.stderr.splitlines()
    for path, _ in writes:
        assert any(path in line and "Read-only file system" in line for line in errors), (path, r.stderr)
    assert any("/sys/lctest-sb" in line and "Read-only file system" in line for line in errors), r.stderr
    assert not os.path.exists("/sys/lctest-sb")


def test_restrictions_hold_for_a_joined_process(container):
    container.write_config(context=RESTRICTED)
    first = container.popen("sh", "-c", "echo ready; sleep 30")
    container.wait_running()
    assert first.stdout.readline().strip() == "ready"
    r = container.exec("sh", "-c", _write_script("/proc/sys/kernel/hostname", "lctest-sb") + "; echo $$")
    assert r.stdout.split()[-1] != "1"  # joined, not a new container
    assert "ok" not in r.stdout and "Read-only file system" in r.stderr, (r.stdout, r.stderr)


def test_restrictions_mask_kernel_files_so_they_read_nothing(container):
    masked = [p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats")
              if os.path.exists(p)]
    assert masked, "this host has none of the masked /proc files"
    container.write_config(context=RESTRICTED)
    r = container.exec("sh", "-c", "for f in " + " ".join(masked) + "; do echo $f $(cat $f | wc -c); done; "
                                   "ls -A /sys/firmware | wc -l")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:-1] == [f"{p} 0" for p in masked]
    assert lines[-1] == "0"  # /sys/firmware: an empty read-only tmpfs


def test_without_restrictions_kernel_files_are_readable(container):
    """The twin: without restrictions /proc/timer_list has content, so the masking above is what empties it."""
    if not os.path.exists("/proc/timer_list"):
        pytest.skip("no /proc/timer_list on this kernel")
    container.write_config()
    r = container.exec("sh", "-c", "cat /proc/timer_list | wc -c; ls -A /sys/firmware | wc -l")
    timer_list, firmware = (int(x) for x in r.stdout.split())
    assert timer_list > 0
    assert firmware > 0


def test_without_restrictions_proc_sys_hostname_is_writable_in_own_uts_namespace(container,
                                                                                     host_values_unchanged):
    """The twin: the write that restrictions refuse succeeds without them, and only in the container's namespace."""
    assert host_values_unchanged["/proc/sys/kernel/hostname"] != "lctest-sb\n"
    container.write_config(namespaces={"NEWNS": True, "NEWUTS": True, "NEWPID": True, "NEWIPC": True, "NEWNET": True})
    r = container.exec("sh", "-c", _write_script("/proc/sys/kernel/hostname", "lctest-sb") + "; hostname")
    assert r.stdout.split() == ["/proc/sys/kernel/hostname:", "ok", "lctest-sb"], r.stderr
    # host_values_unchanged checks the host's hostname at teardown.


def test_restrictions_cannot_be_undone_without_sys_admin(container):
    """Read-only binds hold only while the container lacks SYS_ADMIN: with the sample's capabilities it cannot remount."""
    container.write_config(context=RESTRICTED, capabilities=SAMPLE_CAPABILITIES)
    r = container.exec("sh", "-c", "mount -o remount,bind,rw /proc/sys; umount /proc/sys; umount -l /proc/kcore "
                                   "/proc/timer_list; " + _write_script("/proc/sys/kernel/hostname", "lctest-sb"))
    assert "ok" not in r.stdout, (r.stdout, r.stderr)
    assert "Read-only file system" in r.stderr


def test_restrictions_are_undone_by_a_container_with_sys_admin(container):
    """The twin, documenting the limit: root with SYS_ADMIN can unmount the read-only /proc/sys of its own namespace."""
    container.write_config(context=RESTRICTED)  # no capabilities key: nsinit's own set, SYS_ADMIN included
    r = container.exec("sh", "-c", "umount /proc/sys && " + _write_script("/proc/sys/kernel/hostname", "lctest-sb"))
    assert "/proc/sys/kernel/hostname: ok" in r.stdout, r.stderr


def _proc_fs_mount(container, config: dict) -> str:
    container.write_config(**config)
    r = container.exec("sh", "-c", "grep ' /proc/fs ' /proc/self/mounts || echo none")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.skipif(not os.path.isdir("/proc/fs"), reason="this kernel has no /proc/fs")
def test_restrictions_make_proc_fs_read_only_as_runc_does(container):
    line = _proc_fs_mount(container, {"context": RESTRICTED, "capabilities": SAMPLE_CAPABILITIES})
    assert line != "none" and "ro" in line.split()[3].split(","), line


@pytest.mark.skipif(not os.path.isdir("/proc/fs"), reason="this kernel has no /proc/fs")
def test_without_restrictions_proc_fs_is_not_a_mount_of_its_own(container):
    assert _proc_fs_mount(container, {"capabilities": SAMPLE_CAPABILITIES}) == "none"
