"""Imports that still work inside the container, read through an fd of the host's root."""

from __future__ import annotations

import os
import sys
from typing import Any

from . import syscalls as sc


class HostImports:
    """Imports that still work after pivot_root or setns, read through an fd of the host's root.

    A plugin's inside hook may import a module lazily (or the standard
    library may, on an error path).  After pivot_root (or setns into the
    container's mount namespace) every path the setup process looks up is
    the container's, which the container controls, and the host's files are
    out of reach by path.  From :meth:`install` on, this finder is the only
    one that reads files: it opens module sources under an fd of the host's
    root, taken before any namespace was entered, with openat2
    RESOLVE_IN_ROOT: never by a path in the container's tree, and never
    through /proc, whose name a co-tenant of the rootfs can swap for its own
    directory.  What it does not find there is not found.  Pure-Python
    modules only: a C extension's libraries would be looked up by the
    dynamic loader, in the container (hookspecs: import those earlier).
    """

    def __init__(self, sysc: Any) -> None:
        # importlib.machinery is small and already loaded (site imports it);
        # importlib.util would cost every container start ~0.5 ms of module
        # code run in a freshly forked process.
        from importlib.machinery import ModuleSpec

        self.sysc = sysc
        self.spec_type = ModuleSpec  # bound now: find_spec runs when nothing can be imported any more
        self.fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        tail = name.rpartition(".")[2]
        for entry in sys.path if path is None else path:
            if not (isinstance(entry, str) and entry.startswith("/")):
                continue
            for rel, package in ((os.path.join(tail, "__init__.py"), True), (tail + ".py", False)):
                origin = os.path.join(entry, rel)
                source = self._read(origin)
                if source is None:
                    continue
                spec = self.spec_type(name, _SourceLoader(source), origin=origin, is_package=package)
                spec.has_location = True  # __file__ is set from origin
                if package:
                    spec.submodule_search_locations = [os.path.join(entry, tail)]
                return spec
        return None

    def _read(self, path: str) -> bytes | None:
        try:
            fd = self.sysc.openat2(self.fd, path.lstrip("/"), os.O_RDONLY,
                                   resolve=sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as f:
                return f.read()
        except OSError:  # a directory named like a module, say
            return None

    def install(self) -> None:
        from importlib.machinery import BuiltinImporter, FrozenImporter

        sys.meta_path[:] = [BuiltinImporter, FrozenImporter, self]
        sys.path_importer_cache.clear()


class _SourceLoader:
    """Executes a module from source read by :class:`HostImports`."""

    def __init__(self, source: bytes) -> None:
        self.source = source

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        exec(compile(self.source, module.__spec__.origin, "exec", dont_inherit=True), module.__dict__)
