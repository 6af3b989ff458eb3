"""The plugin's part of container.json: which capabilities the process keeps."""

from __future__ import annotations

from typing import Any

from . import names

from libcontainer.records import record

# The top-level keys of container.json this plugin owns.
KEYS = ("capabilities", "ambient_capabilities", "no_new_privileges")


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

    @classmethod
    def from_sections(cls, sections: dict[str, Any]) -> CapabilitiesConfig:
        """From ``Config.sections``; names are canonicalised again (idempotent)."""
        keep = sections.get("capabilities")
        return cls(
            capabilities=None if keep is None else tuple(names.canonical_name(n) for n in keep),
            ambient_capabilities=tuple(names.canonical_name(n) for n in sections.get("ambient_capabilities") or ()),
            no_new_privileges=bool(sections.get("no_new_privileges")),
        )

    @property
    def restricts(self) -> bool:
        """True when the capability sets are to be changed at all."""
        return self.capabilities is not None

    @property
    def keep_numbers(self) -> frozenset[int]:
        return frozenset(names.NUMBERS[n] for n in self.capabilities or ())

    @property
    def ambient_numbers(self) -> frozenset[int]:
        return frozenset(names.NUMBERS[n] for n in self.ambient_capabilities)


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
