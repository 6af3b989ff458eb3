"""The one door to the kernel.

Every privileged kernel operation of libcontainer and its plugins goes through a
``Syscalls`` object: mount, pivot_root, unshare, setns, sethostname, prctl,
keyctl, openat2.  Python 3.11 has no ``os.unshare`` or ``os.setns``, so the
missing calls are made through ctypes here and nowhere else.  Each failure is a
:class:`~libcontainer.errors.SyscallError` naming the operation, its arguments
(mount flags by name) and errno.

Unit tests replace the real object with :class:`RecordingSyscalls`, which
records every call and can be told to fail one, so namespace and mount logic is
tested without root.
"""

from __future__ import annotations

import ctypes
import os
import struct
from typing import Any, Protocol

from .errors import LibcontainerError, SyscallError

# --- constants (linux/sched.h, linux/mount.h, linux/prctl.h) -----------------
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_DETACH = 2

# mount_setattr(2) (linux/mount.h): attributes changed on a mount, or a whole tree of them.
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70  # the mask of the three access-time settings below
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_MS_NAMES = [
    (MS_RDONLY, "MS_RDONLY"), (MS_NOSUID, "MS_NOSUID"), (MS_NODEV, "MS_NODEV"),
    (MS_NOEXEC, "MS_NOEXEC"), (MS_REMOUNT, "MS_REMOUNT"), (MS_NOSYMFOLLOW, "MS_NOSYMFOLLOW"),
    (MS_NOATIME, "MS_NOATIME"), (MS_BIND, "MS_BIND"), (MS_MOVE, "MS_MOVE"), (MS_REC, "MS_REC"),
    (MS_UNBINDABLE, "MS_UNBINDABLE"), (MS_PRIVATE, "MS_PRIVATE"), (MS_SLAVE, "MS_SLAVE"),
    (MS_SHARED, "MS_SHARED"), (MS_RELATIME, "MS_RELATIME"), (MS_STRICTATIME, "MS_STRICTATIME"),
    (MS_SYNCHRONOUS, "MS_SYNCHRONOUS"), (MS_DIRSYNC, "MS_DIRSYNC"), (MS_NODIRATIME, "MS_NODIRATIME"),
    (MS_SILENT, "MS_SILENT"), (MS_I_VERSION, "MS_I_VERSION"), (MS_LAZYTIME, "MS_LAZYTIME"),
]

_CLONE_NAMES = [
    (CLONE_NEWUSER, "CLONE_NEWUSER"), (CLONE_NEWNS, "CLONE_NEWNS"), (CLONE_NEWUTS, "CLONE_NEWUTS"),
    (CLONE_NEWIPC, "CLONE_NEWIPC"), (CLONE_NEWPID, "CLONE_NEWPID"), (CLONE_NEWNET, "CLONE_NEWNET"),
    (CLONE_NEWCGROUP, "CLONE_NEWCGROUP"), (CLONE_NEWTIME, "CLONE_NEWTIME"),
]

# openat2(2) resolve flags (linux/openat2.h)
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

# System-call numbers for the calls libc does not wrap (or wraps only in newer
# versions), per machine as uname(2) names it: arch/x86/entry/syscalls/
# syscall_64.tbl, and include/uapi/asm-generic/unistd.h for aarch64.
SYSCALL_NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {"capget": 125, "capset": 126, "pivot_root": 155, "keyctl": 250, "renameat2": 316, "close_range": 436,
               "openat2": 437, "mount_setattr": 442},
    "aarch64": {"capget": 90, "capset": 91, "pivot_root": 41, "keyctl": 219, "renameat2": 276, "close_range": 436,
                "openat2": 437, "mount_setattr": 442},
}


def syscall_numbers(machine: str | None = None) -> dict[str, int]:
    """The numbers of this machine's (or ``machine``'s) system calls that are made by number."""
    machine = machine or os.uname().machine
    try:
        return SYSCALL_NUMBERS[machine]
    except KeyError:
        raise UnsupportedMachine(f"libcontainer does not know the system-call numbers of {machine} "
                                 f"(it knows {', '.join(SYSCALL_NUMBERS)})") from None


class UnsupportedMachine(LibcontainerError):
    """A machine whose system-call numbers this module does not know."""


_CLOSE_RANGE_CLOEXEC = 4  # linux/close_range.h
_AT_FDCWD = -100  # linux/fcntl.h
_RENAME_EXCHANGE = 2  # linux/fs.h
_LINUX_CAPABILITY_VERSION_3 = 0x20080522  # linux/capability.h: 64-bit sets, two data structs
_KEYCTL_JOIN_SESSION_KEYRING = 1


