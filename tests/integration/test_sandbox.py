"""The API as a sandbox library (issue 18): subprocess's interface, many containers from one image, asyncio.

Each container here is made from one shared image directory with its own
copy-on-write layer (Container.from_image); the image is checked unchanged
and nothing of any container is left once its call returns.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from libcontainer import Container
from libcontainer.errors import ConfigError, ContainerError
from libcontainer.testing.fixtures import DEFAULT_ENV, SAMPLE_NAMESPACES, image_with_config, tree_digest

pytestmark = pytest.mark.privileged

CONFIG = {"namespaces": dict(SAMPLE_NAMESPACES), "environment": list(DEFAULT_ENV), "hostname": "sandbox"}


@pytest.fixture(scope="module")
def image(rootfs_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_with_config(rootfs_template, tmp_path_factory.mktemp("sandbox") / "image", CONFIG)


def states_of(image: Path) -> list[str]:
    """The states under /run/nsinit of containers made from ``image`` (their ids share its prefix)."""
    prefix = Container.from_image(image).id.rpartition("-")[0] + "-"
    found = os.listdir("/run/nsinit") if os.path.isdir("/run/nsinit") else []
    return sorted(name for name in found if name.startswith(prefix) or name.startswith("pool-" + prefix))


@pytest.fixture
def unchanged(image: Path):
    """The image is never written, and no container state is left, by the test."""
    before = tree_digest(image)
    assert states_of(image) == []
    yield image
    assert tree_digest(image) == before
    assert states_of(image) == []


def box(image: Path, **config) -> Container:
    return Container.from_image(image, config={**CONFIG, **config} if config else None)


def processes_named(word: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if word.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
    return found


# -- run: subprocess.run's contract ---------------------------------------------------------------


def test_run_captures_output_and_status_and_feeds_input(unchanged):
    result = box(unchanged).run(["/bin/sh", "-c", "cat; echo oops >&2; exit 3"], input=b"hello\n",
                                capture_output=True)
    assert isinstance(result, subprocess.CompletedProcess)
    assert (result.returncode, result.stdout, result.stderr) == (3, b"hello\n", b"oops\n")
    assert result.args == ["/bin/sh", "-c", "cat; echo oops >&2; exit 3"]


def test_run_in_text_mode_with_stderr_into_stdout(unchanged):
    result = box(unchanged).run(["/bin/sh", "-c", "echo out; echo err >&2"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    assert result.stdout == "out\nerr\n"
    assert result.stderr is None


def test_output_goes_to_a_file_and_devnull(unchanged, tmp_path):
    with open(tmp_path / "out", "wb") as f:
        result = box(unchanged).run(["/bin/sh", "-c", "echo to-file; echo gone >&2"], stdout=f,
                                    stderr=subprocess.DEVNULL)
    assert result.returncode == 0
    assert (tmp_path / "out").read_bytes() == b"to-file\n"


def test_arguments_never_pass_through_a_shell(unchanged):
    result = box(unchanged).run(["/bin/echo", "$HOME; ls /", "*"], capture_output=True)
    assert result.stdout == b"$HOME; ls / *\n"


def test_env_cwd_and_user_replace_the_configs_for_the_call(unchanged):
    result = box(unchanged).run(["/bin/sh", "-c", 'echo "$GREETING"; pwd; id -u; id -g'], capture_output=True,
                                env=["GREETING=hi there", "PATH=/bin"], cwd="/etc", user="1000:1001")
    assert result.stdout.decode().split("\n") == ["hi there", "/etc", "1000", "1001", ""]


def test_env_as_a_mapping_and_args_as_one_program_like_subprocess(unchanged):
    result = box(unchanged).run(["/bin/sh", "-c", 'echo "$A $B"'], capture_output=True,
                                env={"A": "one", "B": "two=2", "PATH": "/bin"})
    assert result.stdout == b"one two=2\n"
    assert box(unchanged).run(Path("/bin/true")).returncode == 0


def test_args_or_env_of_the_wrong_kind_are_refused_before_anything_is_made(unchanged):
    with pytest.raises(TypeError, match="args must be a list of strings, not int"):
        box(unchanged).run(5)
    with pytest.raises(TypeError, match="env must be a mapping"):
        box(unchanged).run(["/bin/true"], env="A=1")


def test_home_comes_from_passwd_unless_the_environment_names_one(unchanged):
    """As runc: without HOME in the environment, the user's home directory from /etc/passwd."""
    script = ["/bin/sh", "-c", 'echo "$HOME"']
    assert box(unchanged).run(script, capture_output=True, env=["PATH=/bin"], user="user").stdout == b"/home/user\n"
    assert box(unchanged).run(script, capture_output=True, env=["PATH=/bin"]).stdout == b"/root\n"
    assert box(unchanged).run(script, capture_output=True, env=["HOME=/x"], user="user").stdout == b"/x\n"


