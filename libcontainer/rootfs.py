"""The container's filesystem: rootfs, /proc, /sys, /dev, bind mounts, pivot_root.

Runs inside the setup process, in its new mount namespace, as root of the
container.  Every mount destination is resolved inside the rootfs, never
following a symlink out of it; then the directories, files and device nodes
it needs are made one component at a time through fds of their parents,
opened with openat2(RESOLVE_NO_SYMLINKS), and the mount is made on an O_PATH
fd through /proc/self/fd.  A symlink swapped in between resolving and
mounting fails the setup instead of redirecting a mkdir or a mount to the
host (CVE-2021-30465, CVE-2024-45310).
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from . import syscalls as sc
from .config import DeviceNode, Mount
from .errors import ContainerError, SyscallError

if TYPE_CHECKING:
    from .context import ContainerContext

# Used when the config lists no device_nodes: what every program expects.
DEFAULT_DEVICES = [
    DeviceNode(path="/dev/null", type=99, major_number=1, minor_number=3, file_mode=0o666),
    DeviceNode(path="/dev/zero", type=99, major_number=1, minor_number=5, file_mode=0o666),
    DeviceNode(path="/dev/full", type=99, major_number=1, minor_number=7, file_mode=0o666),
    DeviceNode(path="/dev/random", type=99, major_number=1, minor_number=8, file_mode=0o666),
    DeviceNode(path="/dev/urandom", type=99, major_number=1, minor_number=9, file_mode=0o666),
    DeviceNode(path="/dev/tty", type=99, major_number=5, minor_number=0, file_mode=0o666),
]

# With context.restrictions: read-only in /proc, and files masked with /dev/null.
# runc's (and docker's) default read-only and masked paths; those the kernel lacks are skipped.
READONLY_PROC = ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"]
# /sys/devices/virtual/powercap: RAPL energy counters are a side channel (CVE-2020-8694, "Platypus").
MASKED_PATHS = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/timer_stats", "/proc/latency_stats",
                "/proc/sched_debug", "/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap"]

_STATVFS_TO_MS = [(os.ST_RDONLY, sc.MS_RDONLY), (os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV),
                  (os.ST_NOEXEC, sc.MS_NOEXEC), (os.ST_NOATIME, sc.MS_NOATIME), (os.ST_RELATIME, sc.MS_RELATIME)]


def secure_join(root: str, unsafe: str) -> str:
    """``root`` + ``unsafe`` with every symlink resolved as if ``root`` were "/".

    ``..`` never climbs above ``root``; an absolute symlink restarts at
    ``root``.  Components that do not exist are kept as they are.
    """
    pending = [c for c in unsafe.split("/") if c]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except OSError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 40:
                raise ContainerError("mounts", f"{unsafe}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending = [c for c in target.split("/") if c] + pending
        else:
            resolved.append(part)
    return os.path.join(root, *resolved)


class RootfsBuilder:
    """Builds the container's filesystem; one method per step, in the engine's order."""

    def __init__(self, ctx: ContainerContext) -> None:
        self.ctx = ctx
        self.sys = ctx.syscalls
        self.rootfs = os.path.realpath(str(ctx.rootfs))
        self.config = ctx.config
        # (st_dev, st_ino) of what was mounted on /proc, /sys and /dev, to
        # tell later that the path still leads there (see check_in_place).
        self.mounted: dict[str, tuple[int, int]] = {}

    # -- helpers -----------------------------------------------------------------
    def _resolve(self, dest: str) -> list[str]:
        """``dest`` resolved inside the rootfs (symlinks followed as if it were "/"), as components."""
        rel = os.path.relpath(secure_join(self.rootfs, dest), self.rootfs)
        return [] if rel == "." else rel.split("/")

    def _step(self, dirfd: int, name: str, dest: str, flags: int = os.O_PATH) -> int:
        """An fd for ``name`` in ``dirfd``, refusing a symlink there.

        The path was resolved already, so a symlink met now was swapped in
        after resolving: following it could lead out of the rootfs.
        """
        try:
            return self.sys.openat2(dirfd, name, flags, resolve=sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_BENEATH)
        except SyscallError as e:
            if e.errno == errno.ELOOP:
                raise ContainerError("mounts", f"{dest}: {name} was replaced by a symlink while mounting") from None
            raise ContainerError("mounts", f"{dest}: {os.strerror(e.errno)}", errno=e.errno) from None

    def _parent_fd(self, dest: str) -> tuple[int, str]:
        """(fd of the parent directory of ``dest``, made as needed, inside the rootfs; the last name).

        Each directory is made with mkdirat in the fd of its parent and entered
        without following symlinks, so that a component swapped for a symlink
        by a racing process cannot make the directories land on the host
        (CVE-2021-30465, CVE-2024-45310).  The destination itself may be "/".
        """
        parts = self._resolve(dest)
        fd = os.open(self.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for name in parts[:-1]:
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                nxt = self._step(fd, name, dest, os.O_PATH | os.O_DIRECTORY)
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd, parts[-1] if parts else "."

    def _make_target(self, dest: str, is_dir: bool) -> int:
        """Create ``dest`` (a directory or an empty file) inside the rootfs; an O_PATH fd of it."""
        parent, name = self._parent_fd(dest)
        try:
            if name != ".":
                try:
                    if is_dir:
                        os.mkdir(name, 0o755, dir_fd=parent)
                    else:
                        # O_EXCL: never open an existing node (a device) for writing.
                        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                         0o644, dir_fd=parent))
                except FileExistsError:
                    pass
            return self._step(parent, name, dest)
        finally:
            os.close(parent)

    def _mount_at(self, dest: str, source: str | None, fstype: str | None, flags: int, data: str | None = None,
                  is_dir: bool = True) -> None:
        """Mount on ``dest`` (a container path), through an fd of it made inside the rootfs."""
        fd = self._make_target(dest, is_dir)
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
            if real != self.rootfs and not real.startswith(self.rootfs + "/"):
                raise ContainerError("mounts", f"{dest} resolves outside the rootfs to {real}")
            self.sys.mount(source, f"/proc/self/fd/{fd}", fstype, flags, data, label=dest)
        finally:
            os.close(fd)

    def _mounted_fd(self, dest: str) -> int:
        """An fd of what is now mounted on ``dest``, for remounts: looked up again without symlinks."""
        parent, name = self._parent_fd(dest)
        try:
            return self._step(parent, name, dest)
        finally:
            os.close(parent)

    def _remount_readonly_at(self, dest: str) -> None:
        fd = self._mounted_fd(dest)
        try:
            self._remount_readonly(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)

    def _remount_readonly(self, path: str) -> None:
        """Bind-remount ``path`` read-only, keeping the flags the kernel has locked on it."""
        flags = sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY
        try:
            f = os.statvfs(path).f_flag
        except OSError:
            f = 0
        for st_bit, ms_bit in _STATVFS_TO_MS:
            if f & st_bit:
                flags |= ms_bit
        self.sys.mount(None, path, None, flags, None)

    # -- steps, in order -----------------------------------------------------------
    def make_root_private(self) -> None:
        # Mounts made from here on must not propagate to the host: slave keeps
        # receiving the host's unmounts, private cuts both ways.  With MS_MOVE
        # (no_pivot_root) the root must be slave, as libcontainer did.
        flag = sc.MS_SLAVE if self.config.no_pivot_root else sc.MS_PRIVATE
        self.sys.mount(None, "/", None, flag | sc.MS_REC, None)

    def bind_rootfs(self) -> None:
        try:
            st_ = os.stat(self.rootfs)
        except OSError as e:
            raise ContainerError("rootfs", f"{self.rootfs}: {e.strerror}") from None
        if not stat.S_ISDIR(st_.st_mode):
            raise ContainerError("rootfs", f"{self.rootfs} is not a directory")
        # pivot_root needs the new root to be a mount point (pivot_root(2)).
        self.sys.mount(self.rootfs, self.rootfs, None, sc.MS_BIND | sc.MS_REC, None)

    def check_special_dirs(self) -> None:
        """/proc, /sys and /dev in the rootfs must be real directories (or absent)."""
        for name in ("proc", "sys", "dev"):
            path = os.path.join(self.rootfs, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                os.mkdir(path, 0o755)
                continue
            if not stat.S_ISDIR(st.st_mode):
                kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
                raise ContainerError("rootfs", f"/{name} in the rootfs is {kind}; refusing to mount over it")

    def mount_proc(self) -> None:
        self._mount_at("/proc", "proc", "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
        self._verify_fstype("/proc", 0x9FA0, "procfs")

    def mount_sys(self) -> None:
        flags = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_RDONLY
        try:
            self._mount_at("/sys", "sysfs", "sysfs", flags)
        except SyscallError as e:
            # sysfs can only be mounted by the owner of the network namespace;
            # without a new one (rootless), bind the host's read-only instead.
            if e.errno not in (errno.EPERM, errno.EACCES):
                raise
            self._mount_at("/sys", "/sys", None, sc.MS_BIND | sc.MS_REC)
            self._remount_readonly_at("/sys")
            return
        self._verify_fstype("/sys", 0x62656572, "sysfs")

    def _verify_fstype(self, dest: str, magic: int, name: str) -> None:
        fd = self._mounted_fd(dest)
        try:
            got = self.sys.fs_magic(f"/proc/self/fd/{fd}")
            st_ = os.fstat(fd)
            self.mounted[dest] = (st_.st_dev, st_.st_ino)
        finally:
            os.close(fd)
        if got != magic:
            raise ContainerError("mounts", f"{dest} is not {name} after mounting it (f_type {got:#x})")

    def mount_dev(self) -> None:
        self._mount_at("/dev", "tmpfs", "tmpfs", sc.MS_NOSUID | sc.MS_STRICTATIME, "mode=755,size=65536k")
        self._verify_fstype("/dev", 0x01021994, "tmpfs")
        for node in self.config.device_nodes or DEFAULT_DEVICES:
            if node.path:
                self._make_device(node)
        os.close(self._make_target("/dev/mqueue", is_dir=True))
        pts_opts = "newinstance,ptmxmode=0666,mode=0620"
        if not self.ctx.new_namespace("NEWUSER"):
            pts_opts += ",gid=5"
        self._mount_at("/dev/pts", "devpts", "devpts", sc.MS_NOSUID | sc.MS_NOEXEC, pts_opts)
        self._mount_at("/dev/shm", "shm", "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=1777,size=65536k")
        if self.ctx.new_namespace("NEWIPC"):
            self._mount_at("/dev/mqueue", "mqueue", "mqueue", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
        dev = self._mounted_fd("/dev")
        try:
            for name, target in (("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                                 ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
                try:
                    os.symlink(target, name, dir_fd=dev)
                except FileExistsError:
                    pass  # a device node of the config's
        finally:
            os.close(dev)

    def _make_device(self, node: DeviceNode) -> None:
        path = os.path.normpath(node.path or "")
        if not path.startswith("/dev/") or ".." in (node.path or "").split("/"):
            raise ContainerError("devices", f"device path {node.path!r} is not under /dev")
        kind = stat.S_IFBLK if node.type == 98 else stat.S_IFCHR
        mode = node.file_mode if node.file_mode is not None else 0o666
        minor = node.minor_number if node.minor_number is not None and node.minor_number >= 0 else 0
        # The node is made in, and changed through, fds of its directory and
        # of itself: never through a path a racing symlink could redirect.
        parent, name = self._parent_fd(path)
        try:
            try:
                os.unlink(name, dir_fd=parent)
            except FileNotFoundError:
                pass
            try:
                self.sys.mknod(f"/proc/self/fd/{parent}/{name}", kind | mode, os.makedev(node.major_number, minor))
            except SyscallError as e:
                # In a user namespace mknod is not allowed (user_namespaces(7)):
                # bind the host's node instead, as runc does for rootless containers.
                if e.errno != errno.EPERM:
                    raise ContainerError("devices", str(e)) from None
                if not os.path.exists(path):
                    raise ContainerError("devices", f"cannot create {path} in a user namespace and the host has none")
                self._mount_at(path, path, None, sc.MS_BIND, is_dir=False)
                return
            fd = self._step(parent, name, path)
        finally:
            os.close(parent)
        try:
            os.chmod(f"/proc/self/fd/{fd}", mode)
            if node.uid is not None or node.gid is not None:
                os.chown(f"/proc/self/fd/{fd}", node.uid or 0, node.gid or 0)
        finally:
            os.close(fd)

    def mount_binds(self) -> None:
        for m in self.config.mounts or []:
            self._mount_one(m)

    def _mount_one(self, m: Mount) -> None:
        dest = m.destination
        resolved = "/" + os.path.relpath(secure_join(self.rootfs, dest), self.rootfs)
        for special in ("/proc", "/sys", "/dev"):
            # Mounting over the kernel's filesystems would replace what the
            # engine verified (procfs, sysfs) and the restrictions on them.
            if resolved == special or (special == "/proc" and resolved.startswith("/proc/")):
                raise ContainerError("mounts", f"{dest}: mounting over {resolved} is not allowed")
        if m.type == "tmpfs":
            flags = sc.MS_NOSUID | sc.MS_NODEV
            if not m.writable and m.writable is not None:
                flags |= sc.MS_RDONLY
            self._mount_at(dest, "tmpfs", "tmpfs", flags, m.data)
            return
        src = m.source or ""
        try:
            st = os.stat(src)
        except OSError as e:
            raise ContainerError("mounts", f"bind {src} -> {dest}: {e.strerror}", errno=e.errno) from None
        try:
            self._mount_at(dest, src, None, sc.MS_BIND | sc.MS_REC, is_dir=stat.S_ISDIR(st.st_mode))
            fd = self._mounted_fd(dest)
            try:
                if not m.writable:
                    self._remount_readonly(f"/proc/self/fd/{fd}")
                prop = sc.MS_PRIVATE if m.private else sc.MS_SLAVE
                self.sys.mount(None, f"/proc/self/fd/{fd}", None, prop | sc.MS_REC, None, label=dest)
            finally:
                os.close(fd)
        except SyscallError as e:
            raise ContainerError("mounts", f"bind {src} -> {dest}: {os.strerror(e.errno)}", errno=e.errno) from None

    def pivot(self) -> None:
        os.chdir(self.rootfs)
        if self.config.no_pivot_root:
            # For roots that cannot be pivoted (ramfs): move the rootfs over /
            # and chroot into it, as libcontainer's msMoveRoot did.
            self.sys.mount(self.rootfs, "/", None, sc.MS_MOVE, None)
            self.sys.chroot(".")
        else:
            # pivot_root(".", ".") stacks the old root on top of the new one;
            # making it slave and detaching it leaves only the rootfs
            # (pivot_root(2), "pivot_root(".", ".")").
            self.sys.pivot_root(".", ".")
            self.sys.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC, None)
            self.sys.umount(".", sc.MNT_DETACH)
        os.chdir("/")
        self.check_in_place()

    # -- after pivot_root: paths are the container's ----------------------------------
    def check_in_place(self) -> None:
        """/proc, /sys and /dev still lead to what was mounted there.

        The rootfs's directory entries are shared with the host: a process
        there (another container on the same rootfs) may rename /proc away,
        mount and all, and put a symlink or a directory of fake files in its
        place.  The masks would then land on the fake while the real procfs
        sits unmasked under another name (CVE-2019-16884, CVE-2019-19921).
        """
        for dest, (dev, ino) in self.mounted.items():
            try:
                st_ = os.lstat(dest)
            except OSError:
                st_ = None
            if st_ is None or stat.S_ISLNK(st_.st_mode) or (st_.st_dev, st_.st_ino) != (dev, ino):
                raise ContainerError("rootfs", f"{dest} was replaced in the rootfs while the container was set up; "
                                     "refusing to go on")

    def mount_console(self, pts: str) -> None:
        """Bind the container's own pty over /dev/console (never the host's console, never another file).

        ``pts`` comes from readlink(/proc/self/fd/N), and /proc is a name in
        the rootfs that a co-tenant may have swapped for a fake: only a
        /dev/pts/<n> path is used, and what ends up on /dev/console must be a
        pty slave (UNIX98 majors 136-143), or it is unmounted and refused.
        """
        name = pts.removeprefix("/dev/pts/")
        if not pts.startswith("/dev/pts/") or not name.isdigit():
            raise ContainerError("tty", f"the container's pty is not under /dev/pts ({pts!r}); refusing it as /dev/console")
        if not os.path.lexists("/dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600))
        st_ = os.lstat("/dev/console")
        if not stat.S_ISREG(st_.st_mode):
            # Only the empty file made above may be mounted over (CVE-2025-52565).
            raise ContainerError("tty", "/dev/console is not a regular file; refusing to mount over it")
        self.sys.mount(pts, "/dev/console", None, sc.MS_BIND, None)
        st_ = os.stat("/dev/console")
        if not stat.S_ISCHR(st_.st_mode) or not 136 <= os.major(st_.st_rdev) <= 143:
            self.sys.umount("/dev/console", sc.MNT_DETACH)
            raise ContainerError("tty", "/dev/console is not the container's pty after binding it; refusing it")

    def apply_restrictions(self) -> None:
        self.check_in_place()
        for path in READONLY_PROC:
            if os.path.exists(path):
                self.sys.mount(path, path, None, sc.MS_BIND | sc.MS_REC, None)
                self._remount_readonly(path)
        null = self._checked_dev_null()
        try:
            for path in MASKED_PATHS:
                if not os.path.exists(path):
                    continue
                if os.path.isdir(path):
                    self.sys.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY, None)
                else:
                    self.sys.mount(f"/proc/self/fd/{null}", path, None, sc.MS_BIND, None, label=path)
        finally:
            os.close(null)

    def _checked_dev_null(self) -> int:
        """An fd of /dev/null, verified to be the 1:3 character device (CVE-2025-31133)."""
        fd = os.open("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        st = os.fstat(fd)
        if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
            os.close(fd)
            raise ContainerError("mounts", "/dev/null is not the null device; refusing to mask with it")
        return fd

    def readonly_root(self) -> None:
        self._remount_readonly("/")


def set_working_dir(cwd: str) -> None:
    """chdir into the working directory, refusing one outside the container's root."""
    try:
        os.chdir(cwd)
    except OSError as e:
        raise ContainerError("working_dir", f"{cwd}: {e.strerror}") from None
    # A directory reached through a leaked fd lies outside the root, and
    # getcwd(3) then reports it "(unreachable)" or fails with ENOENT (glibc
    # 2.27 and later): refuse it either way (CVE-2024-21626).
    try:
        here = os.getcwd()
    except FileNotFoundError:
        here = ""
    if not here.startswith("/"):
        raise ContainerError("working_dir", f"{cwd} is outside the container")
