"""nsinit config convert|validate|schema, nsinit spec, nsinit plugins (placeholder)."""

import typer

config_app = typer.Typer(no_args_is_help=True, help="Author and check container configs.")


def plugins_cmd() -> None:
    """List installed plugins."""


def spec_cmd() -> None:
    """Print the effective config of the container in the current directory."""