def mount_flag_names(flags: int) -> str:
    """``MS_BIND|MS_REC`` for 0x5000: mount flags by name, for error messages."""
    names = [n for bit, n in _MS_NAMES if flags & bit]
    rest = flags & ~sum(bit for bit, _ in _MS_NAMES)
    if rest:
        names.append(hex(rest))
    return "|".join(names) or "0"


def clone_flag_names(flags: int) -> str:
    names = [n for bit, n in _CLONE_NAMES if flags & bit]
    return "|".join(names) or "0"


def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)
    return lib


class KernelDoor(Protocol):
    """The kernel as libcontainer and its plugins use it: :class:`Syscalls`, or a fake in unit tests.

    Every call raises :class:`~libcontainer.errors.SyscallError` on failure.
    """

    # -- namespaces
    def unshare(self, flags: int) -> None: ...
    def setns(self, fd: int, nstype: int = 0, what: str = "") -> None: ...
    def sethostname(self, name: str) -> None: ...
    def setdomainname(self, name: str) -> None: ...

    # -- mounts and files
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None,
              label: str | None = None) -> None: ...
    def umount(self, target: str, flags: int = 0) -> None: ...
    def mount_setattr(self, target: str, attr_set: int, attr_clr: int = 0, recursive: bool = False) -> None: ...
    def pivot_root(self, new_root: str, put_old: str) -> None: ...
    def chroot(self, path: str) -> None: ...
    def openat2(self, dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int: ...
    def fs_magic(self, path: str) -> int: ...
    def mknod(self, path: str, mode: int, device: int) -> None: ...
    def write_file(self, path: str, data: str, what: str = "write") -> None: ...
    def exchange(self, a: str, b: str) -> None: ...
    def close_fds_from(self, lowfd: int = 3) -> None: ...

    # -- process attributes and credentials
    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0, what: str = "") -> int: ...
    def set_child_subreaper(self, on: bool = True) -> None: ...
    def child_subreaper(self) -> bool: ...
    def set_pdeathsig(self, sig: int) -> None: ...
    def set_dumpable(self, on: bool) -> None: ...
    def set_keepcaps(self, on: bool) -> None: ...
    def set_no_new_privs(self) -> None: ...
    def join_session_keyring(self, name: str | None = None) -> int: ...
    def setgroups(self, groups: list[int]) -> None: ...
    def setresgid(self, gid: int) -> None: ...
    def setresuid(self, uid: int) -> None: ...

    # -- capabilities
    def capbset_drop(self, cap: int, name: str = "") -> None: ...
    def cap_ambient_clear_all(self) -> None: ...
    def cap_ambient_raise(self, cap: int, name: str = "") -> None: ...
    def clear_inheritable(self) -> None: ...


