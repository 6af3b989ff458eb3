"""Finding plugins, knowing which keys each owns, and calling their hooks.

Plugins are found through the ``libcontainer.plugins`` entry-point group; the
core names none of them.  There is no module-level manager: each
:func:`get_plugin_manager` call builds one.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import ContainerError, LibcontainerError, PluginError
from .records import field, record

ENTRY_POINT_GROUP = "libcontainer.plugins"
CORE_PLUGIN = "core"

from .hookspecs import hookimpl  # noqa: E402,F401  (plugins import it from here too)


class PluginConflict(LibcontainerError):
    """Two plugins claim the same config key."""


class PluginSchemaError(LibcontainerError):
    """A plugin's schema uses what libcontainer's validator does not implement (it would check nothing)."""


def _check_schemas(name: str, schemas: dict[str, Any]) -> None:
    """Refuse ``name``'s schemas if the validator would ignore part of them: one line, the first problem."""
    from .validate import join_path, schema_problems

    found = [problem for key, schema in schemas.items() for problem in schema_problems(schema, join_path("$", key))]
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise PluginSchemaError(f"plugin {name!r}: its schema {found[0]}{more}")


@record
class PluginInfo:
    """What ``nsinit plugins`` shows of one plugin."""

    name: str  # entry-point name, e.g. "cgroups"
    version: str  # version of the distribution that provides it
    distribution: str  # name of that distribution
    keys: list[str] = field(default_factory=list)  # top-level config keys it owns
    hooks: list[str] = field(default_factory=list)  # hooks it implements
    error: str | None = None  # why it failed to load, when it did


