"""nsinit config convert|validate|schema, nsinit spec, nsinit plugins: parse arguments, load, print."""

from __future__ import annotations

import enum
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

config_app = typer.Typer(no_args_is_help=True, help="Author and check container configs.")

EXIT_INVALID = 1  # the config (or a file) is wrong
EXIT_USAGE = 2  # the command line is wrong


class OutputFormat(str, enum.Enum):
    json = "json"
    yaml = "yaml"


def _exit(code: int) -> None:
    # SystemExit rather than typer.Exit: with standalone_mode=False (nsinit's
    # run()) click returns typer.Exit's code instead of raising it.
    raise SystemExit(code)


def _error(message: str) -> None:
    for line in message.splitlines() or [""]:
        typer.echo(f"nsinit: {line}", err=True)


@contextmanager
def _reporting() -> Iterator[None]:
    """Turn libcontainer's errors into ``nsinit: ...`` lines and an exit status, never a traceback."""
    from libcontainer.errors import LibcontainerError

    try:
        yield
    except typer.Exit:
        raise
    except LibcontainerError as e:
        _error(str(e))
        _exit(EXIT_INVALID)
    except OSError as e:  # writing the output failed
        _error(f"{e.filename or 'output'}: {e.strerror or e}")
        _exit(EXIT_INVALID)
    except Exception as e:
        if os.environ.get("NSINIT_DEBUG"):
            raise
        _error(f"internal error: {type(e).__name__}: {e} (set NSINIT_DEBUG=1 for a traceback)")
        _exit(EXIT_INVALID)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _output_format(source: str, output: str | None, to: OutputFormat | None) -> str:
    """--to, else the extension of -o, else the other format than the input's."""
    from libcontainer.configfile import detect_format

    if to is not None:
        return to.value
    if output and Path(output).suffix.lower() in (".json", ".yaml", ".yml"):
        return detect_format(output)
    try:
        text = Path(source).read_text(errors="replace")[:256]
    except OSError:
        text = None
    return "json" if detect_format(source, text) == "yaml" else "yaml"


@config_app.command("convert")
def convert_cmd(
    file: str = typer.Argument(..., metavar="FILE", help="A config in JSON or YAML."),
    output: Optional[str] = typer.Option(None, "-o", "--output", metavar="OUT", help="Write here instead of stdout."),
    to: Optional[OutputFormat] = typer.Option(None, "--to", help="Output format; default: the other one."),
    force: bool = typer.Option(False, "--force", help="Allow OUT to be FILE itself."),
) -> None:
    """Convert a config between YAML and canonical JSON (validating and normalising it)."""
    if output and not force and _same_file(file, output):
        _error(f"refusing to overwrite the input {file} with -o; add --force to do so")
        _exit(EXIT_USAGE)
    with _reporting():
        from libcontainer.configfile import dump, find_config, load_config

        source = str(find_config(file)) if os.path.isdir(file) else file
        text = dump(load_config(file), _output_format(source, output, to))  # a directory: its twins checked too
        if output:
            Path(output).write_text(text)
        else:
            sys.stdout.write(text)


@config_app.command("validate")
def validate_cmd(file: str = typer.Argument(..., metavar="FILE", help="A config file or a container directory.")) -> None:
    """Check a config; print every problem as FILE: $.path: message."""
    from libcontainer.errors import ConfigError

    with _reporting():
        from libcontainer.configfile import config_warnings, load_config
        from libcontainer.plugins import get_plugin_manager

        plugins = get_plugin_manager()
        try:
            config = load_config(file, plugins)
        except ConfigError as e:
            typer.echo(str(e))
            _exit(EXIT_INVALID)
        typer.echo(f"{file}: valid")
        for warning in config_warnings(config, plugins):  # allowed, so the exit status stays 0
            typer.echo(f"nsinit: warning: {file}: {warning}", err=True)


@config_app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of container.json/yaml for the installed plugins (for editors)."""
    with _reporting():
        from libcontainer.configfile import combined_schema
        from libcontainer.plugins import get_plugin_manager

        typer.echo(json.dumps(combined_schema(get_plugin_manager()), indent=2))


def spec_cmd(
    root: Optional[str] = typer.Option(
        None, "--root", envvar="data_path", metavar="DIR", help="The container's directory (default: the current one)."
    ),
    to: OutputFormat = typer.Option(OutputFormat.json, "--to", help="Output format."),
) -> None:
    """Print the effective config of the container in the current directory, canonical."""
    with _reporting():
        from libcontainer.configfile import dump, find_config, load_config

        directory = root or os.getcwd()
        find_config(directory)  # "no such directory" rather than "no such file"
        sys.stdout.write(dump(load_config(directory), to.value))


def plugins_cmd(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List installed plugins: version, config keys owned, hooks implemented, load failures."""
    with _reporting():
        from dataclasses import asdict

        from libcontainer.plugins import get_plugin_manager

        infos = sorted(get_plugin_manager().infos.values(), key=lambda i: (i.name != "core", i.name))
        if as_json:
            typer.echo(json.dumps([asdict(i) for i in infos], indent=2))
            return
        for info in infos:
            typer.echo(f"{info.name} {info.version} ({info.distribution})")
            if info.error:
                typer.echo(f"    FAILED to load: {info.error}")
                continue
            typer.echo(f"    keys:  {', '.join(info.keys) or '(none: always active)'}")
            hooks = [h.removeprefix("libcontainer_") for h in info.hooks]
            typer.echo(f"    hooks: {', '.join(hooks) or '(none)'}")
