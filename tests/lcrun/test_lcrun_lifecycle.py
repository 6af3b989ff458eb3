"""lcrun's commands on real containers, as podman and containerd-shim call them, and what each leaves behind.

This process is a child subreaper (as conmon and containerd-shim are): the
container's process comes back to it when ``lcrun create`` exits, and its
exit status is collected here.  After each test nothing is left: no state
under the test's --root, no cgroup, no process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from lcrunner import CGROUP, LCRUN, bundle_doc, lcrun, make, wait_child, with_cgroup  # noqa: F401 (fixtures)

pytestmark = pytest.mark.privileged

def cgroup_path(id: str) -> str:
    return f"/{CGROUP}-{os.getpid()}/{id}"


# -- create, start, state, kill, delete ---------------------------------------------------


def test_create_waits_start_runs_state_follows_and_delete_removes(lcrun, make, tmp_path):
    bundle = make(bundle_doc(["/bin/sleep", "1000"]))
    pid_file = tmp_path / "init.pid"
    r = lcrun("create", "--bundle", str(bundle), "--pid-file", str(pid_file), "c1")
    assert r.returncode == 0, r.stderr
    pid = int(pid_file.read_text())  # no newline: go-runc reads it with Atoi
    assert pid_file.read_text() == str(pid)
    state = lcrun.state("c1")
    assert {k: state[k] for k in ("id", "pid", "status", "bundle")} == {"id": "c1", "pid": pid, "status": "created",
                                                                          "bundle": str(bundle)}
    assert state["ociVersion"] and state["created"].endswith("Z")
    assert lcrun("start", "c1").returncode == 0
    assert lcrun.state("c1")["status"] == "running"
    again = lcrun("start", "c1")
    assert again.returncode == 1 and "not created" in again.stderr
    running = lcrun("delete", "c1")
    assert running.returncode == 1 and "running" in running.stderr
    assert lcrun("kill", "c1", "KILL").returncode == 0
    assert wait_child(pid) == 137
    assert lcrun.state("c1")["status"] == "stopped"
    stopped = lcrun("kill", "c1")
    assert stopped.returncode == 1 and "not running" in stopped.stderr
    assert lcrun("delete", "c1").returncode == 0
    assert lcrun("state", "c1").returncode == 1 and lcrun.ids() == []
    assert lcrun("delete", "--force", "c1").returncode == 0


def test_kill_takes_names_numbers_and_all(lcrun, make):
    bundle = make(bundle_doc(["/bin/sh", "-c", "trap 'exit 3' USR1; sleep 1000 & sleep 1000 & wait"]))
    assert lcrun("run", "--detach", "--bundle", str(bundle), "c1").returncode == 0
    pid = lcrun.state("c1")["pid"]
    time.sleep(0.3)
    assert lcrun("kill", "c1", "SIGUSR1").returncode == 0
    assert wait_child(pid) == 3
    lcrun("delete", "c1")
    assert lcrun("run", "--detach", "--bundle", str(bundle), "c2").returncode == 0
    pid = lcrun.state("c2")["pid"]
    assert lcrun("kill", "--all", "c2", "9").returncode == 0
    assert wait_child(pid) == 137
    assert lcrun("delete", "c2").returncode == 0


def test_duplicate_id_is_refused_and_the_first_container_kept(lcrun, make):
    bundle = make(bundle_doc(["/bin/sleep", "1000"]))
    assert lcrun("create", "--bundle", str(bundle), "c1").returncode == 0
    pid = lcrun.state("c1")["pid"]
    r = lcrun("create", "--bundle", str(bundle), "c1")
    assert r.returncode == 1 and r.stderr == "lcrun: container c1 already exists\n"
    assert lcrun.state("c1")["pid"] == pid
    assert lcrun("delete", "c1").returncode == 0  # a created container: killed and removed
    assert wait_child(pid) == 137


def test_run_in_the_foreground_relays_the_exit_status_and_leaves_nothing(lcrun, make):
    ok = lcrun("run", "--bundle", str(make(bundle_doc(["/bin/sh", "-c", "echo out; exit 42"]))), "c1")
    assert (ok.returncode, ok.stdout) == (42, "out\n"), ok.stderr
    # A signal death is 128+N; the foreground lcrun passes on a SIGTERM it gets (PID 1 here has a handler).
    argv = LCRUN + ["--root", str(lcrun.root), "run", "--bundle",
                    str(make(bundle_doc(["/bin/sh", "-c", "trap 'kill -9 $!; exit 4' TERM; sleep 1000 & wait"]))), "c2"]
    with open(os.devnull, "w") as null:
        run = subprocess.Popen(argv, stdout=null, stderr=null, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while lcrun("state", "c2").returncode != 0 or lcrun.state("c2")["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.2)
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 4
    assert lcrun("run", "-d", "--bundle", str(make(bundle_doc(["/bin/sleep", "1000"]))), "c3").returncode == 0
    killer = lcrun.state("c3")["pid"]
    assert lcrun("kill", "c3", "KILL").returncode == 0
    assert wait_child(killer) == 137
    assert lcrun("delete", "c3").returncode == 0
    assert lcrun.ids() == []


def test_a_missing_or_non_executable_command_fails_create(lcrun, make):
    missing = lcrun("create", "--bundle", str(make(bundle_doc(["/no/such"]))), "c1")
    assert missing.returncode == 1 and "no such file or directory" in missing.stderr, missing.stderr
    not_executable = lcrun("create", "--bundle", str(make(bundle_doc(["/etc/passwd"]))), "c2")
    assert not_executable.returncode == 1 and "permission denied" in not_executable.stderr
    assert lcrun.ids() == []


# -- the terminal ------------------------------------------------------------------------


def test_terminal_without_a_console_socket_is_refused(lcrun, make):
    r = lcrun("create", "--bundle", str(make(bundle_doc(["/bin/true"], terminal=True))), "c1")
    assert r.returncode == 1 and "--console-socket" in r.stderr
    assert lcrun.ids() == []


def test_a_console_socket_that_is_not_a_socket_is_refused(lcrun, make, tmp_path):
    (tmp_path / "file").write_text("")
    r = lcrun("create", "--bundle", str(make(bundle_doc(["/bin/true"], terminal=True))), "--console-socket",
              str(tmp_path / "file"), "c1")
    assert r.returncode == 1 and r.stderr == f"lcrun: --console-socket {tmp_path / 'file'} is not a socket\n"
    assert lcrun.ids() == []


def test_the_pty_master_comes_over_the_console_socket_with_the_console_size(lcrun, make, tmp_path):
    doc = bundle_doc(["/bin/sh", "-c", "tty; stty size"], terminal=True, consoleSize={"height": 33, "width": 101})
    path = str(tmp_path / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    r = lcrun("create", "--bundle", str(make(doc)), "--console-socket", path, "c1")
    assert r.returncode == 0, r.stderr
    conn, _ = server.accept()
    name, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    conn.close()
    server.close()
    master = fds[0]
    try:
        assert name.startswith(b"/dev/pts/")
        pid = lcrun.state("c1")["pid"]
        assert lcrun("start", "c1").returncode == 0
        out = b""
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
        assert wait_child(pid) == 0
    finally:
        os.close(master)
    assert out.replace(b"\r\n", b"\n").decode().split("\n")[:2] == ["/dev/pts/0", "33 101"]
    assert lcrun("delete", "c1").returncode == 0


# -- exec ----------------------------------------------------------------------------------


def test_exec_in_the_foreground_and_detached(lcrun, make, tmp_path):
    bundle = make(bundle_doc(["/bin/sleep", "1000"], env=["PATH=/bin:/usr/bin", "A=1"]))
    assert lcrun("run", "-d", "--bundle", str(bundle), "c1").returncode == 0
    joined = lcrun("exec", "--env", "B=2", "--cwd", "/tmp", "--user", "1000:1000", "c1",
                   "sh", "-c", 'echo $A $B; pwd; id -u; exit 5')
    assert joined.returncode == 5, joined.stderr
    assert joined.stdout.split() == ["1", "2", "/tmp", "1000"]
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["/bin/sh", "-c", "exit 9"], "cwd": "/", "env": [],
                                   "user": {"uid": 0, "gid": 0}}))
    pid_file = tmp_path / "exec.pid"
    detached = lcrun("exec", "--process", str(process), "--detach", "--pid-file", str(pid_file), "c1")
    assert detached.returncode == 0, detached.stderr
    assert wait_child(int(pid_file.read_text())) == 9
    # process.json's supplementary groups are the joined process's (as containerd's ctr task exec sends them).
    process.write_text(json.dumps({"args": ["/bin/id", "-G"], "cwd": "/", "env": [],
                                   "user": {"uid": 0, "gid": 0, "additionalGids": [44, 7]}}))
    groups = lcrun("exec", "--process", str(process), "c1")
    assert groups.returncode == 0, groups.stderr
    assert sorted(groups.stdout.split()) == ["0", "44", "7"]
    missing = lcrun("exec", "c1", "/no/such")
    assert missing.returncode == 255 and "no such file" in missing.stderr.lower(), missing.stderr
    ps = lcrun("ps", "--format", "json", "c1")
    assert json.loads(ps.stdout) == [lcrun.state("c1")["pid"]]
    table = lcrun("ps", "c1")
    assert "PID" in table.stdout.splitlines()[0] and "sleep 1000" in table.stdout
    assert lcrun("delete", "--force", "c1").returncode == 0


# -- cgroups: pause, resume, update, events ----------------------------------------------------


def test_pause_shows_in_state_and_list_and_resume_ends_it(lcrun, make):
    bundle = make(with_cgroup(bundle_doc(["/bin/sleep", "1000"]), cgroup_path("c1")))
    assert lcrun("run", "-d", "--bundle", str(bundle), "c1").returncode == 0
    assert lcrun("pause", "c1").returncode == 0
    assert lcrun.state("c1")["status"] == "paused"
    assert json.loads(lcrun("list", "--format", "json").stdout)[0]["status"] == "paused"
    refused = lcrun("exec", "c1", "/bin/true")
    assert refused.returncode == 255 and "paused" in refused.stderr
    assert lcrun("resume", "c1").returncode == 0
    assert lcrun.state("c1")["status"] == "running"
    assert lcrun("pause", "c1").returncode == 0
    assert lcrun("delete", "--force", "c1").returncode == 0  # a frozen container is thawed to die


def test_update_changes_the_limits_of_a_running_container(lcrun, make, tmp_path):
    from libcontainer.state import read_state

    bundle = make(with_cgroup(bundle_doc(["/bin/sleep", "1000"]), cgroup_path("c1"),
                              memory={"limit": 64 << 20}, pids={"limit": 50}))
    assert lcrun("run", "-d", "--bundle", str(bundle), "c1").returncode == 0
    paths = read_state(lcrun.root / "c1").resources["cgroups"]["paths"]
    r = lcrun("update", "--memory", str(128 << 20), "--pids-limit", "20", "--cpu-quota", "50000",
              "--cpu-period", "100000", "--cpu-shares", "512", "c1")
    assert r.returncode == 0, r.stderr
    read = lambda c, f: Path(paths[c], f).read_text().strip()  # noqa: E731
    if "memory" in paths:  # cgroup v1
        assert read("memory", "memory.limit_in_bytes") == str(128 << 20)
        assert read("pids", "pids.max") == "20"
        assert read("cpu", "cpu.cfs_quota_us") == "50000" and read("cpu", "cpu.shares") == "512"
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps({"pids": {"limit": 30}}))
    assert lcrun("update", "--resources", str(resources), "c1").returncode == 0
    if "pids" in paths:
        assert read("pids", "pids.max") == "30"
    refused = tmp_path / "refused.json"
    refused.write_text(json.dumps({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}))
    r = lcrun("update", "--resources", str(refused), "c1")
    assert r.returncode == 1 and "hugepageLimits" in r.stderr
    stats = lcrun("events", "--stats", "c1")
    event = json.loads(stats.stdout)
    assert event["type"] == "stats" and event["id"] == "c1" and event["data"]
    assert lcrun("delete", "--force", "c1").returncode == 0


def test_events_ends_when_the_container_stops(lcrun, make):
    bundle = make(with_cgroup(bundle_doc(["/bin/sleep", "1"]), cgroup_path("c1")))
    assert lcrun("run", "-d", "--bundle", str(bundle), "c1").returncode == 0
    pid = lcrun.state("c1")["pid"]
    r = lcrun("events", "--interval", "200ms", "c1", timeout=30)
    assert r.returncode == 0, r.stderr
    assert all(json.loads(line)["type"] == "stats" for line in r.stdout.splitlines())
    assert wait_child(pid) == 0
    assert lcrun("delete", "c1").returncode == 0


@pytest.mark.parametrize("hog", [True, False])
def test_events_tells_of_an_oom_kill(lcrun, make, hog):
    """A child that outgrows the memory limit is killed: an oom event; the twin, without the hog, has none."""
    grow = "(x=xxxxxxxxxxxxxxxx; while true; do x=$x$x; done); " if hog else ""
    limit = 16 * 1024 * 1024
    bundle = make(with_cgroup(bundle_doc(["/bin/sh", "-c", f"sleep 0.5; {grow}sleep 1.5"]), cgroup_path("c1"),
                              memory={"limit": limit, "swap": limit}))
    assert lcrun("run", "-d", "--bundle", str(bundle), "c1").returncode == 0
    pid = lcrun.state("c1")["pid"]
    r = lcrun("events", "--interval", "10s", "c1", timeout=30)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[0]["type"] == "stats"
    assert [e for e in events if e["type"] == "oom"] == ([{"type": "oom", "id": "c1"}] if hog else [])
    assert wait_child(pid) == 0
    assert lcrun("delete", "c1").returncode == 0


# -- the runtime's state root ---------------------------------------------------------------


def test_list_shows_every_container_with_its_status(lcrun, make):
    bundle = make(bundle_doc(["/bin/sleep", "1000"]))
    assert lcrun("create", "--bundle", str(bundle), "a1").returncode == 0
    assert lcrun("run", "-d", "--bundle", str(bundle), "b2").returncode == 0
    table = lcrun("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert [line.split()[:3:2] for line in table[1:]] == [["a1", "created"], ["b2", "running"]]
    assert lcrun("list", "-q").stdout.split() == ["a1", "b2"]
    for id in ("a1", "b2"):
        pid = lcrun.state(id)["pid"]
        assert lcrun("delete", "--force", id).returncode == 0
        assert wait_child(pid) == 137


@pytest.mark.parametrize("flag", [[], ["--no-new-keyring"]])
def test_no_new_keyring_keeps_lcruns_session_keyring(lcrun, make, flag):
    """A key only its possessors see: inside only with --no-new-keyring (the twin: without, a keyring of its own)."""
    import sys
    from pathlib import Path

    KEY = "lctest-possessed-key"

    def possessing_a_key(argv):
        return [sys.executable, str(Path(__file__).parents[1] / "possess_key.py"), KEY, *argv]

    doc = bundle_doc(["/bin/cat", "/proc/keys"])
    doc["linux"]["maskedPaths"].remove("/proc/keys")  # lcrun spec masks it, as runc spec does
    bundle = make(doc)
    r = subprocess.run(possessing_a_key(LCRUN + ["--root", str(lcrun.root), "run", *flag, "--bundle", str(bundle),
                                                 "k1"]), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "keyring" in r.stdout  # /proc/keys read: the container's own keyrings at least
    assert (KEY in r.stdout) is bool(flag)
