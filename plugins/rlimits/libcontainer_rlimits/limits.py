"""The limits a config names, checked and normalised, and how they are applied (setrlimit(2))."""

from __future__ import annotations

import resource
from typing import Any

from libcontainer.records import record

# Every limit setrlimit(2) knows, by the name the OCI runtime spec and runc use,
# with its number in asm-generic/resource.h (Python's resource module lacks
# RLIMIT_LOCKS; the architectures that renumber some, alpha, mips and sparc,
# have their own constants there, used when present).
_GENERIC = {
    "RLIMIT_CPU": 0,  # CPU time, seconds
    "RLIMIT_FSIZE": 1,  # file size, bytes
    "RLIMIT_DATA": 2,  # data segment, bytes
    "RLIMIT_STACK": 3,  # stack size, bytes
    "RLIMIT_CORE": 4,  # core file size, bytes
    "RLIMIT_RSS": 5,  # resident set (ignored by Linux since 2.6)
    "RLIMIT_NPROC": 6,  # processes of the real user id
    "RLIMIT_NOFILE": 7,  # open files
    "RLIMIT_MEMLOCK": 8,  # locked memory, bytes
    "RLIMIT_AS": 9,  # address space, bytes
    "RLIMIT_LOCKS": 10,  # file locks
    "RLIMIT_SIGPENDING": 11,  # queued signals
    "RLIMIT_MSGQUEUE": 12,  # POSIX message queues, bytes
    "RLIMIT_NICE": 13,  # ceiling of the nice value, 20 - nice
    "RLIMIT_RTPRIO": 14,  # real-time priority
    "RLIMIT_RTTIME": 15,  # real-time CPU time, microseconds
}
KINDS = {name: getattr(resource, name, number) for name, number in _GENERIC.items()}
UNLIMITED = "unlimited"  # written for RLIM_INFINITY
# rlim_t is 64 bits; RLIM_INFINITY is its largest value.
MAX_VALUE = 2**64 - 2


def canonical_kind(name: Any) -> str:
    """"NOFILE", "nofile" or "RLIMIT_NOFILE" -> "RLIMIT_NOFILE"; ValueError when unknown."""
    if not isinstance(name, str):
        raise ValueError(f"expected a limit name, got {name!r}")
    upper = name.strip().upper()
    kind = upper if upper.startswith("RLIMIT_") else f"RLIMIT_{upper}"
    if kind not in KINDS:
        raise ValueError(f"unknown limit {name!r}; known: {', '.join(k.removeprefix('RLIMIT_') for k in KINDS)}")
    return kind


def canonical_value(value: Any) -> int | str:
    """A count, or "unlimited" (also accepted: -1, "infinity")."""
    if isinstance(value, str) and value.strip().lower() in (UNLIMITED, "infinity"):
        return UNLIMITED
    if value == -1:
        return UNLIMITED
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VALUE:
        raise ValueError(f"expected a number from 0 to {MAX_VALUE} or \"unlimited\", got {value!r}")
    return value


def _number(value: int | str) -> int:
    """What setrlimit takes (Python's RLIM_INFINITY is -1)."""
    return resource.RLIM_INFINITY if value == UNLIMITED else int(value)


def _rank(number: int) -> int:
    """For comparing limits: infinity above every count."""
    return MAX_VALUE + 1 if number == resource.RLIM_INFINITY else number


@record(frozen=True)
class Limit:
    """One limit as the config gives it, normalised."""

    kind: str  # "RLIMIT_NOFILE"
    soft: int | str  # the value the kernel enforces; at most ``hard``
    hard: int | str  # the ceiling an unprivileged process may raise ``soft`` to

    @property
    def numbers(self) -> tuple[int, int]:
        return _number(self.soft), _number(self.hard)


def limits_of(section: list[dict[str, Any]] | None) -> list[Limit]:
    return [Limit(item["type"], item["soft"], item["hard"]) for item in section or []]


def problems(section: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Cross-item problems, as (JSON path, message): soft above hard, a limit given twice."""
    found: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for i, limit in enumerate(limits_of(section)):
        soft, hard = limit.numbers
        if _rank(soft) > _rank(hard):
            found.append((f"$.rlimits[{i}].soft", f"{limit.kind} soft limit {limit.soft} is above its hard limit "
                                                   f"{limit.hard}"))
        if limit.kind in seen:
            found.append((f"$.rlimits[{i}].type", f"{limit.kind} is already set by $.rlimits[{seen[limit.kind]}]"))
        seen.setdefault(limit.kind, i)
    return found


def apply_limits(limits: list[Limit]) -> None:
    """setrlimit each one, in the calling process; its children and the command inherit them.

    Raising a hard limit needs CAP_SYS_RESOURCE in the initial user namespace
    (setrlimit(2)): refused in a user namespace or without the capability,
    which is reported naming the limit and both values.
    """
    from libcontainer.errors import ContainerError

    for limit in limits:
        soft, hard = limit.numbers
        try:
            resource.setrlimit(KINDS[limit.kind], (soft, hard))
        except (ValueError, OSError) as e:
            _, current_hard = resource.getrlimit(KINDS[limit.kind])
            shown = UNLIMITED if current_hard == resource.RLIM_INFINITY else current_hard
            if _rank(hard) > _rank(current_hard):
                raise ContainerError("rlimits", f"{limit.kind} hard limit {limit.hard} is above the current "
                                                f"{shown}, and raising it needs CAP_SYS_RESOURCE in the host's "
                                                "user namespace") from None
            raise ContainerError("rlimits", f"{limit.kind} {limit.soft}/{limit.hard}: {e}") from None
