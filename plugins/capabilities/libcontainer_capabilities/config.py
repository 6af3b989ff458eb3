"""The plugin's part of container.json: which capabilities the process keeps."""

from __future__ import annotations

from typing import Any

from . import names

from libcontainer.records import record

# The top-level keys of container.json this plugin owns.
KEYS = ("capabilities", "ambient_capabilities", "no_new_privileges", "capability_sets")

# The sets of capability_sets, as capabilities(7) and OCI's process.capabilities name them.
SET_NAMES = ("bounding", "effective", "permitted", "inheritable", "ambient")


@record(frozen=True)
class CapabilitiesConfig:
    """The capability settings of one container."""

    # The keep list (libcontainer 2014): every other capability is dropped from
    # the bounding, effective, permitted and inheritable sets.  None when the
    # key is absent: then the process keeps nsinit's own capabilities.
    capabilities: tuple[str, ...] | None = None
    # Raised in the ambient set (Linux 4.3, beyond 2014), so that a non-root
    # user keeps them across execve; each must also be in ``capabilities``.
    ambient_capabilities: tuple[str, ...] = ()
    # PR_SET_NO_NEW_PRIVS (beyond 2014): execve grants nothing any more, not
    # through setuid bits nor file capabilities.
    no_new_privileges: bool = False
    # The five sets given one by one (OCI's process.capabilities), instead of
    # the keep list: {"bounding": [...], "effective": [...], ...}; a set not
    # named is empty.  None when the key is absent.
    capability_sets: dict[str, tuple[str, ...]] | None = None

    @classmethod
    def from_sections(cls, sections: dict[str, Any]) -> CapabilitiesConfig:
        """From ``Config.sections``; names are canonicalised again (idempotent)."""
        keep = sections.get("capabilities")
        sets = sections.get("capability_sets")
        return cls(
            capabilities=None if keep is None else tuple(names.canonical_name(n) for n in keep),
            ambient_capabilities=tuple(names.canonical_name(n) for n in sections.get("ambient_capabilities") or ()),
            no_new_privileges=bool(sections.get("no_new_privileges")),
            capability_sets=None if sets is None else {
                name: tuple(names.canonical_name(n) for n in sets.get(name) or ()) for name in SET_NAMES},
        )

    @property
    def restricts(self) -> bool:
        """True when the capability sets are to be changed at all."""
        return self.capabilities is not None or self.capability_sets is not None

    @property
    def keep_numbers(self) -> frozenset[int]:
        """What the bounding set keeps."""
        if self.capability_sets is not None:
            return self.set_numbers("bounding")
        return frozenset(names.NUMBERS[n] for n in self.capabilities or ())

    @property
    def ambient_numbers(self) -> frozenset[int]:
        if self.capability_sets is not None:
            return self.set_numbers("ambient")
        return frozenset(names.NUMBERS[n] for n in self.ambient_capabilities)

    def set_numbers(self, name: str) -> frozenset[int]:
        """The numbers of one set of capability_sets."""
        return frozenset(names.NUMBERS[n] for n in (self.capability_sets or {}).get(name, ()))

    @property
    def needed_numbers(self) -> frozenset[int]:
        """What nsinit itself must have for these settings: the bounding set kept, and the permitted one."""
        return self.keep_numbers | (self.set_numbers("permitted") if self.capability_sets is not None else frozenset())


def schema() -> dict[str, dict[str, Any]]:
    """JSON Schema fragments of the owned keys."""
    name_list = {
        "type": "array",
        "items": {"type": "string", "format": "capability"},
    }
    return {
        "capabilities": {
            **name_list,
            "description": "capabilities the process keeps; every other one is dropped",
        },
        "ambient_capabilities": {
            **name_list,
            "description": "capabilities raised in the ambient set; each must be in capabilities",
        },
        "no_new_privileges": {
            "type": "boolean",
            "description": "set PR_SET_NO_NEW_PRIVS: setuid binaries and file capabilities grant nothing",
        },
        "capability_sets": {
            "type": "object",
            "additionalProperties": False,
            "properties": {name: {**name_list, "uniqueItems": True} for name in SET_NAMES},
            "description": "the five sets one by one (OCI's process.capabilities), instead of capabilities and "
                           "ambient_capabilities; a set not named is empty",
        },
    }


