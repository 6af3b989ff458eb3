"""config.json's hooks through lcrun (the oci_hooks plugin): where each runs, what it reads, and what a failure does."""

from __future__ import annotations

import json
import time

import pytest

from lcrunner import bundle_doc, lcrun, make, wait_child  # noqa: F401 (fixtures)

pytestmark = pytest.mark.privileged


def recording_hook(out: str, order: str, name: str, **more) -> dict:
    """A hook that saves its stdin (the state) to ``out`` and appends ``name`` to ``order``."""
    return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}; echo {name} >> {order}"], **more}


def test_every_hook_runs_in_order_with_the_state_on_stdin(lcrun, make, tmp_path):
    doc = bundle_doc(["/bin/true"])
    doc["annotations"] = {"org.test": "yes"}
    order = tmp_path / "order"
    doc["hooks"] = {name: [recording_hook(str(tmp_path / f"{name}.json"), str(order), name)]
                    for name in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")}
    # startContainer runs in the container's filesystem: its /bin/sh, its /.
    doc["hooks"]["startContainer"] = [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /startContainer.json"]}]
    bundle = make(doc)
    r = lcrun("create", "--bundle", str(bundle), "c1")
    assert r.returncode == 0, r.stderr
    pid = lcrun.state("c1")["pid"]
    assert order.read_text().split() == ["prestart", "createRuntime", "createContainer"]
    assert lcrun("start", "c1").returncode == 0
    assert wait_child(pid) == 0
    assert lcrun("delete", "c1").returncode == 0
    assert order.read_text().split() == ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]
    states = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in order.read_text().split()}
    states["startContainer"] = json.loads((bundle / "rootfs" / "startContainer.json").read_text())
    expected = {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
                "startContainer": "created", "poststart": "running", "poststop": "stopped"}
    for name, state in states.items():
        assert state["id"] == "c1" and state["bundle"] == str(bundle), (name, state)
        assert state["annotations"] == {"org.test": "yes"} and state["ociVersion"]
        assert state["status"] == expected[name], (name, state)
        if name not in ("poststop",):
            assert state["pid"] == pid, (name, state)


@pytest.mark.parametrize("name", ["prestart", "createRuntime", "createContainer"])
def test_a_failing_creation_hook_fails_create_and_leaves_nothing(lcrun, make, name):
    doc = bundle_doc(["/bin/true"])
    doc["hooks"] = {name: [{"path": "/bin/sh", "args": ["sh", "-c", "echo broken >&2; exit 3"]}]}
    r = lcrun("create", "--bundle", str(make(doc)), "c1")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and f"{name} hook /bin/sh failed (exit status 3): broken" in r.stderr, r.stderr
    assert lcrun.ids() == []


def test_a_hook_past_its_timeout_is_killed_and_fails(lcrun, make):
    doc = bundle_doc(["/bin/true"])
    doc["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "60"], "timeout": 1}]}
    began = time.monotonic()
    r = lcrun("create", "--bundle", str(make(doc)), "c1")
    assert r.returncode == 1 and "did not end within its timeout (1s): killed" in r.stderr, r.stderr
    assert time.monotonic() - began < 10
    assert lcrun.ids() == []


def test_a_failing_start_container_hook_fails_start(lcrun, make):
    doc = bundle_doc(["/bin/sleep", "1000"])
    doc["hooks"] = {"startContainer": [{"path": "/bin/false"}]}
    assert lcrun("create", "--bundle", str(make(doc)), "c1").returncode == 0
    pid = lcrun.state("c1")["pid"]
    r = lcrun("start", "c1")
    assert r.returncode == 1 and "startContainer hook /bin/false failed" in r.stderr, r.stderr
    wait_child(pid)
    assert lcrun.state("c1")["status"] == "stopped"
    assert lcrun("delete", "c1").returncode == 0


def test_failing_poststart_and_poststop_hooks_are_warnings(lcrun, make, tmp_path):
    doc = bundle_doc(["/bin/true"])
    doc["hooks"] = {"poststart": [{"path": "/bin/false"}], "poststop": [{"path": "/bin/false"}]}
    log = tmp_path / "log.json"
    options = ("--log", str(log), "--log-format", "json")
    assert lcrun("create", "--bundle", str(make(doc)), "c1", options=options).returncode == 0
    pid = lcrun.state("c1")["pid"]
    assert lcrun("start", "c1", options=options).returncode == 0
    assert wait_child(pid) == 0
    assert lcrun("delete", "c1", options=options).returncode == 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    warnings = [e["msg"] for e in entries if e["level"] == "warning" and "hook" in e["msg"]]
    assert warnings == ["poststart hook /bin/false failed (exit status 1)", "poststop hook /bin/false failed (exit status 1)"]
