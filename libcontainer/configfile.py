"""Reading container.json or container.yaml: find, parse, validate against the plugins' schemas, dump."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config
from .errors import ConfigError, ConfigProblem, LibcontainerError
from .validate import closest, describe, join_path, validate

if TYPE_CHECKING:
    from .plugins import Plugins

# The names looked for in a container's directory, in order of preference.
CONFIG_NAMES = ("container.json", "container.yaml", "container.yml")
# A config is a few kilobytes; anything this big is a mistake (or an attack).
MAX_CONFIG_BYTES = 4 * 1024 * 1024
# After YAML aliases are expanded, a document may hold at most this many values
# (aliases of aliases grow exponentially: the "billion laughs").
MAX_VALUES = 100_000
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class ConfigFileError(ConfigError):
    """A config file that cannot be found, read or parsed: ``file[:line:column]: message``."""

    def __init__(self, source: Any, message: str, line: int | None = None, column: int | None = None) -> None:
        self.message = message
        self.line = line  # 1-based, when known
        self.column = column  # 1-based, when known
        super().__init__(str(source), [ConfigProblem("$", message)])

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        return f"{where}: {self.message}"


# -- finding and reading --------------------------------------------------------


def find_config(directory: str | os.PathLike) -> Path:
    """The config of the container in ``directory``: container.json, else container.yaml/.yml."""
    base = Path(directory)
    if not base.is_dir():
        raise ConfigFileError(base, "no such directory" if not base.exists() else "not a directory")
    for name in CONFIG_NAMES:
        candidate = base / name
        if candidate.is_file():
            return candidate
        if os.path.lexists(candidate):
            # A named pipe here would block the reader forever, a socket or a
            # device is a mistake: say what was found rather than "no config".
            raise ConfigFileError(candidate, f"not a regular file ({_file_kind(candidate)})")
    raise ConfigFileError(base, f"no container config here: looked for {', '.join(CONFIG_NAMES)}")


def _file_kind(path: Path) -> str:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "a dangling symlink"
    for test, kind in ((stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "another kind of file"


def detect_format(path: str | os.PathLike, text: str | None = None) -> str:
    """"json" or "yaml": by the file's extension, else by its first character."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return "json" if text is not None and text.lstrip()[:1] in ("{", "[") else "yaml"


