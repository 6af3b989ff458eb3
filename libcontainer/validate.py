"""A small JSON Schema validator that normalises while it checks and reports every problem.

It understands the subset of JSON Schema (draft 2020-12) that libcontainer's
schemas use: ``type`` (a name or a list), ``properties``,
``additionalProperties``, ``required``, ``propertyNames``, ``items``,
``minItems``/``maxItems``/``uniqueItems``, ``enum``, ``const``,
``minimum``/``maximum`` (and the exclusive forms), ``minLength``/``maxLength``,
``pattern``, ``allOf``/``anyOf``/``oneOf`` and ``format``; ``title``,
``description``, ``default``, ``examples``, ``$comment``, ``deprecated``,
``readOnly`` and ``writeOnly`` are annotations.  A plugin's schema that uses
any other keyword (``$ref``, ``not``, ``if``, ``multipleOf`` ...) would not be
checked at all, so :func:`schema_problems` finds them and the plugin manager
refuses the plugin when it registers.

``format`` names a function of the formats registry (``Plugins.formats``): it
gets the value, after the type check, and returns the canonical value (``"512M"``
-> ``536870912``) or raises ValueError whose message says what was expected.
The keywords after ``format`` apply to the canonical value.  A format under
``propertyNames`` canonicalises the keys of an object.  An unknown format is an
annotation, as JSON Schema says.

:func:`validate` returns the canonical document (new lists and dicts, the input
is not changed) and every problem found, each a :class:`ConfigProblem` with a
JSON path such as ``$.mounts[2].destination``.  Booleans are not integers.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping

from .errors import ConfigProblem

Formats = Mapping[str, Callable[[Any], Any]]

# How a type is named in messages ("expected an integer, got a string").
TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}

_patterns: dict[str, Any] = {}  # compiled regular expressions of "pattern", by source

# The keywords _check implements, and those it may ignore (annotations).
KEYWORDS = frozenset({
    "type", "enum", "const", "format",
    "properties", "additionalProperties", "required", "propertyNames",
    "items", "minItems", "maxItems", "uniqueItems",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minLength", "maxLength", "pattern",
    "allOf", "anyOf", "oneOf",
})
ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment", "deprecated", "readOnly", "writeOnly"})


# -- describing values and paths (pure helpers) --------------------------------


def json_type(value: Any) -> str:
    """The JSON type name of a Python value; non-JSON values get their Python name."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__  # YAML may give a date, bytes or a set


def show(value: Any, limit: int = 60) -> str:
    """A short rendering of a value for a message: 'text', 5, true, null."""
    if isinstance(value, str):
        text = repr(value)
    elif value is None or isinstance(value, bool):
        text = {None: "null", True: "true", False: "false"}[value]
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, dict):
        return f"an object with {len(value)} key{'s' if len(value) != 1 else ''}"
    elif isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(value: Any) -> str:
    """'a string ('abc')', 'a boolean (true)', 'a list of 3 items', 'null'."""
    kind = json_type(value)
    if kind in ("object", "array"):
        return show(value)
    if kind == "null":
        return "null"
    article = TYPE_NAMES.get(kind) or f"a {kind}"
    return f"{article} ({show(value)})"


def join_path(path: str, key: Any) -> str:
    """``$`` + ``mounts`` -> ``$.mounts``; + 2 -> ``$.mounts[2]``; odd keys in brackets."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{path}[{key}]"
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def closest(word: Any, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to ``word`` ("hostnme" -> "hostname"), or None."""
    if not isinstance(word, str):
        return None
    candidates = list(candidates)
    by_lower = {c.lower(): c for c in candidates}
    if word.lower() in by_lower:  # only the case differs
        return by_lower[word.lower()]
    import difflib  # only on the error path

    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.75)
    return by_lower[found[0]] if found else None


def describe_schema(schema: Any) -> str:
    """A schema as a phrase, for listing the alternatives of anyOf/oneOf."""
    if not isinstance(schema, dict):
        return "anything" if schema is not False else "nothing"
    if schema.get("title"):
        return str(schema["title"])
    if "const" in schema:
        return show(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(show(v) for v in schema["enum"])
    types = schema.get("type")
    if not types:
        return str(schema.get("description") or "a value")
    if isinstance(types, str):
        types = [types]
    text = " or ".join(TYPE_NAMES.get(t, str(t)) for t in types)
    return f"{text} ({schema['format']})" if schema.get("format") else text


def _type_matches(value: Any, name: str) -> bool:
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value)
        )
    return json_type(value) == name


def _pattern(source: str) -> Any:
    compiled = _patterns.get(source)
    if compiled is None:
        import re

        compiled = _patterns[source] = re.compile(source)
    return compiled


# -- checking a schema -----------------------------------------------------------