class Plugins:
    """A pluggy manager plus what libcontainer needs on top: key ownership.

    Plugins may be *deferred*: known from the discovery cache, with the keys
    they owned when last loaded, but not imported until a config uses one of
    those keys (:meth:`require`).  Importing only what the config needs keeps
    every nsinit command from paying for every installed plugin.
    """

    def __init__(self, pm: pluggy.PluginManager, infos: dict[str, PluginInfo],
                 deferred: dict[str, Any] | None = None, checked: set[str] | None = None) -> None:
        self.pm = pm
        self.infos = infos  # by plugin name, loaded, deferred and failed
        # Plugins whose schemas need no check here (_check_schemas): libcontainer's
        # core (its tests check it), and those the discovery cache knows, whose
        # keys it recorded only after their schemas passed, source unchanged since.
        self.checked: set[str] = set(checked or ())
        self.schemas: dict[str, dict[str, Any]] = {}  # key -> JSON Schema fragment (loaded plugins)
        self.owners: dict[str, str] = {}  # key -> plugin name (loaded plugins)
        self.formats: dict[str, Any] = {}
        self.deferred: dict[str, Any] = dict(deferred or {})  # name -> entry point, not imported yet
        self._collected: set[str] = set()
        self._collect()
        self._check_deferred_keys()

    # -- discovery -------------------------------------------------------------
    def _collect(self) -> None:
        for impl in self.pm.hook.libcontainer_config_schema.get_hookimpls():
            name = self.pm.get_name(impl.plugin)
            if name in self._collected:
                continue
            result = impl.function() or {}
            if name not in self.checked:
                _check_schemas(name, result)
            for key, schema in result.items():
                if key in self.owners:
                    raise PluginConflict(
                        f"config key {key!r} is claimed by two plugins: {self.owners[key]} and {name}"
                    )
                self.owners[key] = name
                self.schemas[key] = schema
            if name in self.infos:
                self.infos[name].keys = sorted(result)
        self.formats.clear()
        for impl in self.pm.hook.libcontainer_config_formats.get_hookimpls():
            self.formats.update(impl.function() or {})
        for name, info in self.infos.items():
            plugin = self.pm.get_plugin(name)
            if plugin is not None and name not in self._collected:
                self._collected.add(name)
                info.hooks = sorted(
                    h.name for h in self.pm.get_hookcallers(plugin) or [] if not h.name.startswith("libcontainer_config")
                )

    def _check_deferred_keys(self) -> None:
        """A key claimed twice is an error even when the claimants are not imported."""
        claimed = dict(self.owners)
        for name, ep in sorted(self.deferred.items()):
            for key in ep.keys:
                if key in claimed:
                    raise PluginConflict(f"config key {key!r} is claimed by two plugins: {claimed[key]} and {name}")
                claimed[key] = name

    def require(self, keys: Iterable[Any]) -> None:
        """Import the deferred plugins that own any of ``keys``.

        A key that no plugin is known to own imports every deferred plugin: the
        cache may predate an edit, and the unknown-key message must be right.
        """
        if not self.deferred:
            return
        keys = {k for k in keys if isinstance(k, str)}
        wanted = {n for n, ep in self.deferred.items() if keys & set(ep.keys)}
        known = set(self.owners).union(*(ep.keys for ep in self.deferred.values()))
        if keys - known:
            wanted = set(self.deferred)
        if wanted:
            self._load_deferred(wanted)

    def require_hook(self, hook: str) -> None:
        """Import the deferred plugins that implement ``hook`` (or that the cache cannot tell about).

        For a hook asked of every plugin, active or not (``libcontainer_config_warnings``),
        without importing the plugins that do not implement it.
        """
        wanted = {n for n, ep in self.deferred.items() if getattr(ep, "hooks", None) is None or hook in ep.hooks}
        if wanted:
            self._load_deferred(wanted)

    def load_all(self) -> None:
        """Import every deferred plugin (``nsinit config schema``, ``nsinit plugins``)."""
        if self.deferred:
            self._load_deferred(set(self.deferred))

    def _load_deferred(self, names: set[str]) -> None:
        for name in sorted(names):
            _load_entry_point(self.pm, self.deferred.pop(name), self.infos[name])
        self._collect()
        if not self.deferred:
            _check_pending(self.pm)

    @property
    def failed(self) -> dict[str, str]:
        return {n: i.error for n, i in self.infos.items() if i.error}

    def active(self, keys: Iterable[str]) -> set[str]:
        """Plugins active for a config with these top-level keys (imported now if deferred)."""
        keys = set(keys)
        self.require(keys)
        owning = {n for n, i in self.infos.items() if not i.error and i.keys}
        active = {n for n in self.infos if not self.infos[n].error and n not in owning}
        active.add(CORE_PLUGIN)
        active |= {self.owners[k] for k in keys if k in self.owners}
        return active - set(self.deferred)

    # -- calling ---------------------------------------------------------------
    def call(self, hook: str, active: set[str] | None, /, *, collect_errors: bool = False, **kwargs: Any) -> list[Any]:
        """Call ``hook`` through pluggy on the active plugins; the results as a list.

        pluggy does the calling (its order, ``firstresult``, wrappers,
        tracing and monitoring); only inactive plugins are left out.  An
        exception names the plugin whose implementation raised it: a
        ContainerError raised on purpose keeps its message, anything else
        becomes a PluginError.  With ``collect_errors`` (cleanup) every
        implementation runs: after a failure, the hook is called again for
        those that had not run yet, and the first error is raised at the end.
        """
        left_out = set() if active is None else {n for n, _ in self.pm.list_name_plugin() if n not in active}
        first_error: BaseException | None = None
        while True:
            caller = self._caller(hook, left_out)
            try:
                result = caller(**kwargs)
                break
            except Exception as e:
                impls = caller.get_hookimpls()
                name = _culprit(self.pm, e, impls)
                if isinstance(e, ContainerError):
                    err: BaseException = e
                else:
                    err = PluginError(name or "?", hook.removeprefix("libcontainer_"), _describe(e))
                if not collect_errors or name is None:
                    if err is e:
                        raise
                    raise err from None
                first_error = first_error or err
                left_out |= _ran_until(self.pm, impls, name)
        if first_error is not None:
            raise first_error
        if caller.spec is not None and caller.spec.opts.get("firstresult"):
            return [] if result is None else [result]
        return list(result)

    def _caller(self, hook: str, left_out: set[str]) -> Any:
        """pluggy's caller of ``hook``, without the plugins named in ``left_out``."""
        if not left_out:
            return getattr(self.pm.hook, hook)
        return self.pm.subset_hook_caller(hook, [p for n, p in self.pm.list_name_plugin() if n in left_out])


def _culprit(pm: pluggy.PluginManager, error: BaseException, impls: list[Any]) -> str | None:
    """The name of the plugin whose implementation raised ``error``: the first of their frames in its traceback.

    Implementations made from one function (a factory's closures) share its
    code: then the implementation pluggy was calling decides, as its call
    loop holds it (``hook_impl`` of pluggy's ``_multicall``).
    """
    owners: dict[Any, list[str]] = {}
    for impl in impls:
        code = getattr(impl.function, "__code__", None)
        if code is not None:
            owners.setdefault(code, []).append(pm.get_name(impl.plugin))
    calling = None
    tb = error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "_multicall":
            calling = frame.f_locals.get("hook_impl")
        names = owners.get(frame.f_code)
        if names is not None:
            if len(names) == 1:
                return names[0]
            if calling is not None and pm.get_name(calling.plugin) in names:
                return pm.get_name(calling.plugin)
            return names[0]
        tb = tb.tb_next
    return None


