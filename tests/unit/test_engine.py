"""Engine pieces without root: path resolution, namespace order, users, state, messages, hook errors."""

from __future__ import annotations

import errno
import os
import subprocess
import types
from pathlib import Path

import pytest

from libcontainer import channel as msg
from libcontainer import state as st
from libcontainer import syscalls as sc
from libcontainer.channel import Channel
from libcontainer.config import Config
from libcontainer.context import ContainerContext, Namespace, Process
from libcontainer.errors import ContainerError, PluginError, SyscallError
from libcontainer.plugins import get_plugin_manager, hookimpl
from libcontainer.process import _enter_namespaces
from libcontainer.rootfs import secure_join
from libcontainer.syscalls import RecordingSyscalls
from libcontainer.user import resolve_user


# -- secure_join ---------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    os.symlink("/", r / "abs")
    os.symlink("../../../../tmp/x", r / "rel")
    os.symlink("etc", r / "to-etc")
    os.symlink("loop2", r / "loop1")
    os.symlink("loop1", r / "loop2")
    return r


@pytest.mark.parametrize("path,expected", [
    ("/etc", "etc"),
    ("/abs/etc/passwd", "etc/passwd"),  # absolute symlink restarts at the rootfs
    ("/rel", "tmp/x"),  # .. never climbs above the rootfs
    ("/../../etc", "etc"),
    ("/to-etc/new/dir", "etc/new/dir"),
    ("/missing/../etc", "etc"),
])
def test_secure_join_resolves_inside_the_root(root, path, expected):
    assert secure_join(str(root), path) == str(root / expected)


def test_secure_join_refuses_a_symlink_loop(root):
    with pytest.raises(ContainerError, match="too many levels of symbolic links"):
        secure_join(str(root), "/loop1")


# -- namespaces: order owned by the engine ----------------------------------------------


class FakeChannel:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, kind: str, **fields) -> None:
        self.sent.append(kind)

    def recv(self, *expected: str) -> dict:
        return {"kind": expected[0]}


def _ctx(namespaces: list[Namespace], fake: RecordingSyscalls, tmp_path: Path) -> ContainerContext:
    return ContainerContext(config=Config(), root=tmp_path, rootfs=tmp_path, id="t", process=Process(args=["true"], env=[]),
                            syscalls=fake, namespaces=namespaces)


def test_joins_come_before_a_new_user_namespace_and_user_before_the_rest(tmp_path, monkeypatch):
    fake = RecordingSyscalls()
    netns = tmp_path / "netns"
    netns.write_text("")
    monkeypatch.setattr(os, "setresuid", lambda *a: None)
    monkeypatch.setattr(os, "setresgid", lambda *a: None)
    spaces = [Namespace("NEWPID"), Namespace("NEWNET", path=str(netns)), Namespace("NEWUSER"), Namespace("NEWNS"),
              Namespace("NEWCGROUP")]
    chan = FakeChannel()
    fork = _enter_namespaces(_ctx(spaces, fake, tmp_path), chan)
    assert fake.names() == ["setns", "unshare", "unshare"]
    assert fake.calls[1][1] == (sc.CLONE_NEWUSER,)
    # NEWCGROUP waits until the process is in its cgroups.
    assert fake.calls[2][1] == (sc.CLONE_NEWPID | sc.CLONE_NEWNS,)
    assert chan.sent == [msg.USERNS]
    assert fork is True


def test_a_pid_namespace_made_by_nsinit_is_not_made_again_and_needs_no_fork(tmp_path):
    fake = RecordingSyscalls()
    spaces = [Namespace("NEWNS"), Namespace("NEWPID"), Namespace("NEWNET")]
    assert _enter_namespaces(_ctx(spaces, fake, tmp_path), FakeChannel(), pid_namespace_made=True) is False
    assert fake.calls == [("unshare", (sc.CLONE_NEWNS | sc.CLONE_NEWNET,))]


