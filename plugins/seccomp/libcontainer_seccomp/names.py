"""The names a seccomp profile uses: actions, comparison operators, architectures and errno values.

Pure tables and the schema's format functions: each takes what an author
wrote (``"SCMP_ACT_ERRNO"``, ``"Errno"``, ``"eperm"``, ``1``) and returns the
canonical spelling written back (``"errno"``, ``"EPERM"``), or raises
ValueError naming the value and what was expected.  No library is needed.
"""

from __future__ import annotations

import errno as _errno

from libcontainer.validate import closest

# Action -> its value in a filter (seccomp.h, SCMP_ACT_*; the errno action's
# low 16 bits carry the errno).  "kill" is libseccomp's SCMP_ACT_KILL, which
# kills the calling thread (the whole process when it has one thread).
ACTIONS: dict[str, int] = {
    "kill": 0x00000000,  # SCMP_ACT_KILL_THREAD: the thread dies of SIGSYS
    "kill_process": 0x80000000,  # SCMP_ACT_KILL_PROCESS (Linux 4.14): every thread dies of SIGSYS
    "trap": 0x00030000,  # SCMP_ACT_TRAP: SIGSYS is sent, the call does not run
    "errno": 0x00050000,  # SCMP_ACT_ERRNO(n): the call fails with errno n, it does not run
    # SCMP_ACT_TRACE(n): a ptrace(2) tracer is told (PTRACE_EVENT_SECCOMP, message n); without one the call
    # fails with ENOSYS and does not run (seccomp(2), SECCOMP_RET_TRACE)
    "trace": 0x7FF00000,
    "log": 0x7FFC0000,  # SCMP_ACT_LOG (Linux 4.14): the call runs and is logged by the kernel's audit
    "allow": 0x7FFF0000,  # SCMP_ACT_ALLOW: the call runs
}
ALIASES = {"kill_thread": "kill"}  # libseccomp's other spelling of the same action

# Comparison operator -> enum scmp_compare (seccomp.h).  masked_eq compares
# (argument & value) with value_two.
OPERATORS: dict[str, int] = {"ne": 1, "lt": 2, "le": 3, "eq": 4, "ge": 5, "gt": 6, "masked_eq": 7}

# Architectures by libseccomp's names (seccomp_arch_resolve_name(3)).
ARCHITECTURES = (
    "x86", "x86_64", "x32", "arm", "aarch64", "mips", "mips64", "mips64n32", "mipsel", "mipsel64",
    "mipsel64n32", "ppc", "ppc64", "ppc64le", "s390", "s390x", "parisc", "parisc64", "riscv64",
)

MAX_ERRNO = 4095  # the kernel clamps a larger errno to this (kernel/seccomp.c, include/linux/err.h)
DEFAULT_ERRNO = _errno.EPERM  # what an errno action returns when the profile names none (as OCI's errnoRet)
ARG_INDEXES = range(6)  # a system call has at most six arguments (syscall(2))


def _word(value: object, what: str, prefix: str) -> str:
    """Lower-case ``value`` without libseccomp's C prefix (``SCMP_ACT_``, ``SCMP_CMP_``, ``SCMP_ARCH_``)."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {value!r}")
    word = value.strip()
    if word.upper().startswith(prefix):
        word = word[len(prefix):]
    return word.lower()


def _unknown(what: str, value: object, valid: list[str]) -> ValueError:
    hint = closest(_word(value, what, "") if isinstance(value, str) else value, valid)
    guess = f": did you mean {hint}?" if hint else ""
    return ValueError(f"unknown {what} {value!r}{guess} valid ones are {', '.join(valid)}")


def canonical_action(value: object) -> str:
    """``"SCMP_ACT_ERRNO"`` or ``"Errno"`` -> ``"errno"`` (the ``seccomp_action`` format)."""
    word = _word(value, "seccomp action", "SCMP_ACT_")
    word = ALIASES.get(word, word)
    if word not in ACTIONS:
        raise _unknown("seccomp action", value, list(ACTIONS))
    return word


def canonical_operator(value: object) -> str:
    """``"SCMP_CMP_MASKED_EQ"`` -> ``"masked_eq"`` (the ``seccomp_operator`` format)."""
    word = _word(value, "comparison operator", "SCMP_CMP_")
    if word not in OPERATORS:
        raise _unknown("comparison operator", value, list(OPERATORS))
    return word


def canonical_architecture(value: object) -> str:
    """``"SCMP_ARCH_X86_64"`` -> ``"x86_64"`` (the ``seccomp_architecture`` format)."""
    word = _word(value, "architecture", "SCMP_ARCH_")
    if word not in ARCHITECTURES:
        raise _unknown("architecture", value, list(ARCHITECTURES))
    return word


def canonical_errno(value: object) -> str | int:
    """``"eperm"``, ``"EWOULDBLOCK"`` or ``1`` -> ``"EPERM"``/``"EAGAIN"``; a number without a name stays a number."""
    if isinstance(value, bool):
        raise ValueError(f"errno must be a name such as EPERM or a number, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if not 0 <= value <= MAX_ERRNO:
            raise ValueError(f"errno {value} is out of range: it must be 0 to {MAX_ERRNO}")
        return _errno.errorcode.get(value, value)
    if not isinstance(value, str):
        raise ValueError(f"errno must be a name such as EPERM or a number, got {value!r}")
    name = value.strip().upper()
    number = getattr(_errno, name, None) if name.startswith("E") else None
    if not isinstance(number, int):
        hint = closest(name, sorted(_errno.errorcode.values()))
        guess = f": did you mean {hint}?" if hint else ""
        raise ValueError(f"unknown errno name {value!r}{guess} (names are those of errno(3), such as EPERM)")
    return _errno.errorcode[number]  # aliases (EWOULDBLOCK) become the kernel's first name (EAGAIN)


def errno_number(value: str | int) -> int:
    """The number of a canonical errno (``"EPERM"`` -> 1)."""
    return value if isinstance(value, int) else getattr(_errno, value)


# The actions that carry a 16-bit number: the errno returned, the message given to the tracer.
WITH_ERRNO = ("errno", "trace")


def action_value(action: str, errno: str | int | None = None) -> int:
    """The filter's value of a canonical action; errno and trace carry their number (EPERM when absent, as OCI)."""
    if action in WITH_ERRNO:
        return ACTIONS[action] | (errno_number(errno if errno is not None else DEFAULT_ERRNO) & 0xFFFF)
    return ACTIONS[action]


def datum(value: int) -> int:
    """An argument value as the kernel's unsigned 64-bit word (-100, AT_FDCWD, -> 2**64-100)."""
    return value & 0xFFFF_FFFF_FFFF_FFFF
