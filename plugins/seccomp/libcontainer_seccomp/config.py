"""The plugin's part of container.json: the ``seccomp`` profile, its schema and its checks."""

from __future__ import annotations

from typing import Any, Callable

from libcontainer.records import record

from . import names

KEY = "seccomp"
INT64_MIN = -(2**63)
UINT64_MAX = 2**64 - 1


@record(frozen=True)
class ArgCondition:
    """A condition on one argument of a system call (all of a rule's conditions must hold)."""

    # Which argument, 0 to 5, in the order of the call's C signature (syscall(2)).
    index: int
    # Compared with ``value`` (unsigned 64-bit); masked_eq: (argument & value) == value_two.
    op: str
    # A negative value is the 64-bit two's complement word (AT_FDCWD is -100).
    value: int
    # Only for masked_eq: the value the masked argument must equal.
    value_two: int = 0


@record(frozen=True)
class SyscallRule:
    """What happens when the process makes one of ``names``."""

    names: tuple[str, ...]  # system call names as the kernel's headers spell them (mkdir, mkdirat)
    action: str  # a canonical action of names.ACTIONS
    errno: str | int | None = None  # for the errno action; EPERM when absent
    args: tuple[ArgCondition, ...] = ()  # conditions that must all hold; none: every call matches


@record(frozen=True)
class SeccompConfig:
    """One container's filter."""

    # What happens to a system call no rule matches.
    default_action: str
    # The errno of an errno default action; EPERM when absent.
    default_errno: str | int | None = None
    # Architectures the filter covers besides the native one (x86 and x32 on
    # x86_64).  A call made through the ABI of an architecture not covered
    # (int 0x80 on x86_64 is x86) kills the thread: libseccomp's
    # bad-architecture action (SCMP_FLTATR_ACT_BADARCH).
    architectures: tuple[str, ...] = ()
    # The rules, in order.
    syscalls: tuple[SyscallRule, ...] = ()

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> SeccompConfig:
        """From the validated, canonical ``config.sections["seccomp"]``."""
        return cls(
            default_action=section["default_action"],
            default_errno=section.get("default_errno"),
            architectures=tuple(section.get("architectures") or ()),
            syscalls=tuple(
                SyscallRule(
                    names=tuple(rule["names"]),
                    action=rule["action"],
                    errno=rule.get("errno"),
                    args=tuple(ArgCondition(a["index"], a["op"], a["value"], a.get("value_two", 0))
                               for a in rule.get("args") or ()),
                )
                for rule in section.get("syscalls") or ()
            ),
        )

    @property
    def default_value(self) -> int:
        return names.action_value(self.default_action, self.default_errno)

    def rule_value(self, rule: SyscallRule) -> int:
        return names.action_value(rule.action, rule.errno)


def schema() -> dict[str, dict[str, Any]]:
    """The JSON Schema fragment of the ``seccomp`` key."""
    word = {"type": "string"}
    number = {"type": "integer", "minimum": INT64_MIN, "maximum": UINT64_MAX}
    errno = {"type": ["string", "integer"], "format": "seccomp_errno"}
    action = {**word, "format": "seccomp_action",
              "description": "errno, kill (the thread), kill_process, trap (SIGSYS), trace (a tracer is told; "
                             "without one ENOSYS), log (run and log) or allow"}
    arg = {
        "type": "object",
        "additionalProperties": False,
        "required": ["index", "value", "op"],
        "properties": {
            "index": {"type": "integer", "minimum": 0, "maximum": 5,
                      "description": "which argument, 0 to 5, in the order of the call's C signature"},
            "value": {**number, "description": "compared with the argument as an unsigned 64-bit word "
                                               "(masked_eq: the mask)"},
            "value_two": {**number, "description": "masked_eq only: what (argument & value) must equal"},
            "op": {**word, "format": "seccomp_operator",
                   "description": "eq, ne, lt, le, gt, ge or masked_eq"},
        },
    }
    rule = {
        "type": "object",
        "additionalProperties": False,
        "required": ["names", "action"],
        "properties": {
            "names": {"type": "array", "minItems": 1, "items": {**word, "minLength": 1},
                      "description": "system call names (mkdir, mkdirat), known to libseccomp"},
            "action": {**action, "description": "what a matching call meets: " + action["description"]},
            "errno": {**errno, "description": "errno (and trace) actions only: the error returned (a name such as EPERM or "
                                              "a number 0-4095); EPERM when absent"},
            "args": {"type": "array", "maxItems": 6, "items": arg,
                     "description": "conditions on the arguments that must all hold; none: every call matches"},
        },
    }
    return {
        KEY: {
            "type": "object",
            "description": "a system-call filter (seccomp, built with libseccomp) installed as the very last "
                           "step before exec",
            "additionalProperties": False,
            "required": ["default_action"],
            "properties": {
                "default_action": {**action, "description": "what a call no rule matches meets: "
                                                            + action["description"]},
                "default_errno": {**errno, "description": "errno default action only: the error returned; "
                                                          "EPERM when absent"},
                "architectures": {"type": "array", "uniqueItems": True,
                                  "items": {**word, "format": "seccomp_architecture"},
                                  "description": "architectures covered besides the native one "
                                                 "(libseccomp's names: x86_64, x86, x32, aarch64, arm ...)"},
                "syscalls": {"type": "array", "items": rule, "description": "the rules, in order"},
            },
        }
    }