class Syscalls:
    """The real kernel.  Methods raise SyscallError; none returns an error code."""

    def __init__(self) -> None:
        self._nr = syscall_numbers()
        self._lib = _libc()
        lib = self._lib
        lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib.unshare.argtypes = [ctypes.c_int]
        lib.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        lib.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        lib.syscall.restype = ctypes.c_long

    # -- helpers -------------------------------------------------------------
    def _check(self, rc: int, op: str, detail: str) -> int:
        if rc < 0:
            raise SyscallError(op, detail, ctypes.get_errno())
        return rc

    # -- namespaces ----------------------------------------------------------
    def unshare(self, flags: int) -> None:
        self._check(self._lib.unshare(flags), "unshare", clone_flag_names(flags))

    def setns(self, fd: int, nstype: int = 0, what: str = "") -> None:
        self._check(self._lib.setns(fd, nstype), "setns", what or clone_flag_names(nstype))

    def sethostname(self, name: str) -> None:
        b = name.encode()
        self._check(self._lib.sethostname(b, len(b)), "sethostname", repr(name))

    def setdomainname(self, name: str) -> None:
        b = name.encode()
        self._check(self._lib.setdomainname(b, len(b)), "setdomainname", repr(name))

    # -- mounts --------------------------------------------------------------
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None,
              label: str | None = None) -> None:
        rc = self._lib.mount(
            source.encode() if source is not None else None,
            target.encode(),
            fstype.encode() if fstype is not None else None,
            flags,
            data.encode() if data else None,
        )
        if rc < 0:
            shown = label or target
            src = f"{source} -> " if source and source != "none" else ""
            extra = ", ".join(x for x in (fstype if fstype and fstype != "none" else "", mount_flag_names(flags) if flags else "", data or "") if x)
            raise SyscallError("mount", f"{src}{shown}" + (f" ({extra})" if extra else ""), ctypes.get_errno())

    def umount(self, target: str, flags: int = 0) -> None:
        self._check(self._lib.umount2(target.encode(), flags), "umount", target)

    def mount_setattr(self, target: str, attr_set: int, attr_clr: int = 0, recursive: bool = False) -> None:
        """mount_setattr(2) on the mount at ``target`` (with ``recursive``, on every mount below it too)."""
        attr = ctypes.create_string_buffer(struct.pack("QQQQ", attr_set, attr_clr, 0, 0), 32)  # struct mount_attr
        flags = AT_RECURSIVE if recursive else 0
        rc = self._lib.syscall(self._nr["mount_setattr"], ctypes.c_int(-100), ctypes.c_char_p(target.encode()),
                               ctypes.c_uint(flags), attr, ctypes.c_size_t(32))
        self._check(rc, "mount_setattr", f"{target} set={attr_set:#x} clear={attr_clr:#x}"
                    + (" AT_RECURSIVE" if recursive else ""))

    def pivot_root(self, new_root: str, put_old: str) -> None:
        rc = self._lib.syscall(self._nr["pivot_root"], ctypes.c_char_p(new_root.encode()), ctypes.c_char_p(put_old.encode()))
        self._check(rc, "pivot_root", f"{new_root} {put_old}")

    def chroot(self, path: str) -> None:
        try:
            os.chroot(path)
        except OSError as e:
            raise SyscallError("chroot", path, e.errno) from None

    def openat2(self, dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
        """openat2(2): open ``path`` under ``dirfd`` with RESOLVE_* rules."""
        how = struct.pack("QQQ", flags | os.O_CLOEXEC, mode, resolve)
        buf = ctypes.create_string_buffer(how, len(how))
        rc = self._lib.syscall(self._nr["openat2"], ctypes.c_int(dirfd), ctypes.c_char_p(path.encode()), buf, ctypes.c_size_t(len(how)))
        return self._check(rc, "openat2", path)

    def fs_magic(self, path: str) -> int:
        """f_type of the filesystem holding ``path`` (statfs(2)); os.statvfs lacks it."""
        buf = ctypes.create_string_buffer(128)  # struct statfs is 120 bytes on 64-bit
        self._check(self._lib.statfs(path.encode(), buf), "statfs", path)
        return int.from_bytes(buf.raw[:8], "little")

    def mknod(self, path: str, mode: int, device: int) -> None:
        try:
            os.mknod(path, mode, device)
        except OSError as e:
            raise SyscallError("mknod", path, e.errno) from None

    # -- process attributes --------------------------------------------------
    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0, what: str = "") -> int:
        return self._check(self._lib.prctl(option, arg2, arg3, arg4, arg5), "prctl", what or str(option))

    def set_child_subreaper(self, on: bool = True) -> None:
        self.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, what="PR_SET_CHILD_SUBREAPER")

    def child_subreaper(self) -> bool:
        """PR_GET_CHILD_SUBREAPER: whether this process adopts its descendants' orphans."""
        flag = ctypes.c_int(0)
        self._check(self._lib.prctl(PR_GET_CHILD_SUBREAPER, ctypes.addressof(flag), 0, 0, 0), "prctl",
                    "PR_GET_CHILD_SUBREAPER")
        return bool(flag.value)

    def set_pdeathsig(self, sig: int) -> None:
        self.prctl(PR_SET_PDEATHSIG, sig, what="PR_SET_PDEATHSIG")

    def set_dumpable(self, on: bool) -> None:
        self.prctl(PR_SET_DUMPABLE, 1 if on else 0, what="PR_SET_DUMPABLE")

    def set_keepcaps(self, on: bool) -> None:
        self.prctl(PR_SET_KEEPCAPS, 1 if on else 0, what="PR_SET_KEEPCAPS")

    def set_no_new_privs(self) -> None:
        self.prctl(PR_SET_NO_NEW_PRIVS, 1, what="PR_SET_NO_NEW_PRIVS")

    def join_session_keyring(self, name: str | None = None) -> int:
        arg = ctypes.c_char_p(name.encode()) if name else ctypes.c_char_p(None)
        rc = self._lib.syscall(self._nr["keyctl"], ctypes.c_int(_KEYCTL_JOIN_SESSION_KEYRING), arg)
        return self._check(rc, "keyctl", "KEYCTL_JOIN_SESSION_KEYRING")

    def setgroups(self, groups: list[int]) -> None:
        try:
            os.setgroups(groups)
        except OSError as e:
            raise SyscallError("setgroups", str(groups), e.errno) from None

    def setresgid(self, gid: int) -> None:
        try:
            os.setresgid(gid, gid, gid)
        except OSError as e:
            raise SyscallError("setresgid", str(gid), e.errno) from None

    def setresuid(self, uid: int) -> None:
        try:
            os.setresuid(uid, uid, uid)
        except OSError as e:
            raise SyscallError("setresuid", str(uid), e.errno) from None

    def write_file(self, path: str, data: str, what: str = "write") -> None:
        """Write a kernel control file (uid_map, cgroup files, /proc/sys ...)."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as e:
            raise SyscallError(what, path, e.errno) from None
        try:
            os.write(fd, data.encode())
        except OSError as e:
            raise SyscallError(what, f"{path} {data.strip()!r}", e.errno) from None
        finally:
            os.close(fd)

    def exchange(self, a: str, b: str) -> None:
        """Swap the files at two paths atomically (renameat2(2) with RENAME_EXCHANGE); both must exist."""
        rc = self._lib.syscall(self._nr["renameat2"], ctypes.c_int(_AT_FDCWD), ctypes.c_char_p(a.encode()),
                               ctypes.c_int(_AT_FDCWD), ctypes.c_char_p(b.encode()), ctypes.c_uint(_RENAME_EXCHANGE))
        self._check(rc, "renameat2", f"{a} <-> {b}")

    def close_fds_from(self, lowfd: int = 3) -> None:
        """Mark every fd >= lowfd close-on-exec (close_range(2) with CLOSE_RANGE_CLOEXEC)."""
        rc = self._lib.syscall(self._nr["close_range"], ctypes.c_uint(lowfd), ctypes.c_uint(0xFFFFFFFF),
                               ctypes.c_uint(_CLOSE_RANGE_CLOEXEC))
        if rc < 0:  # kernels before 5.11: walk /proc/self/fd
            for name in os.listdir("/proc/self/fd"):
                fd = int(name)
                if fd >= lowfd:
                    try:
                        os.set_inheritable(fd, False)
                    except OSError:
                        pass

    # -- capabilities (capabilities plugin) ----------------------------------
    # python-prctl has no ambient-set calls and refuses capability numbers
    # newer than its own table, so these two gaps are filled here.
    def capbset_drop(self, cap: int, name: str = "") -> None:
        """PR_CAPBSET_DROP by number, for capabilities python-prctl does not know."""
        self.prctl(PR_CAPBSET_DROP, cap, what=f"PR_CAPBSET_DROP {name or cap}")

    def cap_ambient_clear_all(self) -> None:
        self.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, what="PR_CAP_AMBIENT_CLEAR_ALL")

    def cap_ambient_raise(self, cap: int, name: str = "") -> None:
        """Needs ``cap`` in the permitted and inheritable sets (prctl(2))."""
        self.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, what=f"PR_CAP_AMBIENT_RAISE {name or cap}")

    def clear_inheritable(self) -> None:
        """capset(2) with an empty inheritable set, the effective and permitted ones unchanged."""
        header = ctypes.create_string_buffer(struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0), 8)
        data = ctypes.create_string_buffer(24)  # two __user_cap_data_struct: effective, permitted, inheritable
        self._check(self._lib.syscall(self._nr["capget"], header, data), "capget", "")
        eff0, prm0, _, eff1, prm1, _ = struct.unpack("6I", data.raw)
        data = ctypes.create_string_buffer(struct.pack("6I", eff0, prm0, 0, eff1, prm1, 0), 24)
        self._check(self._lib.syscall(self._nr["capset"], header, data), "capset", "inheritable=0")


class RecordingSyscalls:
    """A fake kernel for unit tests: records calls, fails the ones it is told to.

    ``fail("mount", errno.EPERM, match="/proc")`` makes the next mount whose
    arguments mention ``/proc`` raise SyscallError with EPERM.  Only the
    calls of :class:`KernelDoor` exist, with their signatures: a misspelt
    name or wrong arguments fail the test instead of returning 0.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._failures: list[tuple[str, int, str | None]] = []

    def fail(self, op: str, err: int, match: str | None = None) -> None:
        _door_signature(op)
        self._failures.append((op, err, match))

    def names(self) -> list[str]:
        return [op for op, _ in self.calls]

    def __getattr__(self, op: str):
        if op.startswith("_"):
            raise AttributeError(op)
        signature = _door_signature(op)

        def call(*args: Any, **kwargs: Any) -> int:
            try:
                signature.bind(None, *args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{op}{signature}: {e}") from None
            self.calls.append((op, args + tuple(kwargs.values())))
            for i, (fop, err, match) in enumerate(self._failures):
                if fop == op and (match is None or any(match in str(a) for a in args)):
                    del self._failures[i]
                    raise SyscallError(op, " ".join(str(a) for a in args), err)
            return 0

        return call


def _door_signature(op: str) -> Any:
    import inspect

    member = getattr(KernelDoor, op, None)
    if op.startswith("_") or not callable(member):
        raise AttributeError(f"the kernel door has no call {op!r} (see libcontainer.syscalls.KernelDoor)")
    return inspect.signature(member)


_real: Syscalls | None = None


def real() -> Syscalls:
    """The process-wide real kernel door (made on first use, not at import)."""
    global _real
    if _real is None:
        _real = Syscalls()
    return _real
