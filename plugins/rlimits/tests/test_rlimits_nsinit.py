"""rlimits end to end: the shell inside sees the configured limits, first and joined processes alike."""

from __future__ import annotations

import resource

import pytest

from libcontainer.testing.fixtures import require_root

pytestmark = pytest.mark.privileged

NOFILE = [{"type": "NOFILE", "soft": 321, "hard": 654}]
USERNS = {"namespaces": {"NEWNS": True, "NEWUTS": True, "NEWIPC": True, "NEWPID": True, "NEWNET": True,
                         "NEWUSER": True},
          "uid_mappings": [{"container_id": 0, "host_id": 0, "size": 65536}],
          "gid_mappings": [{"container_id": 0, "host_id": 0, "size": 65536}]}


@pytest.fixture
def box(container):
    require_root()
    return container


def ulimits(box, *cmd) -> list[str]:
    r = box.exec(*cmd) if cmd else box.exec("sh", "-c", "ulimit -n; ulimit -Hn")
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_ulimit_inside_shows_the_configured_soft_and_hard_values(box):
    box.write_config(rlimits=NOFILE)
    assert ulimits(box) == ["321", "654"]


def test_without_the_key_the_limits_are_nsinits(box):
    box.write_config()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert ulimits(box) == [str(soft), str(hard)]


def test_a_joined_process_gets_the_same_limits(box):
    box.write_config(rlimits=NOFILE)
    first = box.popen("sh", "-c", "echo ready; sleep 30")
    box.wait_running()
    assert first.stdout.readline().strip() == "ready"
    assert ulimits(box) == ["321", "654"]  # run again while it lives: joins it
    first.kill()
    first.wait()


def test_unlimited_core_and_a_cpu_limit_arrive(box):
    box.write_config(rlimits=[{"type": "CORE", "soft": "unlimited", "hard": "unlimited"},
                              {"type": "CPU", "soft": 100, "hard": 200}])
    assert ulimits(box, "sh", "-c", "ulimit -c; ulimit -t; ulimit -Ht") == ["unlimited", "100", "200"]


def test_hard_limit_above_nsinits_in_a_user_namespace_is_one_clear_line(box):
    """CAP_SYS_RESOURCE in a user namespace does not allow raising a hard limit (setrlimit(2))."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    box.write_config(rlimits=[{"type": "NOFILE", "soft": 64, "hard": hard + 1}], **USERNS)
    r = box.exec("true")
    assert r.returncode == 125
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"rlimits: RLIMIT_NOFILE hard limit {hard + 1} is above the current {hard}" in lines[0]
    assert "CAP_SYS_RESOURCE" in lines[0] and "Traceback" not in r.stderr
    assert not (box.path / "pid").exists() and not (box.path / "state.json").exists()


def test_hard_limit_within_nsinits_in_a_user_namespace_is_set(box):
    """Twin: lowering in the same user namespace is allowed."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    box.write_config(rlimits=[{"type": "NOFILE", "soft": 64, "hard": hard - 1}], **USERNS)
    assert ulimits(box) == ["64", str(hard - 1)]


def _has_cap_sys_resource() -> bool:
    with open("/proc/self/status") as f:
        eff = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    return bool(eff >> 24 & 1)  # CAP_SYS_RESOURCE, linux/capability.h


def test_raising_a_hard_limit_on_the_host_follows_cap_sys_resource(box):
    """With CAP_SYS_RESOURCE (root on most hosts) the raise works; without it (some sandboxes), one clear line."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    box.write_config(rlimits=[{"type": "NOFILE", "soft": 64, "hard": hard + 1}])
    if _has_cap_sys_resource():
        assert ulimits(box) == ["64", str(hard + 1)]
    else:
        r = box.exec("true")
        assert r.returncode == 125 and "needs CAP_SYS_RESOURCE" in r.stderr and len(r.stderr.splitlines()) == 1
