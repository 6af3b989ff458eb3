"""Scenario 1: no host file descriptor reaches the container, and no working_dir leads out of it (CVE-2024-21626)."""

from __future__ import annotations

import os
import socket
import subprocess
from contextlib import contextmanager

import pytest

from secutil import in_a_private_mount_namespace, nsattack_lines
from libcontainer.testing.fixtures import nsinit_command

pytestmark = pytest.mark.privileged

# What these tests name on the host (see conftest.py).
RESOURCE_PREFIX = "lcs-a"


@contextmanager
def leaked_fds():
    """Fds a careless caller leaves inheritable: a directory fd of /, a file, pipes, sockets, one at 1000."""
    fds = [os.open("/", os.O_RDONLY | os.O_DIRECTORY), os.open("/etc/hostname", os.O_RDONLY)]
    for _ in range(20):
        fds += os.pipe()
    a, b = socket.socketpair()
    fds += [a.detach(), b.detach()]
    fds.append(os.dup2(fds[0], 1000))
    try:
        yield fds
    finally:
        for fd in fds:
            os.close(fd)


def run_with_fds(cwd, fds: list[int], *cmd: str) -> subprocess.CompletedProcess[str]:
    """``nsinit exec CMD`` inheriting ``fds`` (subprocess makes them inheritable for the child)."""
    return subprocess.run(nsinit_command() + ["exec", "--", *cmd], cwd=cwd, pass_fds=fds, capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def open_fds(text: str) -> dict[int, str]:
    return {int(words[1]): " ".join(words[2:]) for words in nsattack_lines(text, "fd")}


def test_first_process_sees_only_fds_0_to_2_of_a_leaky_caller(container):
    container.write_config()
    with leaked_fds() as fds:
        r = run_with_fds(container.path, fds, "nsattack", "open-fds")
    assert r.returncode == 0, r.stderr
    assert sorted(open_fds(r.stdout)) == [0, 1, 2]


def test_joined_process_sees_only_fds_0_to_2_of_a_leaky_caller(container):
    container.write_config()
    container.popen("sleep", "30")
    container.wait_running()
    with leaked_fds() as fds:
        r = run_with_fds(container.path, fds, "nsattack", "open-fds")
    assert r.returncode == 0, r.stderr
    assert sorted(open_fds(r.stdout)) == [0, 1, 2]
    assert all(not target.startswith("/") or target == "/dev/null" for target in open_fds(r.stdout).values())


def test_leaked_fds_reach_a_process_started_without_nsinit(container, nsattack):
    # The same caller and helper on the host: the helper does see what leaks.
    with leaked_fds() as fds:
        r = subprocess.run([str(nsattack), "open-fds"], pass_fds=fds, capture_output=True, text=True, timeout=10)
    seen = open_fds(r.stdout)
    assert set(fds) <= set(seen)
    assert seen[1000] == "/"


# Every fd number the setup process could hold while it changes directory:
# the channel, the host root it keeps for imports, namespace files.
SETUP_FDS = range(3, 10)


def _cwd_report(r: subprocess.CompletedProcess[str]) -> str:
    return f"exit {r.returncode}: {r.stdout!r} {r.stderr!r}"


def _assert_never_in_a_host_directory(r: subprocess.CompletedProcess[str]) -> None:
    """Either refused naming working_dir, or the directory listed is the container's, never the host's."""
    if r.returncode == 125:
        assert r.stderr.startswith("nsinit: working_dir: "), _cwd_report(r)
        assert len(r.stderr.splitlines()) == 1, _cwd_report(r)
        return
    # The host's root has /work (this project); the busybox rootfs has none.
    assert "work" not in r.stdout.split(), _cwd_report(r)


@pytest.mark.parametrize("via_symlink", [False, True], ids=["path", "symlink"])
def test_working_dir_through_proc_self_fd_never_leaves_the_container(container, via_symlink):
    results = []
    for n in SETUP_FDS:
        target = f"/proc/self/fd/{n}"
        if via_symlink:
            link = container.path / f"fd{n}"
            os.symlink(target, link)
            target = f"/fd{n}"
        container.write_config(working_dir=target)
        with leaked_fds() as fds:
            r = run_with_fds(container.path, fds, "sh", "-c", "ls -a")
        _assert_never_in_a_host_directory(r)
        results.append(r.returncode)
    # The host root the setup process keeps for its imports is among them:
    # refused, not silently used.
    assert 125 in results


def test_joined_process_working_dir_through_proc_self_fd_never_leaves_the_container(container):
    container.write_config()
    container.popen("sleep", "30")
    container.wait_running()
    for n in SETUP_FDS:
        # A join takes working_dir from the running container's recorded
        # config, so change it there.
        from libcontainer import state as st

        doc = st.read_state(container.path)
        doc.config["working_dir"] = f"/proc/self/fd/{n}"
        st.write_state(container.path, doc)
        with leaked_fds() as fds:
            r = run_with_fds(container.path, fds, "sh", "-c", "ls -a")
        _assert_never_in_a_host_directory(r)


def test_without_protection_chdir_through_a_leaked_host_fd_escapes_a_chroot(container):
    """Without the check, /proc/self/fd/N of a host directory puts a chroot'ed process on the host.

    A forked child of the test plays the setup process: its own mount
    namespace with a procfs in the rootfs, an fd of the host's /, chroot; the
    plain chdir lands on the host, set_working_dir refuses the same path.
    """
    from libcontainer import syscalls as sc
    from libcontainer.errors import ContainerError
    from libcontainer.rootfs import set_working_dir

    def play_the_setup_process() -> str:
        sc.real().mount("proc", str(container.path / "proc"), "proc", 0, None)
        host = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
        os.chroot(str(container.path))
        os.chdir(f"/proc/self/fd/{host}")
        escaped = "work" in os.listdir(".")
        os.chdir("/")
        try:
            set_working_dir(f"/proc/self/fd/{host}")
            refused = False
        except ContainerError:
            refused = True
        return f"{escaped} {refused}"

    escaped, refused = in_a_private_mount_namespace(play_the_setup_process).split()
    assert escaped == "True"  # the attack works against a plain chdir
    assert refused == "True"  # and the engine's check catches it
