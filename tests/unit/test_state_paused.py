"""libcontainer.state.paused: the freezer a pausing plugin recorded, read without the plugin."""

from __future__ import annotations

from libcontainer.state import State, paused


def state_with(resources: dict) -> State:
    return State(id="c1", status="created", pid=1, start="1", root="/b", rootfs="/b/rootfs", config={},
                 resources=resources)


def test_paused_reads_the_recorded_freeze_file(tmp_path):
    freezer = tmp_path / "freezer.state"
    found = state_with({"cgroups": {"freeze_file": str(freezer), "frozen": "FROZEN", "paths": {}}})
    freezer.write_text("FROZEN\n")
    assert paused(found)
    freezer.write_text("THAWED\n")
    assert not paused(found)


def test_without_a_freeze_file_or_with_it_gone_nothing_is_paused(tmp_path):
    assert not paused(state_with({"cgroups": {"paths": {}}}))
    assert not paused(state_with({"cgroups": {"freeze_file": str(tmp_path / "gone"), "frozen": "1"}}))