EVERY_CAPABILITY = ("no capabilities list: the command keeps every capability nsinit has (as root: all of them); "
                    'list the ones to keep under "capabilities"')


def warnings(sections: dict[str, Any]) -> list[str]:
    """What the config allows but is seldom meant: without a keep list, nothing is dropped."""
    return [EVERY_CAPABILITY] if not CapabilitiesConfig.from_sections(sections).restricts else []


def problems(sections: dict[str, Any], last_cap: int) -> list[tuple[str, str]]:
    """Cross-field problems as (JSON path, message); ``last_cap`` is the kernel's highest number."""
    found: list[tuple[str, str]] = []
    lists: dict[str, list[str | None]] = {}
    for key in ("capabilities", "ambient_capabilities"):
        canon: list[str | None] = []
        for i, value in enumerate(sections.get(key) or ()):
            try:
                canon.append(names.canonical_name(value))
            except ValueError as e:  # the schema normally catches these first
                found.append((f"$.{key}[{i}]", str(e)))
                canon.append(None)
        lists[key] = canon
        found += _duplicates(key, canon)
        found += [
            (f"$.{key}[{i}]", names.kernel_problem(n, last_cap))
            for i, n in enumerate(canon)
            if n is not None and names.NUMBERS[n] > last_cap
        ]
    found += _set_problems(sections, last_cap)
    ambient = [n for n in lists["ambient_capabilities"] if n]
    if ambient and sections.get("capabilities") is None:
        found.append((
            "$.ambient_capabilities",
            "ambient capabilities need a capabilities list that keeps them (the kernel raises an "
            "ambient capability only when it is permitted and inheritable)",
        ))
    elif ambient:
        kept = set(lists["capabilities"])
        found += [
            (f"$.ambient_capabilities[{i}]", f"{n} is not in capabilities; an ambient capability must also be kept")
            for i, n in enumerate(lists["ambient_capabilities"])
            if n is not None and n not in kept
        ]
    return found


def _set_problems(sections: dict[str, Any], last_cap: int) -> list[tuple[str, str]]:
    """capability_sets: not with the keep list, known to the kernel, and what capset(2) would refuse."""
    sets = sections.get("capability_sets")
    if sets is None:
        return []
    found: list[tuple[str, str]] = []
    for key in ("capabilities", "ambient_capabilities"):
        if sections.get(key) is not None:
            found.append((f"$.{key}", f"give either capability_sets or {key}, not both"))
    canon: dict[str, list[str]] = {}
    for name in SET_NAMES:
        canon[name] = []
        for i, value in enumerate(sets.get(name) or ()):
            try:
                n = names.canonical_name(value)
            except ValueError as e:  # the schema normally catches these first
                found.append((f"$.capability_sets.{name}[{i}]", str(e)))
                continue
            canon[name].append(n)
            if names.NUMBERS[n] > last_cap:
                found.append((f"$.capability_sets.{name}[{i}]", names.kernel_problem(n, last_cap)))
    # capset(2): effective within permitted; inheritable within the bounding set once it is dropped
    # (CAP_SETPCAP allows no more); ambient within permitted and inheritable (prctl(2), PR_CAP_AMBIENT_RAISE).
    for name, within, why in (("effective", ("permitted",), "an effective capability must be permitted"),
                              ("inheritable", ("bounding",), "the kernel refuses an inheritable capability "
                                                              "outside the bounding set"),
                              ("ambient", ("permitted", "inheritable"), "an ambient capability must be permitted "
                                                                        "and inheritable")):
        for i, n in enumerate(canon[name]):
            missing = [w for w in within if n not in canon[w]]
            if missing:
                found.append((f"$.capability_sets.{name}[{i}]", f"{n} is not in {' nor '.join(missing)}: {why}"))
    return found


def _duplicates(key: str, canon: list[str | None]) -> list[tuple[str, str]]:
    first: dict[str, int] = {}
    found = []
    for i, n in enumerate(canon):
        if n is None:
            continue
        if n in first:
            found.append((f"$.{key}[{i}]", f"{n} is listed twice (also at $.{key}[{first[n]}])"))
        else:
            first[n] = i
    return found
