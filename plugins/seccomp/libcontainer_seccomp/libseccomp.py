"""libseccomp through ctypes: the distribution's libseccomp.so.2, loaded on first use.

libseccomp is a library, not a kernel call, so it is bound here, in the
plugin: a third-party plugin cannot add to the core's ``syscalls`` module, and
only :meth:`Filter.load` reaches the kernel (seccomp(2), through libseccomp).
Every libseccomp call that can fail returns a negative errno; each is checked
and raised as :class:`LibseccompError` naming the call.

The library must be loaded while the host's filesystem is visible: the
dynamic loader cannot find it after pivot_root.  :func:`load` is cheap once
done and is called from the host-side hooks; nothing loads it at import.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any, Iterable

LIBRARY = "libseccomp.so.2"  # Debian's libseccomp2
NR_SCMP_ERROR = -1  # seccomp_syscall_resolve_name(3): "no such system call"

# enum scmp_filter_attr (seccomp.h)
ATTR_ACT_DEFAULT = 1
ATTR_CTL_NNP = 3  # set PR_SET_NO_NEW_PRIVS in seccomp_load (on unless told otherwise)
ATTR_API_SYSRAWRC = 9  # return the kernel's errno from seccomp_load instead of ECANCELED (2.5.0)

_lib: Any = None


class LibseccompError(Exception):
    """A libseccomp call failed; ``errno`` is the (positive) error number."""

    def __init__(self, call: str, err: int, detail: str = "") -> None:
        self.call = call
        self.errno = err
        self.detail = detail
        super().__init__(f"{call}{' ' + detail if detail else ''}: {os.strerror(err)}")


class LibseccompUnavailable(Exception):
    """libseccomp.so.2 could not be loaded."""


class ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp: one argument condition of a rule."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def _declare(lib: Any) -> None:
    """Argument and result types of the functions used (seccomp.h): ctypes would guess ints."""
    ctx, u32, cstr, i = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_int
    table = {
        "seccomp_init": ([u32], ctx),
        "seccomp_release": ([ctx], None),
        "seccomp_arch_add": ([ctx, u32], i),
        "seccomp_arch_resolve_name": ([cstr], u32),
        "seccomp_syscall_resolve_name": ([cstr], i),
        "seccomp_attr_set": ([ctx, i, u32], i),
        "seccomp_rule_add_array": ([ctx, u32, i, ctypes.c_uint, ctypes.POINTER(ArgCmp)], i),
        "seccomp_load": ([ctx], i),
        "seccomp_export_pfc": ([ctx, i], i),
    }
    for name, (args, result) in table.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = result


def load() -> Any:
    """The library, loaded once per process; LibseccompUnavailable if it cannot be."""
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL(LIBRARY)
            _declare(lib)
        except (OSError, AttributeError) as e:
            raise LibseccompUnavailable(f"cannot load {LIBRARY} (install the distribution's libseccomp2): {e}") from None
        _lib = lib
    return _lib


def is_loaded() -> bool:
    return _lib is not None


def syscall_number(name: str) -> int | None:
    """The native number of a system call (negative for libseccomp's pseudo numbers); None if unknown."""
    number = load().seccomp_syscall_resolve_name(name.encode())
    return None if number == NR_SCMP_ERROR else number


def arch_token(name: str) -> int | None:
    """libseccomp's token for an architecture name; None if unknown."""
    token = load().seccomp_arch_resolve_name(name.encode())
    return token or None


def _check(rc: int, call: str, detail: str = "") -> int:
    if rc < 0:
        raise LibseccompError(call, -rc, detail)
    return rc


class Filter:
    """A filter being built (a scmp_filter_ctx); release it with :meth:`release` or ``with``."""

    def __init__(self, default_action: int) -> None:
        self._lib = load()
        self._ctx = self._lib.seccomp_init(default_action)
        if not self._ctx:
            raise LibseccompError("seccomp_init", errno.EINVAL, f"default action {default_action:#x}")

    def __enter__(self) -> Filter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def release(self) -> None:
        if self._ctx:
            self._lib.seccomp_release(self._ctx)
            self._ctx = None

    def set_attribute(self, attr: int, value: int, what: str) -> None:
        _check(self._lib.seccomp_attr_set(self._ctx, attr, value), "seccomp_attr_set", what)

    def add_architecture(self, name: str) -> None:
        token = arch_token(name)
        if token is None:
            raise LibseccompError("seccomp_arch_resolve_name", errno.EINVAL, name)
        rc = self._lib.seccomp_arch_add(self._ctx, token)
        if rc != -errno.EEXIST:  # the native architecture is in every filter already
            _check(rc, "seccomp_arch_add", name)

    def add_rule(self, action: int, number: int, args: Iterable[tuple[int, int, int, int]] = (),
                 what: str = "") -> None:
        """One rule: ``args`` are (index, operator, datum_a, datum_b), all of which must match."""
        conds = list(args)
        array = (ArgCmp * max(len(conds), 1))(*[ArgCmp(i, op, a, b) for i, op, a, b in conds])
        rc = self._lib.seccomp_rule_add_array(self._ctx, action, number, len(conds), array)
        _check(rc, "seccomp_rule_add", what)

    def export_pfc(self, fd: int) -> None:
        """Write the filter as libseccomp's pseudo filter code (readable text) to ``fd``."""
        _check(self._lib.seccomp_export_pfc(self._ctx, fd), "seccomp_export_pfc")

    def load(self) -> None:
        """Install the filter on the calling thread (seccomp(2)); irreversible."""
        _check(self._lib.seccomp_load(self._ctx), "seccomp_load")
