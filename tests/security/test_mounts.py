"""Scenario 3: mount destinations stay in the rootfs, whatever its symlinks and races (CVE-2021-30465, CVE-2025-31133, CVE-2025-52565).

The rootfs is the attacker's: it may hold symlinks anywhere, and a process
sharing its directory (another container) may swap a directory with a symlink
while nsinit mounts.  tests/integration/test_lifecycle.py already checks a
plain absolute and relative symlink and /proc, /sys, /dev as symlinks; these
tests go further.  A racing swap made nsinit create mount directories on the
host (CVE-2024-45310's class) until rootfs.py made every directory through
fds of its parents.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from secutil import in_a_private_mount_namespace, nsattack_lines, run_in_pty

pytestmark = pytest.mark.privileged

# What these tests name on the host (see conftest.py).
RESOURCE_PREFIX = "lcs-a"


@pytest.fixture
def marker_dir(tmp_path):
    """A host directory to bind into the container, holding one file named ``marker``."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("bound")
    return src


@pytest.fixture
def host_target():
    """A directory path on the host, outside every rootfs, that a mount must never reach; removed after."""
    path = f"/tmp/lcs-host-{uuid.uuid4().hex[:8]}"
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", path], capture_output=True)


def bind(src, dest: str) -> dict:
    return {"type": "bind", "source": str(src), "destination": dest}


# -- symlinks in the rootfs --------------------------------------------------------------


def test_destination_through_proc_self_root_lands_inside_rootfs(container, marker_dir):
    # /proc is mounted when binds are made: /proc/self/root is the setup
    # process's root, the host's /.
    os.symlink("/proc/self/root/etc", container.path / "p")
    container.write_config(mounts=[bind(marker_dir, "/p/lcs-through-proc")])
    r = container.exec("cat", "/etc/lcs-through-proc/marker")
    assert (r.returncode, r.stdout) == (0, "bound"), r.stderr
    assert not os.path.exists("/etc/lcs-through-proc")
    assert (container.path / "etc" / "lcs-through-proc").is_dir()


def test_destination_through_a_chain_of_climbing_symlinks_lands_inside_rootfs(container, marker_dir, host_target):
    os.symlink("/", container.path / "a")
    os.symlink("a/../../../../..", container.path / "b")
    os.symlink(f"b/{host_target.lstrip('/')}", container.path / "c")
    container.write_config(mounts=[bind(marker_dir, "/c/deeper")])
    r = container.exec("cat", f"{host_target}/deeper/marker")
    assert (r.returncode, r.stdout) == (0, "bound"), r.stderr
    assert not os.path.exists(host_target)


def test_destination_through_a_symlink_loop_is_refused_in_one_line(container, marker_dir):
    os.symlink("loop2", container.path / "loop1")
    os.symlink("loop1", container.path / "loop2")
    container.write_config(mounts=[bind(marker_dir, "/loop1/x")])
    r = container.exec("true")
    assert r.returncode == 125
    assert r.stderr.strip() == "nsinit: mounts: /loop1/x: too many levels of symbolic links"


@pytest.mark.parametrize("dest, link", [("/proc", None), ("/x", "/proc"), ("/y/kernel", "/proc/sys"),
                                        ("/z", "../../../proc")])
def test_tmpfs_over_proc_directly_or_through_a_symlink_is_refused(container, dest, link):
    if link:
        os.symlink(link, container.path / dest.split("/")[1])
    container.write_config(mounts=[{"type": "tmpfs", "destination": dest}])
    r = container.exec("true")
    assert r.returncode == 125, r.stderr
    assert "is not allowed" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


@pytest.mark.parametrize("name", ["proc", "sys", "dev"])
def test_special_directory_that_is_a_file_in_the_rootfs_is_refused(container, name):
    os.rmdir(container.path / name)
    (container.path / name).write_text("fake")
    container.write_config()
    r = container.exec("true")
    assert r.returncode == 125
    assert r.stderr.strip() == f"nsinit: rootfs: /{name} in the rootfs is not a directory; refusing to mount over it"


# -- a racing swap (CVE-2021-30465) -----------------------------------------------------------


