"""The layer end to end: containers write over one image directory that stays as it was, and leave nothing behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from libcontainer import ids
from libcontainer.container import Container
from libcontainer.testing.fixtures import DEFAULT_ENV, SAMPLE_NAMESPACES, nsinit_command, require_root

pytestmark = pytest.mark.privileged

# Writes, creations and deletions of every kind, each checked inside; exits 0 when all took effect.
WRITE_EVERYWHERE = """
set -e
echo new > /etc/new
echo more >> /etc/passwd
rm /bin/ls
rm -r /etc/layer-dir
mkdir /etc/layer-dir
ln -s /etc/new /link
chmod 700 /etc
touch /bin/busybox
test "$(cat /etc/new)" = new
test "$(tail -n 1 /etc/passwd)" = more
test ! -e /bin/ls
test -z "$(ls /etc/layer-dir)"
"""


@pytest.fixture
def image(container):
    """The ``container`` directory as an image: busybox, a directory to delete, container.json with the layer."""
    require_root()
    (container.path / "etc" / "layer-dir").mkdir()
    (container.path / "etc" / "layer-dir" / "file").write_text("in the image\n")
    container.write_config(layer={"size": "8M"})
    return container


@pytest.fixture
def ids_made():
    """Ids for library containers over the image; any still there after the test is deleted by force."""
    made: list[str] = []

    def new(name: str) -> str:
        made.append(f"layer-{name}-{os.getpid()}")
        return made[-1]

    yield new
    for id in made:
        try:
            Container.load(id).delete(force=True)
        except Exception:
            pass


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (itself included): type and mode, owner, size, mtime, content or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["."] + dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if os.path.islink(path):
                body = os.readlink(path)
            elif os.path.isfile(path):
                body = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            else:
                body = None
            out[os.path.relpath(os.path.normpath(path), root)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size,
                                                                 st.st_mtime_ns, body)
    return out


def run(path: Path, id: str, script: str) -> int:
    """Create, start and wait for ``sh -c script`` through the library: the container named ``id`` over ``path``."""
    proc = Container(path, id=id).create(["sh", "-c", script])
    proc.start()
    return proc.wait()


def host_mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == str(path) or p.startswith(f"{path}/")]


# -- the image is never written ----------------------------------------------------------


def test_writes_creations_and_deletions_inside_leave_the_image_unchanged(image, ids_made):
    before = snapshot(image.path)
    assert run(image.path, ids_made("writes"), WRITE_EVERYWHERE) == 0
    assert snapshot(image.path) == before


def test_without_the_layer_key_the_same_writes_land_in_the_image(image, ids_made):
    """Twin: the same container without the key writes to the image directory itself."""
    image.write_config()
    before = snapshot(image.path)
    assert run(image.path, ids_made("nolayer"), WRITE_EVERYWHERE) == 0
    after = snapshot(image.path)
    assert (image.path / "etc" / "new").read_text() == "new\n"
    assert not (image.path / "bin" / "ls").exists()
    assert after != before


def test_the_containers_root_has_the_owner_and_mode_of_the_images(image, ids_made):
    os.chmod(image.path, 0o751)
    os.chown(image.path, 1234, 5678)
    assert run(image.path, ids_made("rootmode"), 'test "$(stat -c "%a %u %g" /)" = "751 1234 5678"') == 0


def test_two_containers_on_one_image_at_once_do_not_see_each_others_writes(image, ids_made):
    before = snapshot(image.path)
    # Each writes its mark, waits until both surely have, then finds only its own.
    script = 'echo {0} > /who; touch /mark-{0}; rm /etc/passwd; sleep 0.4; ' \
             'test "$(cat /who)" = {0} && test "$(ls / | grep mark-)" = mark-{0} && test ! -e /etc/passwd'
    first = Container(image.path, id=ids_made("a")).create(["sh", "-c", script.format("a")])
    second = Container(image.path, id=ids_made("b")).create(["sh", "-c", script.format("b")])
    first.start()
    second.start()
    assert host_mounts_under(image.path) == []  # the host sees neither layer
    assert (image.path / "etc" / "passwd").exists()
    assert (first.wait(), second.wait()) == (0, 0)
    assert snapshot(image.path) == before


# -- the size ------------------------------------------------------------------------------


def test_writing_more_than_the_size_fails_with_enospc_inside(image):
    image.write_config(layer={"size": "1M"})
    r = image.exec("dd", "if=/dev/zero", "of=/big", "bs=64k", "count=32")
    assert r.returncode != 0
    assert "No space left on device" in r.stderr
    assert not (image.path / "big").exists()


def test_writing_less_than_the_size_succeeds(image):
    """Twin: the same 2 MiB fits in a 4 MiB layer."""
    image.write_config(layer={"size": "4M"})
    r = image.exec("dd", "if=/dev/zero", "of=/big", "bs=64k", "count=32")
    assert r.returncode == 0, r.stderr
    assert not (image.path / "big").exists()


def test_a_size_that_is_not_a_size_is_one_line_before_anything_is_made(image):
    image.write_config(layer={"size": "lots"})
    r = image.exec("true")
    assert r.returncode == 125
    assert r.stderr.count("\n") == 1 and "$.layer.size: expected an integer number of bytes" in r.stderr, r.stderr
    assert not (image.path / "state.json").exists()


# -- what cannot work is refused -----------------------------------------------------------


def test_a_config_without_a_new_mount_namespace_is_refused_in_one_line(image):
    image.write_config(namespaces={"NEWPID": True, "NEWUTS": True}, layer={})
    r = image.exec("touch", "/x")
    assert r.returncode == 125
    assert r.stderr.count("\n") == 1, r.stderr
    assert "$.layer: the layer needs a new mount namespace" in r.stderr and "NEWNS: true" in r.stderr
    assert not (image.path / "x").exists()


@pytest.fixture
def overlays(tmp_path):
    """``make(depth)``: a directory on ``depth`` overlays stacked on the host; unmounted after the test."""
    made: list[Path] = []

    def make(depth: int) -> Path:
        lower = tmp_path / "l0"
        lower.mkdir()
        for i in range(1, depth + 1):
            upper, work, merged = (tmp_path / f"{kind}{i}" for kind in ("u", "w", "m"))
            for d in (upper, work, merged):
                d.mkdir()
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            f"lowerdir={lower},upperdir={upper},workdir={work}", str(merged)], check=True)
            made.append(merged)
            lower = merged
        return lower

    yield make
    for merged in reversed(made):
        subprocess.run(["umount", str(merged)], check=True)


def _image_on(container, rootfs_template, where: Path) -> Path:
    import shutil

    image = where / "image"
    shutil.copytree(rootfs_template, image, symlinks=True)
    container.write_config(rootfs=str(image), layer={})
    return image


def test_an_image_on_an_overlay_already_two_deep_is_refused_in_one_line(container, rootfs_template, overlays):
    require_root()
    image = _image_on(container, rootfs_template, overlays(2))
    r = container.exec("touch", "/x")
    assert r.returncode == 125
    assert r.stderr.count("\n") == 1, r.stderr
    assert f"layer: the kernel refused an overlay over {image}: Invalid argument; {image} is itself on an overlay, " \
           "and the kernel stacks overlays at most two deep" in r.stderr
    assert not (image / "x").exists()


def test_an_image_on_one_overlay_gets_its_layer(container, rootfs_template, overlays):
    """Twin: one overlay under the image leaves room for the layer's."""
    require_root()
    image = _image_on(container, rootfs_template, overlays(1))
    r = container.exec("sh", "-c", "touch /x && test -e /x")
    assert r.returncode == 0, r.stderr
    assert not (image / "x").exists()