def schema_problems(schema: Any, path: str = "$") -> list[str]:
    """What in ``schema`` this validator would silently ignore or trip on, each a phrase.

    Each reads after "its schema": ``uses 'not' at $.key.properties.x, which
    libcontainer's validator does not implement``.  Checked: keywords outside
    :data:`KEYWORDS` and :data:`ANNOTATIONS`, type names, that subschemas are
    objects or booleans, and that patterns compile.
    """
    found: list[str] = []
    _walk_schema(schema, path, found)
    return found


def _walk_schema(schema: Any, path: str, out: list[str]) -> None:
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        out.append(f"has {describe(schema)} at {path} where a schema (an object or a boolean) belongs")
        return
    for keyword in schema:
        if keyword not in KEYWORDS and keyword not in ANNOTATIONS:
            hint = closest(keyword, KEYWORDS)
            out.append(f"uses {keyword!r} at {path}, which libcontainer's validator does not implement"
                       + (f"; did you mean {hint!r}?" if hint else ""))
    types = schema.get("type")
    for name in [types] if isinstance(types, str) else types if isinstance(types, list) else []:
        if name not in TYPE_NAMES:
            hint = closest(name, TYPE_NAMES)
            out.append(f"names an unknown type {show(name)} at {join_path(path, 'type')}"
                       + (f"; did you mean {hint!r}?" if hint else ""))
    if "pattern" in schema:
        try:
            _pattern(schema["pattern"])
        except Exception as e:  # re.error, or a TypeError for a pattern that is no string
            out.append(f"has an invalid pattern {show(schema['pattern'])} at {join_path(path, 'pattern')}: {e}")
    for keyword in ("additionalProperties", "propertyNames", "items"):
        if keyword in schema:
            _walk_schema(schema[keyword], join_path(path, keyword), out)
    properties = schema.get("properties", {})
    for name, sub in properties.items() if isinstance(properties, dict) else []:
        _walk_schema(sub, join_path(join_path(path, "properties"), name), out)
    for keyword in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(schema.get(keyword) or []):
            _walk_schema(sub, join_path(join_path(path, keyword), i), out)


# -- the validator --------------------------------------------------------------


def validate(value: Any, schema: Any, formats: Formats | None = None, path: str = "$") -> tuple[Any, list[ConfigProblem]]:
    """Check ``value`` against ``schema``; return (canonical value, problems)."""
    problems: list[ConfigProblem] = []
    result = _check(value, schema, path, problems, formats or {})
    return result, problems


def _check(value: Any, schema: Any, path: str, out: list[ConfigProblem], formats: Formats) -> Any:
    if not isinstance(schema, dict) or not schema:
        if schema is False:
            out.append(ConfigProblem(path, f"no value is allowed here, got {describe(value)}"))
        return value  # True, {} or a malformed schema: anything goes
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        matched = next((t for t in names if _type_matches(value, t)), None)
        if matched is None:
            expected = " or ".join(TYPE_NAMES.get(t, str(t)) for t in names)
            out.append(ConfigProblem(path, f"expected {expected}, got {describe(value)}"))
            return value
        if matched == "integer" and isinstance(value, float):
            value = int(value)  # 3.0 is the integer 3 in JSON Schema
    fmt = schema.get("format")
    if fmt is not None and fmt in formats:
        try:
            value = formats[fmt](value)
        except ValueError as e:
            out.append(ConfigProblem(path, str(e) or f"not a valid {fmt}"))
            return value
        except Exception as e:  # a format's own bug must not become a traceback
            out.append(ConfigProblem(path, f"format {fmt!r} failed on {show(value)}: {type(e).__name__}: {e}"))
            return value
    if isinstance(value, str):
        _check_string(value, schema, path, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, path, out)
    elif isinstance(value, dict):
        value = _check_object(value, schema, path, out, formats)
    elif isinstance(value, list):
        value = _check_array(value, schema, path, out, formats)
    if "enum" in schema and not any(_same(value, v) for v in schema["enum"]):
        allowed = ", ".join(show(v) for v in schema["enum"])
        hint = closest(value, [v for v in schema["enum"] if isinstance(v, str)])
        hint = f"; did you mean {hint!r}?" if hint else ""
        out.append(ConfigProblem(path, f"expected one of {allowed}; got {show(value)}{hint}"))
    if "const" in schema and not _same(value, schema["const"]):
        out.append(ConfigProblem(path, f"expected {show(schema['const'])}, got {show(value)}"))
    for sub in schema.get("allOf", ()):
        value = _check(value, sub, path, out, formats)
    if "anyOf" in schema:
        value = _check_alternatives(value, schema["anyOf"], path, out, formats, exactly_one=False)
    if "oneOf" in schema:
        value = _check_alternatives(value, schema["oneOf"], path, out, formats, exactly_one=True)
    return value


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _check_string(value: str, schema: dict, path: str, out: list[ConfigProblem]) -> None:
    if "\0" in value:
        # Every string of a config ends up a C string (a path, a name, an
        # environment entry): a NUL would cut it short without a word.
        out.append(ConfigProblem(path, f"a string cannot contain a NUL byte, got {show(value)}"))
        return
    if "minLength" in schema and len(value) < schema["minLength"]:
        n = schema["minLength"]
        what = "must not be empty" if n == 1 else f"must be at least {n} characters long"
        out.append(ConfigProblem(path, f"{what}, got {show(value)}"))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        out.append(
            ConfigProblem(path, f"must be at most {schema['maxLength']} characters long, got {len(value)} characters")
        )
    if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
        what = schema.get("title") or f"a string matching {schema['pattern']}"
        out.append(ConfigProblem(path, f"expected {what}, got {show(value)}"))