def formats() -> dict[str, Callable[[Any], Any]]:
    """The named formats the schema uses."""
    return {
        "seccomp_action": names.canonical_action,
        "seccomp_errno": names.canonical_errno,
        "seccomp_operator": names.canonical_operator,
        "seccomp_architecture": names.canonical_architecture,
    }


# What the engine itself calls after the filter is loaded (libcontainer/process.py,
# seen with strace on x86_64): finding the command in PATH (newfstatat, access),
# restoring default signal handlers and an empty mask (rt_sigaction,
# rt_sigprocmask), marking fds close-on-exec (close_range) but the start
# channel (ioctl FIONCLEX), the exec message (sendto), the exec stub
# (execveat), which marks the channel close-on-exec (fcntl) and execs the
# command (execve).  A profile that denies one of them outright cannot start
# any command.  The start arrives, and a tty's master end leaves, before the
# filter is loaded.
RUNTIME_CALLS = ("newfstatat", "access", "rt_sigaction", "rt_sigprocmask", "close_range", "ioctl", "sendto",
                 "execveat", "fcntl", "execve")
PASSING = ("allow", "log")  # actions under which a call runs


def blocked_runtime_calls(section: dict[str, Any]) -> list[str]:
    """The runtime's calls that ``section`` denies whatever their arguments.

    A call caught by a rule with argument conditions is not reported: whether
    the engine's arguments match cannot be told here.
    """
    blocked = []
    for name in RUNTIME_CALLS:
        rules = [r for r in section.get("syscalls") or () if name in (r.get("names") or ())]
        if any(r.get("args") for r in rules):
            continue
        action = rules[0].get("action") if rules else section.get("default_action")
        if action not in PASSING:
            blocked.append(name)
    return blocked


def problems(section: dict[str, Any], number: Callable[[str], int | None] | None) -> list[tuple[str, str]]:
    """Cross-field problems as (JSON path, message).

    ``number(name)`` is libseccomp's native number of a system call (negative:
    another architecture's call; None: unknown); ``number`` is None when the
    library is not available here (the names are then checked at pre_clone).
    Only the runtime's calls that the native architecture has are required.
    """
    base = f"$.{KEY}"
    found: list[tuple[str, str]] = []
    blocked = [n for n in blocked_runtime_calls(section) if number is None or _native(number(n))]
    if blocked:
        found.append((base, f"the runtime needs {', '.join(blocked)} after the filter is loaded, to start the "
                            "command; allow them (see the seccomp plugin's README)"))
    if section.get("default_errno") is not None and section.get("default_action") not in names.WITH_ERRNO:
        found.append((f"{base}.default_errno",
                      f"applies only to the errno default action, not to {section.get('default_action')}"))
    unconditional: dict[str, str] = {}  # name -> path of the rule that catches every call of it
    for i, rule in enumerate(section.get("syscalls") or ()):
        path = f"{base}.syscalls[{i}]"
        if rule.get("errno") is not None and rule.get("action") not in names.WITH_ERRNO:
            found.append((f"{path}.errno", f"applies only to the errno action, not to {rule.get('action')}"))
        found += _arg_problems(path, rule.get("args") or ())
        for j, name in enumerate(rule.get("names") or ()):
            where = f"{path}.names[{j}]"
            if number is not None and number(name) is None:
                found.append((where, f"unknown system call {name!r} (libseccomp knows no such name "
                                     "on any architecture)"))
            elif not rule.get("args"):
                if name in unconditional:
                    found.append((where, f"{name} is listed twice without conditions "
                                         f"(also at {unconditional[name]})"))
                else:
                    unconditional[name] = where
    return found


def _native(number: int | None) -> bool:
    return number is not None and number >= 0


def _arg_problems(path: str, args: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found = []
    seen: dict[int, int] = {}
    for k, arg in enumerate(args):
        where = f"{path}.args[{k}]"
        index = arg.get("index")
        if index in seen:
            # libseccomp refuses two comparisons of one argument in a rule (EINVAL).
            found.append((f"{where}.index", f"argument {index} is already compared in this rule (args[{seen[index]}]); "
                                            "write a second rule instead: a call matching either is caught"))
        else:
            seen[index] = k
        if "value_two" in arg and arg.get("op") != "masked_eq":
            found.append((f"{where}.value_two", f"applies only to the masked_eq operator, not to {arg.get('op')}"))
    return found
