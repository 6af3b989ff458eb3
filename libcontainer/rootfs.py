"""The container's filesystem: rootfs, /proc, /sys, /dev, the configured mounts, pivot_root.

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
from .mountopts import ATIME_FLAGS, PROPAGATION_OPTIONS, MountOptions, parse_options
from .records import record, replace
from .rootpaths import secure_join

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

# Filesystem magic numbers (statfs(2)) of what the engine verifies it mounted.
PROC_MAGIC, SYSFS_MAGIC, TMPFS_MAGIC = 0x9FA0, 0x62656572, 0x01021994

_STATVFS_TO_MS = [(os.ST_RDONLY, sc.MS_RDONLY), (os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV),
                  (os.ST_NOEXEC, sc.MS_NOEXEC), (os.ST_NOATIME, sc.MS_NOATIME), (os.ST_RELATIME, sc.MS_RELATIME)]


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
        self.dev_bound = False  # /dev is a bind mount of the config's (default_mounts false): no nodes made in it

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
        self._remount_bind(path, MountOptions(flags=sc.MS_RDONLY))

    def _remount_bind(self, path: str, opts: MountOptions) -> None:
        """Bind-remount ``path`` with the options' flags; every flag they do not name stays as it is.

        In a user namespace the kernel locks the flags a mount came with
        (nosuid, nodev, noexec, ro, the access time) and refuses a remount
        that would drop one (mount_namespaces(7)), hence the flags read back.
        """
        flags = sc.MS_BIND | sc.MS_REMOUNT | opts.flags
        try:
            f = os.statvfs(path).f_flag
        except OSError:
            f = 0
        for st_bit, ms_bit in _STATVFS_TO_MS:
            if f & st_bit and not ms_bit & opts.cleared and not (ms_bit & ATIME_FLAGS and opts.atime_given):
                flags |= ms_bit
        self.sys.mount(None, path, None, flags, None)

    # -- steps, in order -----------------------------------------------------------
    def make_root_private(self) -> None:
        # Mounts made from here on must not propagate to the host: slave keeps
        # receiving the host's unmounts, private cuts both ways.  With MS_MOVE
        # (no_pivot_root) the root must be slave, as libcontainer did.  A
        # rootfs_propagation of slave or shared starts from slave, so that the
        # host's mounts still arrive; never shared with the host (see pivot).
        wanted = self.config.rootfs_propagation or "private"
        slave = self.config.no_pivot_root or wanted.lstrip("r") in ("slave", "shared")
        flag = sc.MS_SLAVE if slave else sc.MS_PRIVATE
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

    def mount_all(self) -> None:
        """/proc, /sys, /dev and the configured mounts; with default_mounts false, the configured ones only.

        Without the engine's /dev, the device nodes and the /dev symlinks are
        made once every listed mount is in place (the list mounts /dev and
        /dev/pts itself), unless /dev is a bind of a directory that has its own.
        """
        if self.config.mounts_defaults:
            self.mount_proc()
            self.mount_sys()
            self.mount_dev()
            self.mount_binds()
            return
        self.dev_bound = False
        self.mount_binds()
        if not self.dev_bound:
            self.make_dev_nodes()
            self.make_dev_links()

    def mount_proc(self) -> None:
        self._mount_at("/proc", "proc", "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
        self._verify_fstype("/proc", PROC_MAGIC, "procfs")

    def mount_sys(self, dest: str = "/sys", flags: int = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_RDONLY,
                  data: str | None = None) -> None:
        try:
            self._mount_at(dest, "sysfs", "sysfs", flags, data)
        except SyscallError as e:
            # sysfs can only be mounted by the owner of the network namespace;
            # without a new one (rootless), bind the host's read-only instead.
            if e.errno not in (errno.EPERM, errno.EACCES):
                raise
            self._mount_at(dest, "/sys", None, sc.MS_BIND | sc.MS_REC)
            self._remount_readonly_at(dest)
            return
        if dest == "/sys":
            self._verify_fstype("/sys", SYSFS_MAGIC, "sysfs")

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
        self._verify_fstype("/dev", TMPFS_MAGIC, "tmpfs")
        self.make_dev_nodes()
        os.close(self._make_target("/dev/mqueue", is_dir=True))
        pts_opts = "newinstance,ptmxmode=0666,mode=0620"
        if not self.ctx.new_namespace("NEWUSER"):
            pts_opts += ",gid=5"
        self._mount_at("/dev/pts", "devpts", "devpts", sc.MS_NOSUID | sc.MS_NOEXEC, pts_opts)
        self._mount_at("/dev/shm", "shm", "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=1777,size=65536k")
        if self.ctx.new_namespace("NEWIPC"):
            self._mount_at("/dev/mqueue", "mqueue", "mqueue", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
        self.make_dev_links()

    def make_dev_nodes(self) -> None:
        """The configured device nodes (the default set without device_nodes), in whatever /dev is now."""
        for node in self.config.device_nodes or DEFAULT_DEVICES:
            if node.path:
                self._make_device(node)

    def make_dev_links(self) -> None:
        """/dev/ptmx, fd, stdin, stdout and stderr as the symlinks programs expect (a node of the config's wins)."""
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
        """The configured mounts, in order (bind mounts and the filesystems of MOUNT_TYPES)."""
        for m in self.config.mounts or []:
            self._mount_one(m)

    def _mount_one(self, m: Mount) -> None:
        dest = m.destination
        resolved = "/" + os.path.relpath(secure_join(self.rootfs, dest), self.rootfs)
        if resolved == "/":
            raise ContainerError("mounts", f"{dest}: mounting over / is not allowed")
        self._check_destination(m, dest, resolved)
        opts = _options_of(m)
        try:
            if m.type == "bind":
                self._mount_bind(m, dest, opts)
            elif m.type == "cgroup":
                self._mount_cgroup(dest, opts)
            else:
                self._mount_filesystem(m, dest, resolved, opts)
        except SyscallError as e:
            what = f"bind {m.source} -> {dest}" if m.type == "bind" else f"{m.type} on {dest}"
            raise ContainerError("mounts", f"{what}: {os.strerror(e.errno)}", errno=e.errno) from None
        if not self.config.mounts_defaults and resolved == "/dev" and m.type == "bind":
            self.dev_bound = True  # a host /dev brings its own nodes

    def _check_destination(self, m: Mount, dest: str, resolved: str) -> None:
        """Refuse a mount over what the engine mounted and verified, or into procfs (CVE-2019-19921)."""
        if m.type == "proc" and resolved != "/proc":
            raise ContainerError("mounts", f"{dest}: proc can only be mounted on /proc")
        if self.config.mounts_defaults:
            for special in ("/proc", "/sys", "/dev"):
                # Mounting over the kernel's filesystems would replace what the
                # engine verified (procfs, sysfs) and the restrictions on them.
                if resolved == special or (special == "/proc" and resolved.startswith("/proc/")):
                    raise ContainerError("mounts", f"{dest}: mounting over {resolved} is not allowed")
            return
        # Without the engine's mounts, the list brings procfs itself: only a
        # procfs on /proc, and nothing mounted into it (the masks are its guard).
        if resolved.startswith("/proc/") or (resolved == "/proc" and m.type != "proc"):
            raise ContainerError("mounts", f"{dest}: only proc may be mounted on /proc, and nothing inside it")

    def _mount_bind(self, m: Mount, dest: str, opts: MountOptions) -> None:
        src = m.source or ""
        try:
            st = os.stat(src)
        except OSError as e:
            raise ContainerError("mounts", f"bind {src} -> {dest}: {e.strerror}", errno=e.errno) from None
        self._mount_at(dest, src, None, sc.MS_BIND | (sc.MS_REC if opts.recursive else 0),
                       is_dir=stat.S_ISDIR(st.st_mode))
        self._finish_mount(dest, opts, remount=bool(opts.flags or opts.cleared))

    def _finish_mount(self, dest: str, opts: MountOptions, remount: bool = False) -> None:
        """What a mount's options ask after mount(2): the bind remount's flags, propagation, recursive attributes."""
        if not (remount or opts.propagation or opts.attr_set or opts.attr_clr):
            return
        fd = self._mounted_fd(dest)
        path = f"/proc/self/fd/{fd}"
        try:
            if remount:
                # A bind mount takes its flags from its source: only a remount changes them.
                self._remount_bind(path, opts)
            if opts.propagation:
                self.sys.mount(None, path, None, opts.propagation, None, label=dest)
            if opts.attr_set or opts.attr_clr:
                self.sys.mount_setattr(path, opts.attr_set, opts.attr_clr, recursive=True)
        finally:
            os.close(fd)

    def _mount_filesystem(self, m: Mount, dest: str, resolved: str, opts: MountOptions) -> None:
        """A new filesystem of type tmpfs, proc, sysfs, devpts or mqueue on ``dest``."""
        fstype = m.type
        data = ",".join(x for x in (m.data, *opts.data) if x) or None
        flags = opts.flags
        if m.options is None:  # the libcontainer form (tmpfs): nosuid, nodev, read-only only when writable is false
            flags = sc.MS_NOSUID | sc.MS_NODEV | (sc.MS_RDONLY if m.writable is False else 0)
        if fstype == "sysfs":
            self.mount_sys(dest, flags, data)
        else:
            before = self._dir_fd(dest) if opts.tmpcopyup else None
            try:
                self._mount_at(dest, m.source or fstype, fstype, flags, data)
                if before is not None:
                    self._copy_up(dest, before, data or "")
            finally:
                if before is not None:
                    os.close(before)
        if resolved == "/proc":
            self._verify_fstype("/proc", PROC_MAGIC, "procfs")
        elif resolved == "/dev" and fstype == "tmpfs":
            self._verify_fstype("/dev", TMPFS_MAGIC, "tmpfs")
        self._finish_mount(dest, opts)

    def _dir_fd(self, dest: str) -> int | None:
        """A readable fd of the directory at ``dest`` (inside the rootfs, without symlinks), or None."""
        parts = self._resolve(dest)
        fd = os.open(self.rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for name in parts:
                try:
                    nxt = self.sys.openat2(fd, name, os.O_RDONLY | os.O_DIRECTORY,
                                           resolve=sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_BENEATH)
                except SyscallError as e:
                    if e.errno in (errno.ENOENT, errno.ENOTDIR):
                        return None
                    raise ContainerError("mounts", f"{dest}: {os.strerror(e.errno)}", errno=e.errno) from None
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _copy_up(self, dest: str, before: int, data: str) -> None:
        """tmpcopyup: the new tmpfs gets what the directory held beneath it (``before``, an fd opened first)."""
        after = self._dir_fd(dest)
        if after is None:
            raise ContainerError("mounts", f"{dest}: the tmpfs is gone after mounting it")
        try:
            keys = {o.partition("=")[0] for o in data.split(",")}
            st_ = os.fstat(before)
            if "mode" not in keys:
                os.fchmod(after, stat.S_IMODE(st_.st_mode))
            if not keys & {"uid", "gid"}:
                os.fchown(after, st_.st_uid, st_.st_gid)
            copy_tree(before, after)
        finally:
            os.close(after)

    # -- cgroup ----------------------------------------------------------------------
    def _mount_cgroup(self, dest: str, opts: MountOptions) -> None:
        """The container's own cgroups on ``dest``.

        On a cgroup2-only host: cgroup2, whose root is the container's cgroup
        in a new cgroup namespace; without one, a bind of the container's
        directory.  On a cgroup v1 (or hybrid) host, as runc does: a tmpfs,
        and in it one directory per hierarchy of /proc/self/cgroup holding
        the container's cgroup of that hierarchy: a bind of its host
        directory, or a new mount of the hierarchy in a new cgroup namespace
        (whose root is the container's cgroup); "cpu" and "cpuacct" are links
        to a co-mounted "cpu,cpuacct".  Every mount is nosuid, nodev, noexec
        plus the options ("ro" makes the tmpfs read-only last).
        """
        flags = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | opts.flags
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
        with open("/proc/self/cgroup") as f:
            own = f.read()
        hierarchies = cgroup_hierarchies(mountinfo, own)
        new_ns = self.ctx.new_namespace("NEWCGROUP")
        if not hierarchies:
            raise ContainerError("mounts", f"cgroup on {dest}: this host has no cgroup hierarchy mounted")
        if all(h.fstype == "cgroup2" for h in hierarchies):
            self._mount_hierarchy(dest, hierarchies[0], flags, new_ns)
            self._finish_mount(dest, opts)
            return
        self._mount_at(dest, "tmpfs", "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")
        for h in hierarchies:
            self._mount_hierarchy(f"{dest}/{h.name}", h, flags, new_ns)
            if "," in h.name:
                parent, _ = self._parent_fd(f"{dest}/{h.name}")
                try:
                    for part in h.name.split(","):
                        os.symlink(h.name, part, dir_fd=parent)
                finally:
                    os.close(parent)
        if flags & sc.MS_RDONLY:
            self._remount_readonly_at(dest)
        self._finish_mount(dest, opts)

    def _mount_hierarchy(self, dest: str, h: CgroupHierarchy, flags: int, new_ns: bool) -> None:
        if new_ns:
            self._mount_at(dest, "cgroup", h.fstype, flags, h.options or None)
            return
        if h.host_dir is None:
            raise ContainerError("mounts", f"cgroup on {dest}: cannot find the container's {h.name} cgroup on "
                                 "the host")
        self._mount_at(dest, h.host_dir, None, sc.MS_BIND | sc.MS_REC)
        fd = self._mounted_fd(dest)
        try:
            self._remount_bind(f"/proc/self/fd/{fd}", MountOptions(flags=flags))
        finally:
            os.close(fd)

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
        if self.config.rootfs_propagation:
            # Only now, on the root the container keeps: a shared root is a new
            # peer group of the container's (its mounts were made slave of the
            # host's first), so nothing mounted inside reaches the host.
            self.sys.mount(None, "/", None, PROPAGATION_OPTIONS[self.config.rootfs_propagation], None,
                           label=f"/ ({self.config.rootfs_propagation})")

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
        """readonly_paths made read-only, then masked_paths hidden; context.restrictions' lists without them.

        Paths are the container's (after pivot_root): each is opened once,
        O_PATH, and mounted on through its fd, so what is checked is what
        gets the mount; those that do not exist are skipped.
        """
        self.check_in_place()
        config = self.config
        readonly = config.readonly_paths if config.readonly_paths is not None else (
            READONLY_PROC if config.context and config.context.restricted else [])
        masked = config.masked_paths if config.masked_paths is not None else (
            MASKED_PATHS if config.context and config.context.restricted else [])
        for path in readonly:
            fd = _open_existing(path)
            if fd is None:
                continue
            try:
                self.sys.mount(f"/proc/self/fd/{fd}", f"/proc/self/fd/{fd}", None, sc.MS_BIND | sc.MS_REC, None,
                               label=path)
            finally:
                os.close(fd)
            fd = _open_existing(path)  # what is now mounted there
            if fd is not None:
                try:
                    self._remount_readonly(f"/proc/self/fd/{fd}")
                finally:
                    os.close(fd)
        if not masked:
            return
        null = self._checked_dev_null()
        try:
            for path in masked:
                fd = _open_existing(path)
                if fd is None:
                    continue
                try:
                    if stat.S_ISDIR(os.fstat(fd).st_mode):
                        self.sys.mount("tmpfs", f"/proc/self/fd/{fd}", "tmpfs", sc.MS_RDONLY, None, label=path)
                    else:
                        self.sys.mount(f"/proc/self/fd/{null}", f"/proc/self/fd/{fd}", None, sc.MS_BIND, None,
                                       label=path)
                finally:
                    os.close(fd)
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


def _options_of(m: Mount) -> MountOptions:
    """The mount's options; the libcontainer form of a bind (no options) as options: rbind, ro unless writable,
    rslave unless private."""
    if m.options is not None:
        opts = parse_options(m.options)
        return replace(opts, bind=True) if m.type == "bind" and not opts.bind else opts
    if m.type != "bind":
        return MountOptions()
    return MountOptions(flags=0 if m.writable else sc.MS_RDONLY, bind=True, recursive=True,
                        propagation=(sc.MS_PRIVATE if m.private else sc.MS_SLAVE) | sc.MS_REC)


def _open_existing(path: str) -> int | None:
    """An O_PATH fd of a path of the container (after pivot_root), or None when it does not exist."""
    try:
        return os.open(path, os.O_PATH | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None


def copy_tree(src: int, dst: int) -> None:
    """Copy the content of directory fd ``src`` into directory fd ``dst``: files, directories, symlinks,
    fifos and device nodes, with owners, modes and times; never following a symlink (everything is reached
    through the fds of its directory)."""
    for entry in os.scandir(src):
        name = entry.name
        st_ = entry.stat(follow_symlinks=False)
        mode = st_.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            a = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            try:
                b = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
                try:
                    copy_tree(a, b)
                finally:
                    os.close(b)
            finally:
                os.close(a)
        elif stat.S_ISREG(mode):
            a = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            try:
                b = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                            dir_fd=dst)
                try:
                    while os.sendfile(b, a, None, 1 << 20):
                        pass
                finally:
                    os.close(b)
            finally:
                os.close(a)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            os.mknod(name, mode, st_.st_rdev, dir_fd=dst)
        else:
            continue  # a socket: meaningless once copied
        os.chown(name, st_.st_uid, st_.st_gid, dir_fd=dst, follow_symlinks=False)
        if not stat.S_ISLNK(mode):
            os.chmod(name, stat.S_IMODE(mode), dir_fd=dst)
        os.utime(name, ns=(st_.st_atime_ns, st_.st_mtime_ns), dir_fd=dst, follow_symlinks=False)


@record(frozen=True)
class CgroupHierarchy:
    """One cgroup hierarchy the process is in, and where its cgroup is on the host."""

    name: str  # the directory under a cgroup mount: the host mount point's name ("memory", "cpu,cpuacct")
    fstype: str  # "cgroup" (v1) or "cgroup2"
    options: str  # the v1 mount options naming the hierarchy ("memory", "name=systemd"); "" for cgroup2
    host_dir: str | None  # the process's cgroup as a host path, or None when no mount shows it


def cgroup_hierarchies(mountinfo: str, proc_cgroup: str) -> list[CgroupHierarchy]:
    """The hierarchies of /proc/self/cgroup, matched with the mounts of /proc/self/mountinfo (proc(5))."""
    mounts: list[tuple[str, str, str, frozenset[str]]] = []  # (mount point, root, fstype, options)
    for line in mountinfo.splitlines():
        pre, sep, post = line.partition(" - ")
        fields = post.split()
        if not sep or len(fields) < 3 or fields[0] not in ("cgroup", "cgroup2"):
            continue
        parts = pre.split()
        mounts.append((_unescape(parts[4]), _unescape(parts[3]), fields[0], frozenset(fields[2].split(","))))
    found: list[CgroupHierarchy] = []
    for line in proc_cgroup.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not number:
            continue
        wanted = set(c for c in controllers.split(",") if c)
        fstype = "cgroup" if wanted else "cgroup2"
        for point, root, kind, options in mounts:
            if kind != fstype or not wanted <= options:
                continue
            names = sorted(o for o in options if o in wanted) if wanted else []
            rel = os.path.relpath(path, root) if path == root or path.startswith(root.rstrip("/") + "/") else None
            host_dir = None if rel is None else os.path.normpath(os.path.join(point, rel))
            found.append(CgroupHierarchy(name=os.path.basename(point) or ",".join(names), fstype=kind,
                                         options=",".join(names), host_dir=host_dir))
            break
    return found


def _unescape(path: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040)."""
    return path.encode().decode("unicode_escape") if "\\" in path else path


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