def race_mounts(container, nsattack, marker_dir, link_target: str, runs: int = int(os.environ.get("LCS_RACE_RUNS", "12"))) -> list[subprocess.CompletedProcess]:
    """Exec ``runs`` times while the host swaps /mnt/d (a directory) with a symlink to ``link_target``."""
    mnt = container.path / "mnt"
    (mnt / "d").mkdir()
    os.symlink(link_target, mnt / "s")
    mounts = [bind(marker_dir, f"/mnt/d/m{i}") for i in range(8)] + [bind(marker_dir, "/mnt/d")]
    container.write_config(mounts=mounts)
    swapper = subprocess.Popen([str(nsattack), "swap", str(mnt / "d"), str(mnt / "s"), "30"],
                               stdout=subprocess.PIPE, text=True)
    results = []
    try:
        for _ in range(runs):
            results.append(container.exec("sh", "-c", "cat /sneaky/marker /sneaky/m0/marker 2>/dev/null; true"))
    finally:
        swapper.kill()
        swapper.wait()
    # The swapper was killed mid-exchange: put the directory back for cleanup.
    if os.path.islink(mnt / "d"):
        os.rename(mnt / "d", mnt / "tmp")
        os.rename(mnt / "s", mnt / "d")
        os.rename(mnt / "tmp", mnt / "s")
    return results


def test_swapping_a_destination_with_a_symlink_out_never_mounts_or_creates_on_the_host(container, nsattack,
                                                                                           marker_dir, host_target):
    # An existing host directory, as /etc would be: what is made through the
    # symlink would land in it.
    os.mkdir(host_target)
    results = race_mounts(container, nsattack, marker_dir, f"../../../../../../../..{host_target}")
    for r in results:
        assert r.returncode in (0, 125), r.stderr
        if r.returncode == 125:
            assert r.stderr.startswith("nsinit: ") and len(r.stderr.splitlines()) == 1, r.stderr
    # Neither a mount nor a directory or file made for one ever reached the host path.
    assert os.listdir(host_target) == []


def test_swapping_a_destination_with_a_symlink_never_follows_it(container, nsattack, marker_dir):
    """Followed naively, /mnt/d -> ../../<box>/sneaky is the rootfs's /sneaky; resolved in the root it is not."""
    results = race_mounts(container, nsattack, marker_dir, f"../../{container.path.name}/sneaky")
    assert all(r.returncode in (0, 125) for r in results), [r.stderr for r in results]
    assert [r.stdout for r in results if r.stdout] == []
    assert not any((container.path / "sneaky").glob("**/marker"))


# Each of /proc and /procswap seen through one fd: its type, kcore's bytes, whether /proc/sys opens for writing.
PROC_VIEW = "nsattack procview /proc; nsattack procview /procswap"


def _unswap_proc(container) -> None:
    """Put /proc back where it was if the swapper was killed between its two exchanges."""
    if os.path.islink(container.path / "proc"):
        os.rename(container.path / "proc", container.path / "tmp" / "procswap")
        os.rename(container.path / "procswap", container.path / "proc")
        os.rename(container.path / "tmp" / "procswap", container.path / "procswap")


def test_swapping_proc_with_a_symlink_never_leaves_the_real_procfs_unmasked(container, nsattack):
    """/proc swapped with a symlink to fake files, again and again, while nsinit mounts, checks and masks it.

    The swap is made from the host (a co-tenant of the rootfs's directory);
    nsinit refuses to go on when it sees /proc replaced, and wherever the real
    procfs ends up, its masks and read-only /proc/sys went with it.  What name
    the container's command finds it under is the co-tenant's doing.
    """
    fake = container.path / "fakeproc"
    (fake / "sys" / "kernel").mkdir(parents=True)
    (fake / "kcore").write_text("fake")
    os.symlink("/fakeproc", container.path / "procswap")
    container.write_config(context={"restrictions": "true"})
    swapper = subprocess.Popen([str(nsattack), "swap", str(container.path / "proc"), str(container.path / "procswap"),
                                "30"], stdout=subprocess.PIPE, text=True)
    results = []
    try:
        for _ in range(12):
            results.append(container.exec("sh", "-c", PROC_VIEW))
    finally:
        swapper.kill()
        swapper.wait()
    _unswap_proc(container)
    refused = [r for r in results if r.returncode == 125]
    assert all(len(r.stderr.splitlines()) == 1 for r in refused), [r.stderr for r in refused]
    for r in results:
        if r.returncode == 125:
            continue
        for _, path, kind, kcore_bytes, write in nsattack_lines(r.stdout, "procview"):
            if kind == "proc":
                assert (kcore_bytes, write) == ("0", "EROFS"), (path, r.stdout, r.stderr)
    assert not any("proc" in r.stderr and "Traceback" in r.stderr for r in results)


