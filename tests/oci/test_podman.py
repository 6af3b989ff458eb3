"""podman (Debian 12's 4.3) driving the runtime under test, from a busybox root filesystem directory (``--rootfs``).

Each test runs against every runtime of ``RUNTIMES`` (runc today; lcrun when
``.venv/bin/lcrun`` exists), and each assertion states what runc does, so a
runtime that differs fails beside runc's passing twin.  Most checks are made
from inside the container (what its process sees), some from the host (the
cgroup files of its process).
"""

from __future__ import annotations

import os
import time

import pytest

from ociclients import command_of, host_cgroup

pytestmark = pytest.mark.privileged

# Capability bits (linux/capability.h) the tests look at.
CAP_CHOWN, CAP_KILL, CAP_SETUID, CAP_NET_RAW = 0, 5, 7, 13


def status_fields(text: str) -> dict[str, str]:
    """The "Name:\\tvalue" lines of /proc/PID/status (or any such output) as a dict."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


# -- exit statuses -----------------------------------------------------------------------


def test_run_rm_relays_output_and_the_exit_status(podman):
    result = podman.run("sh", "-c", "echo out; echo err >&2; exit 42")

    assert result.returncode == 42, result.stderr
    assert result.stdout == "out\n"
    assert "err\n" in result.stderr
    assert podman.store.container_ids() == []  # --rm: the container is gone when podman returns


def test_a_missing_command_is_127_and_a_non_executable_one_126(podman):
    # runc fails `create` (not `start`) when the command cannot be executed,
    # with an error podman matches by its words ("no such file or directory",
    # "permission denied") to choose 127 or 126.
    missing = podman.run("/no/such/command")
    not_executable = podman.run("/etc/passwd")

    assert missing.returncode == 127, missing.stderr
    assert not_executable.returncode == 126, not_executable.stderr
    assert "start" not in [command_of(argv) for argv in podman.calls()]


def test_a_container_killed_by_a_signal_exits_128_plus_the_signal(podman):
    # PID 1 of a pid namespace ignores signals it has no handler for, except
    # SIGKILL (and SIGSTOP) from the host: `kill -9 $$` inside would do nothing.
    name = podman.start("sleep", "1000")

    assert podman("kill", "--signal", "KILL", name).returncode == 0
    waited = podman("wait", name)

    assert waited.stdout.strip() == "137", waited.stderr
    assert podman.inspect(name, "{{.State.ExitCode}}") == "137"


# -- a detached container: exec, ps, logs, pause, unpause, stop, rm ----------------------------


@pytest.mark.needs_host("cgroup-v1")  # the freezer's state file
def test_detached_container_lifecycle(podman):
    # PID 1 traps SIGTERM: `podman stop` then ends it at once with its own status.
    script = "trap 'echo got TERM; exit 3' TERM; echo started; sleep 1000 & wait"
    name = podman.start("sh", "-c", script)
    pid = podman.pid(name)
    assert _wait_for(lambda: "started" in podman("logs", name).stdout), podman("logs", name)

    ps = podman("ps", "--all", "--format", "{{.Names}} {{.Status}}")
    assert ps.stdout.startswith(f"{name} Up"), ps.stdout

    # exec: joins the container (its PID 1 is the first process), with its own status, user, env and cwd.
    joined = podman("exec", name, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 3")
    assert joined.returncode == 3, joined.stderr
    assert joined.stdout.startswith("sh -c trap"), joined.stdout
    as_user = podman("exec", "--user", "1000:1000", "--env", "A=B", "--workdir", "/tmp", name,
                     "sh", "-c", 'id -u; id -g; echo "$A"; pwd')
    assert as_user.stdout.split() == ["1000", "1000", "B", "/tmp"], as_user.stderr
    with_tty = podman("exec", "--tty", name, "tty")
    assert with_tty.returncode == 0 and with_tty.stdout.startswith("/dev/pts/"), with_tty

    # pause freezes the container's cgroup, unpause thaws it.
    freezer = host_cgroup(pid, "freezer") / "freezer.state"
    assert podman("pause", name).returncode == 0
    assert podman.inspect(name, "{{.State.Status}}") == "paused"
    assert freezer.read_text().strip() == "FROZEN"
    assert podman("unpause", name).returncode == 0
    assert podman.inspect(name, "{{.State.Status}}") == "running"
    assert freezer.read_text().strip() == "THAWED"

    # stop: SIGTERM (to the trap), well before the 10 s after which podman sends SIGKILL.
    began = time.monotonic()
    stopped = podman("stop", "--time", "10", name)
    assert stopped.returncode == 0, stopped.stderr
    assert time.monotonic() - began < 5
    assert podman.inspect(name, "{{.State.ExitCode}}") == "3"
    assert "got TERM" in podman("logs", name).stdout

    assert podman("rm", name).returncode == 0
    assert podman("ps", "--all", "--quiet").stdout == ""
    assert not os.path.exists(freezer)  # the container's cgroup went with it
    assert {"create", "start", "exec", "pause", "resume", "kill", "delete"} <= {command_of(a) for a in podman.calls()}


# -- the terminal ----------------------------------------------------------------------


def test_tty_is_a_pty_of_the_client_terminals_size(podman):
    # podman hands the runtime a console socket (conmon's); the pty master
    # the runtime sends there carries the size of podman's own terminal.
    status, output = podman.in_terminal(*podman.run_argv(["sh", "-c", "tty; stty size; exit 5"], ["--tty"]),
                                        rows=33, cols=101)

    assert status == 5, output
    assert output.replace("\r\n", "\n").splitlines()[:2] == ["/dev/pts/0", "33 101"], output
    assert any("--console-socket" in argv for argv in podman.calls())


# -- what the container gets -------------------------------------------------------------


@pytest.mark.needs_host("cgroup-v1")  # the v1 controllers' files
def test_memory_pids_and_cpu_limits_are_the_cgroups_of_the_container(podman):
    name = podman.start("sleep", "1000", options=["--memory", "64m", "--pids-limit", "50", "--cpus", "0.5"])
    pid = podman.pid(name)

    # From the host: the cgroup of the container's PID 1.
    assert (host_cgroup(pid, "memory") / "memory.limit_in_bytes").read_text().strip() == str(64 * 1024 * 1024)
    assert (host_cgroup(pid, "pids") / "pids.max").read_text().strip() == "50"
    assert (host_cgroup(pid, "cpu") / "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert (host_cgroup(pid, "cpu") / "cpu.cfs_period_us").read_text().strip() == "100000"
    # From inside: /sys/fs/cgroup shows the container's own cgroup of each controller.
    inside = podman("exec", name, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max",
                    "/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
    assert inside.stdout.split() == [str(64 * 1024 * 1024), "50", "50000"], inside.stderr


def test_cap_drop_removes_the_capabilities_from_every_set(podman):
    result = podman.run("sh", "-c", "grep ^Cap /proc/self/status; chown 1000 /tmp && echo chowned",
                        options=["--cap-drop", "NET_RAW", "--cap-drop", "CHOWN"])
    caps = {key: int(value, 16) for key, value in status_fields(result.stdout).items() if key.startswith("Cap")}

    for key in ("CapEff", "CapPrm", "CapBnd"):
        assert not caps[key] & (1 << CAP_NET_RAW | 1 << CAP_CHOWN), (key, hex(caps[key]))
        assert caps[key] & (1 << CAP_KILL | 1 << CAP_SETUID) == 1 << CAP_KILL | 1 << CAP_SETUID, (key, hex(caps[key]))
    assert "chowned" not in result.stdout and "Operation not permitted" in result.stderr


def test_read_only_root_refuses_writes_but_tmp_is_writable(podman):
    # podman adds tmpfs mounts on /tmp, /var/tmp and /run to a --read-only container.
    result = podman.run("sh", "-c", "touch /file; echo root=$?; touch /tmp/file; echo tmp=$?",
                        options=["--read-only"])

    assert "root=1" in result.stdout and "tmp=0" in result.stdout, result
    assert "Read-only file system" in result.stderr


def test_bind_mounts_read_write_and_read_only(podman, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (rw / "from-host").write_text("hello\n")
    script = "cat /data/from-host; echo written > /data/from-container; echo no > /ro/file; echo ro=$?"
    result = podman.run("sh", "-c", script, options=["-v", f"{rw}:/data", "-v", f"{ro}:/ro:ro"])

    assert result.stdout.splitlines() == ["hello", "ro=1"], result
    assert (rw / "from-container").read_text() == "written\n"
    assert not (ro / "file").exists()


def test_network_none_has_only_loopback_and_it_is_up(podman):
    # Every podman.run is `--network none`: a new network namespace, nothing
    # plugged in.  runc brings its lo up.
    result = podman.run("sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags")

    assert result.stdout.split()[:-1] == ["lo"], result
    assert int(result.stdout.split()[-1], 16) & 0x1  # IFF_UP


def test_user_sets_uid_gid_and_groups_and_clears_capabilities(podman):
    # podman resolves "user" in the rootfs's /etc/passwd and /etc/group: uid
    # 1000, gid 1000, supplementary groups 29, 44, 100 and its own 1000.
    result = podman.run("cat", "/proc/self/status", options=["--user", "user"])
    fields = status_fields(result.stdout)

    assert fields["Uid"].split() == ["1000"] * 4, result
    assert fields["Gid"].split() == ["1000"] * 4
    assert set(fields["Groups"].split()) == {"29", "44", "100", "1000"}
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0


def test_env_and_workdir(podman):
    # (podman itself refuses a --workdir missing from a --rootfs, before the runtime is called.)
    result = podman.run("sh", "-c", "pwd; env", options=["--env", "FOO=bar", "--workdir", "/home/user"])
    lines = result.stdout.splitlines()

    assert lines[:1] == ["/home/user"], result
    assert {"FOO=bar", "HOME=/root", "TERM=xterm", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"} <= set(lines)


def _wait_for(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
