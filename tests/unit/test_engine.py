"""Engine pieces without root: path resolution, namespace order, users, state, messages, hook errors."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from libcontainer import channel as msg
from libcontainer import state as st
from libcontainer import syscalls as sc
from libcontainer.channel import Channel
from libcontainer.config import Config
from libcontainer.context import ContainerContext, Namespace, Process
from libcontainer.errors import ContainerError, PluginError, StateError, SyscallError
from libcontainer.plugins import get_plugin_manager, hookimpl
from libcontainer.process import Entry, _enter_namespaces, needs_fork
from libcontainer.rootpaths import secure_join
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


def _enter(ctx: ContainerContext, chan: FakeChannel, entry: Entry | None = None) -> bool:
    """Enter the namespaces as the setup process does; whether it forks for them."""
    entry = entry or Entry()
    _enter_namespaces(ctx, chan, entry)
    return needs_fork(ctx, entry)


def test_joins_come_before_a_new_user_namespace_and_user_before_the_rest(tmp_path, monkeypatch):
    fake = RecordingSyscalls()
    netns = tmp_path / "netns"
    netns.write_text("")
    monkeypatch.setattr(os, "setresuid", lambda *a: None)
    monkeypatch.setattr(os, "setresgid", lambda *a: None)
    spaces = [Namespace("NEWPID"), Namespace("NEWNET", path=str(netns)), Namespace("NEWUSER"), Namespace("NEWNS"),
              Namespace("NEWCGROUP")]
    chan = FakeChannel()
    fork = _enter(_ctx(spaces, fake, tmp_path), chan)
    assert fake.names() == ["setns", "unshare", "unshare"]
    assert fake.calls[1][1] == (sc.CLONE_NEWUSER,)
    # NEWCGROUP waits until the process is in its cgroups.
    assert fake.calls[2][1] == (sc.CLONE_NEWPID | sc.CLONE_NEWNS,)
    assert chan.sent == [msg.USERNS]
    assert fork is True


def test_every_namespace_file_is_opened_before_the_first_setns(tmp_path, monkeypatch):
    """After setns into a mount namespace, /proc paths are the container's: open them all first."""
    fake = RecordingSyscalls()
    events: list[str] = []
    real_open = os.open
    for name in ("mnt", "net"):
        (tmp_path / name).write_text("")
    monkeypatch.setattr(os, "open", lambda path, *a, **k: events.append(f"open {os.path.basename(path)}")
                        or real_open(path, *a, **k))
    fake_setns = fake.setns
    monkeypatch.setattr(fake, "setns", lambda fd, flag, what="": events.append(f"setns {what}")
                        or fake_setns(fd, flag, what), raising=False)
    spaces = [Namespace("NEWNS", path=str(tmp_path / "mnt")), Namespace("NEWNET", path=str(tmp_path / "net"))]
    _enter(_ctx(spaces, fake, tmp_path), FakeChannel())
    assert events == ["open net", "open mnt", f"setns NEWNET {tmp_path}/net", f"setns NEWNS {tmp_path}/mnt"]


def test_a_join_enters_every_differing_namespace_at_once_through_the_pidfd(tmp_path):
    fake = RecordingSyscalls()
    entry = Entry(join_pid=42, join_pidfd=7, join_flags=sc.CLONE_NEWNS | sc.CLONE_NEWPID, join_root=8)
    assert _enter(_ctx([], fake, tmp_path), FakeChannel(), entry) is True  # the pid namespace needs a fork
    assert fake.calls == [("setns", (7, sc.CLONE_NEWNS | sc.CLONE_NEWPID, "the namespaces of pid 42"))]
    no_pid = Entry(join_pid=42, join_pidfd=7, join_flags=sc.CLONE_NEWNS, join_root=8)
    assert needs_fork(_ctx([], fake, tmp_path), no_pid) is False


def test_a_pid_namespace_made_by_nsinit_is_not_made_again_and_needs_no_fork(tmp_path):
    fake = RecordingSyscalls()
    spaces = [Namespace("NEWNS"), Namespace("NEWPID"), Namespace("NEWNET")]
    assert _enter(_ctx(spaces, fake, tmp_path), FakeChannel(), Entry(pid_namespace_made=True)) is False
    assert fake.calls == [("unshare", (sc.CLONE_NEWNS | sc.CLONE_NEWNET,))]


