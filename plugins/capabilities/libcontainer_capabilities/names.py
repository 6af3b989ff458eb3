"""Capability names: the library's table, the running kernel's range, and normalisation."""

from __future__ import annotations

# Number -> libcontainer name (without the CAP_ prefix), from linux/capability.h.
CAPABILITIES: dict[int, str] = {
    0: "CHOWN",
    1: "DAC_OVERRIDE",
    2: "DAC_READ_SEARCH",
    3: "FOWNER",
    4: "FSETID",
    5: "KILL",
    6: "SETGID",
    7: "SETUID",
    8: "SETPCAP",
    9: "LINUX_IMMUTABLE",
    10: "NET_BIND_SERVICE",
    11: "NET_BROADCAST",
    12: "NET_ADMIN",
    13: "NET_RAW",
    14: "IPC_LOCK",
    15: "IPC_OWNER",
    16: "SYS_MODULE",
    17: "SYS_RAWIO",
    18: "SYS_CHROOT",
    19: "SYS_PTRACE",
    20: "SYS_PACCT",
    21: "SYS_ADMIN",
    22: "SYS_BOOT",
    23: "SYS_NICE",
    24: "SYS_RESOURCE",
    25: "SYS_TIME",
    26: "SYS_TTY_CONFIG",
    27: "MKNOD",
    28: "LEASE",
    29: "AUDIT_WRITE",
    30: "AUDIT_CONTROL",
    31: "SETFCAP",
    32: "MAC_OVERRIDE",
    33: "MAC_ADMIN",
    34: "SYSLOG",
    35: "WAKE_ALARM",
    36: "BLOCK_SUSPEND",
    37: "AUDIT_READ",
    38: "PERFMON",  # Linux 5.8
    39: "BPF",  # Linux 5.8
    40: "CHECKPOINT_RESTORE",  # Linux 5.9
}

NUMBERS: dict[str, int] = {name: number for number, name in CAPABILITIES.items()}

CAP_LAST_CAP_FILE = "/proc/sys/kernel/cap_last_cap"  # proc(5), Linux 3.2 and later


def canonical_name(value: object) -> str:
    """``"cap_net_raw"``, ``"NET_RAW"`` or ``"Net_Raw"`` -> ``"NET_RAW"``.

    Raises ValueError naming the value, the closest valid name and every valid
    name.  This is the ``capability`` format of the config schema.
    """
    if not isinstance(value, str):
        raise ValueError(f"a capability name must be a string, not {value!r}")
    name = value.strip().upper()
    if name.startswith("CAP_"):
        name = name[len("CAP_"):]
    if name in NUMBERS:
        return name
    import difflib  # only on the error path

    close = difflib.get_close_matches(name, NUMBERS, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    raise ValueError(f"unknown capability {value!r}: {hint}valid names are {', '.join(sorted(NUMBERS))}")


def number(name: str) -> int:
    """The kernel's number of a capability name (any accepted spelling)."""
    return NUMBERS[canonical_name(name)]


def name_of(num: int) -> str:
    """The name of capability ``num``; ``CAP_41`` for one newer than this table."""
    return CAPABILITIES.get(num, f"CAP_{num}")


def kernel_last_cap(path: str = CAP_LAST_CAP_FILE) -> int:
    """The highest capability number the running kernel knows."""
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        # Before Linux 3.2 there is no such file; such kernels knew up to
        # WAKE_ALARM (35) at most, and the table's oldest entries are safe.
        return _probe_last_cap()


def _probe_last_cap() -> int:
    import prctl

    last = 0
    for num in sorted(CAPABILITIES):
        try:
            prctl.capbset_read(num)
        except (OSError, ValueError):
            break
        last = num
    return last


def unknown_to_kernel(names: list[str], last_cap: int) -> list[str]:
    """Those of ``names`` (canonical) whose number the running kernel does not know."""
    return [n for n in names if NUMBERS[n] > last_cap]


def kernel_problem(name: str, last_cap: int) -> str:
    """The sentence that reports a capability the running kernel does not know."""
    return (
        f"{name} (capability {NUMBERS[name]}) is not known to the running kernel, whose highest "
        f"capability is {name_of(last_cap)} ({last_cap}, {CAP_LAST_CAP_FILE}); remove it or use a newer kernel"
    )


def mask(nums: list[int] | set[int]) -> int:
    """The bit mask of capability numbers, as /proc/PID/status prints it in hex."""
    out = 0
    for n in nums:
        out |= 1 << n
    return out
