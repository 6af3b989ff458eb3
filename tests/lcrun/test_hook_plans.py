"""What plugins say their post_start and post_exit will do (libcontainer_hook_plan), and how lcrun's plugin-less
start and delete act on it without knowing any plugin."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from lcrun import lightcmd, ocihooks
from libcontainer.config import Config
from libcontainer_cgroups import manager
from libcontainer_network import libcontainer_hook_plan as network_plan


def container(doc: dict, resources: dict | None = None) -> SimpleNamespace:
    return SimpleNamespace(config=Config.from_dict(doc), resources=resources or {}, hook=None)


def found(record: dict) -> SimpleNamespace:
    return SimpleNamespace(resources={lightcmd.HOOKS_KEY: record})


# -- the plugins' plans ------------------------------------------------------------------------


def test_cgroups_removes_its_directories_and_starts_idle(tmp_path):
    own, parent = tmp_path / "parent" / "c1", tmp_path / "parent"
    own.mkdir(parents=True)
    resources = {"cgroups": {"driver": "v1", "paths": {"memory": str(own)}, "created": [str(parent), str(own)],
                             "inodes": {str(own): own.stat().st_ino}}}
    plan = manager.hook_plan(container({"cgroups": {"memory": "64M"}}, resources))
    assert plan == {"post_start": "idle", "post_exit": {"rmdir": [str(own)], "rmdir_if_unused": [str(parent)],
                                                        "unless_replaced": {str(own): own.stat().st_ino}}}


def test_cgroups_started_frozen_has_work_at_the_start():
    """Twin: "freezer": "FROZEN" freezes at post_start, which only the plugin does."""
    plan = manager.hook_plan(container({"cgroups": {"freezer": "FROZEN"}}))
    assert "post_start" not in plan and plan["post_exit"] == {}  # no cgroups recorded: nothing to remove


def test_cgroups_without_recorded_directories_leaves_the_end_to_itself():
    resources = {"cgroups": {"driver": "v1", "paths": {"memory": "/sys/fs/cgroup/memory/x"}}}  # no inodes yet
    assert "post_exit" not in manager.hook_plan(container({"cgroups": {}}, resources))


def test_oci_hooks_are_idle_without_poststart_and_poststop_and_not_with_them():
    hook = [{"path": "/bin/true"}]
    assert ocihooks.libcontainer_hook_plan(container({"oci_hooks": {"prestart": hook}})) == {
        "post_start": "idle", "post_exit": {}}
    assert ocihooks.libcontainer_hook_plan(container({"oci_hooks": {"poststart": hook, "poststop": hook}})) == {}


def test_a_loopback_network_ends_idle_and_a_recorded_host_interface_does_not():
    doc = {"networks": [{"type": "loopback", "address": "127.0.0.1/0", "gateway": "localhost", "mtu": 1500}]}
    assert network_plan(container(doc)) == {"post_exit": {}}
    assert network_plan(container(doc, {"network": {"host_interfaces": ["veth1234"]}})) == {}


# -- lcrun acting on them ----------------------------------------------------------------------


def test_start_goes_without_plugins_only_when_every_recorded_post_start_is_idle():
    idle = {"post_start": ["a", "b"], "plans": {"a": {"post_start": "idle"}, "b": {"post_start": "idle"}}}
    assert not lightcmd.start_needs_plugins(found(idle))
    without_plan = {"post_start": ["a", "b"], "plans": {"a": {"post_start": "idle"}, "b": {}}}
    assert lightcmd.start_needs_plugins(found(without_plan))  # b gave no plan: the engine runs its hook
    assert lightcmd.start_needs_plugins(SimpleNamespace(resources={}))  # no record at all


def test_the_directories_of_a_plan_are_removed_then_the_unused_parents(tmp_path):
    parent, busy_parent = tmp_path / "p", tmp_path / "q"
    a, b = parent / "a", busy_parent / "b"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    (busy_parent / "other").mkdir()  # another container's
    plan = {"rmdir": [str(a), str(b), str(tmp_path / "gone")], "rmdir_if_unused": [str(parent), str(busy_parent)],
            "unless_replaced": {str(a): a.stat().st_ino}}
    assert lightcmd.remove_directories(plan)
    assert not parent.exists() and busy_parent.exists() and not b.exists()


def test_a_directory_that_will_not_go_leaves_the_end_to_the_plugin(tmp_path):
    """Twin: a busy directory (here: not empty, as a cgroup with a process left is busy) stops the plan."""
    a, parent = tmp_path / "p" / "a", tmp_path / "p"
    a.mkdir(parents=True)
    (a / "left").mkdir()
    assert not lightcmd.remove_directories({"rmdir": [str(a)], "rmdir_if_unused": [str(parent)]})
    assert a.exists() and parent.exists()


def test_a_directory_made_again_by_another_container_is_not_ours_to_remove(tmp_path):
    """Its inode is not the recorded one: nothing of the plan is done (the removal test above is the twin)."""
    a = tmp_path / "a"
    a.mkdir()
    assert lightcmd.remove_directories({"rmdir": [str(a)], "unless_replaced": {str(a): a.stat().st_ino + 1}})
    assert a.exists()


# -- the engine asking for them ------------------------------------------------------------------


@pytest.mark.privileged
def test_a_plugin_whose_plan_fails_or_that_has_none_leaves_its_hooks_to_itself(container):
    """Container.hook_plans, as lcrun's create records it: a crash in a plan is no failure of the create."""
    from libcontainer.container import Container
    from libcontainer.plugins import get_plugin_manager, hookimpl

    class Crashy:
        @hookimpl
        def libcontainer_post_exit(self, container):
            pass

        @hookimpl
        def libcontainer_hook_plan(self, container):
            raise KeyError("oops")

    class Planless:
        @hookimpl
        def libcontainer_post_start(self, container, pid):
            pass

    container.write_config(cgroups={"memory": "64M"})
    plugins = get_plugin_manager(extra=[("lctcrashy", Crashy()), ("lctplanless", Planless())])
    box = Container(container.path, plugins=plugins)
    proc = box.create(["true"])
    try:
        record = box.hook_plans()
        assert "lctcrashy" in record["post_exit"] and "lctplanless" in record["post_start"]
        assert record["plans"]["lctcrashy"] == {} and record["plans"]["lctplanless"] == {}
        assert record["plans"]["cgroups"]["post_start"] == "idle"  # the others' plans are there
    finally:
        proc.close()
