"""What a new user meets first (issue 19, item 4): warnings, an empty rootfs, another user's container."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from libcontainer.testing.fixtures import SAMPLE_NAMESPACES, nsinit_command

pytestmark = pytest.mark.privileged

CAPS = ["CHOWN", "SETUID", "SETGID", "KILL"]


def _exec(path, *cmd: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NSINIT_WARNINGS"}  # the fixtures silence them
    return subprocess.run(nsinit_command() + ["exec", *cmd], cwd=path, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env=env)


def test_nsinit_warnings_off_silences_them(container):
    container.write_config({})
    r = subprocess.run(nsinit_command() + ["exec", "true"], cwd=container.path, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL, env=dict(os.environ, NSINIT_WARNINGS="off"))
    assert (r.returncode, r.stderr) == (0, "")


def test_exec_warns_once_for_a_config_without_namespaces_or_capabilities(container):
    container.write_config({})
    r = _exec(container.path, "true")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("nsinit: warning: ") for line in lines), r.stderr
    assert "no new namespaces" in r.stderr and "no capabilities list" in r.stderr


def test_exec_says_nothing_of_a_config_with_both(container):
    """The twin: namespaces and a capabilities list, no warning."""
    container.write_config(namespaces=SAMPLE_NAMESPACES, capabilities=CAPS)
    r = _exec(container.path, "true")
    assert (r.returncode, r.stderr) == (0, "")


def test_a_join_repeats_no_warning(container):
    container.write_config({"namespaces": SAMPLE_NAMESPACES})  # warns: no capabilities list
    first = container.popen("sh", "-c", "echo ready; sleep 30")
    container.wait_running()
    assert first.stdout.readline().strip() == "ready"
    r = _exec(container.path, "true")
    assert (r.returncode, r.stderr) == (0, "")


@pytest.fixture
def empty_dir(tmp_path):
    box = tmp_path / "empty"
    box.mkdir()
    (box / "container.json").write_text(json.dumps({"namespaces": SAMPLE_NAMESPACES, "user": "daemon"}))
    return box


def test_an_empty_rootfs_is_one_line_and_left_as_it_was(empty_dir):
    r = _exec(empty_dir, "sh", "-c", "true")
    assert r.returncode == 127
    assert r.stderr == (f"nsinit: exec: sh: executable file not found in $PATH of the root filesystem {empty_dir}, "
                        "which is empty: is it a root filesystem?\n")
    assert os.listdir(empty_dir) == ["container.json"]


def test_a_start_that_fails_after_the_rootfs_was_prepared_leaves_it_as_it_was(container, tmp_path):
    shutil.rmtree(container.path / "proc")
    container.write_config(mounts=[{"source": str(tmp_path / "missing"), "destination": "/data"}])
    r = _exec(container.path, "true")
    assert r.returncode == 125 and "mounts:" in r.stderr, r.stderr
    assert not (container.path / "proc").exists()  # made for the start, removed with it
    assert (container.path / "sys").is_dir() and (container.path / "dev").is_dir()  # were there before


def test_a_command_a_bind_mount_brings_is_not_looked_for_in_the_rootfs(container, tmp_path):
    """The twin of the empty-rootfs check: the command may come with a mount."""
    tools = tmp_path / "tools"
    tools.mkdir()
    shutil.copy2(container.path / "bin" / "busybox", tools / "busybox")
    container.write_config(mounts=[{"source": str(tools), "destination": "/opt/tools"}])
    r = _exec(container.path, "/opt/tools/busybox", "echo", "from the mount")
    assert (r.returncode, r.stdout) == (0, "from the mount\n"), r.stderr


def test_another_users_running_container_is_named_for_what_it_is(container):
    """Not an invitation to remove its pid file: permission denied to root's state."""
    for parent in container.path.parents:
        if str(parent).startswith("/tmp/pytest-of-"):
            os.chmod(parent, os.stat(parent).st_mode | 0o755)
    container.write_config()
    first = container.popen("sh", "-c", "echo ready; sleep 30")
    container.wait_running()
    assert first.stdout.readline().strip() == "ready"
    try:
        r = subprocess.run(["setpriv", "--reuid=4000", "--regid=4000", "--clear-groups", "--inh-caps=-all",
                            *nsinit_command(), "exec", "true"], cwd=container.path, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin", "HOME": "/"})
    finally:
        shutil.rmtree("/tmp/nsinit-4000", ignore_errors=True)
    assert r.returncode == 125
    assert r.stderr == (f"nsinit: permission denied to the state of the container running in {container.path} "
                        f"(pid {container.pid()}): root keeps it in /run/nsinit; run nsinit as root\n")
    assert "remove it" not in r.stderr