def test_a_pid_namespace_the_child_makes_needs_its_fork(tmp_path):
    """The twin: the same namespaces when nsinit did not make the pid namespace."""
    fake = RecordingSyscalls()
    spaces = [Namespace("NEWNS"), Namespace("NEWPID"), Namespace("NEWNET")]
    assert _enter(_ctx(spaces, fake, tmp_path), FakeChannel()) is True
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
    from libcontainer.host import pid_namespace_made_here

    monkeypatch.setattr(os, "geteuid", lambda: 0 if root else 1000)
    assert pid_namespace_made_here(_ctx(spaces, RecordingSyscalls(), tmp_path)) is made_here


def test_no_fork_without_a_pid_namespace(tmp_path):
    fake = RecordingSyscalls()
    assert _enter(_ctx([Namespace("NEWNS"), Namespace("NEWUTS")], fake, tmp_path), FakeChannel()) is False
    assert fake.calls == [("unshare", (sc.CLONE_NEWNS | sc.CLONE_NEWUTS,))]


def test_unshare_failure_carries_errno_and_flags_have_names(tmp_path):
    fake = RecordingSyscalls()
    fake.fail("unshare", errno.EPERM)
    with pytest.raises(SyscallError) as info:
        _enter(_ctx([Namespace("NEWNS")], fake, tmp_path), FakeChannel())
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


def _state_for(pid: int, creator: int, status: str = st.RUNNING, root: str = "/", attached: bool = True) -> st.State:
    return st.State(id="t", status=status, pid=pid, start=st.process_start_time(pid) or "", root=root, rootfs="/",
                    config={}, namespaces=st.stable_namespace_ids(pid), creator_pid=creator,
                    creator_start=st.process_start_time(creator) or "", attached=attached)


class _Swaps:
    """The real kernel door, its exchange counted, or failing as a file system without it would."""

    def __init__(self, refuse: bool = False) -> None:
        self.swaps: list[str] = []
        self.refuse = refuse
        self.kernel = sc.real()

    def exchange(self, a: str, b: str) -> None:
        self.swaps.append(os.path.basename(b))
        if self.refuse:
            raise SyscallError("renameat2", f"{a} <-> {b}", errno.EINVAL)
        self.kernel.exchange(a, b)


@pytest.mark.parametrize("refuse", [False, True], ids=["swapped", "renamed_without_the_swap"])
def test_the_state_is_replaced_whole_and_leaves_no_temporary_file(tmp_path, monkeypatch, refuse):
    """Written again, the state is swapped in (RENAME_EXCHANGE: no ext4 data flush, 108 -> 7 us) and the old
    file removed; on a file system without the swap (twin), renamed over, with the same result."""
    door = _Swaps(refuse)
    monkeypatch.setattr(sc, "real", lambda: door)
    directory = tmp_path / "box"
    st.write_state(directory, _state_for(os.getpid(), os.getpid()))
    st.write_state(directory, _state_for(os.getppid(), os.getpid()))
    assert st.read_state(directory).pid == os.getppid()
    assert sorted(os.listdir(directory)) == ["state.json"]
    assert door.swaps == ["state.json", "state.json"]  # the first found no file to swap with


def test_status_is_the_recorded_phase_checked_against_the_kernel():
    me = os.getpid()
    with subprocess.Popen(["sleep", "30"]) as child:
        try:
            assert st.status(_state_for(child.pid, me, st.CREATED)) == st.CREATED
            assert st.status(_state_for(child.pid, me, st.RUNNING)) == st.RUNNING
            # What the file says is checked: a start time that is not the process's is another process.
            reused = _state_for(child.pid, me)
            reused.start = "1"
            assert st.status(reused) == st.STOPPED
            # An attached container whose creator is gone is stopped: its parent-death signal is on its way ...
            orphan = _state_for(child.pid, me)
            orphan.creator_start = "1"
            assert st.status(orphan) == st.STOPPED
            # ... a detached one lives on.
            orphan.attached = False
            assert st.status(orphan) == st.RUNNING
            # Being created while its creator runs; stopped once the creator is gone.
            creating = _state_for(child.pid, me, st.CREATING)
            assert st.status(creating) == st.CREATING
            creating.creator_start = "1"
            assert st.status(creating) == st.STOPPED
        finally:
            child.kill()
            child.wait()
        # Its process is gone (reaped; a zombie counts as ended too): stopped, whatever the file says.
        assert st.status(_state_for(child.pid, me, st.RUNNING)) == st.STOPPED


def test_a_zombie_is_stopped():
    child = subprocess.Popen(["true"])
    try:
        while st.process_start_time(child.pid) is not None:
            time.sleep(0.01)  # exited, not yet reaped: a zombie
        assert os.path.exists(f"/proc/{child.pid}")
        doc = _state_for(os.getpid(), os.getpid())
        doc.pid, doc.start = child.pid, "1"
        assert st.status(doc) == st.STOPPED
    finally:
        child.wait()