def test_check_raises_called_process_error(unchanged):
    with pytest.raises(subprocess.CalledProcessError) as info:
        box(unchanged).run(["/bin/sh", "-c", "echo why >&2; exit 9"], capture_output=True, check=True)
    assert info.value.returncode == 9
    assert info.value.stderr == b"why\n"


def test_a_missing_command_is_file_not_found_and_nothing_is_made(unchanged):
    with pytest.raises(FileNotFoundError) as info:
        box(unchanged).run(["/no/such/command"])
    assert "/no/such/command" in str(info.value)
    assert isinstance(info.value, ContainerError) and info.value.exit_code == 127


def test_a_command_that_cannot_be_executed_is_permission_error(unchanged):
    with pytest.raises(PermissionError) as info:
        box(unchanged).run(["/etc/passwd"])
    assert isinstance(info.value, ContainerError) and info.value.exit_code == 126


def test_a_config_problem_names_its_json_path_before_anything_is_made(image):
    with pytest.raises(ConfigError) as info:
        Container.from_image(image, config={**CONFIG, "hostname": 42})
    assert "hostname" in str(info.value)


def test_timeout_kills_everything_and_raises_with_what_was_captured(unchanged):
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as info:
        box(unchanged).run(["/bin/sh", "-c", "echo partial; (sleep 1000 &); sleep 1000"], capture_output=True,
                           timeout=1)
    assert time.monotonic() - started < 10
    assert info.value.output == b"partial\n"
    assert info.value.timeout == 1
    assert processes_named("sleep 1000") == []


def test_what_forks_a_thousand_processes_leaves_none_when_run_returns(unchanged):
    script = "i=0; while [ $i -lt 1000 ]; do sleep 1000 & i=$((i+1)); done; echo forked"
    result = box(unchanged).run(["/bin/sh", "-c", script], capture_output=True, timeout=60)
    assert result.stdout == b"forked\n"
    assert processes_named("sleep 1000") == []


def test_output_of_any_size_both_ways_without_deadlock(unchanged):
    # 100 MB to stdout and 100 MB to stderr, while 10 MB of input is read (the case).
    script = "head -c 100000000 /dev/zero; head -c 100000000 /dev/zero >&2; wc -c"
    result = box(unchanged).run(["/bin/sh", "-c", script], input=b"x" * 10_000_000, capture_output=True,
                                timeout=120)
    assert len(result.stderr) == 100_000_000
    assert result.stdout[:100_000_000] == bytes(100_000_000)
    assert result.stdout[100_000_000:].strip() == b"10000000"


def test_usage_reports_cpu_time_and_peak_memory(unchanged):
    result = box(unchanged).run(["/bin/sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"])
    assert result.usage.cpu_time > 0
    assert result.usage.memory_peak > 0
    assert result.usage.oom_killed is False


def test_usage_says_when_the_memory_limit_killed_it(unchanged):
    limited = box(unchanged, cgroups={"memory": 16 * 1024 * 1024, "memory_swap": 16 * 1024 * 1024})
    # A shell variable that doubles until the cgroup's limit ends it.
    result = limited.run(["/bin/sh", "-c", "x=xxxxxxxxxxxxxxxx; while true; do x=$x$x; done"], timeout=60)
    assert result.returncode == 137
    assert result.usage.oom_killed is True
    assert result.usage.memory_peak >= 15 * 1024 * 1024


# -- create: subprocess.Popen's interface -------------------------------------------------------------


