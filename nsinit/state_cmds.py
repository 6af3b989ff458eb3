"""nsinit stats | pause | resume: commands on the running container of a directory."""

from __future__ import annotations

import json
import os
from typing import Optional

import typer

RootOption = typer.Option(None, "--root", help="Directory of the container (default: $data_path or .).")


def _container(root: Optional[str]):
    from libcontainer.container import Container

    return Container(root or os.environ.get("data_path") or os.getcwd())


def _fail(e: Exception) -> None:
    typer.echo(f"nsinit: {e}", err=True)
    raise SystemExit(1)


def stats_cmd(root: Optional[str] = RootOption) -> None:
    """Print statistics of the running container as JSON."""
    from libcontainer.errors import LibcontainerError

    try:
        data = _container(root).stats()
    except LibcontainerError as e:
        _fail(e)
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def pause_cmd(root: Optional[str] = RootOption) -> None:
    """Freeze every process of the running container."""
    from libcontainer.errors import LibcontainerError

    try:
        _container(root).pause()
    except LibcontainerError as e:
        _fail(e)


def resume_cmd(root: Optional[str] = RootOption) -> None:
    """Thaw every process of a paused container."""
    from libcontainer.errors import LibcontainerError

    try:
        _container(root).resume()
    except LibcontainerError as e:
        _fail(e)
