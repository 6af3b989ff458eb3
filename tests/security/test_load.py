"""Load: many joins at once, many containers at once, and 500 containers from one process without leaks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from libcontainer.testing.fixtures import DEFAULT_ENV, ContainerDir, nsinit_command

pytestmark = pytest.mark.privileged

JOINS = 20
PARALLEL = 50
IN_A_ROW = 500
WARM_UP = 20
RSS_SLACK_KIB = 2048  # growth allowed over IN_A_ROW starts: allocator noise, not a per-start leak
# The cheap config of the parallel and in-a-row tests: no network namespace
# (creating and freeing 500 of them is the kernel's cost, not ours).
CHEAP_NAMESPACES = {"NEWNS": True, "NEWUTS": True, "NEWIPC": True, "NEWPID": True}


def _hardlinked_rootfs(template: Path, dest: Path) -> Path:
    """A rootfs sharing the template's files (no command here writes to one): cheap for 50 copies."""
    shutil.copytree(template, dest, symlinks=True, copy_function=os.link)
    return dest


def test_twenty_processes_joining_at_once_all_succeed_and_exit_cleanly(container):
    container.write_config()
    first = container.popen("sh", "-c", "echo ready; sleep 60")
    pid1 = container.wait_running()
    assert first.stdout.readline().strip() == "ready"
    pid_ns = os.readlink(f"/proc/{pid1}/ns/pid")
    joins = [subprocess.Popen(nsinit_command() + ["exec", "sh", "-c", f"echo $$ {i}; readlink /proc/self/ns/pid"],
                              cwd=container.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True) for i in range(JOINS)]
    results = [(p.wait(timeout=60), *p.communicate()) for p in joins]
    failed = [(i, code, err) for i, (code, _, err) in enumerate(results) if code != 0]
    assert failed == []
    pids = set()
    for i, (_, out, err) in enumerate(results):
        lines = out.split("\n")
        pid, index = lines[0].split()
        assert index == str(i) and pid != "1", out  # joined, not a new container
        assert lines[1] == pid_ns  # in the container's pid namespace
        assert err == ""
        pids.add(pid)
    assert len(pids) == JOINS
    # The container is unharmed and only its own processes are left in it.
    assert first.poll() is None
    # busybox sh execs the last command of -c: PID 1 is the sleep itself, and nothing else is left.
    assert [_cmdline(p) for p in _pids_in_pid_namespace(pid_ns)] == ["sleep 60"]


def _pids_in_pid_namespace(ns: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.readlink(f"/proc/{entry}/ns/pid") == ns:
                out.append(int(entry))
        except OSError:
            pass
    return out


def _cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().rstrip(b"\0").replace(b"\0", b" ").decode()


def test_fifty_containers_started_in_parallel_all_succeed(rootfs_template, tmp_path):
    boxes = []
    for i in range(PARALLEL):
        box = ContainerDir(_hardlinked_rootfs(rootfs_template, tmp_path / f"box{i}"))
        box.write_config({"namespaces": dict(CHEAP_NAMESPACES), "environment": list(DEFAULT_ENV)},
                         hostname=f"lcs-load-{i}")
        boxes.append(box)
    began = time.monotonic()
    try:
        procs = [subprocess.Popen(nsinit_command() + ["exec", "sh", "-c", "echo $$ $(hostname)"], cwd=box.path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
                 for box in boxes]
        results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    finally:
        for box in boxes:
            box.cleanup()
    seconds = time.monotonic() - began
    failed = [(i, code, err) for i, (_, err, code) in enumerate(results) if code != 0]
    assert failed == []
    assert [out.split() for out, _, _ in results] == [["1", f"lcs-load-{i}"] for i in range(PARALLEL)]
    assert not any((box.path / n).exists() for box in boxes for n in ("pid", "state.json"))
    print(f"{PARALLEL} containers in parallel: {seconds:.1f} s")


# Runs in a fresh interpreter, so that the test process's own descriptors and
# memory are not measured (and not disturbed: the API makes its caller a subreaper).
IN_A_ROW_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    from libcontainer import Container

    def fds():
        return sorted(os.listdir("/proc/self/fd"))

    def rss_kib():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])

    root, warm_up, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    leak = sys.argv[4:] == ["--leak"]  # the twin: leak a descriptor and 64 KiB per start
    kept = []
    box = Container(root)
    devnull = os.open("/dev/null", os.O_WRONLY)
    os.dup2(devnull, 1)  # the containers inherit stdout: keep the result channel (stderr) clean
    for _ in range(warm_up):
        assert box.run(["/bin/true"]).returncode == 0
    fds_before, rss_before = fds(), rss_kib()
    began = time.monotonic()
    failures = 0
    for _ in range(count):
        failures += box.run(["/bin/true"]).returncode != 0
        if leak:
            kept.append((os.open("/dev/null", os.O_RDONLY), bytearray(b"x" * 65536)))
    seconds = time.monotonic() - began
    json.dump({"failures": failures, "seconds": seconds, "fds_before": fds_before, "fds_after": fds(),
               "rss_before": rss_before, "rss_after": rss_kib()}, sys.stderr)
""")


def _in_a_row(container, count: int, *extra: str) -> dict:
    container.write_config({"namespaces": dict(CHEAP_NAMESPACES), "environment": list(DEFAULT_ENV)})
    r = subprocess.run([sys.executable, "-c", IN_A_ROW_SCRIPT, str(container.path), str(WARM_UP), str(count), *extra],
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stderr.strip().splitlines()[-1])


def test_five_hundred_containers_in_a_row_from_one_process_leak_no_fds_or_memory(container):
    found = _in_a_row(container, IN_A_ROW)
    print(f"{IN_A_ROW} containers in a row: {found['seconds']:.1f} s, "
          f"RSS {found['rss_before']} -> {found['rss_after']} KiB")
    assert found["failures"] == 0
    assert found["fds_after"] == found["fds_before"]
    assert found["rss_after"] - found["rss_before"] < RSS_SLACK_KIB, found
    assert not (container.path / "pid").exists()


def test_leak_measurement_sees_a_leak(container):
    """The twin: the same measurement, with a descriptor and 64 KiB leaked per start, sees both."""
    found = _in_a_row(container, 50, "--leak")
    assert found["failures"] == 0
    assert len(found["fds_after"]) - len(found["fds_before"]) == 50
    assert found["rss_after"] - found["rss_before"] >= RSS_SLACK_KIB
