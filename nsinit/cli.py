"""The nsinit command line: parses arguments, loads, and calls the library.

``nsinit exec`` normally takes a typer-free fast path (nsinit/__main__.py);
it is registered here too so that ``nsinit --help`` lists it.
"""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from .config_cmds import config_app, plugins_cmd, spec_cmd
from .state_cmds import delete_cmd, kill_cmd, list_cmd, pause_cmd, resume_cmd, stats_cmd

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False, help="Run and manage libcontainer containers.")
app.add_typer(config_app, name="config")
app.command("plugins")(plugins_cmd)
app.command("spec")(spec_cmd)
app.command("list")(list_cmd)
app.command("kill")(kill_cmd)
app.command("delete")(delete_cmd)
app.command("stats")(stats_cmd)
app.command("pause")(pause_cmd)
app.command("resume")(resume_cmd)


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_cmd(
    command: List[str] = typer.Argument(..., help="The command and its arguments."),
    root: Optional[str] = typer.Option(None, "--root", help="Directory of the config and state (default: $data_path or .)."),
) -> None:
    """Run COMMAND as the container's first process, or join the running container."""
    from .exec_cmd import main as exec_main

    raise SystemExit(exec_main((["--root", root] if root else []) + ["--"] + list(command)))


def run(argv: list[str]) -> int:
    from libcontainer.errors import LibcontainerError

    try:
        app(args=argv, prog_name="nsinit", standalone_mode=True)
    except SystemExit as e:
        code = e.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    except LibcontainerError as e:
        for line in str(e).splitlines():
            print(f"nsinit: {line}", file=sys.stderr)
        return 125
    return 0
