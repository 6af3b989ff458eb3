"""Changing the capability sets of the calling process (through python-prctl)."""

from __future__ import annotations

from typing import Any

# Loaded with the plugin, on the host: python-prctl's C extension needs
# libcap.so.2, which the dynamic loader looks up by path, and after pivot_root
# (or a joining process's setns into the mount namespace) the host's libraries
# are out of reach; the engine's import finder only reaches Python modules.
import prctl

from libcontainer.errors import ContainerError
from libcontainer.records import record

from . import names

STEP = "capabilities"  # the step named in errors

# /proc/PID/status line -> set name, for reading a process's sets.
STATUS_FIELDS = {"CapInh": "inheritable", "CapPrm": "permitted", "CapEff": "effective", "CapBnd": "bounding", "CapAmb": "ambient"}


@record(frozen=True)
class FinalSets:
    """The sets the process has after ``set_final_sets``, as capability numbers."""

    effective: frozenset[int]  # what the setup process may use until execve
    permitted: frozenset[int]  # the ceiling of effective; for root, execve gives the bounding set
    inheritable: frozenset[int]  # only what ambient needs (CVE-2022-24769)
    ambient: frozenset[int]  # survives execve for a non-root user


def final_sets(keep: frozenset[int], ambient: frozenset[int]) -> FinalSets:
    """The effective, permitted, inheritable and ambient sets for a keep list.

    Effective and permitted are the keep list, as runc sets them, whatever
    the user: execve recomputes both anyway (capabilities(7)), so for root
    they become the bounding set and for any other user the ambient set.
    Until then the runtime's last steps (pre_exec hooks) still have them.
    Inheritable holds only the ambient ones, which the kernel requires there:
    a wider inheritable set would let a program with inheritable file
    capabilities gain them after a user switch inside the container
    (CVE-2022-24769, which made Docker and runc stop setting it).
    """
    return FinalSets(effective=keep, permitted=keep, inheritable=ambient, ambient=ambient)


def bounding_drops(keep: frozenset[int], last_cap: int) -> list[int]:
    """Every capability number the kernel knows that is not kept, in order."""
    return [n for n in range(last_cap + 1) if n not in keep]


def read_sets(pid: int | str = "self") -> dict[str, int]:
    """The capability sets of a process as masks: {"effective": 0x..., ...}."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in STATUS_FIELDS:
                out[STATUS_FIELDS[key]] = int(value.strip(), 16)
    return out


def check_keepable(keep: frozenset[int], last_cap: int) -> None:
    """Refuse a keep list the kernel or this process cannot give, before changing anything."""
    unknown = sorted(n for n in keep if n > last_cap)
    if unknown:
        raise ContainerError(STEP, names.kernel_problem(names.name_of(unknown[0]), last_cap))
    have = read_sets()
    lacking = [n for n in sorted(keep) if not (have["bounding"] >> n) & 1 or not (have["permitted"] >> n) & 1]
    if lacking:
        shown = ", ".join(names.name_of(n) for n in lacking)
        raise ContainerError(
            STEP,
            f"cannot keep {shown}: nsinit's own process does not have "
            f"{'it' if len(lacking) == 1 else 'them'} (a capability can be dropped, never regained)",
        )


def drop_bounding_set(keep: frozenset[int], last_cap: int, syscalls: Any) -> None:
    """Drop every capability not in ``keep`` from the bounding set.

    PR_CAPBSET_DROP needs CAP_SETPCAP in the effective set, so this must run
    before the user switch takes it away (capabilities(7), prctl(2)).
    """
    for num in bounding_drops(keep, last_cap):
        try:
            if num in prctl.ALL_CAPS:
                prctl.capbset_drop(num)
            else:  # newer than python-prctl's table
                syscalls.capbset_drop(num, names.name_of(num))
        except OSError as e:
            raise ContainerError(
                STEP, f"dropping {names.name_of(num)} from the bounding set: {e.strerror} (needs CAP_SETPCAP)"
            ) from None


def set_final_sets(keep: frozenset[int], ambient: frozenset[int], syscalls: Any) -> FinalSets:
    """Set effective, permitted and inheritable to exactly ``final_sets``, then the ambient set.

    Runs after the user switch: the engine kept the permitted set across
    setuid with PR_SET_KEEPCAPS, and setuid cleared the effective set
    (capabilities(7), "Effect of user ID changes on capabilities").
    """
    return set_sets(final_sets(keep, ambient), syscalls)


def set_sets(sets: FinalSets, syscalls: Any) -> FinalSets:
    """Set effective, permitted and inheritable to exactly ``sets`` in one capset, then the ambient set."""
    keep = sets.permitted
    known = list(prctl.ALL_CAPS)
    changes = []
    for flag, wanted in (
        (prctl.CAP_EFFECTIVE, sets.effective),
        (prctl.CAP_PERMITTED, sets.permitted),
        (prctl.CAP_INHERITABLE, sets.inheritable),
    ):
        changes.append(([n for n in known if n in wanted], flag, True))
        changes.append(([n for n in known if n not in wanted], flag, False))
    try:
        prctl.set_caps(*changes)  # one capset(2): the three sets change together
    except OSError as e:
        raise ContainerError(STEP, f"setting the capability sets to {_shown(keep)}: {e.strerror}") from None
    # The ambient set is cleared first, so that nothing inherited from nsinit
    # survives; a capability can only be raised there once it is permitted and
    # inheritable (prctl(2), PR_CAP_AMBIENT_RAISE), hence after the capset.
    syscalls.cap_ambient_clear_all()
    for num in sorted(sets.ambient):
        syscalls.cap_ambient_raise(num, names.name_of(num))
    return sets


def _shown(nums: frozenset[int]) -> str:
    return ", ".join(names.name_of(n) for n in sorted(nums)) or "nothing"
