"""The nsinit command line: parses arguments, loads, and calls the library."""

from __future__ import annotations

import sys

import typer

from .config_cmds import config_app, plugins_cmd, spec_cmd

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Run and manage libcontainer containers.")
app.add_typer(config_app, name="config")
app.command("plugins")(plugins_cmd)
app.command("spec")(spec_cmd)


def run(argv: list[str]) -> int:
    try:
        app(args=argv, prog_name="nsinit", standalone_mode=False)
    except SystemExit as e:
        return int(e.code or 0)
    except Exception as e:  # click usage errors and the like
        import click

        if isinstance(e, click.exceptions.Exit):
            return e.exit_code
        if isinstance(e, click.ClickException):
            e.show()
            return e.exit_code
        if isinstance(e, click.exceptions.Abort):
            return 130
        raise
    return 0
