"""The lifecycle engine through nsinit: run, exit codes, signals, join, cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from libcontainer.testing.fixtures import read_terminal

pytestmark = pytest.mark.privileged


def test_first_process_is_pid_1_with_its_hostname(container):
    container.write_config(hostname="koye")
    r = container.exec("sh", "-c", "echo $$; hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "koye"]


def test_hostname_without_uts_namespace_is_refused_as_a_config_error(container):
    container.write_config(hostname="koye", namespaces={"NEWNS": True, "NEWPID": True})
    r = container.exec("hostname")
    assert r.returncode == 125
    assert "unable to set hostname without a private UTS namespace" in r.stderr
    assert "Traceback" not in r.stderr
    assert os.uname().nodename != "koye"


@pytest.mark.parametrize("script,code", [("exit 0", 0), ("exit 42", 42), ("kill -TERM $$; sleep 5", 143)])
def test_exit_status_is_the_commands_own(container, script, code):
    container.write_config()
    # PID 1 ignores signals it has no handler for, so the TERM case runs in a child shell.
    cmd = ["sh", "-c", script] if code != 143 else ["sh", "-c", f"sh -c '{script}'; exit $?"]
    r = container.exec(*cmd)
    assert r.returncode == code, r.stderr


def test_command_not_found_exits_127_naming_it(container):
    container.write_config()
    r = container.exec("no-such-command")
    assert r.returncode == 127
    assert r.stderr.strip() == ("nsinit: exec: no-such-command: executable file not found in $PATH of the root "
                                f"filesystem {container.path}")


def test_command_not_executable_exits_126(container):
    container.write_config()
    (container.path / "bin" / "notexec").write_text("#!/bin/sh\necho no\n")
    r = container.exec("/bin/notexec")
    assert r.returncode == 126
    assert "Permission denied" in r.stderr


def test_runtime_failure_exits_125_with_one_line_naming_the_step(container):
    container.write_config(mounts=[{"type": "bind", "source": "/nonexistent-data", "destination": "/mnt/data"}])
    r = container.exec("true")
    assert r.returncode == 125
    assert r.stderr.strip() == "nsinit: mounts: bind /nonexistent-data -> /mnt/data: No such file or directory"
    assert not (container.path / "pid").exists()


def test_signals_to_nsinit_reach_the_container_process(container):
    container.write_config()
    p = container.popen("sh", "-c", "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 7' TERM; "
                                    "echo ready; while :; do sleep 0.05; done")
    container.wait_running()
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGUSR1)
    assert p.stdout.readline().strip() == "got-usr1"
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 7
    assert p.stdout.read().strip() == "got-term"


def test_second_exec_joins_the_running_container(container):
    container.write_config(hostname="joined")
    first = container.popen("sh", "-c", "mkdir -p /tmp/marker; echo ready; sleep 30")
    pid = container.wait_running()
    assert first.stdout.readline().strip() == "ready"
    r = container.exec("sh", "-c", "hostname; echo $$; ls /tmp; readlink /proc/1/ns/mnt; readlink /proc/self/ns/mnt")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "joined"
    assert lines[1] != "1"  # not PID 1
    assert "marker" in lines  # the first process's mounts (its /tmp)
    assert lines[-1] == lines[-2]  # same mount namespace as PID 1
    for ns in ("mnt", "uts", "ipc", "pid", "net"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")


def test_join_when_nothing_runs_starts_a_new_container(container):
    container.write_config()
    r = container.exec("sh", "-c", "echo $$")
    assert r.stdout.strip() == "1"  # a first process, not a joined one


def test_pid_1_death_kills_joined_processes_and_removes_pid_file(container):
    container.write_config()
    first = container.popen("sh", "-c", "read x; exit 3", stdin=subprocess.PIPE)
    container.wait_running()
    joined = container.popen("sh", "-c", "sleep 60 & sleep 60")
    time.sleep(0.5)
    first.stdin.write("go\n")
    first.stdin.close()
    assert first.wait(timeout=10) == 3
    assert joined.wait(timeout=10) == 137  # SIGKILLed with the pid namespace
    assert not (container.path / "pid").exists()
    assert not (container.path / "state.json").exists()


def test_sigkill_of_nsinit_kills_the_container_and_next_command_recovers(container):
    container.write_config()
    p = container.popen("sleep", "60")
    pid = container.wait_running()
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.02)
    assert not os.path.exists(f"/proc/{pid}/stat") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]
    assert (container.path / "pid").exists()  # left behind by the killed nsinit
    r = container.exec("sh", "-c", "echo $$")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"  # a new container, not a join of the dead one
    assert not (container.path / "pid").exists()


def test_forged_pid_file_naming_a_host_process_is_not_joined(container):
    container.write_config()
    host = subprocess.Popen(["sleep", "60"])
    try:
        (container.path / "pid").write_text(f"{host.pid}\n")
        stat = open(f"/proc/{host.pid}/stat").read()
        (container.path / "start").write_text(stat[stat.rindex(")") + 2:].split()[19] + "\n")
        r = container.exec("sh", "-c", "echo $$")
        assert r.returncode == 125
        assert "not this container's" in r.stderr
        assert host.poll() is None  # the host process was left alone
    finally:
        host.kill()
        host.wait()
        for name in ("pid", "start"):
            (container.path / name).unlink(missing_ok=True)


def test_readonly_fs_makes_root_read_only(container):
    container.write_config(readonly_fs=True)
    r = container.exec("sh", "-c", "touch /newfile")
    assert r.returncode != 0
    assert "Read-only file system" in r.stderr
    assert not (container.path / "newfile").exists()


def test_root_is_writable_without_readonly_fs(container):
    container.write_config()
    r = container.exec("sh", "-c", "touch /newfile")
    assert r.returncode == 0, r.stderr
    assert (container.path / "newfile").exists()


def test_bind_mounts_are_writable_or_read_only_as_configured(container, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "file").write_text("data")
    container.write_config(mounts=[
        {"type": "bind", "source": str(rw), "destination": "/mnt/rw", "writable": True},
        {"type": "bind", "source": str(ro), "destination": "/mnt/ro"},
    ])
    r = container.exec("sh", "-c", "echo hi > /mnt/rw/out; cat /mnt/ro/file; echo x > /mnt/ro/new")
    assert (rw / "out").read_text() == "hi\n"
    assert r.stdout.strip() == "data"
    assert "Read-only file system" in r.stderr
    assert not (ro / "new").exists()


def test_bind_mount_through_absolute_symlink_lands_inside_rootfs(container, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "inside").write_text("x")
    os.symlink("/", container.path / "evil")
    os.symlink("../../../tmp/lctest-escape", container.path / "rel")
    container.write_config(mounts=[
        {"type": "bind", "source": str(src), "destination": "/evil/etc/lctest-escape"},
        {"type": "bind", "source": str(src), "destination": "/rel"},
    ])
    r = container.exec("sh", "-c", "cat /etc/lctest-escape/inside /tmp/lctest-escape/inside")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "xx"
    assert not os.path.exists("/etc/lctest-escape")  # never on the host
    assert not os.path.exists("/tmp/lctest-escape")
    assert (container.path / "etc" / "lctest-escape").is_dir()


def test_environment_is_exactly_the_configured_one(container):
    container.write_config(environment=["PATH=/bin", "ONLY=this"])
    env = dict(os.environ, SECRET="hunter2", LD_PRELOAD="/evil.so")
    r = subprocess.run([*__import__("libcontainer.testing.fixtures", fromlist=["x"]).nsinit_command(), "exec", "env"],
                       cwd=container.path, env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    # Nothing of nsinit's environment; HOME, which the config lacks, from the user's passwd entry (root's).
    assert sorted(r.stdout.split()) == ["HOME=/root", "ONLY=this", "PATH=/bin"]


def test_user_switch_sets_uid_gid_and_supplementary_groups(container):
    container.write_config(user="user")
    r = container.exec("sh", "-c", "id -u; id -g; id -G")
    assert r.returncode == 0, r.stderr
    uid, gid, groups = r.stdout.splitlines()
    assert (uid, gid) == ("1000", "1000")
    assert sorted(groups.split()) == ["100", "1000", "29", "44"]


def test_user_switch_with_uid_and_group_names(container):
    container.write_config(user="daemon:video")
    r = container.exec("sh", "-c", "id -u; id -g")
    assert r.stdout.split() == ["1", "44"]


def test_unknown_user_is_a_clear_error(container):
    container.write_config(user="nosuchuser")
    r = container.exec("id")
    assert r.returncode == 125
    assert r.stderr.strip() == "nsinit: user: unable to find user nosuchuser: no matching entry in /etc/passwd"


def test_only_fds_0_to_2_reach_the_container(container):
    container.write_config()
    r1, w1 = os.pipe()
    os.set_inheritable(r1, True)
    os.set_inheritable(w1, True)
    d = os.open("/", os.O_RDONLY)
    os.set_inheritable(d, True)
    try:
        from libcontainer.testing.fixtures import nsinit_command

        r = subprocess.run(nsinit_command() + ["exec", "ls", "/proc/self/fd"], cwd=container.path, close_fds=False,
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    finally:
        for fd in (r1, w1, d):
            os.close(fd)
    assert r.returncode == 0, r.stderr
    # ls itself opens one fd for the directory it lists.
    assert len(r.stdout.split()) == 4


def test_working_dir_is_used_and_checked(container):
    (container.path / "srv").mkdir()
    container.write_config(working_dir="/srv")
    assert container.exec("pwd").stdout.strip() == "/srv"
    container.write_config(working_dir="/missing")
    r = container.exec("pwd")
    assert r.returncode == 125
    assert "working_dir: /missing: No such file or directory" in r.stderr


def _nsinit_in_pty(container, script: str) -> tuple[int, int]:
    """``nsinit exec sh -c SCRIPT`` with a pty of the test's as its terminal: (pid, master fd)."""
    import pty

    from libcontainer.testing.fixtures import nsinit_command

    pid, master = pty.fork()
    if pid == 0:
        os.chdir(container.path)
        os.execv(nsinit_command()[0], nsinit_command() + ["exec", "sh", "-c", script])
    return pid, master


