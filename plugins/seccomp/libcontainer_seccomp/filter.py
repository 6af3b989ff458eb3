"""The filter of a profile: built with libseccomp, then installed as the last step before exec."""

from __future__ import annotations

import errno
from typing import Any

from . import libseccomp, names
from .config import SeccompConfig


class UnknownSyscall(Exception):
    """A profile names a system call libseccomp does not know."""


class ConflictingRule(Exception):
    """Two rules catch the same calls with different actions (libseccomp: EEXIST)."""


# What build() raises for a profile libseccomp rejects.
BUILD_ERRORS = (libseccomp.LibseccompError, UnknownSyscall, ConflictingRule)


def conditions(rule: Any) -> list[tuple[int, int, int, int]]:
    """A rule's argument conditions as libseccomp's (index, operator, datum_a, datum_b)."""
    return [(a.index, names.OPERATORS[a.op], names.datum(a.value), names.datum(a.value_two)) for a in rule.args]


def build(profile: SeccompConfig) -> libseccomp.Filter:
    """The filter of ``profile``, not loaded; the caller releases it."""
    default = profile.default_value
    filt = libseccomp.Filter(default)
    try:
        # libseccomp would set no_new_privs on load by default; install()
        # decides instead, setting it only when the kernel requires it.
        filt.set_attribute(libseccomp.ATTR_CTL_NNP, 0, "SCMP_FLTATR_CTL_NNP")
        try:
            # The kernel's errno from seccomp_load, not ECANCELED (libseccomp 2.5.0).
            filt.set_attribute(libseccomp.ATTR_API_SYSRAWRC, 1, "SCMP_FLTATR_API_SYSRAWRC")
        except libseccomp.LibseccompError:
            pass
        for arch in profile.architectures:
            filt.add_architecture(arch)
        for rule in profile.syscalls:
            action = profile.rule_value(rule)
            if action == default:
                # Redundant, and refused by libseccomp (seccomp_rule_add(3), EACCES): skipped, as runc does.
                continue
            conds = conditions(rule)
            for name in rule.names:
                number = libseccomp.syscall_number(name)
                if number is None:
                    raise UnknownSyscall(f"unknown system call {name!r} (libseccomp {libseccomp.LIBRARY} "
                                         "knows no such name on any architecture)")
                try:
                    filt.add_rule(action, number, conds, what=f"{name} ({rule.action})")
                except libseccomp.LibseccompError as e:
                    if e.errno != errno.EEXIST:
                        raise
                    raise ConflictingRule(f"the rule for {name} ({rule.action}) conflicts with an earlier rule "
                                          "for it with the same conditions and another action") from None
    except BaseException:
        filt.release()
        raise
    return filt


def install(filt: libseccomp.Filter, syscalls: Any) -> bool:
    """Load ``filt`` on the calling process; True when no_new_privs had to be set for it.

    The kernel accepts a filter from a process that has CAP_SYS_ADMIN in its
    user namespace or no_new_privs set (seccomp(2), EACCES), so that a filter
    cannot confuse a setuid program.  The filter comes after the user switch
    and the final capability sets, so a process without SYS_ADMIN gets
    no_new_privs here; one that kept it (root with the default capabilities)
    keeps its setuid programs working, as with runc's early load.
    """
    try:
        filt.load()
        return False
    except libseccomp.LibseccompError as e:
        # ECANCELED: a libseccomp before 2.5.0 hides the kernel's errno.
        if e.errno not in (errno.EACCES, errno.ECANCELED):
            raise
    syscalls.set_no_new_privs()
    filt.load()
    return True