# -- nothing is left behind ----------------------------------------------------------------


@pytest.fixture
def shared_image(container, rootfs_template, tmp_path):
    """An image on a shared mount (as "/" is under systemd): a mount made on it in a copy of the namespace
    would propagate back to the host unless the copy is made a slave first."""
    require_root()
    mnt = tmp_path / "shared"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(mnt)], check=True)
        yield _image_on(container, rootfs_template, mnt)
    finally:
        container.cleanup()
        subprocess.run(["umount", "-R", str(mnt)], check=True)


def test_while_it_runs_the_host_sees_no_mount_even_on_a_shared_mount(container, shared_image):
    proc = container.popen("sh", "-c", "echo x > /x; echo ready; sleep 30")
    container.wait_running()
    assert proc.stdout.readline().strip() == "ready"
    assert host_mounts_under(shared_image) == []
    assert not (shared_image / "x").exists()
    proc.kill()
    proc.wait()


# The twin's layer plugin: the same mounts, without making the namespace's mounts slaves first.
UNSLAVED = """
import sys
import libcontainer_layer.layer as L
from libcontainer.container import Container

class NoSlave:
    def __init__(self, door):
        self.door = door
    def mount(self, source, target, fstype, flags=0, data=None, label=None):
        if not (source is None and target == "/"):
            self.door.mount(source, target, fstype, flags, data, label=label)
    def __getattr__(self, name):
        return getattr(self.door, name)

mount_layer = L.mount_layer
L.mount_layer = lambda door, rootfs, layer: mount_layer(NoSlave(door), rootfs, layer)
proc = Container(sys.argv[1], id=sys.argv[2]).create(["true"])
proc.start()
print(proc.wait())
"""