def test_tty_gives_a_new_pseudo_terminal(container):
    container.write_config(tty=True)
    pid, master = _nsinit_in_pty(container, "tty; readlink /proc/self/fd/0; ls -l /dev/console")
    out = read_terminal(master)
    _, status = os.waitpid(pid, 0)
    os.close(master)
    text = out.decode()
    assert os.waitstatus_to_exitcode(status) == 0, text
    lines = text.splitlines()
    # pts/0: the first pty of the container's own devpts instance, also its /dev/console.
    assert lines[:2] == ["/dev/pts/0", "/dev/pts/0"]
    assert lines[2].startswith("crw") and "136,   0" in lines[2]
    assert "not a tty" not in text


def test_pipe_mode_passes_stdio_through(container):
    container.write_config()
    r = container.exec("cat", input="hi\n")
    assert r.stdout == "hi\n"
    r = container.exec("sh", "-c", "tty")
    assert r.stdout.strip() == "not a tty"


def test_no_mounts_are_left_behind(container):
    container.write_config(mounts=[{"type": "bind", "source": "/etc", "destination": "/mnt/etc"}])
    assert container.exec("true").returncode == 0
    with open("/proc/self/mounts") as f:
        assert str(container.path) not in f.read()


def test_root_option_and_data_path_name_another_config_directory(container, tmp_path):
    from libcontainer.testing.fixtures import nsinit_command

    container.write_config(hostname="elsewhere", rootfs=str(container.path))
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (container.path / "container.json").rename(state_dir / "container.json")
    r = subprocess.run(nsinit_command() + ["exec", "--root", str(state_dir), "hostname"], capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL, cwd="/")
    assert (r.returncode, r.stdout.strip()) == (0, "elsewhere"), r.stderr
    env = dict(os.environ, data_path=str(state_dir))
    r = subprocess.run(nsinit_command() + ["exec", "hostname"], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL, cwd="/", env=env)
    assert (r.returncode, r.stdout.strip()) == (0, "elsewhere"), r.stderr
    r = subprocess.run(nsinit_command() + ["exec", "hostname"], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL, cwd=str(tmp_path))
    assert r.returncode == 125
    assert "container.json" in r.stderr