def _ran_until(pm: pluggy.PluginManager, impls: list[Any], culprit: str) -> set[str]:
    """The plugins whose implementation ran up to and including ``culprit``'s, in pluggy's calling order.

    pluggy calls the implementations from the last of ``get_hookimpls()`` to
    the first; a wrapper that raised is left out with its plugin, and the
    rest called again (post_exit implementations tolerate a second call).
    """
    order = [impl for impl in reversed(impls) if not (impl.hookwrapper or getattr(impl, "wrapper", False))]
    names = [pm.get_name(impl.plugin) for impl in order]
    if culprit not in names:
        return {culprit}
    return set(names[: names.index(culprit) + 1])


def _describe(e: BaseException) -> str:
    msg = str(e) or type(e).__name__
    if not isinstance(e, (OSError, ValueError, RuntimeError, LibcontainerError)):
        msg = f"{type(e).__name__}: {msg}"
    if _debug():
        import traceback  # only when debugging: 1.5 ms off every start

        traceback.print_exception(e, file=sys.stderr)
    return msg


def _debug() -> bool:
    return bool(os.environ.get("NSINIT_DEBUG"))


# -- entry-point discovery, cached ----------------------------------------------------
# importlib.metadata costs ~20 ms to import and a few more to scan sys.path, on
# every container start: its answer is cached in a file, keyed on what it
# reads (the metadata directories on sys.path), so installing, upgrading or
# removing a distribution anywhere on sys.path invalidates it.

CACHE_FORMAT = 3  # bump when the file's layout changes
CACHE_KEYS_KEPT = 8  # sys.path layouts remembered (python -m from several directories, tests)
METADATA_SUFFIXES = (".dist-info", ".egg-info")  # where importlib.metadata finds entry_points.txt


@record(frozen=True)
class DistributionName:
    """The part of a distribution a PluginInfo shows."""

    name: str
    version: str


@record(frozen=True)
class CachedEntryPoint:
    """An entry point as the cache keeps it; loads like importlib.metadata.EntryPoint."""

    name: str
    value: str  # "module" or "module:attr.attr"
    dist: DistributionName | None
    keys: tuple[str, ...] | None = None  # config keys its plugin owned when last loaded; None: not known
    source: list[Any] | None = None  # [directory of its module, newest mtime of its .py files] then
    hooks: tuple[str, ...] | None = None  # the hooks it implemented then; None: not known

    def load(self) -> Any:
        module, _, attrs = self.value.partition(":")
        # __import__, not importlib.import_module: the same import, but through
        # the interpreter's own path, so ``python -X importtime`` lists it.
        __import__(module.strip())
        obj = sys.modules[module.strip()]
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


def _source_stamp(directory: str) -> int | None:
    """The newest mtime of the .py files in ``directory`` (an editable plugin edited in place)."""
    try:
        with os.scandir(directory) as it:
            return max((e.stat().st_mtime_ns for e in it if e.name.endswith(".py")), default=0)
    except OSError:
        return None


def _known(ep: Any) -> bool:
    """Whether the cache knows the keys ``ep``'s plugin owns: recorded, and its source unchanged since."""
    keys, source = getattr(ep, "keys", None), getattr(ep, "source", None)
    return keys is not None and isinstance(source, list) and len(source) == 2 and _source_stamp(source[0]) == source[1]


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _discovery_key() -> list[Any]:
    """What importlib.metadata's answer depends on: the metadata directories on sys.path, with mtimes.

    Each directory entry's listing of ``*.dist-info``/``*.egg-info`` names
    catches an install, upgrade or removal; each entry_points.txt's mtime
    catches a reinstall of the same version or an edit in place.  Not the
    directories' own mtimes, nor directories without metadata: the cwd is on
    sys.path under ``python -m``, and nsinit writes its state files there, in
    a different directory for each container.
    """
    key: list[Any] = []
    for entry in sys.path:
        path = os.path.abspath(entry or ".")
        try:
            with os.scandir(path) as it:
                metadata = sorted(e.name for e in it if e.name.endswith(METADATA_SUFFIXES))
        except OSError:  # a zip file, a path hook's name, or nothing
            key.append([path, _mtime(path)])
            continue
        if metadata:  # a directory without any (a container's, under python -m) cannot change the answer
            key.append([path, [[m, _mtime(os.path.join(path, m, "entry_points.txt"))] for m in metadata]])
    return key


