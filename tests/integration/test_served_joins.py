"""Joins served by the supervising nsinit (libcontainer/control.py), and when nsinit joins by itself.

Each behaviour has a twin on the other path: NSINIT_DEBUG_LOCAL_JOIN=1 makes
the joining nsinit join by itself, as it does when no supervisor serves.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from libcontainer import control
from libcontainer.testing.fixtures import nsinit_command, read_terminal

pytestmark = pytest.mark.privileged

LOCAL = {**os.environ, "NSINIT_DEBUG_LOCAL_JOIN": "1"}


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()


def _ppid(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def _children(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if _ppid(int(name)) == pid:
                    found.append(int(name))
            except (OSError, ValueError):
                pass
    return found


def _find(argv0: bytes, arg: bytes, timeout: float = 5) -> int:
    """The host pid of the process running ``argv0 arg`` (unique to the test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/cmdline", "rb") as f:
                        if f.read().split(b"\0")[:2] == [argv0, arg]:
                            return int(name)
                except OSError:
                    pass
        time.sleep(0.02)
    raise AssertionError(f"no process {argv0!r} {arg!r}")


def _alive(pid: int) -> bool:
    try:
        return _stat_fields(pid)[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _server_of(first: subprocess.Popen) -> int:
    pid1 = int(open(f"/proc/{first.pid}/task/{first.pid}/children").read().split()[0])
    servers = [c for c in _children(first.pid) if c != pid1]
    assert len(servers) == 1, servers
    return servers[0]


@pytest.fixture
def running(container):
    """A container whose first process (sleep) runs, with its join server up."""
    container.write_config()
    first = container.popen("sleep", "60")
    container.wait_running()
    return container, first


def test_a_join_is_run_by_the_supervisors_server(running):
    container, first = running
    joined = container.popen("sleep", "31")
    process = _find(b"sleep", b"31")
    handler = _ppid(process)
    assert _ppid(handler) == _server_of(first) and _ppid(_server_of(first)) == first.pid
    assert _children(joined.pid) == []  # the joining nsinit runs nothing of its own
    joined.send_signal(signal.SIGTERM)  # passed on: sleep ends
    assert joined.wait(timeout=10) == 143


def test_a_supervisor_relaying_a_terminal_serves_joins_without_one(container):
    """The server is forked before the relay starts; a --no-tty join is served."""
    import pty

    container.write_config(tty=True)
    pid, master = pty.fork()
    if pid == 0:
        os.chdir(container.path)
        os.execv(nsinit_command()[0], nsinit_command() + ["exec", "sh", "-c", "echo ready; sleep 60"])
    try:
        assert b"ready" in os.read(master, 4096)
        container.wait_running()
        r = container.exec("sh", "-c", "echo joined; tty", extra_args=["--no-tty"])
        assert r.returncode == 1 and r.stdout.split() == ["joined", "not", "a", "tty"], r.stderr
        served = subprocess.Popen(nsinit_command() + ["exec", "--no-tty", "sleep", "36"], cwd=container.path,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        handler = _ppid(_find(b"sleep", b"36"))
        assert _ppid(_ppid(handler)) == pid and handler != served.pid
        served.send_signal(signal.SIGTERM)
        assert served.wait(timeout=10) == 143
        joined = container.popen("sleep", "35")  # fixture's popen has no --no-tty: config's tty
        # The served path refuses the terminal join: made locally, under the joining nsinit.
        assert _ppid(_find(b"sleep", b"35")) == joined.pid
        joined.kill()
        joined.wait(timeout=10)
    finally:
        os.kill(pid, signal.SIGKILL)
        read_terminal(master)
        os.waitpid(pid, 0)
        os.close(master)


def test_a_join_made_locally_runs_under_the_joining_nsinit(running):
    container, _ = running
    joined = container.popen("sleep", "32", env=LOCAL)
    process = _find(b"sleep", b"32")
    assert _ppid(process) == joined.pid
    joined.send_signal(signal.SIGTERM)
    assert joined.wait(timeout=10) == 143


def _outcomes(container, *cmd: str, input: str | None = None) -> list[tuple[int, str, str]]:
    served = container.exec(*cmd, input=input)
    local = container.exec(*cmd, input=input, env=LOCAL)
    return [(r.returncode, r.stdout, r.stderr) for r in (served, local)]


@pytest.mark.parametrize("cmd", [
    ("sh", "-c", "echo out; echo err >&2; exit 7"),
    ("lctest-no-such-command",),
    ("/etc/passwd",),
    ("sh", "-c", "kill -USR1 $$"),
])
def test_a_served_join_ends_as_a_local_one_does(running, cmd):
    """Same exit status, output and error lines on both paths (127 and 126 come from the engine)."""
    container, _ = running
    served, local = _outcomes(container, *cmd)
    assert served == local
    assert served[0] in (7, 127, 126, 138)


def test_a_served_join_reads_the_joining_nsinits_stdin(running):
    container, _ = running
    served, local = _outcomes(container, "sh", "-c", "cat; ls /proc/self/fd", input="hello\n")
    assert served == local
    assert served[1].split() == ["hello", "0", "1", "2", "3"]  # 3: ls's own directory


def test_a_served_join_passes_signals_on(running):
    container, _ = running
    joined = container.popen("sh", "-c", "trap 'echo got TERM; exit 3' TERM; echo waiting; sleep 30 >/dev/null 2>&1 & wait")
    assert joined.stdout.readline().strip() == "waiting"
    joined.send_signal(signal.SIGTERM)
    out, _ = joined.communicate(timeout=10)
    assert joined.returncode == 3 and out.strip() == "got TERM"


@pytest.mark.parametrize("env", [None, LOCAL], ids=["served", "local"])
def test_sigkill_of_the_joining_nsinit_ends_its_process_and_spares_the_container(running, env):
    container, first = running
    joined = container.popen("sleep", "33", env=env)
    process = _find(b"sleep", b"33")
    joined.kill()
    joined.wait(timeout=10)
    deadline = time.monotonic() + 1.0
    while _alive(process) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(process)
    assert first.poll() is None
    assert container.exec("true").returncode == 0


def test_without_a_socket_the_joining_nsinit_joins_by_itself(running):
    """A supervisor that does not serve (an older nsinit, the Python API): the join is local."""
    container, _ = running
    path = control.socket_path(container.path)
    os.rename(path, path + ".away")
    try:
        joined = container.popen("sleep", "34")
        process = _find(b"sleep", b"34")
        assert _ppid(process) == joined.pid
        joined.send_signal(signal.SIGTERM)
        assert joined.wait(timeout=10) == 143
    finally:
        os.rename(path + ".away", path)


def test_a_socket_without_a_server_makes_a_local_join(running):
    container, first = running
    os.kill(_server_of(first), signal.SIGKILL)  # its socket stays; connecting is refused
    r = container.exec("sh", "-c", "echo $$")
    assert r.returncode == 0 and r.stdout.strip() not in ("", "1"), r.stderr


def test_a_join_that_wants_a_terminal_is_made_locally(container):
    """The relay needs the joining nsinit's terminal: the server tells it to join by itself."""
    import pty

    container.write_config(tty=True)
    first = container.popen("sleep", "60")
    container.wait_running()
    pid, master = pty.fork()
    if pid == 0:
        os.chdir(container.path)
        os.execv(nsinit_command()[0], nsinit_command() + ["exec", "sh", "-c", "tty; echo $PPID"])
    out = read_terminal(master)
    _, status = os.waitpid(pid, 0)
    os.close(master)
    lines = out.decode().split()
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert lines[0].startswith("/dev/pts/")  # a terminal of the container's, made by the local join
    assert first.poll() is None


def test_the_socket_is_private_and_gone_with_the_container(container):
    container.write_config()
    first = container.popen("sh", "-c", "read x; exit 0", stdin=subprocess.PIPE)
    container.wait_running()
    path = control.socket_path(container.path)
    found = os.lstat(path)
    assert stat.S_ISSOCK(found.st_mode) and stat.S_IMODE(found.st_mode) == 0o600 and found.st_uid == 0
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    server = _server_of(first)
    # Its own process group (a Ctrl-C is the supervisor's to pass on), and no stdio of nsinit's.
    assert os.getpgid(server) != os.getpgid(first.pid)
    assert {os.readlink(f"/proc/{server}/fd/{fd}") for fd in (0, 1, 2)} == {"/dev/null"}
    first.stdin.close()
    assert first.wait(timeout=10) == 0
    assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))
    assert not _alive(server)


def _request_as(uid: int, path: str) -> bytes:
    """Connect to ``path`` as ``uid`` and send a join of /bin/true: what comes back (b"" for EOF)."""
    import _socket

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgid(uid)
            os.setuid(uid)
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
            sock.connect(path)
            fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
            sock.settimeout(10)
            try:
                sock.sendmsg([b"join\0\0true"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
                answer = sock.recv(4096)
            except (BrokenPipeError, ConnectionResetError):
                # Closed by the server before or after our request: EOF all the same.
                answer = b""
            os.write(w, b"<" + answer + b">")
        except BaseException as e:
            os.write(w, repr(e).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        answer = f.read()
    os.waitpid(pid, 0)
    return answer


@pytest.fixture
def opened_door(running):
    """The container's socket reachable by every uid: only the server's peer check is left."""
    container, first = running
    path = control.socket_path(container.path)
    directory = os.path.dirname(path)
    os.chmod(directory, 0o711)
    os.chmod(os.path.dirname(directory), 0o711)
    os.chmod(path, 0o666)
    try:
        yield path
    finally:
        os.chmod(path, 0o600)
        os.chmod(os.path.dirname(directory), 0o700)
        os.chmod(directory, 0o700)


def test_the_server_answers_nothing_to_another_uid(opened_door):
    assert _request_as(65534, opened_door) == b"<>"  # EOF: no join, no status


def test_the_server_runs_a_request_from_its_own_uid(opened_door):
    assert _request_as(0, opened_door) == b"<exited\x000>"


def test_a_request_without_stdio_is_refused(running):
    import _socket

    container, _ = running
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    sock.connect(control.socket_path(container.path))
    sock.send(b"join\0\0true")
    sock.settimeout(10)
    assert sock.recv(4096) == b""
    sock.close()


def test_a_container_gone_meanwhile_is_left_to_the_joining_nsinit(container):
    """The handler finds no container: it starts nothing and says so (the client then creates one)."""
    import _socket

    from libcontainer.container import Container
    from libcontainer.control import FALLBACK, _join_and_wait

    container.write_config()
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    assert _join_and_wait(theirs, Container(container.path), ["true"], None, lambda e: 125) is None
    assert ours.recv(4096) == FALLBACK + b"\0no container is running"
    ours.close()
    theirs.close()


def test_a_stopped_container_met_by_the_handler_is_left_to_the_joining_nsinit(container):
    """PID 1 gone, its supervisor not yet done: the handler starts nothing and says so; the client's create cleans up."""
    import _socket

    from libcontainer import state as st
    from libcontainer.container import Container
    from libcontainer.control import FALLBACK, _join_and_wait

    container.write_config()
    gone = subprocess.Popen(["true"])
    gone.wait()
    me = os.getpid()
    st.write_state(st.private_dir(container.path), st.State(
        id="stale", status=st.RUNNING, pid=gone.pid, start="1", root=str(container.path), rootfs=str(container.path),
        config={}, namespaces={"mnt": "mnt:[1]"}, creator_pid=me, creator_start=st.process_start_time(me),
        publish=True))
    assert Container(container.path).status() == st.STOPPED
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    assert _join_and_wait(theirs, Container(container.path), ["true"], None, lambda e: 125) is None
    assert ours.recv(4096) == FALLBACK + b"\0no container is running"
    ours.close()
    theirs.close()
    r = container.exec("sh", "-c", "echo $$")
    assert (r.returncode, r.stdout.strip()) == (0, "1"), r.stderr
    assert Container(container.path).status() is None
    assert not (container.path / "pid").exists()


class FakeServer:
    """A join server played by the test, on the socket of a directory that holds no container."""

    def __init__(self, root) -> None:
        import _socket

        self.path = control.socket_path(root)
        os.makedirs(os.path.dirname(self.path), mode=0o700)
        self.listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.listener.settimeout(20)

    def accept(self):
        import _socket

        fd, _ = self.listener._accept()
        conn = _socket.socket(fileno=fd)
        conn.settimeout(20)
        data, ancdata, _, _ = conn.recvmsg(65536, _socket.CMSG_SPACE(12))
        for _, _, fds in ancdata:
            for i in range(0, len(fds), 4):
                os.close(int.from_bytes(fds[i:i + 4], sys.byteorder))
        return conn, data

    def close(self) -> None:
        self.listener.close()
        os.unlink(self.path)
        os.rmdir(os.path.dirname(self.path))


@pytest.fixture
def fake_server(container):
    server = FakeServer(container.path)
    yield container, server
    server.close()


def test_a_signal_while_served_is_passed_on_once(fake_server):
    container, server = fake_server
    client = subprocess.Popen(nsinit_command() + ["exec", "sleep", "9"], cwd=container.path,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    conn, request = server.accept()
    assert request == b"join\0\0sleep\x009"
    client.send_signal(signal.SIGUSR1)
    assert conn.recv(4096) == b"signal\0" + str(int(signal.SIGUSR1)).encode()
    conn.send(b"exited\x00138")
    assert client.wait(timeout=10) == 138
    conn.close()


def test_a_signal_before_a_fallback_is_raised_again_by_the_joining_nsinit(fake_server):
    """The server starts nothing: the SIGTERM the client passed on reached no process, so the client
    raises it again on itself instead of going on to join (or create) by itself, the signal lost."""
    container, server = fake_server
    client = subprocess.Popen(nsinit_command() + ["exec", "sleep", "9"], cwd=container.path,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    conn, _ = server.accept()
    client.send_signal(signal.SIGTERM)
    assert conn.recv(4096) == b"signal\0" + str(int(signal.SIGTERM)).encode()
    conn.send(b"fallback\0test")
    assert client.wait(timeout=10) == -signal.SIGTERM
    assert not (container.path / "pid").exists()  # no container was created after all
    conn.close()


def test_a_supervisor_that_ends_without_a_status_is_one_line_and_125(fake_server):
    container, server = fake_server
    client = subprocess.Popen(nsinit_command() + ["exec", "true"], cwd=container.path, text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    conn, _ = server.accept()
    conn.close()
    _, err = client.communicate(timeout=10)
    assert client.returncode == 125
    assert err == "nsinit: the container's supervisor ended the join without an exit status\n"


@pytest.mark.parametrize("serve", [True, False], ids=["serving", "not_serving_the_client_joins_itself"])
def test_a_container_started_through_the_api_serves_joins_when_asked(container, serve):
    from libcontainer.container import Container
    from nsinit.exec_cmd import report

    container.write_config()
    proc = Container(container.path).create(["sleep", "60"])
    try:
        proc.start()
        if serve:
            proc.serve_joins(report)
            deadline = time.monotonic() + 10
            while not os.path.exists(control.socket_path(container.path)) and time.monotonic() < deadline:
                time.sleep(0.01)
        joined = container.popen("sleep", "37")
        parent = _ppid(_find(b"sleep", b"37"))
        assert (parent != joined.pid) == serve  # served: a handler of our server; else the joining nsinit
        if serve:
            assert _ppid(_ppid(parent)) == os.getpid()
        joined.send_signal(signal.SIGTERM)
        assert joined.wait(timeout=10) == 143
    finally:
        proc.signal(signal.SIGKILL)
        proc.wait()
        proc.close()
    assert not os.path.exists(control.socket_path(container.path))