def test_swapping_proc_during_a_tty_start_never_binds_anything_but_the_pty_on_dev_console(container, nsattack):
    """The engine learns its pty's path from /proc/self/fd after pivot_root: a fake /proc could name any file.

    The fake names the real procfs's core_pattern (under whichever name it
    has then): bound over /dev/console, it would stay writable after the
    restrictions made /proc/sys read-only (CVE-2025-52565's class).  Nothing
    writes to /dev/console here: its type is only looked at.
    """
    fake = container.path / "fakeproc"
    (fake / "self" / "fd").mkdir(parents=True)
    for n in range(12):
        os.symlink("/procswap/sys/kernel/core_pattern", fake / "self" / "fd" / str(n))
    (fake / "sys" / "kernel").mkdir(parents=True)
    os.symlink("/proc/sys/kernel/core_pattern", fake / "sys" / "kernel" / "core_pattern")
    os.symlink("/fakeproc", container.path / "procswap")
    container.write_config(tty=True, context={"restrictions": "true"})
    swapper = subprocess.Popen([str(nsattack), "swap", str(container.path / "proc"), str(container.path / "procswap"),
                                "30", os.environ.get("LCS_SWAP_PAUSE_US", "1000")], stdout=subprocess.PIPE, text=True)
    outcomes = []
    try:
        for _ in range(int(os.environ.get("LCS_RACE_RUNS", "12"))):
            outcomes.append(run_in_pty(container, "stat -c 'console %t %F' /dev/console"))
    finally:
        swapper.kill()
        swapper.wait()
    _unswap_proc(container)
    for status, out in outcomes:
        consoles = nsattack_lines(out, "console")
        if status == 0:
            assert consoles == [["console", "88", "character", "special", "file"]], out
        else:
            assert status == 125 and len(out.strip().splitlines()) == 1, out


def test_without_protection_a_naive_mount_follows_the_swapped_symlink(container, marker_dir):
    """What the race aims at: mount(2) on the path follows the symlink out of its place."""
    from libcontainer import syscalls as sc

    os.symlink(f"../../{container.path.name}/sneaky", container.path / "mnt" / "d")
    (container.path / "sneaky").mkdir()

    def naive_mount() -> bool:
        sc.real().mount(str(marker_dir), str(container.path / "mnt" / "d"), None, sc.MS_BIND, None)
        return os.path.exists(container.path / "sneaky" / "marker")

    landed_in_sneaky = in_a_private_mount_namespace(naive_mount)
    assert landed_in_sneaky == "True"


# -- /dev/null and /dev/console from the rootfs (CVE-2025-31133, CVE-2025-52565) -------------------------


def test_rootfs_dev_null_symlink_to_a_procfs_file_is_never_used_as_a_mask(container):
    os.symlink("/proc/sys/kernel/core_pattern", container.path / "dev" / "null")
    before = open("/proc/sys/kernel/core_pattern").read()
    container.write_config(context={"restrictions": "true"})
    r = container.exec("sh", "-c", "stat -c '%t:%T %F' /dev/null; wc -c < /proc/kcore; "
                                   "echo '|/bin/lcs-pwned' > /proc/kcore; echo '|/bin/lcs-pwned' > /dev/null")
    assert r.returncode in (0, 1, 2), r.stderr
    assert r.stdout.splitlines()[0] == "1:3 character special file", r.stdout
    if os.path.exists("/proc/kcore"):
        assert r.stdout.splitlines()[1].strip() == "0"
    assert open("/proc/sys/kernel/core_pattern").read() == before


def test_device_node_named_dev_null_that_is_not_the_null_device_is_refused_as_a_mask(container):
    container.write_config(context={"restrictions": "true"}, device_nodes=[
        {"path": "/dev/null", "type": 99, "major_number": 1, "minor_number": 5, "file_mode": 438},
    ])
    r = container.exec("true")
    assert r.returncode == 125
    assert r.stderr.strip() == "nsinit: mounts: /dev/null is not the null device; refusing to mask with it"


def test_device_node_named_dev_null_that_is_the_null_device_is_accepted_as_a_mask(container):
    container.write_config(context={"restrictions": "true"}, device_nodes=[
        {"path": "/dev/null", "type": 99, "major_number": 1, "minor_number": 3, "file_mode": 438},
    ])
    r = container.exec("true")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("target", ["/proc/sys/kernel/core_pattern", "/dev/tty0"])
def test_rootfs_dev_console_symlink_is_not_followed(container, target):
    os.symlink(target, container.path / "dev" / "console")
    container.write_config(tty=True)
    before = open("/proc/sys/kernel/core_pattern").read()
    status, out = run_in_pty(container, "stat -c '%t:%T %F' /dev/console; readlink /dev/console; tty")
    assert status == 0, out
    lines = out.splitlines()
    # The container's own pty (major 136), not what the symlink named.
    assert lines[0].startswith("88:") and lines[0].endswith("character special file"), out
    assert lines[1:] == ["/dev/pts/0"], out
    assert open("/proc/sys/kernel/core_pattern").read() == before
