"""A warm pool (issue 18): containers created ahead, each handed to exactly one run, nothing left.

Every test makes its pool on one shared image; the image is checked unchanged
and no container state, keeper or helper is left once the pool is closed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from libcontainer import Container, Pool
from libcontainer.errors import ConfigError
from libcontainer.testing.fixtures import DEFAULT_ENV, SAMPLE_NAMESPACES, image_with_config, tree_digest

pytestmark = pytest.mark.privileged

CONFIG = {"namespaces": dict(SAMPLE_NAMESPACES), "environment": list(DEFAULT_ENV), "hostname": "pooled"}


@pytest.fixture(scope="module")
def image(rootfs_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_with_config(rootfs_template, tmp_path_factory.mktemp("pool") / "image", CONFIG)


def pool_states(image: Path) -> list[str]:
    """The states under /run/nsinit of the pool containers of ``image``."""
    prefix = "pool-" + Container.from_image(image).id.rpartition("-")[0]
    found = os.listdir("/run/nsinit") if os.path.isdir("/run/nsinit") else []
    return sorted(name for name in found if name.startswith(prefix))


# Pool helpers that were there before this module's tests (another program's pool): not ours to count.
_OTHERS: set[int] = set()


def pool_processes() -> list[int]:
    """Pool helpers alive on the host (python -m libcontainer.pool), but those of other programs."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) not in _OTHERS:
            try:
                if b"libcontainer.pool" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
    return found


def wait_for(check, patience: float = 10.0):
    deadline = time.monotonic() + patience
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


@pytest.fixture
def unchanged(image: Path):
    """No pool state, helper or file in the image is left by the test."""
    _OTHERS.update(pool_processes())
    before = tree_digest(image)
    assert pool_states(image) == []
    yield image
    assert wait_for(lambda: not pool_processes()), f"pool helpers left: {pool_processes()}"
    assert wait_for(lambda: pool_states(image) == []), f"pool containers left: {pool_states(image)}"
    assert tree_digest(image) == before


def test_run_gives_the_result_and_each_run_a_fresh_container(unchanged):
    with Pool(unchanged, size=2) as pool:
        first = pool.run(["/bin/sh", "-c", "echo left > /tmp/mark; sleep 100 & echo $$"], capture_output=True)
        second = pool.run(["/bin/sh", "-c", "cat /tmp/mark 2>&1; ps -o pid,args | grep -c 'sleep 10[0]'; true"],
                          capture_output=True, text=True)
    assert first.returncode == 0 and first.stdout == b"1\n"  # PID 1 of a pid namespace of its own
    assert "No such file" in second.stdout  # the first run's file is not here
    assert second.stdout.splitlines()[-1] == "0"  # nor its process


def test_the_command_env_cwd_and_user_are_chosen_at_run(unchanged):
    with Pool(unchanged, size=1) as pool:
        result = pool.run(["/bin/sh", "-c", 'echo "$WHO"; pwd; id -u'], capture_output=True,
                          env={"WHO": "chosen now", "PATH": "/bin"}, cwd="/etc", user="1000")
    assert result.stdout == b"chosen now\n/etc\n1000\n"


def test_home_from_passwd_for_the_user_chosen_at_run(unchanged):
    with Pool(unchanged, size=1) as pool:
        result = pool.run(["/bin/sh", "-c", 'echo "$HOME"'], capture_output=True, env={"PATH": "/bin"},
                          user="user")
    assert result.stdout == b"/home/user\n"


def test_input_timeout_and_check_as_subprocess(unchanged):
    with Pool(unchanged, size=1) as pool:
        assert pool.run(["/bin/cat"], input=b"fed", capture_output=True).stdout == b"fed"
        with pytest.raises(subprocess.TimeoutExpired) as info:
            pool.run(["/bin/sh", "-c", "echo started; exec sleep 60"], capture_output=True, timeout=1)
        assert info.value.stdout == b"started\n"
        with pytest.raises(subprocess.CalledProcessError):
            pool.run(["/bin/false"], check=True)
        # The pool goes on after each of them.
        assert pool.run(["/bin/echo", "still"], capture_output=True).stdout == b"still\n"


