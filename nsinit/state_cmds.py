"""nsinit list | kill | delete | stats | pause | resume: commands on containers made earlier."""

from __future__ import annotations

import enum
import json
import os
from typing import Optional

import typer

RootOption = typer.Option(None, "--root", help="Directory of the container (default: $data_path or .).")
IdOption = typer.Option(None, "--id", help="The container with this id (nsinit list), wherever its directory is.")


class ListFormat(str, enum.Enum):
    table = "table"
    json = "json"


def _container(root: Optional[str], id: Optional[str] = None):
    from libcontainer.container import Container

    if id is not None:
        return Container.load(id)
    return Container(root or os.environ.get("data_path") or os.getcwd())


def _fail(e: Exception) -> None:
    typer.echo(f"nsinit: {e}", err=True)
    raise SystemExit(1)


def list_cmd(fmt: ListFormat = typer.Option(ListFormat.table, "--format", "-f", help="table or json."),
             quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the ids.")) -> None:
    """List every container of this user: id, pid, status, directory, when it was created."""
    from libcontainer import ids
    from libcontainer.container import list_containers

    states = list_containers()
    if fmt == ListFormat.json:
        typer.echo(json.dumps([{"id": s.id, "pid": s.pid, "status": s.status, "root": s.root, "rootfs": s.rootfs,
                                "created": s.created, "owner": s.owner, "command": s.args} for s in states], indent=2))
        return
    if quiet:
        for s in states:
            typer.echo(s.id)
        return
    rows = [("ID", "PID", "STATUS", "ROOT", "CREATED")]
    rows += [(s.id, str(s.pid), s.status, s.root, s.created) for s in states]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])
    if not states:
        typer.echo(f"(no containers under {ids.state_root()})", err=True)


def parse_signal(value: str) -> int:
    """A signal by name (KILL, SIGKILL, kill) or number; ValueError naming what was given."""
    import signal

    text = value.strip()
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
        raise ValueError(f"invalid signal {value!r}: numbers go from 1 to {signal.NSIG - 1}")
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ValueError(f"invalid signal {value!r}: not a signal name (such as TERM, KILL, HUP) or number") from None


def kill_cmd(sig: str = typer.Argument("TERM", metavar="[SIGNAL]", help="Name or number (default TERM)."),
             all_processes: bool = typer.Option(False, "--all", "-a", help="Every process of the container."),
             root: Optional[str] = RootOption, id: Optional[str] = IdOption) -> None:
    """Send a signal to the container's first process (with --all, to every process in it)."""
    from libcontainer.errors import LibcontainerError

    try:
        number = parse_signal(sig)
    except ValueError as e:
        _fail(e)
    try:
        _container(root, id).kill(number, all=all_processes)
    except LibcontainerError as e:
        _fail(e)


def delete_cmd(force: bool = typer.Option(False, "--force", "-f", help="Kill it first if it runs."),
               root: Optional[str] = RootOption, id: Optional[str] = IdOption) -> None:
    """Remove the container of the directory: every plugin's cleanup (cgroups, interfaces), then its state."""
    from libcontainer.errors import LibcontainerError

    try:
        _container(root, id).delete(force=force)
    except LibcontainerError as e:
        _fail(e)


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
