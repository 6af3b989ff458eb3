"""lcrun's start and delete without the plugin manager, and the cases that must still go through every plugin.

``python -X importtime`` lists every module a command imports: a fast path
is one whose list has neither pluggy nor the engine (libcontainer.container).
Each twin shows a container whose plugins have work to do going through
them: a poststart or poststop hook runs, a process left in the container's
cgroup is killed, a state without create's record is handled as before.
After each test nothing is left (the lcrun fixture checks states and cgroups).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lcrunner import CGROUP, bundle_doc, lcrun, make, wait_child, with_cgroup  # noqa: F401 (fixtures)

pytestmark = pytest.mark.privileged

HEAVY = ("pluggy", "libcontainer.container", "libcontainer.plugins")


def cgroup_path(id: str) -> str:
    return f"/{CGROUP}-{os.getpid()}/{id}"


def traced(lcrun, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``lcrun ARGS`` under ``-X importtime``: the result and the heavy modules it imported."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "lcrun", "--root", str(lcrun.root), *args],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    return r, sorted(m for m in HEAVY if m in imported)


def created(lcrun, bundle: Path, tmp_path: Path, id: str = "c1") -> int:
    pid_file = tmp_path / f"{id}.pid"
    r = lcrun("create", "--bundle", str(bundle), "--pid-file", str(pid_file), id)
    assert r.returncode == 0, r.stderr
    return int(pid_file.read_text())


def state_file(lcrun, id: str = "c1") -> Path:
    return lcrun.root / id / "state.json"


def cgroup_dirs(lcrun, id: str = "c1") -> list[str]:
    return sorted(json.loads(state_file(lcrun, id).read_text())["resources"]["cgroups"]["inodes"])


def started_and_deleted_through_the_engine(lcrun, pid: int) -> None:
    """``lcrun start`` and, once the command has ended, ``lcrun delete`` of c1, each through the plugins."""
    r, heavy = traced(lcrun, "start", "c1")
    assert r.returncode == 0, r.stderr
    assert "pluggy" in heavy
    assert wait_child(pid) == 0
    r, heavy = traced(lcrun, "delete", "c1")
    assert r.returncode == 0, r.stderr
    assert "pluggy" in heavy


def test_create_records_the_plugins_implementing_post_start_and_post_exit(lcrun, make, tmp_path):
    bundle = make(with_cgroup(bundle_doc(["/bin/true"]), cgroup_path("c1")))
    created(lcrun, bundle, tmp_path)
    record = json.loads(state_file(lcrun).read_text())["resources"]["lcrun"]
    assert set(record) == {"post_start", "post_exit", "plans"}
    assert "cgroups" in record["post_start"] and "cgroups" in record["post_exit"]
    # What the cgroups plugin says its hooks will do (libcontainer_hook_plan): nothing at the start
    # (not "FROZEN"), and at the end the removal of the directories it made.
    plan = record["plans"]["cgroups"]
    assert plan["post_start"] == "idle"
    assert sorted(plan["post_exit"]["rmdir"]) == cgroup_dirs(lcrun) == sorted(plan["post_exit"]["unless_replaced"])
    assert lcrun("delete", "--force", "c1").returncode == 0


def test_start_and_delete_of_a_container_with_cgroups_import_no_plugin_manager_and_leave_nothing(
        lcrun, make, tmp_path):
    bundle = make(with_cgroup(bundle_doc(["/bin/true"]), cgroup_path("c1")))
    pid = created(lcrun, bundle, tmp_path)
    dirs = cgroup_dirs(lcrun)
    assert dirs and all(os.path.isdir(d) for d in dirs)

    r, heavy = traced(lcrun, "start", "c1")
    assert r.returncode == 0, r.stderr
    assert heavy == []
    assert wait_child(pid) == 0
    assert lcrun.state("c1")["status"] == "stopped"

    r, heavy = traced(lcrun, "delete", "c1")
    assert r.returncode == 0, r.stderr
    assert heavy == []
    assert lcrun.ids() == []
    assert [d for d in dirs if os.path.exists(d)] == []


def test_start_of_a_container_that_is_not_created_is_refused_without_the_engine(lcrun, make, tmp_path):
    bundle = make(bundle_doc(["/bin/true"]))
    pid = created(lcrun, bundle, tmp_path)
    assert lcrun("start", "c1").returncode == 0
    assert wait_child(pid) == 0
    r, heavy = traced(lcrun, "start", "c1")
    assert r.returncode == 1
    assert "cannot start container c1: it is stopped, not created" in r.stderr
    assert heavy == []
    assert lcrun("delete", "c1").returncode == 0


def test_a_process_left_in_the_cgroup_sends_delete_through_the_plugins_which_kill_it(lcrun, make, tmp_path):
    bundle = make(with_cgroup(bundle_doc(["/bin/true"]), cgroup_path("c1")))
    pid = created(lcrun, bundle, tmp_path)
    dirs = cgroup_dirs(lcrun)
    assert lcrun("start", "c1").returncode == 0
    assert wait_child(pid) == 0
    stray = subprocess.Popen(["/bin/sleep", "1000"])
    try:
        Path(dirs[0], "cgroup.procs").write_text(str(stray.pid))
        r, heavy = traced(lcrun, "delete", "c1")
        assert r.returncode == 0, r.stderr
        assert "pluggy" in heavy
        assert stray.wait(timeout=10) == -9  # the cgroups plugin's post_exit killed it
        assert lcrun.ids() == []
        assert [d for d in dirs if os.path.exists(d)] == []
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()


def test_poststart_and_poststop_hooks_send_start_and_delete_through_the_plugins(lcrun, make, tmp_path):
    log = tmp_path / "hooks.log"
    doc = bundle_doc(["/bin/true"])
    doc["hooks"] = {name: [{"path": "/bin/sh", "args": ["sh", "-c", f"echo {name} >> {log}"]}]
                    for name in ("poststart", "poststop")}
    pid = created(lcrun, make(doc), tmp_path)

    started_and_deleted_through_the_engine(lcrun, pid)
    assert log.read_text().split() == ["poststart", "poststop"]
    assert lcrun.ids() == []


def test_a_state_without_creates_record_is_started_and_deleted_by_the_engine(lcrun, make, tmp_path):
    bundle = make(with_cgroup(bundle_doc(["/bin/true"]), cgroup_path("c1")))
    pid = created(lcrun, bundle, tmp_path)
    dirs = cgroup_dirs(lcrun)
    doc = json.loads(state_file(lcrun).read_text())
    del doc["resources"]["lcrun"]  # as an lcrun before the record made it
    state_file(lcrun).write_text(json.dumps(doc))

    started_and_deleted_through_the_engine(lcrun, pid)
    assert lcrun.ids() == []
    assert [d for d in dirs if os.path.exists(d)] == []


def test_delete_force_of_a_running_container_goes_through_the_engine_and_kills_it(lcrun, make, tmp_path):
    bundle = make(with_cgroup(bundle_doc(["/bin/sleep", "1000"]), cgroup_path("c1")))
    pid = created(lcrun, bundle, tmp_path)
    dirs = cgroup_dirs(lcrun)
    assert lcrun("start", "c1").returncode == 0
    r, heavy = traced(lcrun, "delete", "--force", "c1")
    assert r.returncode == 0, r.stderr
    assert "pluggy" in heavy
    assert wait_child(pid) == 128 + 9
    deadline = time.monotonic() + 5
    while any(os.path.exists(d) for d in dirs) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lcrun.ids() == []
    assert [d for d in dirs if os.path.exists(d)] == []
