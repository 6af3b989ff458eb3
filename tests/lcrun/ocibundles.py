"""The bundles of bundles/ (configs real clients wrote) made into bundle directories, for lcrun's tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

BUNDLES = Path(__file__).resolve().parent / "bundles"


def read_fixture(name: str) -> dict[str, Any]:
    return json.loads((BUNDLES / name / "config.json").read_text())


def make_bundle(directory: Path, doc: dict[str, Any], rootfs_template: Path | None = None) -> Path:
    """``directory`` as a bundle of ``doc``: its rootfs (a copy of the template, or empty) and bind sources."""
    directory.mkdir(parents=True, exist_ok=True)
    rootfs = directory / ((doc.get("root") or {}).get("path") or "rootfs")
    if rootfs_template is not None:
        shutil.copytree(rootfs_template, rootfs, symlinks=True)
    else:
        rootfs.mkdir(parents=True)
    for m in doc.get("mounts", []):
        source = m.get("source", "")
        if source.startswith(("userdata/", "volume")):
            path = directory / source
            path.parent.mkdir(parents=True, exist_ok=True)
            if source.endswith(("shm",)) or source == "volume":
                path.mkdir(exist_ok=True)
            elif not path.exists():
                path.write_text("127.0.0.1 localhost\n" if source.endswith("hosts") else "box\n")
    (directory / "config.json").write_text(json.dumps(doc, indent=1))
    return directory