def test_a_pid_namespace_the_child_makes_needs_its_fork(tmp_path):
    """The twin: the same namespaces when nsinit did not make the pid namespace."""
    fake = RecordingSyscalls()
    spaces = [Namespace("NEWNS"), Namespace("NEWPID"), Namespace("NEWNET")]
    assert _enter_namespaces(_ctx(spaces, fake, tmp_path), FakeChannel()) is True
    assert fake.calls == [("unshare", (sc.CLONE_NEWNS | sc.CLONE_NEWPID | sc.CLONE_NEWNET,))]


@pytest.mark.parametrize("spaces, root, made_here", [
    ([Namespace("NEWNS"), Namespace("NEWPID")], True, True),
    ([Namespace("NEWNS"), Namespace("NEWPID")], False, False),  # rootless: only a new user namespace may own it
    ([Namespace("NEWNS")], True, False),  # no pid namespace of its own
    ([Namespace("NEWPID", path="/proc/1/ns/pid")], True, False),  # joined by path: the child does it
    ([Namespace("NEWPID"), Namespace("NEWUSER")], True, False),  # the new user namespace must own it
    ([Namespace("NEWPID"), Namespace("NEWUSER", path="/proc/1/ns/user")], True, False),
    ([Namespace("NEWPID"), Namespace("NEWTIME")], True, False),  # the child forks for the time namespace anyway
])
def test_when_nsinit_makes_the_pid_namespace_itself(tmp_path, monkeypatch, spaces, root, made_here):
    from libcontainer.container import _pid_namespace_made_here

    monkeypatch.setattr(os, "geteuid", lambda: 0 if root else 1000)
    assert _pid_namespace_made_here(_ctx(spaces, RecordingSyscalls(), tmp_path)) is made_here


def test_no_fork_without_a_pid_namespace(tmp_path):
    fake = RecordingSyscalls()
    assert _enter_namespaces(_ctx([Namespace("NEWNS"), Namespace("NEWUTS")], fake, tmp_path), FakeChannel()) is False
    assert fake.calls == [("unshare", (sc.CLONE_NEWNS | sc.CLONE_NEWUTS,))]


def test_unshare_failure_carries_errno_and_flags_have_names(tmp_path):
    fake = RecordingSyscalls()
    fake.fail("unshare", errno.EPERM)
    with pytest.raises(SyscallError) as info:
        _enter_namespaces(_ctx([Namespace("NEWNS")], fake, tmp_path), FakeChannel())
    assert info.value.errno == errno.EPERM
    assert sc.clone_flag_names(sc.CLONE_NEWNS | sc.CLONE_NEWPID) == "CLONE_NEWNS|CLONE_NEWPID"


def test_real_syscall_error_names_mount_flags():
    e = SyscallError("mount", f"proc -> /proc (proc, {sc.mount_flag_names(sc.MS_NOSUID | sc.MS_NODEV)})", errno.EPERM)
    assert str(e) == "mount proc -> /proc (proc, MS_NOSUID|MS_NODEV): Operation not permitted"


# -- users ---------------------------------------------------------------------------------


@pytest.fixture
def etc(tmp_path: Path) -> tuple[str, str]:
    passwd = tmp_path / "passwd"
    group = tmp_path / "group"
    passwd.write_text("root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n")
    group.write_text("root:x:0:\nwheel:x:10:user\naudio:x:29:other,user\nuser:x:1000:\n")
    return str(passwd), str(group)


@pytest.mark.parametrize("spec,uid,gid,groups", [
    ("", 0, 0, []),
    ("user", 1000, 1000, [10, 29]),
    ("1000", 1000, 1000, [10, 29]),
    ("user:wheel", 1000, 10, [29]),
    ("4242", 4242, 0, []),
    ("4242:77", 4242, 77, []),
])
def test_user_specs_resolve_in_the_containers_files(etc, spec, uid, gid, groups):
    u = resolve_user(spec, *etc)
    assert (u.uid, u.gid, sorted(u.groups)) == (uid, gid, groups)


@pytest.mark.parametrize("spec,message", [
    ("nobody", "unable to find user nobody"),
    ("user:nogroup", "unable to find group nogroup"),
])
def test_unknown_user_or_group_fails_naming_it(etc, spec, message):
    with pytest.raises(ContainerError, match=message) as info:
        resolve_user(spec, *etc)
    assert info.value.step == "user"


# -- state files -----------------------------------------------------------------------------