def _cache_file() -> str | None:
    """$LIBCONTAINER_PLUGIN_CACHE, else in the venv, else under $XDG_CACHE_HOME; None when disabled (empty)."""
    chosen = os.environ.get("LIBCONTAINER_PLUGIN_CACHE")
    if chosen is not None:
        return chosen or None
    if sys.prefix != sys.base_prefix:
        return os.path.join(sys.prefix, "var", "cache", "libcontainer", "plugins.json")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "libcontainer", "plugins.json")


def _trusted(st: os.stat_result) -> bool:
    """Owned by us or root, and writable by nobody else: a cache that decides what code runs as root."""
    import stat

    return st.st_uid in (os.geteuid(), 0) and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read_cache(path: str) -> list[dict[str, Any]]:
    """The cache's entries, or [] when it is missing, unreadable, malformed or untrusted."""
    import json

    try:
        if not _trusted(os.stat(os.path.dirname(path))):
            return []
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        with os.fdopen(fd, "rb") as f:
            if not _trusted(os.fstat(f.fileno())):
                return []
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return []
    if not isinstance(doc, dict) or doc.get("format") != CACHE_FORMAT or not isinstance(doc.get("entries"), list):
        return []
    return [e for e in doc["entries"] if isinstance(e, dict) and "key" in e and isinstance(e.get("entry_points"), list)]


def _write_cache(path: str, entries: list[dict[str, Any]]) -> None:
    """Replace the cache atomically (write a private file, rename); silently give up when we cannot."""
    import json

    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".plugins.{os.getpid()}.tmp")
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        if not _trusted(os.stat(directory)):
            return
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w") as f:
            json.dump({"format": CACHE_FORMAT, "entries": entries[:CACHE_KEYS_KEPT]}, f)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _scan_entry_points() -> list[CachedEntryPoint]:
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found.append(CachedEntryPoint(ep.name, ep.value, DistributionName(dist.name, dist.version) if dist else None))
    return found


def _entry_points() -> list[Any]:
    """The ``libcontainer.plugins`` entry points: from the cache when sys.path is unchanged, else scanned."""
    path = _cache_file()
    if path is None:
        return list(_scan_entry_points())
    key = _discovery_key()  # before scanning: an install during the scan makes the next start rescan
    entries = _read_cache(path)
    for entry in entries:
        if entry["key"] == key:
            try:
                return [CachedEntryPoint(e["name"], e["value"], DistributionName(*e["dist"]) if e["dist"] else None,
                                         tuple(e["keys"]) if isinstance(e.get("keys"), list) else None,
                                         e.get("source"),
                                         tuple(e["hooks"]) if isinstance(e.get("hooks"), list) else None)
                        for e in entry["entry_points"]]
            except (KeyError, TypeError, ValueError):
                break  # malformed: scan and rewrite
    found = _scan_entry_points()
    # One entry per sys.path layout: an entry for the same directories with
    # other metadata in them (the install before an upgrade) never matches
    # again, and every start would parse it.
    layout = _layout(key)
    _write_cache(path, [_cache_entry(key, found)] + [e for e in entries if _layout(e["key"]) != layout])
    return found


def _layout(key: Any) -> list[Any]:
    """The sys.path directories a discovery key is about, without what was in them."""
    return [item[0] for item in key if isinstance(item, list) and item] if isinstance(key, list) else []


def _cache_entry(key: list[Any], found: list[Any]) -> dict[str, Any]:
    return {"key": key, "entry_points": [
        {"name": e.name, "value": e.value, "dist": [e.dist.name, e.dist.version] if e.dist else None,
         "keys": list(e.keys) if getattr(e, "keys", None) is not None else None, "source": getattr(e, "source", None),
         "hooks": list(e.hooks) if getattr(e, "hooks", None) is not None else None}
        for e in found]}


