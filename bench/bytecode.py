"""Compile libcontainer, nsinit and the plugins' packages to __pycache__, as ``pip install`` does.

Run as a script (``python bench/bytecode.py``), not imported by the harness:
the packages compiled must be the ones the measured nsinit imports, found on
its sys.path, not the ones next to the harness.  Prints the packages compiled.

An editable install has no bytecode, and with PYTHONDONTWRITEBYTECODE set
(as in this project's sessions) every start would compile ~50 modules again
(~50 ms), which no installed nsinit does.
"""

from __future__ import annotations

import compileall
import importlib.util
import os


def compile_packages() -> list[str]:
    from libcontainer.plugins import _entry_points

    names = ["libcontainer", "nsinit"] + [ep.value.partition(":")[0].strip().split(".")[0] for ep in _entry_points()]
    done = []
    for name in dict.fromkeys(names):
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        for location in spec.submodule_search_locations or [os.path.dirname(spec.origin or "")]:
            if location and compileall.compile_dir(location, quiet=1):
                done.append(f"{name} ({location})")
    return done


if __name__ == "__main__":
    print("\n".join(compile_packages()))