def read_text(path: str | os.PathLike) -> str:
    """The file's text; size, type and encoding checked, errors naming the file."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise ConfigFileError(path, "is a directory, not a config file")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ConfigFileError(path, _too_large(st.st_size))
        with open(path, "rb") as f:
            # Read one byte more than allowed: st_size is 0 for pipes and /proc files.
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigFileError(path, "no such file") from None
    except OSError as e:
        raise ConfigFileError(path, f"cannot read: {e.strerror or e}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigFileError(path, _too_large(len(data), at_least=True))
    nul = data.find(b"\0")
    if nul >= 0:
        line, column = _position(data, nul)
        raise ConfigFileError(path, "binary data (a NUL byte), not JSON or YAML text", line, column)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, column = _position(data, e.start)
        raise ConfigFileError(path, f"not UTF-8 text (byte 0x{data[e.start]:02x})", line, column) from None


def load_document(path: str | os.PathLike) -> dict[str, Any]:
    """The file parsed as JSON or YAML (by extension, else content); the top level must be a mapping."""
    text = read_text(path)
    kind = detect_format(path, text)
    try:
        doc = _parse_json(text, path) if kind == "json" else _parse_yaml(text, path)
    except RecursionError:
        raise ConfigFileError(path, f"invalid {kind.upper()}: nested too deeply") from None
    if doc is None:
        raise ConfigFileError(path, "the file is empty; expected a mapping of config keys")
    if not isinstance(doc, dict):
        raise ConfigFileError(path, f"the top level must be a mapping of config keys, got {describe(doc)}")
    return doc


def _too_large(size: int, at_least: bool = False) -> str:
    more = "more than " if at_least else ""
    return f"too large ({more}{size} bytes); a config may be at most {MAX_CONFIG_BYTES} bytes (4 MiB)"


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


class _DuplicateKey(ValueError):
    pass


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_json(text: str, path: Any) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_pairs_without_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise ConfigFileError(path, f"invalid JSON: {e.msg}", e.lineno, e.colno) from None
    except _DuplicateKey as e:
        raise ConfigFileError(path, f"invalid JSON: duplicate key {e.args[0]!r} in one object") from None
    except ValueError as e:
        raise ConfigFileError(path, f"invalid JSON: {e}") from None


_yaml_loader: Any = None


def _loader() -> Any:
    """A safe YAML loader (libyaml's when present) that refuses duplicate keys."""
    global _yaml_loader
    if _yaml_loader is None:
        import yaml  # only for YAML files: not on the start path of JSON configs

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class Loader(base):  # type: ignore[misc, valid-type]
            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                seen: set[tuple[str, str]] = set()
                for key_node, _ in node.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                        if (key_node.tag, key_node.value) in seen:
                            raise yaml.constructor.ConstructorError(
                                "while constructing a mapping", node.start_mark,
                                f"found duplicate key {key_node.value!r}", key_node.start_mark,
                            )
                        seen.add((key_node.tag, key_node.value))
                return super().construct_mapping(node, deep)

        _yaml_loader = Loader
    return _yaml_loader


def _parse_yaml(text: str, path: Any) -> Any:
    loader = _loader()
    import yaml

    try:
        doc = yaml.load(text, Loader=loader)  # a safe loader: no Python object tags
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = " ".join(str(p) for p in (e.problem, e.context) if p) or "syntax error"
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise ConfigFileError(path, f"invalid YAML: {what}", line, column) from None
    except yaml.YAMLError as e:
        raise ConfigFileError(path, f"invalid YAML: {' '.join(str(e).split())}") from None
    if _count_values(doc, MAX_VALUES) > MAX_VALUES:
        raise ConfigFileError(path, f"the document expands to more than {MAX_VALUES} values (aliases of aliases?)")
    return doc


def _count_values(doc: Any, budget: int) -> int:
    """How many values ``doc`` holds once aliases are expanded; stops past ``budget``."""
    count, stack = 0, [doc]
    while stack and count <= budget:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count


# -- validating -------------------------------------------------------------------


def parse_config(doc: Any, source: str, plugins: Plugins) -> Config:
    """Validate and normalise ``doc`` against every plugin's schema, then their cross-field checks.

    Every problem is reported at once: the schema problems of every key, then
    the cross-field checks of every plugin whose own keys passed the schema
    (a check reading its own malformed key would misreport it).  The checks
    see the keys that passed; the others are absent from their ``config``.
    """
    if not isinstance(doc, dict):
        raise ConfigError(source, [ConfigProblem("$", f"the top level must be a mapping of config keys, got {describe(doc)}")])
    plugins.require(doc)  # import the (deferred) plugins that own its keys
    problems: list[ConfigProblem] = []
    canonical: dict[str, Any] = {}
    malformed: set[str] = set()  # plugins owning a key with schema problems
    for key, value in doc.items():  # in the document's order, so problems are too
        where = join_path("$", key)
        if not (isinstance(key, str) and key in plugins.owners):
            problems.append(ConfigProblem(where, _unowned_key_message(key, plugins)))
            continue
        try:
            value, found = validate(value, plugins.schemas[key], plugins.formats, where)
        except RecursionError:
            found = [ConfigProblem(where, "nested too deeply")]
        if found:
            problems += found
            malformed.add(plugins.owners[key])
        else:
            canonical[key] = value
    # The core's checks each read one key of its own: they run beside a bad one.
    malformed.discard(_core_name())
    config = Config.from_dict(canonical)
    problems += _in_document_order(_cross_field_problems(config, canonical, plugins, malformed), doc)
    if problems:
        raise ConfigError(source, problems)
    return config


def _core_name() -> str:
    from .plugins import CORE_PLUGIN

    return CORE_PLUGIN


def _in_document_order(problems: list[ConfigProblem], doc: dict[str, Any]) -> list[ConfigProblem]:
    """Sorted by the position of their top-level key in ``doc`` (stable; problems at ``$`` last)."""
    prefixes = [join_path("$", key) for key in doc]

    def position(problem: ConfigProblem) -> int:
        for i, prefix in enumerate(prefixes):
            if problem.path == prefix or problem.path.startswith((prefix + ".", prefix + "[")):
                return i
        return len(prefixes)

    return sorted(problems, key=position)


def _unowned_key_message(key: Any, plugins: Plugins) -> str:
    hint = closest(key, plugins.owners)
    if hint:
        message = f"unknown key {key!r}; did you mean {hint!r}?"
    else:
        installed = sorted(n for n, info in plugins.infos.items() if not info.error)
        message = f"unknown key {key!r}: no installed plugin owns it; installed plugins: {', '.join(installed)}"
    for name, error in sorted(plugins.failed.items()):
        message += f"; plugin {name!r} failed to load ({error})"
    return message


def _cross_field_problems(config: Config, doc: dict[str, Any], plugins: Plugins,
                          skipped: set[str]) -> list[ConfigProblem]:
    """Every active plugin's cross-field problems but ``skipped``'s; a check that crashes is one problem."""
    active = plugins.active(doc) - skipped
    relay = _LoadingRelay(plugins)
    problems: list[ConfigProblem] = []
    # Each plugin on its own, in pluggy's order, so that a crash in one does not
    # hide the others' findings.
    for impl in reversed(plugins.pm.hook.libcontainer_validate_config.get_hookimpls()):
        name = plugins.pm.get_name(impl.plugin)
        if name not in active:
            continue
        try:
            results = plugins.call("libcontainer_validate_config", {name}, config=config, hook=relay)
        except LibcontainerError as e:  # a plugin's bug (or a refusal on purpose): named, never a crash
            problems.append(ConfigProblem("$", f"cannot validate: {e}"))
            continue
        for result in results:
            for problem in result if isinstance(result, (list, tuple)) else [result]:
                problems.append(problem if isinstance(problem, ConfigProblem) else ConfigProblem("$", str(problem)))
    return problems


class _LoadingRelay:
    """The plugin manager's hook relay (``pm.hook``) as the cross-field checks get it.

    A hook that the core does not specify is one plugin asking the others (the
    network plugin's types): any deferred plugin may implement it, so they are
    imported first.  The checks then find what the engine's hooks will, since
    ``container.hook`` is the same manager's relay.
    """

    def __init__(self, plugins: Plugins) -> None:
        self._plugins = plugins

    def __getattr__(self, name: str) -> Any:
        from . import hookspecs

        if self._plugins.deferred and not hasattr(hookspecs, name):
            self._plugins.load_all()
        return getattr(self._plugins.pm.hook, name)


def load_config(path: str | os.PathLike, plugins: Plugins | None = None) -> Config:
    """Load, validate and normalise a config file, or the config of a container directory.

    In a directory, the file :func:`find_config` picks must mean the same as
    any other config file beside it (container.json and a container.yaml):
    one that differs is refused, since nobody can tell which one was meant.
    """
    directory = os.path.isdir(path)
    file = find_config(path) if directory else Path(path)
    doc = load_document(file)
    if plugins is None:
        from .plugins import get_plugin_manager

        plugins = get_plugin_manager()
    config = parse_config(doc, str(file), plugins)
    problem = rootfs_problem(config.rootfs)
    if problem is not None:
        raise ConfigError(str(file), [problem])
    if directory:
        _refuse_differing_twins(file, doc, config, plugins)
    return config


def _refuse_differing_twins(file: Path, doc: dict[str, Any], config: Config, plugins: Plugins) -> None:
    """Every other config file in ``file``'s directory must parse to the same config (or is refused)."""
    for name in CONFIG_NAMES:
        other = file.parent / name
        if name == file.name or not other.is_file():  # a pipe here is never opened
            continue
        reason = None
        try:
            other_doc = load_document(other)
            same = other_doc == doc or dump(parse_config(other_doc, str(other), plugins)) == dump(config)
        except ConfigFileError as e:
            reason = e.message
        except ConfigError as e:
            reason = str(e.problems[0])
        if reason is not None:
            raise ConfigFileError(file.parent, f"{file.name} and {name} are both here, and {name} is not a valid "
                                               f"config ({reason}): remove the one you do not mean")
        if not same:
            raise ConfigFileError(file.parent, f"{file.name} and {name} differ, and nsinit reads only {file.name}: "
                                               "remove the one you do not mean, or write one from the other "
                                               f"(nsinit config convert {name} -o {file.name})")


def config_warnings(config: Config, plugins: Plugins | None = None) -> list[str]:
    """What a valid ``config`` asks for that is allowed but seldom meant, one line each (no prefix).

    Such as a config with no new namespaces, or one that keeps every
    capability: the original format allowed both, so they are warnings, never
    problems.  Every plugin's ``libcontainer_config_warnings`` is asked,
    active or not: a warning is about a key the config leaves out, which is
    when its owner is deferred; those that implement the hook are imported
    (the plugin cache knows which).  A plugin whose check crashes gives one
    line saying so.
    """
    if plugins is None:
        from .plugins import get_plugin_manager

        plugins = get_plugin_manager()
    plugins.require_hook("libcontainer_config_warnings")
    try:
        # One call of every plugin, as pluggy orders them (it is on nsinit
        # exec's path: 0.2 ms less than a call per plugin) ...
        found = plugins.call("libcontainer_config_warnings", None, config=config)
        return [" ".join(str(w).split()) for result in found for w in result or ()]  # one line each
    except LibcontainerError:
        pass  # ... and one per plugin when a check crashes, to name it and keep the others' warnings
    warnings: list[str] = []
    for impl in reversed(plugins.pm.hook.libcontainer_config_warnings.get_hookimpls()):
        name = plugins.pm.get_name(impl.plugin)
        try:
            found = plugins.call("libcontainer_config_warnings", {name}, config=config)
        except LibcontainerError as e:  # a plugin's bug: name it, do not crash
            warnings.append(f"cannot check for warnings: {e}")
            continue
        warnings += [" ".join(str(w).split()) for result in found for w in result or ()]  # one line each
    return warnings


def rootfs_problem(rootfs: str | None) -> ConfigProblem | None:
    """A configured rootfs that is not a directory on this host, as a problem of ``$.rootfs``.

    Checked when the file is loaded, as runc's validator does, so that
    ``nsinit config validate`` and ``nsinit exec`` both name the field before
    anything is set up; without the key the container's directory is the root.
    """
    if rootfs is None:
        return None
    try:
        st = os.stat(rootfs)
    except OSError as e:
        return ConfigProblem("$.rootfs", f"{rootfs}: {e.strerror or e}")
    if not stat.S_ISDIR(st.st_mode):
        return ConfigProblem("$.rootfs", f"{rootfs} is not a directory")
    return None


# -- schema and output ----------------------------------------------------------------


def combined_schema(plugins: Plugins) -> dict[str, Any]:
    """One JSON Schema (draft 2020-12) for container.json/yaml, from the core's and every plugin's keys."""
    plugins.load_all()
    properties = {}
    for key in sorted(plugins.schemas):
        fragment = dict(plugins.schemas[key])
        owner = plugins.owners[key]
        fragment.setdefault("title", key)
        note = f"(owned by the {owner} plugin)" if owner != "core" else "(libcontainer core)"
        fragment["description"] = f"{fragment.get('description', '')} {note}".strip()
        properties[key] = fragment
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "libcontainer container config",
        "description": "container.json (or container.yaml) of a libcontainer container: "
        "each top-level key belongs to the core or to one installed plugin.",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def dump(config_or_doc: Config | dict[str, Any], to: str = "json") -> str:
    """Canonical text: JSON with sorted keys and an indent of 4, or block-style sorted YAML."""
    doc = config_or_doc.to_dict() if isinstance(config_or_doc, Config) else config_or_doc
    if to == "json":
        return json.dumps(doc, indent=4, sort_keys=True) + "\n"
    if to == "yaml":
        import yaml

        base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

        class Dumper(base):  # type: ignore[misc, valid-type]
            def ignore_aliases(self, data: Any) -> bool:
                return True  # write shared values out in full: canonical output has no anchors

        return yaml.dump(doc, Dumper=Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True, width=4096)
    raise ValueError(f"unknown output format {to!r}: expected 'json' or 'yaml'")