@pytest.mark.parametrize("name", ["proc", "sys", "dev"])
def test_special_directory_that_is_a_symlink_in_the_rootfs_is_refused(container, name):
    os.rmdir(container.path / name)
    os.symlink("/tmp", container.path / name)
    container.write_config()
    r = container.exec("true")
    assert r.returncode == 125
    assert r.stderr.strip() == f"nsinit: rootfs: /{name} in the rootfs is a symlink; refusing to mount over it"


@pytest.mark.parametrize("dest", ["/proc", "/proc/sys", "/sys"])
def test_bind_mount_over_proc_or_sys_is_refused(container, tmp_path, dest):
    container.write_config(mounts=[{"type": "bind", "source": str(tmp_path), "destination": dest}])
    r = container.exec("true")
    assert r.returncode == 125
    assert f"mounting over {dest} is not allowed" in r.stderr


def test_restrictions_make_proc_sys_read_only_and_mask_kcore(container):
    container.write_config(context={"restrictions": "true"})
    r = container.exec("sh", "-c", "echo 1 > /proc/sys/kernel/domainname; touch /sys/x")
    assert r.stderr.count("Read-only file system") == 2, r.stderr
    if os.path.exists("/proc/sysrq-trigger"):  # this kernel may be built without it
        r = container.exec("sh", "-c", "echo h > /proc/sysrq-trigger")
        assert "Read-only file system" in r.stderr
    if os.path.exists("/proc/kcore"):
        assert container.exec("sh", "-c", "wc -c < /proc/kcore").stdout.strip() == "0"