def test_a_process_with_pipes_as_popen(unchanged):
    with box(unchanged).create(["/bin/sh", "-c", "read line; echo got $line; sleep 1000"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE) as proc:
        proc.start()
        assert proc.poll() is None
        proc.stdin.write(b"ping\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"got ping\n"
        proc.terminate()  # PID 1 of its pid namespace ignores SIGTERM it has no handler for
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
        proc.kill()
        assert proc.wait(timeout=10) == 137
        assert proc.returncode == 137
    assert processes_named("sleep 1000") == []


def test_communicate_after_a_timeout_goes_on_where_it_stopped(unchanged):
    with box(unchanged).create(["/bin/sh", "-c", "echo one; sleep 2; echo two"], stdout=subprocess.PIPE) as proc:
        proc.start()
        with pytest.raises(subprocess.TimeoutExpired):
            proc.communicate(timeout=0.5)
        out, _ = proc.communicate(timeout=20)
    assert out == b"one\ntwo\n"


def test_leaving_the_block_with_an_exception_ends_the_container(unchanged):
    with pytest.raises(RuntimeError):
        with box(unchanged).create(["/bin/sleep", "1000"]) as proc:
            proc.start()
            raise RuntimeError("the caller's own error")
    assert processes_named("sleep 1000") == []


def test_a_terminal_nobody_reads_does_not_hang_its_writer(unchanged):
    # More than a terminal's buffer, and the caller never reads the master.
    result = box(unchanged).run(["/bin/sh", "-c", "yes | head -c 1000000; echo done"], tty=True, timeout=60)
    assert result.returncode == 0


def test_a_terminal_is_the_callers_to_read(unchanged):
    with box(unchanged).create(["/bin/sh", "-c", "tty; echo on-the-terminal"], tty=True) as proc:
        proc.start()
        seen = b""
        while b"on-the-terminal" not in seen:
            seen += proc.tty.read(4096)
        assert proc.wait(timeout=10) == 0
    assert b"/dev/pts/" in seen or b"/dev/console" in seen


def test_a_terminal_config_with_captured_output_gives_the_output(unchanged):
    """The caller's pipes win over the config's "tty": true (its twin: asked for both, refused)."""
    result = box(unchanged, tty=True).run(["/bin/sh", "-c", "echo out; echo err >&2"], capture_output=True)
    assert (result.stdout, result.stderr) == (b"out\n", b"err\n")


def test_a_terminal_asked_for_with_pipes_is_refused_before_anything_is_made(unchanged):
    with pytest.raises(ValueError, match="tty=True and stdout given"):
        box(unchanged).run(["/bin/echo", "x"], tty=True, capture_output=True)


# -- many containers from one image ------------------------------------------------------------------


def test_containers_from_one_image_at_once_each_see_only_their_own_writes(unchanged):
    first, second = box(unchanged), box(unchanged)
    assert first.id != second.id
    a = first.create(["/bin/sh", "-c", "echo a > /etc/mine; sleep 0.5; cat /etc/mine; ls /tmp"],
                     stdout=subprocess.PIPE)
    b = second.create(["/bin/sh", "-c", "echo b > /etc/mine; touch /tmp/b-was-here; sleep 0.5; cat /etc/mine"],
                      stdout=subprocess.PIPE)
    with a, b:
        a.start()
        b.start()
        out_a, _ = a.communicate(timeout=30)
        out_b, _ = b.communicate(timeout=30)
    assert out_a == b"a\n"
    assert out_b == b"b\n"
    assert not (unchanged / "etc" / "mine").exists()


def test_the_layer_is_gone_with_its_container(unchanged):
    one = box(unchanged)
    one.run(["/bin/sh", "-c", "echo x > /etc/kept"])
    again = box(unchanged).run(["/bin/cat", "/etc/kept"], capture_output=True)
    assert again.returncode != 0


# -- asyncio ------------------------------------------------------------------------------------------


def test_arun_many_at_once_from_one_event_loop(unchanged):
    async def main():
        return await asyncio.gather(*(box(unchanged).arun(["/bin/sh", "-c", f"cat; echo {n}"], input=b"in ",
                                                           capture_output=True) for n in range(4)))

    results = asyncio.run(main())
    assert [r.stdout for r in results] == [b"in 0\n", b"in 1\n", b"in 2\n", b"in 3\n"]
    assert all(r.returncode == 0 for r in results)


def test_arun_timeout_kills_and_raises_with_what_was_captured(unchanged):
    async def main():
        return await box(unchanged).arun(["/bin/sh", "-c", "echo partial; sleep 1000"], capture_output=True,
                                         timeout=1)

    with pytest.raises(subprocess.TimeoutExpired) as info:
        asyncio.run(main())
    assert info.value.output == b"partial\n"
    assert processes_named("sleep 1000") == []


def test_acreate_gives_asyncio_streams(unchanged):
    async def main():
        async with await box(unchanged).acreate(["/bin/sh", "-c", "read x; echo got $x"], stdin=subprocess.PIPE,
                                                stdout=subprocess.PIPE) as proc:
            await proc.start()
            proc.stdin.write(b"it\n")
            await proc.stdin.drain()
            line = await proc.stdout.readline()
            return line, await proc.wait()

    assert asyncio.run(main()) == (b"got it\n", 0)


def test_the_event_loop_runs_on_while_containers_are_made(unchanged):
    ticks = []

    async def ticker():
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    async def main():
        tick = asyncio.ensure_future(ticker())
        try:
            await asyncio.gather(*(box(unchanged).arun(["/bin/true"]) for _ in range(3)))
        finally:
            tick.cancel()

    asyncio.run(main())
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > 3
    # The containers' setup runs in keepers: the loop is never held for a whole creation.
    assert max(gaps) < 0.25


def test_keepers_hold_none_of_the_callers_pipes(unchanged, monkeypatch):
    """The twin of the input tests: with the keeper keeping the caller's fds, cat never sees its input end."""
    import sys

    from libcontainer import process

    real = process.keep_only_fds

    def keep_all_in_the_keeper(keep):
        # Only the keeper's call goes: the setup process must still close what it must.
        if not sys._getframe(1).f_code.co_filename.endswith("keeper.py"):
            real(keep)

    monkeypatch.setattr(process, "keep_only_fds", keep_all_in_the_keeper)

    async def main():
        return await box(unchanged).arun(["/bin/cat"], input=b"x", capture_output=True, timeout=3)

    with pytest.raises(subprocess.TimeoutExpired):
        asyncio.run(main())