def _check_number(value: float, schema: dict, path: str, out: list[ConfigProblem]) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        out.append(ConfigProblem(path, f"must be at least {schema['minimum']}, got {show(value)}"))
    if "maximum" in schema and value > schema["maximum"]:
        out.append(ConfigProblem(path, f"must be at most {schema['maximum']}, got {show(value)}"))
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        out.append(ConfigProblem(path, f"must be more than {schema['exclusiveMinimum']}, got {show(value)}"))
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        out.append(ConfigProblem(path, f"must be less than {schema['exclusiveMaximum']}, got {show(value)}"))


def _check_object(value: dict, schema: dict, path: str, out: list[ConfigProblem], formats: Formats) -> dict:
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties", True)
    names = schema.get("propertyNames")
    result: dict[str, Any] = {}
    written: dict[str, Any] = {}  # canonical key -> key as written, to report duplicates
    for key, item in value.items():
        where = join_path(path, key)
        if not isinstance(key, str):
            out.append(ConfigProblem(where, f"keys must be strings, got {describe(key)}"))
            continue
        if "\0" in key:
            out.append(ConfigProblem(where, f"a key cannot contain a NUL byte, got {show(key)}"))
            continue
        canonical = key
        if names is not None:
            before = len(out)
            canonical = _check(key, names, where, out, formats)
            if len(out) > before:
                if not props and isinstance(extra, dict):  # every value has one schema: check it, whatever the key
                    _check(item, extra, where, out, formats)
                continue
            if canonical in written:
                out.append(ConfigProblem(where, f"duplicate key: {key!r} means the same as {written[canonical]!r}"))
                continue
        written[canonical] = key
        if canonical in props:
            result[canonical] = _check(item, props[canonical], where, out, formats)
        elif extra is False:
            hint = closest(canonical, props)
            if hint:
                out.append(ConfigProblem(where, f"unknown key {key!r}; did you mean {hint!r}?"))
            else:
                known = ", ".join(repr(k) for k in props) or "none"
                out.append(ConfigProblem(where, f"unknown key {key!r}; expected one of {known}"))
        else:
            result[canonical] = _check(item, extra, where, out, formats)
    for key in schema.get("required", ()):
        if key not in written:
            out.append(ConfigProblem(path, f"missing required key {key!r}"))
    return result


def _check_array(value: list, schema: dict, path: str, out: list[ConfigProblem], formats: Formats) -> list:
    items = schema.get("items", True)
    result = [_check(item, items, join_path(path, i), out, formats) for i, item in enumerate(value)]
    if "minItems" in schema and len(result) < schema["minItems"]:
        out.append(ConfigProblem(path, f"expected at least {schema['minItems']} items, got {len(result)}"))
    if "maxItems" in schema and len(result) > schema["maxItems"]:
        out.append(ConfigProblem(path, f"expected at most {schema['maxItems']} items, got {len(result)}"))
    if schema.get("uniqueItems"):
        for i, item in enumerate(result):
            for j in range(i):
                if _same(item, result[j]):
                    out.append(ConfigProblem(join_path(path, i), f"duplicate item {show(item)} (also at [{j}])"))
                    break
    return result


def _check_alternatives(
    value: Any, alternatives: list, path: str, out: list[ConfigProblem], formats: Formats, exactly_one: bool
) -> Any:
    tried: list[tuple[Any, list[ConfigProblem]]] = []
    matches: list[Any] = []
    for alt in alternatives:
        problems: list[ConfigProblem] = []
        result = _check(value, alt, path, problems, formats)
        if not problems:
            if not exactly_one:
                return result
            matches.append(result)
        tried.append((alt, problems))
    listed = "; ".join(describe_schema(alt) for alt in alternatives)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        out.append(ConfigProblem(path, f"matches more than one of: {listed}"))
        return value
    # Only one alternative accepts the value's type: its own problems are the precise ones.
    typed = [p for alt, p in tried if _accepts_type(alt, value)]
    if len(typed) == 1:
        out.extend(typed[0])
    else:
        out.append(ConfigProblem(path, f"expected one of: {listed}; got {describe(value)}"))
    return value


def _accepts_type(schema: Any, value: Any) -> bool:
    if not isinstance(schema, dict) or "type" not in schema:
        return False
    names = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
    return any(_type_matches(value, t) for t in names)
