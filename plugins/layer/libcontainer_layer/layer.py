"""The layer a container writes to: an overlay over its rootfs, its upper and work directories on a sized tmpfs.

Everything here runs inside the setup process, in the container's new mount
namespace, before the engine's first mount (``libcontainer_container_init``).
The tmpfs is mounted on the rootfs path itself, and the overlay on top of
it; the overlay's lower directory is an fd of the image taken before the
tmpfs covered it.  The engine then binds what it finds at the rootfs path
(the overlay) and pivots into it.  No path of the host's is ever created or
mounted on, so there is nothing on the host to record or remove: the two
mounts and the tmpfs's pages go with the container's mount namespace.
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import Any

from libcontainer import syscalls as sc
from libcontainer.errors import ContainerError, SyscallError
from libcontainer.records import record

KEY = "layer"  # the top-level key of container.json this plugin owns
DEFAULT_SIZE = 64 << 20  # bytes a container may write when the config says "layer": {}
PAGE = 4096  # tmpfs counts its size in pages; a layer holds at least one
MIN_INODES = 1024  # the default inode count is never below this, however small the size
UPPER, WORK = "upper", "work"  # the overlay's directories, in the tmpfs's root
TMPFS_MAGIC = 0x01021994  # linux/magic.h
OVERLAYFS_MAGIC = 0x794C7630  # linux/magic.h
# overlayfs can be mounted in a user namespace from Linux 5.11 (its FS_USERNS_MOUNT
# and the userxattr option came together, Documentation/filesystems/overlayfs.rst).
USERNS_OVERLAY_KERNEL = (5, 11)


@record(frozen=True)
class Layer:
    """The layer a config asks for, with its defaults filled in."""

    size: int  # bytes the container may write: the tmpfs's size=; ENOSPC inside beyond it
    inodes: int  # files, directories, symlinks and whiteouts it may make: the tmpfs's nr_inodes=

    def tmpfs_options(self) -> str:
        # mode=0700: the tmpfs's root holds only the overlay's two directories,
        # and no process ever sees it (the overlay covers it before anything runs).
        return f"size={self.size},nr_inodes={self.inodes},mode=0700"


def layer_of(section: dict[str, Any] | None) -> Layer:
    """The Layer of a ``layer`` section, already schema-checked (``size`` in bytes by the core's "bytes" format).

    Without ``inodes``, one inode per page of the size (at least MIN_INODES):
    tmpfs's own default is half the host's RAM pages, and an inode costs
    kernel memory that the size does not count, so a container making empty
    files would otherwise use memory far beyond its size.
    """
    section = section or {}
    size = int(section.get("size", DEFAULT_SIZE))
    inodes = section.get("inodes")
    return Layer(size=size, inodes=int(inodes) if inodes is not None else max(MIN_INODES, size // PAGE))


def problems(namespaces: dict[str, Any] | None) -> list[tuple[str, str]]:
    """What the rest of the config must give the layer, as (JSON path, message): a mount namespace of its own."""
    newns = (namespaces or {}).get("NEWNS")
    if isinstance(newns, str):
        return [(f"$.{KEY}", f"the layer is mounted in a new mount namespace, not in one joined ({newns}): "
                             "set NEWNS: true in namespaces")]
    if newns is not True:
        return [(f"$.{KEY}", "the layer needs a new mount namespace, or its mounts would be the host's: "
                             "add NEWNS: true to namespaces")]
    return []


def overlay_options(lower: str, scratch: str, userxattr: bool) -> str:
    """The overlay's mount data: the image as its only lower directory, upper and work in ``scratch``."""
    data = f"lowerdir={lower},upperdir={scratch}/{UPPER},workdir={scratch}/{WORK}"
    # In a user namespace the trusted.overlay.* attributes are out of reach;
    # without userxattr the overlay mounts, but removing a directory of the
    # image then fails with EIO (it cannot mark the new one opaque).
    return data + ",userxattr" if userxattr else data


def in_initial_user_namespace() -> bool:
    """True unless this process is in a user namespace of its own (the initial one maps every id to itself)."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return True


def kernel_release() -> tuple[int, int]:
    """(major, minor) of the running kernel: ``6.1.0-18-amd64`` -> (6, 1)."""
    parts = os.uname().release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def overlay_refusal(err: int, rootfs: str, on_overlay: bool, userns: bool) -> str:
    """One line saying why the kernel refused the overlay over ``rootfs``, and what to do when we know."""
    why = f"the kernel refused an overlay over {rootfs}: {os.strerror(err)}"
    if err == errno.ENODEV:
        return why + "; this kernel has no overlay filesystem (CONFIG_OVERLAY_FS; try modprobe overlay)"
    if err == errno.EINVAL and on_overlay:
        return why + f"; {rootfs} is itself on an overlay, and the kernel stacks overlays at most two deep"
    if userns and err in (errno.EPERM, errno.EINVAL) and kernel_release() < USERNS_OVERLAY_KERNEL:
        need = ".".join(map(str, USERNS_OVERLAY_KERNEL))
        return why + f"; an overlay in a user namespace needs Linux {need} or later, this is {os.uname().release}"
    return why


def mount_layer(sysc: sc.KernelDoor, rootfs: str, layer: Layer) -> None:
    """Mount the tmpfs, then the overlay, on ``rootfs`` (a real path), in the calling process's mount namespace."""
    if rootfs == "/":
        raise ContainerError(KEY, "the rootfs is the host's \"/\": the layer covers an image directory, "
                                  "not the root of the namespace")
    # The engine makes "/" private only after this hook (rootfs.py,
    # make_root_private); until then a mount on a shared mount would appear
    # in the host's namespace too (mount_namespaces(7), "Shared subtrees").
    # Slave, not private: with no_pivot_root the engine keeps "/" a slave.
    sysc.mount(None, "/", None, sc.MS_SLAVE | sc.MS_REC, None, label="/ (MS_SLAVE, before the layer)")
    parent_path, name = os.path.split(rootfs)
    with contextlib.ExitStack() as fds:
        parent = _open(fds, parent_path, os.O_PATH | os.O_DIRECTORY)
        # Both opened by name in the parent: the image before the tmpfs covers
        # it, the tmpfs's root after (a lookup by name crosses into the mount).
        image = _open(fds, name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, parent, shown=rootfs)
        found = os.fstat(image)
        try:
            sysc.mount("tmpfs", f"/proc/self/fd/{image}", "tmpfs", 0, layer.tmpfs_options(),
                       label=f"{rootfs} (the layer's tmpfs)")
        except SyscallError as e:
            raise ContainerError(KEY, f"mounting a tmpfs on {rootfs}: {os.strerror(e.errno)}", errno=e.errno) from None
        scratch = _open(fds, name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, parent, shown=rootfs)
        _check_scratch(sysc, scratch, found, rootfs)
        userns = not in_initial_user_namespace()
        _make_dirs(scratch, found, userns)
        data = overlay_options(f"/proc/self/fd/{image}", f"/proc/self/fd/{scratch}", userns)
        try:
            sysc.mount("overlay", f"/proc/self/fd/{scratch}", "overlay", 0, data, label=f"{rootfs} (the layer)")
        except SyscallError as e:
            on_overlay = _fs_magic(sysc, f"/proc/self/fd/{image}") == OVERLAYFS_MAGIC
            raise ContainerError(KEY, overlay_refusal(e.errno, rootfs, on_overlay, userns), errno=e.errno) from None


def _open(fds: contextlib.ExitStack, path: str, flags: int, dir_fd: int | None = None, shown: str | None = None) -> int:
    """An fd closed when ``fds`` closes."""
    try:
        fd = os.open(path, flags | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as e:
        raise ContainerError(KEY, f"{shown or path}: {e.strerror}", errno=e.errno) from None
    fds.callback(os.close, fd)
    return fd


def _check_scratch(sysc: sc.KernelDoor, scratch: int, image: os.stat_result, rootfs: str) -> None:
    """The directories are made only in the tmpfs just mounted, never in the image (renamed meanwhile?)."""
    here = os.fstat(scratch)
    if _fs_magic(sysc, f"/proc/self/fd/{scratch}") != TMPFS_MAGIC or here.st_dev == image.st_dev:
        raise ContainerError(KEY, f"{rootfs} no longer leads to the tmpfs just mounted on it; refusing to write there")


def _make_dirs(scratch: int, image: os.stat_result, userns: bool) -> None:
    """upper and work in the tmpfs; upper, the container's "/", with the owner and mode of the image's root."""
    os.mkdir(UPPER, 0o700, dir_fd=scratch)
    os.mkdir(WORK, 0o700, dir_fd=scratch)
    # In a user namespace, an owner the namespace does not map reads as the
    # overflow id (65534): it cannot be given, and giving 65534 would hand
    # "/" to whoever that maps to.  "/" is then the namespace root's.
    uid = -1 if userns and image.st_uid == _overflow("uid") else image.st_uid
    gid = -1 if userns and image.st_gid == _overflow("gid") else image.st_gid
    os.chown(UPPER, uid, gid, dir_fd=scratch, follow_symlinks=False)
    os.chmod(UPPER, image.st_mode & 0o7777, dir_fd=scratch)  # after chown, which clears set-id bits


def _overflow(kind: str) -> int:
    """The id an unmapped owner reads as (proc(5), /proc/sys/fs/overflowuid)."""
    try:
        with open(f"/proc/sys/fs/overflow{kind}") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 65534


def _fs_magic(sysc: sc.KernelDoor, path: str) -> int:
    try:
        return sysc.fs_magic(path)
    except SyscallError:
        return 0