def test_state_is_kept_in_a_private_directory_and_copied_for_people(tmp_path):
    directory = tmp_path / "run" / "box-1"
    root = tmp_path / "box"
    root.mkdir()
    with subprocess.Popen(["sleep", "30"]) as child:
        try:
            doc = _state_for(child.pid, os.getpid(), st.CREATED, root=str(root))
            doc.publish = True
            st.write_state(directory, doc)
            st.publish(doc)
            assert os.stat(directory).st_mode & 0o777 == 0o700
            assert (root / "pid").read_text() == f"{child.pid}\n"
            # The directory's copies are for people: rewriting them (as root in a
            # container whose rootfs is this directory can) changes nothing.
            (root / "state.json").write_text(_state_for(os.getppid(), os.getpid()).to_json())
            assert st.read_state(directory).pid == child.pid
        finally:
            child.kill()
            st.remove_state(directory, root)
    assert not directory.exists() and sorted(os.listdir(root)) == []


def test_a_state_without_a_process_is_not_copied(tmp_path):
    root = tmp_path / "box"
    root.mkdir()
    doc = _state_for(os.getpid(), os.getpid(), st.CREATING, root=str(root))
    doc.pid, doc.publish = 0, True
    st.write_state(tmp_path / "state", doc)
    assert os.listdir(root) == []


@pytest.mark.parametrize("left", [["control"], ["control.4242"], ["control", "control.77", "start"]])
def test_removing_the_state_removes_the_sockets(tmp_path, left):
    """Also the temporary name a join server killed between bind and rename left (control.PID)."""
    directory = tmp_path / "box-1"
    st.write_state(directory, _state_for(os.getpid(), os.getpid()))
    for name in left:
        (directory / name).write_text("")
    st.remove_state(directory)
    assert not directory.exists()


def test_a_stranger_file_in_the_state_directory_keeps_it(tmp_path):
    """Twin: only what the engine puts there is removed; the directory stays when something else is in it."""
    directory = tmp_path / "box-1"
    st.write_state(directory, _state_for(os.getpid(), os.getpid()))
    (directory / "controlled").write_text("")
    st.remove_state(directory)
    assert os.listdir(directory) == ["controlled"]


def test_a_state_directory_anyone_else_can_write_is_refused(tmp_path):
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o777)
    os.chmod(directory, 0o777)
    with pytest.raises(StateError, match="not a directory that only uid 0 can write"):
        st.write_state(directory, _state_for(os.getpid(), os.getpid()))


def test_trusted_state_of_another_directory_is_refused(tmp_path):
    """Two directories whose ids collide must not take each other's container for their own."""
    from libcontainer.container import Container

    box = Container(tmp_path / "box", config=Config(), state_root=tmp_path / "run")
    other = _state_for(os.getpid(), os.getpid(), root="/elsewhere")
    st.write_state(box.state_dir, other)
    with pytest.raises(StateError, match="holds the state of the container in /elsewhere"):
        box.state()


def test_pid_file_without_state_naming_a_live_process_is_refused(tmp_path):
    from libcontainer.container import Container

    box = Container(tmp_path, config=Config(), state_root=tmp_path / "run")
    (tmp_path / "pid").write_text(f"{os.getpid()}\n")
    with pytest.raises(StateError, match="names a live process"):
        box._refuse_forged_pid_file()
    # A pid file naming nothing is what a container long gone left: removed.
    (tmp_path / "pid").write_text("999999999\n")
    box._refuse_forged_pid_file()
    assert not (tmp_path / "pid").exists()


def test_the_lock_serialises_and_a_removed_directory_is_noticed(tmp_path):
    directory = tmp_path / "box-1"
    with st.Lock(directory, create=True) as held:
        assert directory.is_dir()
        pid = os.fork()
        if pid == 0:  # waits for the lock, then finds the directory gone
            os.close(held.fd)  # a flock belongs to the open file, which fork shares
            try:
                with st.Lock(directory):
                    os._exit(1)
            except st.NoSuchContainer:
                os._exit(0)
            os._exit(2)
        time.sleep(0.2)
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)  # still waiting
        directory.rmdir()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    with pytest.raises(st.NoSuchContainer, match="container box-1 does not exist"):
        with st.Lock(directory):
            pass


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


def test_a_peer_gone_before_a_send_is_eof_for_send_unless_gone_and_an_error_for_send():
    parent, child = Channel.pair()
    child.close()
    with pytest.raises(EOFError, match="container setup closed the channel before start reached it"):
        parent.send_unless_gone(msg.START)
    with pytest.raises(ContainerError, match="sync: sending start to container setup: Broken pipe"):
        parent.send(msg.START)