def _remember_keys(loaded: dict[str, tuple[Any, PluginInfo, Any]], pm: pluggy.PluginManager) -> None:
    """Record in the cache which keys each freshly imported plugin owns (and which hooks it implements),
    so later starts may defer it."""
    path = _cache_file()
    if path is None:
        return
    key = _discovery_key()
    entries = _read_cache(path)
    for entry in entries:
        if entry["key"] != key:
            continue
        for e in entry["entry_points"]:
            if isinstance(e, dict) and e.get("name") in loaded:
                ep, info, plugin = loaded[e["name"]]
                directory = os.path.dirname(getattr(plugin, "__file__", None) or "")
                ok = not info.error and e.get("value") == ep.value and directory
                e["keys"] = list(info.keys) if ok else None
                e["source"] = [directory, _source_stamp(directory)] if ok else None
                e["hooks"] = sorted(h.name for h in pm.get_hookcallers(plugin) or []) if ok else None
        _write_cache(path, entries)
        return


def get_plugin_manager(extra: Iterable[tuple[str, Any]] = (), entry_points: bool = True,
                       lazy: bool = False) -> Plugins:
    """Build a plugin manager: the hook specs, the core, then entry points.

    ``extra`` registers further ``(name, plugin)`` pairs, as a test or an
    embedding program would.  A plugin that fails to import is recorded with
    its reason (``nsinit plugins`` shows it) instead of breaking the rest.
    With ``lazy``, a plugin the cache knows to own config keys is imported
    only when a config uses one (:meth:`Plugins.require`).
    """
    from . import core_plugin

    pm = pluggy.PluginManager("libcontainer")
    pm.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}
    pm.register(core_plugin, name=CORE_PLUGIN)
    infos[CORE_PLUGIN] = PluginInfo(CORE_PLUGIN, _own_version(), "libcontainer")
    deferred: dict[str, Any] = {}
    fresh: dict[str, tuple[Any, PluginInfo, Any]] = {}  # imported without knowing its keys before
    checked = {CORE_PLUGIN}  # schemas checked before (Plugins.checked)
    if entry_points:
        for ep in _entry_points():
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, dist.version if dist else "?", dist.name if dist else "?")
            infos[ep.name] = info
            known = _known(ep)
            if known:
                checked.add(ep.name)
            if lazy and known and ep.keys:  # a plugin owning no key is active for every config
                info.keys = sorted(ep.keys)
                deferred[ep.name] = ep
                continue
            plugin = _load_entry_point(pm, ep, info)
            if not known:
                fresh[ep.name] = (ep, info, plugin)
    for name, plugin in extra:
        plugin = _hashable(plugin)
        _add_plugin_hookspecs(pm, plugin)
        pm.register(plugin, name=name)
        infos[name] = PluginInfo(name, getattr(plugin, "__version__", "?"), "(registered)")
    if not deferred:
        # With plugins deferred, a hook of theirs that others implement would
        # look misspelled: checked on the next full load (a cache miss does one).
        _check_pending(pm)
    plugins = Plugins(pm, infos, deferred, checked)
    if fresh:
        _remember_keys(fresh, pm)
    return plugins


def _hashable(plugin: Any) -> Any:
    """``plugin``, or a module object holding its attributes when it cannot be hashed.

    pluggy keeps the plugins to leave out of a call in a set
    (``subset_hook_caller``): a plugin given as an unhashable object (a
    SimpleNamespace, an instance defining ``__eq__``) is registered as a
    module carrying the same hook implementations.
    """
    try:
        hash(plugin)
        return plugin
    except TypeError:
        import types

        proxy = types.ModuleType(f"{type(plugin).__name__}-{id(plugin):x}")
        for attr in dir(plugin):
            if not attr.startswith("__"):
                setattr(proxy, attr, getattr(plugin, attr))
        return proxy


def _load_entry_point(pm: pluggy.PluginManager, ep: Any, info: PluginInfo) -> Any:
    """Import and register one plugin; a failure is recorded in ``info``, not raised."""
    try:
        plugin = ep.load()
        _add_plugin_hookspecs(pm, plugin)
        pm.register(plugin, name=ep.name)
        return plugin
    except Exception as e:  # report, do not break containers that do not need it
        info.error = f"{type(e).__name__}: {e}"
        return None


def _check_pending(pm: pluggy.PluginManager) -> None:
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise LibcontainerError(f"plugin {e.plugin!r}: {e}") from None


def _add_plugin_hookspecs(pm: pluggy.PluginManager, plugin: Any) -> None:
    """A plugin may publish hooks of its own (``hookspecs`` attribute), for its own plugins."""
    specs = getattr(plugin, "hookspecs", None)
    if specs is not None:
        pm.add_hookspecs(specs)


def _own_version() -> str:
    from . import __version__

    return __version__