def _state_for(pid: int, parent: int) -> st.State:
    return st.State(pid=pid, start=st.process_start_time(pid) or "", id="t", rootfs="/", config={},
                    namespaces=st.stable_namespace_ids(pid), nsinit_pid=parent,
                    nsinit_start=st.process_start_time(parent) or "")


def test_inspect_tells_live_stale_and_forged_apart(tmp_path):
    assert st.inspect(tmp_path) == (None, st.NONE)
    child = subprocess.Popen(["sleep", "30"])
    try:
        st.write_state(tmp_path, _state_for(child.pid, os.getpid()))
        found, verdict = st.inspect(tmp_path)
        assert verdict == st.LIVE and found.pid == child.pid
        # The directory's copies are for people: rewriting them (as root in a
        # container whose rootfs is this directory can) changes nothing.
        (tmp_path / "pid").write_text(f"{os.getppid()}\n")
        (tmp_path / "state.json").write_text(_state_for(os.getppid(), os.getpid()).to_json())
        found, verdict = st.inspect(tmp_path)
        assert verdict == st.LIVE and found.pid == child.pid
        # A process that is not our child (its parent is not the recorded nsinit): forged.
        st.write_state(tmp_path, _state_for(os.getppid(), os.getpid()))
        assert st.inspect(tmp_path)[1] == st.FORGED
        st.write_state(tmp_path, _state_for(child.pid, os.getpid()))
    finally:
        child.kill()
        child.wait()
    # Its process is gone: stale.
    assert st.inspect(tmp_path)[1] == st.STALE
    # Its supervising nsinit is gone (a pid reused by another process): stale, to be killed.
    with subprocess.Popen(["sleep", "30"]) as other:
        doc = _state_for(other.pid, os.getpid())
        doc.nsinit_start = "1"
        st.write_state(tmp_path, doc)
        assert st.inspect(tmp_path)[1] == st.STALE
        other.kill()
    st.remove_state(tmp_path)
    assert sorted(os.listdir(tmp_path)) == []


def test_state_read_back_is_the_trusted_copy_outside_the_directory(tmp_path):
    with subprocess.Popen(["sleep", "30"]) as child:
        try:
            st.write_state(tmp_path, _state_for(child.pid, os.getpid()))
            private = st.private_dir(tmp_path)
            assert (private / "state.json").exists() and not str(private).startswith(str(tmp_path))
            assert os.stat(private).st_mode & 0o777 == 0o700
            (tmp_path / "state.json").unlink()
            assert st.read_state(tmp_path).pid == child.pid
        finally:
            child.kill()
            st.remove_state(tmp_path)
    assert not private.exists()


@pytest.mark.parametrize("left", [["control"], ["control.4242"], ["control", "control.77"]])
def test_removing_the_state_removes_the_join_servers_sockets(tmp_path, left):
    """Also the temporary name a server killed between bind and rename left (control.PID)."""
    with subprocess.Popen(["sleep", "30"]) as child:
        try:
            st.write_state(tmp_path, _state_for(child.pid, os.getpid()))
            private = st.private_dir(tmp_path)
            for name in left:
                (private / name).write_text("")
        finally:
            child.kill()
            st.remove_state(tmp_path)
    assert not private.exists()


def test_a_stranger_file_in_the_private_directory_keeps_it(tmp_path):
    """Twin: only what nsinit puts there is removed; the directory stays when something else is in it."""
    with subprocess.Popen(["sleep", "30"]) as child:
        try:
            st.write_state(tmp_path, _state_for(child.pid, os.getpid()))
            private = st.private_dir(tmp_path)
            (private / "controlled").write_text("")
        finally:
            child.kill()
            st.remove_state(tmp_path)
    try:
        assert private.exists() and os.listdir(private) == ["controlled"]
    finally:
        (private / "controlled").unlink()
        private.rmdir()


def test_trusted_state_of_another_directory_is_not_read(tmp_path):
    """Twin: the trusted copy records its directory; one naming another directory is ignored."""
    with subprocess.Popen(["sleep", "30"]) as child:
        try:
            doc = _state_for(child.pid, os.getpid())
            st.write_state(tmp_path, doc)
            doc.root = "/elsewhere"
            (st.private_dir(tmp_path) / "state.json").write_text(doc.to_json())
            assert st.read_state(tmp_path) is None
            assert st.inspect(tmp_path)[1] == st.FORGED  # the pid file names a live process nobody vouches for
        finally:
            child.kill()
            st.remove_state(tmp_path)