def test_a_start_whose_process_dies_after_the_connect_is_eof(tmp_path, monkeypatch):
    # The race of a start with a kill from elsewhere: the process ends
    # between the start's connect and its START.  Its listening socket
    # closes with our connection pending, which resets it.
    path = tmp_path / "start.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(path))
    listener.listen(1)
    unlink = os.unlink

    def unlink_and_die(target, *args, **kwargs):
        unlink(target, *args, **kwargs)
        listener.close()

    monkeypatch.setattr(os, "unlink", unlink_and_die)
    with pytest.raises(EOFError, match="before start reached it"):
        for _ in msg.start_steps(str(path), "box", "true"):
            pass


def test_eof_after_the_exec_message_means_exec_succeeded():
    parent, child = Channel.pair()
    child.send(msg.EXEC)
    child.close()
    parent.wait_for_exec("true")


def test_eof_without_the_exec_message_means_the_process_died_before():
    parent, child = Channel.pair()
    child.close()
    with pytest.raises(EOFError, match="closed the channel before the exec"):
        parent.wait_for_exec("true")


@pytest.mark.parametrize("err, code", [(errno.ENOENT, 127), (errno.ENOEXEC, 126), (errno.EACCES, 126)])
def test_the_exec_stubs_errno_is_an_exec_error(err, code):
    parent, child = Channel.pair()
    child.sock.send(err.to_bytes(4, sys.byteorder))
    with pytest.raises(ContainerError) as info:
        parent.wait_for_exec("/bin/cmd")
    assert str(info.value) == f"exec: /bin/cmd: {os.strerror(err)}"
    assert (info.value.exit_code, info.value.errno) == (code, err)


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


# -- hooks go through pluggy's own calling -------------------------------------------------------


class _Stats:
    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def libcontainer_stats(self, container):
        return {self.name: 1}


class _Wrapper:
    """A new-style wrapper around every stats implementation: sees their results, adds one."""

    def __init__(self) -> None:
        self.seen: list = []

    @hookimpl(wrapper=True)
    def libcontainer_stats(self, container):
        results = yield
        self.seen.append(list(results))
        return results + [{"wrapped": True}]


def test_a_wrapper_plugin_wraps_the_other_active_plugins_and_is_not_taken_for_a_result():
    wrapper = _Wrapper()
    plugins = get_plugin_manager(extra=[("a", _Stats("a")), ("b", _Stats("b")), ("w", wrapper)], entry_points=False)
    results = plugins.call("libcontainer_stats", {"core", "a", "w"}, container=None)
    assert results == [{"a": 1}, {"wrapped": True}]  # b is not active; the wrapper's generator is no result
    assert wrapper.seen == [[{"a": 1}]]


def test_pluggys_tracing_sees_the_engines_calls():
    plugins = get_plugin_manager(extra=[("a", _Stats("a"))], entry_points=False)
    traced: list[str] = []
    undo = plugins.pm.enable_tracing()
    plugins.pm.trace.root.setwriter(traced.append)
    try:
        plugins.call("libcontainer_stats", None, container=None)
    finally:
        undo()
    assert any("libcontainer_stats" in line for line in traced), traced


def test_a_failing_wrapper_is_named():
    class Broken:
        @hookimpl(wrapper=True)
        def libcontainer_stats(self, container):
            yield
            raise RuntimeError("wrapper broke")

    plugins = get_plugin_manager(extra=[("a", _Stats("a")), ("broken", Broken())], entry_points=False)
    with pytest.raises(PluginError) as info:
        plugins.call("libcontainer_stats", None, container=None)
    assert str(info.value) == "stats (broken): wrapper broke"


def test_cleanup_runs_every_plugin_after_failures_in_pluggys_order_once_each():
    ran: list[str] = []

    def plugin(name: str, fails: bool):
        def post_exit(container):
            ran.append(name)
            if fails:
                raise RuntimeError(f"{name} failed")
        return types.SimpleNamespace(libcontainer_post_exit=hookimpl(post_exit))

    plugins = get_plugin_manager(extra=[(n, plugin(n, n in ("two", "four"))) for n in ("one", "two", "three", "four")],
                                 entry_points=False)
    with pytest.raises(PluginError, match="four failed"):  # the first error, in calling order (last registered first)
        plugins.call("libcontainer_post_exit", None, collect_errors=True, container=None)
    assert ran == ["four", "three", "two", "one"]