def test_a_missing_command_fails_that_run_and_the_pool_goes_on(unchanged):
    with Pool(unchanged, size=1) as pool:
        with pytest.raises(FileNotFoundError):
            pool.run(["/no/such/command"])
        assert pool.run(["/bin/true"]).returncode == 0


def test_create_gives_a_popen_to_start(unchanged):
    with Pool(unchanged, size=1) as pool:
        with pool.create(["/bin/sh", "-c", "read x; echo got $x"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE) as proc:
            proc.start()
            out, _ = proc.communicate(b"it\n", timeout=10)
        assert (out, proc.returncode) == (b"got it\n", 0)


def test_a_bad_config_is_refused_before_anything_is_made(image):
    _OTHERS.update(pool_processes())
    with pytest.raises(ConfigError, match="hostname"):
        Pool(image, config={**CONFIG, "hostname": 5})
    assert pool_processes() == [] and pool_states(image) == []


def test_bad_args_are_refused_without_taking_a_container(unchanged):
    with Pool(unchanged, size=1) as pool:
        with pytest.raises(TypeError, match="args must be a list"):
            pool.run(None)
        assert pool.run(["/bin/true"]).returncode == 0


def test_closing_deletes_every_waiting_container(unchanged):
    pool = Pool(unchanged, size=3)
    pool.run(["/bin/true"])  # warm: at least one created
    assert wait_for(lambda: len(pool_states(unchanged)) >= 3)
    pool.close()
    with pytest.raises(Exception, match="the pool is closed"):
        pool.run(["/bin/true"])
    # the fixture checks that no state and no helper is left


def test_the_caller_has_no_thread_and_may_fork(unchanged):
    """The pool's work is in other processes: a fork of the caller is as safe as before."""
    before = threading.active_count()
    with Pool(unchanged, size=2) as pool:
        pool.run(["/bin/true"])
        assert threading.active_count() == before
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        assert os.waitpid(pid, 0)[1] == 0


def test_arun_many_at_once(unchanged):
    async def main(pool):
        return await asyncio.gather(*(pool.arun(["/bin/sh", "-c", f"echo {i}"], capture_output=True)
                                      for i in range(6)))

    with Pool(unchanged, size=2) as pool:
        results = asyncio.run(main(pool))
    assert [r.stdout for r in results] == [f"{i}\n".encode() for i in range(6)]


def test_arun_in_one_event_loop_then_another(unchanged):
    """asyncio.run twice on one pool: each event loop gets its own wait (an asyncio.Lock is bound to one)."""
    async def three(pool):  # more than the pool holds: the calls wait on each other
        return [r.returncode for r in await asyncio.gather(*(pool.arun(["/bin/true"]) for _ in range(3)))]

    with Pool(unchanged, size=1) as pool:
        for _ in range(2):
            assert asyncio.run(three(pool)) == [0, 0, 0]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def children() -> list[str]:
    return [c for t in os.listdir("/proc/self/task")
            for c in Path(f"/proc/self/task/{t}/children").read_text().split()]


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def settle(pool: Pool) -> None:
    """Until the pool holds ``size`` containers made and none on its way: each on its way is one
    socket more in the caller, so counts of fds compare only between full pools."""
    deadline = time.monotonic() + 10
    while len(pool._ready) < pool.size or pool._creating:
        assert time.monotonic() < deadline, "the pool did not fill up again"
        pool._collect(block=False)
        time.sleep(0.01)


def test_many_runs_grow_nothing_in_the_caller(unchanged):
    """150 runs: after 50 to warm up, no fd, child, thread or memory more by the end."""
    with Pool(unchanged, size=2) as pool:
        for _ in range(50):
            assert pool.run(["/bin/true"]).returncode == 0
        settle(pool)
        fds, kids, threads, rss = open_fds(), len(children()), threading.active_count(), rss_kib()
        for _ in range(100):
            assert pool.run(["/bin/true"]).returncode == 0
        settle(pool)
        assert open_fds() <= fds
        assert len(children()) <= kids
        assert threading.active_count() == threads
        assert rss_kib() - rss < 2048, f"RSS grew by {rss_kib() - rss} KiB over 100 runs"


PROGRAM = """
import sys, time
from libcontainer import Pool
pool = Pool(sys.argv[1], size=3)
pool.run(["/bin/true"])
running = pool.create(["/bin/sh", "-c", "sleep 1000 & sleep 1001 & wait"])
running.start()
print("ready", running.pid, flush=True)
time.sleep(120)
"""


def test_a_caller_killed_leaves_nothing(unchanged, tmp_path):
    (tmp_path / "program.py").write_text(PROGRAM)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "program.py"), str(unchanged)],
                            stdout=subprocess.PIPE)
    try:
        line = proc.stdout.readline().split()
        assert line[0] == b"ready"
        assert wait_for(lambda: len(pool_states(unchanged)) >= 3)  # one running, two waiting
        assert wait_for(lambda: len(sleeping()) == 2)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    # The keepers see their sockets end and tear their containers down, the running one's
    # processes killed with it; the helper dies with its caller.
    assert wait_for(lambda: pool_states(unchanged) == []), pool_states(unchanged)
    assert wait_for(lambda: not pool_processes())
    assert wait_for(lambda: not sleeping()), sleeping()