def test_pid_file_without_state_naming_a_live_process_is_forged(tmp_path):
    (tmp_path / "pid").write_text(f"{os.getpid()}\n")
    assert st.inspect(tmp_path)[1] == st.FORGED
    (tmp_path / "pid").write_text("999999999\n")
    assert st.inspect(tmp_path)[1] == st.STALE


# -- messages ---------------------------------------------------------------------------------


def test_error_message_is_raised_with_its_step():
    parent, child = Channel.pair()
    child.send_error("mounts", "bind /a -> /b: No such file or directory", 125, errno.ENOENT)
    with pytest.raises(ContainerError) as info:
        parent.recv(msg.READY)
    assert str(info.value) == "mounts: bind /a -> /b: No such file or directory"
    assert info.value.exit_code == 125


def test_unexpected_message_says_what_was_expected_and_what_came():
    parent, child = Channel.pair()
    child.send(msg.PID, pid=1)
    with pytest.raises(ContainerError, match="expected ready from container setup, got pid"):
        parent.recv(msg.READY)


def test_closed_channel_says_which_message_was_awaited():
    parent, child = Channel.pair()
    child.close()
    with pytest.raises(EOFError, match="while nsinit waited for ready"):
        parent.recv(msg.READY)


def test_eof_after_start_means_exec_succeeded():
    parent, child = Channel.pair()
    child.close()
    parent.wait_for_exec()


# -- hook errors name the plugin and the hook -------------------------------------------------


def test_plugin_bug_is_reported_with_plugin_and_hook(tmp_path):
    broken = types.SimpleNamespace(
        libcontainer_post_clone=hookimpl(lambda container, pid: {}["boom"]),
    )
    plugins = get_plugin_manager(extra=[("broken", broken)], entry_points=False)
    with pytest.raises(PluginError) as info:
        plugins.call("libcontainer_post_clone", None, container=None, pid=1)
    assert str(info.value) == "post_clone (broken): KeyError: 'boom'"


def test_cleanup_runs_every_plugin_even_when_one_raises():
    ran = []

    def bad(container):
        raise RuntimeError("first failed")

    one = types.SimpleNamespace(libcontainer_post_exit=hookimpl(bad))
    two = types.SimpleNamespace(libcontainer_post_exit=hookimpl(lambda container: ran.append("two")))
    plugins = get_plugin_manager(extra=[("one", one), ("two", two)], entry_points=False)
    with pytest.raises(PluginError, match="first failed"):
        plugins.call("libcontainer_post_exit", None, collect_errors=True, container=None)
    assert ran == ["two"]


def test_a_plugins_first_record_is_written_at_once_and_later_ones_wait(tmp_path):
    ctx = _ctx([], RecordingSyscalls(), tmp_path)
    written: list[dict] = []
    ctx.on_first_record = lambda: written.append({k: dict(v) for k, v in ctx.resources.items()})
    ctx.record("cgroups", created=["/sys/fs/cgroup/memory/box"])
    ctx.record("cgroups", inodes={"/sys/fs/cgroup/memory/box": 7})
    ctx.record("network", veth="lc-1")
    assert written == [{"cgroups": {"created": ["/sys/fs/cgroup/memory/box"]}},
                       {"cgroups": {"created": ["/sys/fs/cgroup/memory/box"], "inodes": {"/sys/fs/cgroup/memory/box": 7}},
                        "network": {"veth": "lc-1"}}]


def test_a_record_without_the_engines_callback_stays_in_memory(tmp_path):
    """After pre_clone the engine writes the state itself, at its own points."""
    ctx = _ctx([], RecordingSyscalls(), tmp_path)
    assert ctx.on_first_record is None
    ctx.record("cgroups", created=["/sys/fs/cgroup/memory/box"])
    assert ctx.resources == {"cgroups": {"created": ["/sys/fs/cgroup/memory/box"]}}