def test_without_restrictions_proc_sys_is_writable_in_own_namespaces(container):
    container.write_config()
    r = container.exec("sh", "-c", "echo lctest > /proc/sys/kernel/domainname && cat /proc/sys/kernel/domainname")
    assert r.stdout.strip() == "lctest"  # the container's own UTS namespace: the host's is untouched
    with open("/proc/sys/kernel/domainname") as f:
        assert f.read().strip() != "lctest"


def test_tty_relays_window_size_changes(container):
    import fcntl
    import struct
    import termios

    container.write_config(tty=True)
    pid, master = _nsinit_in_pty(container, "stty size; read x; stty size")
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    out = b""
    while b"\n" not in out:
        out += os.read(master, 4096)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    time.sleep(0.3)
    os.write(master, b"go\r")
    out += read_terminal(master)
    os.waitpid(pid, 0)
    os.close(master)
    sizes = [ln.strip() for ln in out.decode().splitlines() if ln.strip() and ln.strip()[0].isdigit()]
    assert sizes == ["30 100", "40 120"], out


@pytest.mark.needs_host("cgroup-v1")  # the sample's device rules need the v1 devices controller
def test_minimal_sample_config_runs_unchanged(container):
    import json
    import shutil

    shutil.copy(os.path.join(os.path.dirname(__file__), "..", "..", "sample_configs", "minimal.json"),
                container.path / "container.json")
    doc = json.loads((container.path / "container.json").read_text())
    r = container.exec("sh", "-c", "hostname; id -un; ls /sys/class/net; grep CapBnd /proc/self/status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[:3] == ["koye", doc["user"], "lo"]


def test_next_command_kills_a_pid_1_whose_nsinit_is_gone(container):
    """Before the parent-death signal lands, the next command still finds a stale container."""
    from libcontainer import state as st

    container.write_config()
    p = container.popen("sh", "-c", "echo ready; sleep 60")
    pid = container.wait_running()
    # Started (not still in create, holding the directory's lock): then stopped,
    # so that it neither reaps nor cleans up, and made to look dead.
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGSTOP)
    try:
        doc = st.read_state(st.private_dir(container.path))
        doc.creator_start = "0"  # the supervisor that wrote this is gone (or its pid was reused)
        st.write_state(st.private_dir(container.path), doc)
        r = container.exec("sh", "-c", "echo $$")
        assert r.stdout.strip() == "1", r.stderr  # a new container, after the old PID 1 was killed
        assert st.process_start_time(pid) is None
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()


@pytest.mark.parametrize("keep", [False, True])
def test_a_container_gets_a_session_keyring_of_its_own_unless_the_config_keeps_the_callers(container, keep):
    """The twin pair: a key only its possessors see is visible inside only with no_new_keyring."""
    from libcontainer.testing.fixtures import nsinit_command
    import sys
    from pathlib import Path

    KEY = "lctest-possessed-key"

    def possessing_a_key(argv):
        return [sys.executable, str(Path(__file__).parents[1] / "possess_key.py"), KEY, *argv]

    container.write_config(no_new_keyring=keep)
    r = subprocess.run(possessing_a_key(nsinit_command() + ["exec", "cat", "/proc/keys"]), cwd=container.path,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "keyring" in r.stdout  # /proc/keys read: the container's own keyrings at least
    assert (KEY in r.stdout) is keep
