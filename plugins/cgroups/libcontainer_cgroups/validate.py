"""Cross-field checks of the ``cgroups`` section; each problem names the field and the fix."""

from __future__ import annotations

from typing import Any

from libcontainer.errors import ConfigProblem

from .config import CgroupsConfig, parse_cgroups, parse_size, valid_cpuset

P = "$.cgroups"


def _check_sizes(section: dict[str, Any]) -> list[ConfigProblem]:
    problems = []
    for key in ("memory", "memory_reservation", "memory_swap"):
        if section.get(key) is not None:
            try:
                parse_size(section[key])
            except ValueError as e:
                problems.append(ConfigProblem(f"{P}.{key}", str(e)))
    return problems


def _check_names(cfg: CgroupsConfig) -> list[ConfigProblem]:
    problems = []
    if cfg.name and ("/" in cfg.name or cfg.name in (".", "..")):
        problems.append(ConfigProblem(f"{P}.name", f"{cfg.name!r} must be one path component (no '/' and not '..')"))
    if ".." in cfg.parent.split("/"):
        problems.append(ConfigProblem(f"{P}.parent", f"{cfg.parent!r} must not contain '..'"))
    return problems


def _check_memory(cfg: CgroupsConfig) -> list[ConfigProblem]:
    if cfg.memory is not None and cfg.memory_swap not in (None, -1) and cfg.memory_swap < cfg.memory:
        return [ConfigProblem(
            f"{P}.memory_swap",
            f"{cfg.memory_swap} is less than memory ({cfg.memory}): memory_swap is memory plus swap, "
            "so it must be at least memory (or -1 for unlimited swap)",
        )]
    return []


def _check_cpu(cfg: CgroupsConfig) -> list[ConfigProblem]:
    problems = []
    # The kernel refuses a CFS quota below 1ms and a period outside 1ms-1s (sched-bwc.rst).
    if cfg.cpu_quota is not None and cfg.cpu_quota != -1 and cfg.cpu_quota < 1000:
        problems.append(ConfigProblem(f"{P}.cpu_quota", f"{cfg.cpu_quota} is below 1000 microseconds (or use -1)"))
    if cfg.cpu_period is not None and not 1000 <= cfg.cpu_period <= 1000000:
        problems.append(ConfigProblem(f"{P}.cpu_period",
                                      f"{cfg.cpu_period} is outside 1000-1000000 microseconds"))
    for key in ("cpuset_cpus", "cpuset_mems"):
        value = getattr(cfg, key)
        if value is not None and not valid_cpuset(value):
            problems.append(ConfigProblem(f"{P}.{key}", f"{value!r} is not a list such as \"0-3,5\""))
    return problems


def _check_others(cfg: CgroupsConfig) -> list[ConfigProblem]:
    problems = []
    if cfg.blkio_weight is not None and not 10 <= cfg.blkio_weight <= 1000:
        problems.append(ConfigProblem(f"{P}.blkio_weight", f"{cfg.blkio_weight} is outside 10-1000"))
    if cfg.devices is not None:
        for key in ("allowed_devices", "allow_all_devices"):
            if getattr(cfg, key) not in (None, False):
                problems.append(ConfigProblem(f"{P}.{key}", f"give either devices (allow and deny rules in order) "
                                                            f"or {key}, not both"))
        for i, access in enumerate(cfg.devices):
            if access.type == "a" and sorted(access.access) != sorted("rwm"):
                problems.append(ConfigProblem(f"{P}.devices[{i}].access", "a rule for every device (type a) "
                                              "covers every access on cgroup v1: give rwm, or a type"))
        problems += _partial_exceptions(cfg.devices)
    for i, rule in enumerate(cfg.allowed_devices or []):
        if rule.type not in (97, 98, 99):
            problems.append(ConfigProblem(f"{P}.allowed_devices[{i}].type",
                                          f"{rule.type} is not 99 (c), 98 (b) or 97 (a)"))
        if set(rule.cgroup_permissions) - set("rwm"):
            problems.append(ConfigProblem(f"{P}.allowed_devices[{i}].cgroup_permissions",
                                          f"{rule.cgroup_permissions!r} is not a subset of \"rwm\""))
    return problems


def _partial_exceptions(rules: list[Any]) -> list[ConfigProblem]:
    """Rules the v1 device cgroup cannot apply: taking part of a wider earlier rule back.

    The v1 cgroup keeps a default (allow or deny every device) and a list of
    exceptions; a rule against the default removes only an exception equal to
    it (devices.rst), so denying /dev/full after allowing c 1:* would leave it
    allowed.  Such a list is refused instead of applied wrongly (runc's
    emulator refuses it too).
    """
    default_allow = True  # a new cgroup starts as its parent: the plugin's parents allow every device
    exceptions: list[Any] = []
    found = []
    for i, rule in enumerate(rules):
        if rule.type == "a":
            default_allow, exceptions = rule.allow, []
            continue
        if rule.allow != default_allow:
            exceptions.append(rule)
            continue
        wider = [e for e in exceptions if e.type == rule.type and e.major in (-1, rule.major)
                 and e.minor in (-1, rule.minor) and (e.major, e.minor) != (rule.major, rule.minor)]
        if wider:
            verb = "deny" if not rule.allow else "allow"
            found.append(ConfigProblem(f"{P}.devices[{i}]", f"cannot {verb} {rule.rule()} after the wider "
                                       f"{wider[0].rule()}: the v1 device cgroup takes back only a whole earlier rule"))
        exceptions = [e for e in exceptions if (e.type, e.major, e.minor) != (rule.type, rule.major, rule.minor)]
    return found


def check_section(section: dict[str, Any] | None) -> list[ConfigProblem]:
    """Every problem of the section at once (none: it can be applied)."""
    section = section or {}
    problems = _check_sizes(section)
    if problems:
        return problems
    cfg = parse_cgroups(section)
    return _check_names(cfg) + _check_memory(cfg) + _check_cpu(cfg) + _check_others(cfg)