def test_without_the_slave_step_the_layer_would_appear_on_the_host(container, shared_image, ids_made):
    """Twin: the engine makes "/" private only after container_init; mounted before that, the layer propagates."""
    import sys

    r = subprocess.run([sys.executable, "-c", UNSLAVED, str(container.path), ids_made("unslaved")], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.stdout == "0\n", r.stderr
    assert host_mounts_under(shared_image) == [str(shared_image)] * 2  # the tmpfs and the overlay, left there


def _state_dir(path: Path) -> Path:
    return Path(ids.private_dir(path))


def test_after_a_sigkill_of_nsinit_and_nsinit_delete_nothing_is_left(container, shared_image):
    proc = container.popen("sh", "-c", "echo x > /x; echo ready; sleep 30")
    pid = container.wait_running()
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:  # its parent-death signal
        time.sleep(0.01)
    assert _state_dir(container.path).exists()  # the killed nsinit's state, for the next command
    r = container.nsinit("delete", "--root", str(container.path))
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(f"/proc/{pid}")
    assert not _state_dir(container.path).exists()
    assert host_mounts_under(shared_image) == []
    assert not (shared_image / "x").exists()
    assert not (container.path / "pid").exists()


def test_a_joined_process_sees_the_layer_of_the_container_it_joins(image):
    first = image.popen("sh", "-c", "echo mine > /etc/new; echo ready; sleep 30")
    image.wait_running()
    assert first.stdout.readline().strip() == "ready"
    r = image.exec("cat", "/etc/new")  # run again while it lives: joins it
    assert (r.returncode, r.stdout) == (0, "mine\n"), r.stderr
    assert not (image.path / "etc" / "new").exists()
    first.kill()
    first.wait()


def test_after_the_container_ends_nothing_is_left(image, ids_made):
    id = ids_made("ended")
    assert run(image.path, id, "echo x > /x") == 0
    assert host_mounts_under(image.path) == []
    assert not (Path(ids.state_root()) / id).exists()
    assert not (image.path / "x").exists()


# -- user namespaces -----------------------------------------------------------------------

USERNS = {"namespaces": dict(SAMPLE_NAMESPACES, NEWUSER=True),
          "uid_mappings": [{"container_id": 0, "host_id": 0, "size": 65536}],
          "gid_mappings": [{"container_id": 0, "host_id": 0, "size": 65536}]}


def test_in_a_user_namespace_a_directory_of_the_image_can_be_replaced(image, ids_made):
    """userxattr: without it the overlay mounts in a user namespace, but rm -r of an image directory fails (EIO)."""
    image.write_config(layer={}, **USERNS)
    before = snapshot(image.path)
    assert run(image.path, ids_made("userns"), WRITE_EVERYWHERE) == 0
    assert snapshot(image.path) == before


# The twin's layer plugin: the same overlay without userxattr.
WITHOUT_USERXATTR = """
import sys
import libcontainer_layer.layer as L
from libcontainer.container import Container

overlay_options = L.overlay_options
L.overlay_options = lambda lower, scratch, userxattr: overlay_options(lower, scratch, False)
proc = Container(sys.argv[1], id=sys.argv[2]).create(["sh", "-c", sys.argv[3]])
proc.start()
print(proc.wait())
"""


def test_in_a_user_namespace_without_userxattr_an_image_directory_cannot_be_removed(image, ids_made):
    """Twin: the overlay mounts, but cannot mark a directory opaque with trusted.* attributes there."""
    import sys

    image.write_config(layer={}, **USERNS)
    r = subprocess.run([sys.executable, "-c", WITHOUT_USERXATTR, str(image.path), ids_made("nouserxattr"),
                        "rm -r /etc/layer-dir"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.stdout == "1\n", r.stderr
    assert "Input/output error" in r.stderr
    assert (image.path / "etc" / "layer-dir" / "file").exists()


def _open_parents(path: Path) -> None:
    """Let any user through pytest's temporary directories (0700), as to any image's parents."""
    for parent in path.parents:
        if str(parent).startswith("/tmp/pytest-of-"):
            os.chmod(parent, os.stat(parent).st_mode | 0o755)


def test_in_a_user_namespace_not_mapping_the_images_owner_root_is_the_namespaces(image, ids_made):
    """The image (host root's) reads as nobody's: "/" is given to the namespace's root instead, and stays writable;
    the image's own files stay as read-only as they are without the layer."""
    _open_parents(image.path)
    mapped = [{"container_id": 0, "host_id": 100000, "size": 65536}]
    image.write_config(layer={}, namespaces=dict(SAMPLE_NAMESPACES, NEWUSER=True), uid_mappings=mapped,
                       gid_mappings=mapped)
    before = snapshot(image.path)
    script = 'test "$(stat -c "%u %g" /)" = "0 0" && touch /new && ! echo more 2>/dev/null >> /etc/passwd'
    assert run(image.path, ids_made("unmapped"), script) == 0
    assert snapshot(image.path) == before


ROOTLESS_UID = 4018  # not 4000: tests/security uses that one, and its state root
AS_USER = ["setpriv", f"--reuid={ROOTLESS_UID}", f"--regid={ROOTLESS_UID}", "--clear-groups", "--inh-caps=-all"]


@pytest.fixture
def rootless_image(image):
    """The image owned by ROOTLESS_UID, who runs nsinit without privileges; its states removed after."""
    _open_parents(image.path)
    subprocess.run(["chown", "-R", f"{ROOTLESS_UID}:{ROOTLESS_UID}", str(image.path)], check=True)
    config = {"namespaces": dict(SAMPLE_NAMESPACES, NEWUSER=True), "environment": DEFAULT_ENV, "layer": {}}
    (image.path / "container.json").write_text(json.dumps(config))
    try:
        yield image
    finally:
        subprocess.run([*AS_USER, *nsinit_command(), "delete", "--force"], cwd=image.path, capture_output=True,
                       env={"PATH": "/usr/bin:/bin", "HOME": "/"}, timeout=60)
        try:
            os.rmdir(f"/tmp/nsinit-{ROOTLESS_UID}")  # the user's state root, which nsinit leaves
        except FileNotFoundError:
            pass


def test_rootless_nsinit_gets_its_layer_too(rootless_image):
    before = snapshot(rootless_image.path)
    r = subprocess.run([*AS_USER, *nsinit_command(), "exec", "sh", "-c", WRITE_EVERYWHERE], cwd=rootless_image.path,
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                       env={"PATH": "/usr/bin:/bin", "HOME": "/"})
    assert r.returncode == 0, r.stderr
    after = snapshot(rootless_image.path)
    # nsinit's own pid, start and state.json come and go in the directory (and change its mtime): the rest is intact.
    assert {k: v for k, v in after.items() if k != "."} == {k: v for k, v in before.items() if k != "."}