def sleeping() -> list[int]:
    """The running container's two sleeps, by their unusual arguments."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes() in (b"sleep\x001000\x00", b"sleep\x001001\x00"):
                    found.append(int(pid))
            except OSError:
                pass
    return found


KEEPERS_KILLED = """
import os, signal, sys, time
from pathlib import Path
from libcontainer import Pool
pool = Pool(sys.argv[1], size=2)
pool.run(["/bin/true"])
time.sleep(0.5)
helper = pool._helper_pid
keepers = Path(f"/proc/{helper}/task/{helper}/children").read_text().split()
os.kill(helper, signal.SIGKILL)
for k in keepers:
    os.kill(int(k), signal.SIGKILL)
print(len(keepers), flush=True)
os._exit(0)
"""


def test_what_killed_keepers_left_the_next_pool_removes(unchanged, tmp_path):
    """SIGKILL of the keepers too: their containers' states stay, stopped; the next Pool deletes them."""
    (tmp_path / "program.py").write_text(KEEPERS_KILLED)
    out = subprocess.run([sys.executable, str(tmp_path / "program.py"), str(unchanged)], capture_output=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 1
    left = wait_for(lambda: pool_states(unchanged))
    assert left, "the twin's premise: killed keepers leave their containers' states"
    assert wait_for(lambda: all(Container.load(i).status() == "stopped" for i in pool_states(unchanged)))
    with Pool(unchanged, size=1) as pool:
        assert not set(left) & set(pool_states(unchanged))
        pool.run(["/bin/true"])


def test_without_the_stale_cleanup_what_killed_keepers_left_stays(unchanged, tmp_path, monkeypatch):
    """The twin: with remove_stale switched off, the next Pool leaves them (nsinit delete removes them)."""
    (tmp_path / "program.py").write_text(KEEPERS_KILLED)
    subprocess.run([sys.executable, str(tmp_path / "program.py"), str(unchanged)], capture_output=True, timeout=60,
                   check=True)
    left = wait_for(lambda: pool_states(unchanged))
    monkeypatch.setattr(Container, "remove_stale", classmethod(lambda cls, prefix, state_root=None: []))
    try:
        with Pool(unchanged, size=1):
            pass
        assert set(left) <= set(pool_states(unchanged))
    finally:
        for ident in left:
            subprocess.run([sys.executable, "-m", "nsinit", "delete", "--force", "--id", ident], check=True,
                           capture_output=True)
    assert not set(left) & set(pool_states(unchanged))


def test_a_terminal_config_captures_through_the_pool(image, unchanged):
    with Pool(unchanged, config={**CONFIG, "tty": True}, size=1) as pool:
        result = pool.run(["/bin/sh", "-c", "echo out; echo err >&2"], capture_output=True)
    assert (result.stdout, result.stderr) == (b"out\n", b"err\n")


def test_sigint_to_the_callers_group_does_not_reach_the_helper(unchanged):
    """The helper is in a session of its own: a Ctrl-C is the caller's to act on."""
    with Pool(unchanged, size=1) as pool:
        for _ in range(3):
            pool.run(["/bin/true"])
        helper = pool._helper_pid
        assert os.getsid(helper) != os.getsid(0)
        assert os.getpgid(helper) != os.getpgid(0)
        os.kill(helper, 0)
