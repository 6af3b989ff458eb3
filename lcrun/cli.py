"""``lcrun``: runc's command line on libcontainer's engine.

This module parses the global options and the command's, and calls the
command's function: ``lightcmd.py`` for state, kill, list, start and
delete (they read the state through libcontainer.state and import no
plugin manager; start and delete hand a container whose plugins have work
to do to the engine), ``commands.py`` for the rest (the engine).  Commands and
flags are runc's as podman, containerd-shim and CRI-O pass them
(runc-man/); errors are one line on stderr and in the ``--log`` file
(log.py), and the exit status is runc's: 1 for an error, 255 for a failed
``exec``.  Nothing heavier than ``os`` and ``sys`` is imported before the
command is known.
"""

from __future__ import annotations

import os
import sys

VERSION = "0.1.0"  # libcontainer's (pyproject.toml)
SPEC_VERSION = "1.3.0"  # the runtime spec lcrun implements (lcrun.oci.OCI_VERSION, checked by a test)
DEFAULT_ROOT = "/run/lcrun"


class UsageError(Exception):
    """Bad command line: one line, then exit 1."""


class Failure(Exception):
    """A command failed with a message for its user (already worded) and an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# -- the command line ------------------------------------------------------------------
# An option: (names, destination, kind, help); kind "flag" (no value), "value", or "list" (repeatable).
Option = tuple[tuple[str, ...], str, str, str]

GLOBAL_OPTIONS: list[Option] = [
    (("--root",), "root", "value", f"the directory of the containers' state (default {DEFAULT_ROOT})"),
    (("--log",), "log", "value", "append errors (and --debug lines) to this file"),
    (("--log-format",), "log_format", "value", "text or json: the --log file's format (default text)"),
    (("--debug",), "debug", "flag", "log debug lines"),
    (("--systemd-cgroup",), "systemd_cgroup", "flag", "refused: lcrun has no systemd cgroup driver"),
    (("--rootless",), "rootless", "optional", "true, false or auto: accepted (rootless is detected)"),
    (("--criu",), "criu", "value", "accepted and ignored (no checkpoint/restore)"),
    (("--help", "-h"), "help", "flag", "show this help"),
    (("--version", "-v"), "version", "flag", "show lcrun's version and the runtime spec's"),
]

_BUNDLE = (("--bundle", "-b"), "bundle", "value", "the bundle directory (default: the current directory)")
_PID_FILE = (("--pid-file",), "pid_file", "value", "write the process's host pid to this file")
_CONSOLE = (("--console-socket",), "console_socket", "value",
            "a unix socket to send the terminal's master end to (runc-docs/terminals.md)")
_PRESERVE = (("--preserve-fds",), "preserve_fds", "value", "pass N more fds (3..3+N-1) to the process")
_NO_PIVOT = (("--no-pivot",), "no_pivot", "flag", "MS_MOVE and chroot instead of pivot_root")
_KEYRING = (("--no-new-keyring",), "no_new_keyring", "flag", "keep the session keyring lcrun has, not a new one")
_FORMAT = (("--format", "-f"), "format", "value", "table or json (default table)")


class Command:
    """One command: its usage line, options, positional arguments and where it is implemented."""

    def __init__(self, name: str, args: str, summary: str, options: list[Option], module: str,
                 positionals: tuple[int, int | None] = (1, 1), rest_after_id: bool = False) -> None:
        self.name = name
        self.args = args
        self.summary = summary
        self.options = options
        self.module = module  # "lightcmd" or "commands": cmd_<name> there
        self.positionals = positionals  # (min, max); max None: any
        self.rest_after_id = rest_after_id  # exec, ps: what follows the id is the command's, options included

    def usage(self) -> str:
        lines = [f"usage: lcrun [global options] {self.name} {self.args}".rstrip(), "", self.summary, ""]
        if self.options:
            lines.append("options:")
            lines += _option_lines(self.options + [(("--help", "-h"), "help", "flag", "show this help")])
        return "\n".join(lines) + "\n"


COMMANDS: dict[str, Command] = {c.name: c for c in [
    Command("create", "[options] ID", "Create a container from a bundle: set up, its process waiting for start.",
            [_BUNDLE, _PID_FILE, _CONSOLE, _PRESERVE, _NO_PIVOT, _KEYRING], "commands"),
    Command("start", "ID", "Start a created container: its process execs the command.", [], "lightcmd"),
    Command("state", "ID", "Print the container's state (runtime.md's JSON), the status from the kernel.", [],
            "lightcmd"),
    Command("kill", "[--all] ID [SIGNAL]", "Send SIGNAL (a name or number; default SIGTERM) to the container's "
            "first process, or with --all to every process of it.",
            [(("--all", "-a"), "all", "flag", "signal every process of the container")], "lightcmd", (1, 2)),
    Command("delete", "[--force] ID", "Delete a container: every plugin's cleanup, the poststop hooks, its state.",
            [(("--force", "-f"), "force", "flag", "kill it first if it runs (no error if it does not exist)")],
            "lightcmd"),
    Command("run", "[options] ID", "Create and start a container; wait for it unless --detach.",
            [_BUNDLE, _PID_FILE, _CONSOLE, _PRESERVE, _NO_PIVOT, _KEYRING,
             (("--detach", "-d"), "detach", "flag", "return once it is started"),
             (("--no-subreaper",), "no_subreaper", "flag", "accepted (lcrun does not become a subreaper)"),
             (("--keep",), "keep", "flag", "keep its state once it ends (delete it afterwards)")], "commands"),
    Command("exec", "[options] ID [--] COMMAND [ARG...]  |  exec [options] --process FILE ID",
            "Run a new process in a running container.",
            [(("--process", "-p"), "process", "value", "the process as a process.json (config.md's process)"),
             (("--detach", "-d"), "detach", "flag", "return once it runs (its pid in --pid-file)"),
             (("--tty", "-t"), "tty", "flag", "a new pseudo-terminal"), _CONSOLE, _PID_FILE,
             (("--env", "-e"), "env", "list", "KEY=VALUE, added to the container's environment"),
             (("--cwd",), "cwd", "value", "its working directory in the container"),
             (("--user", "-u"), "user", "value", "UID[:GID]"),
             (("--additional-gids", "-g"), "additional_gids", "list", "a supplementary group id"),
             (("--cap", "-c"), "cap", "list", "a capability it needs (refused unless the container has it)"),
             (("--no-new-privs",), "no_new_privs", "flag", "no_new_privs (refused unless the container sets it)"),
             _PRESERVE,
             (("--ignore-paused",), "ignore_paused", "flag", "refused: a paused container cannot be joined"),
             (("--process-label",), "process_label", "value", "refused: no SELinux"),
             (("--apparmor",), "apparmor", "value", "refused: no AppArmor")],
            "commands", (1, None), rest_after_id=True),
    Command("list", "[--format table|json] [--quiet]", "List the containers under the root.",
            [_FORMAT, (("--quiet", "-q"), "quiet", "flag", "their ids only")], "lightcmd", (0, 0)),
    Command("ps", "[--format table|json] ID [PS-OPTION...]", "Show the container's processes (host pids).",
            [_FORMAT], "commands", (1, None), rest_after_id=True),
    Command("pause", "ID", "Freeze every process of the container (its cgroups).", [], "commands"),
    Command("resume", "ID", "Thaw a paused container.", [], "commands"),
    Command("events", "[--stats] [--interval D] ID", "Print the container's statistics as JSON lines, every "
            "--interval (default 5s) until it stops, or once with --stats.",
            [(("--stats",), "stats", "flag", "once, then exit"),
             (("--interval",), "interval", "value", "between two reports: 5s, 500ms, 1m (default 5s)")],
            "commands"),
    Command("update", "[options] ID", "Change the resource limits of a running container.",
            [(("--resources", "-r"), "resources", "value", "a linux.resources JSON file (- for stdin)"),
             (("--memory",), "memory", "value", "memory limit in bytes"),
             (("--memory-reservation",), "memory_reservation", "value", "soft memory limit in bytes"),
             (("--memory-swap",), "memory_swap", "value", "memory+swap limit in bytes (-1: unlimited)"),
             (("--pids-limit",), "pids_limit", "value", "most processes (-1: unlimited)"),
             (("--cpu-quota",), "cpu_quota", "value", "CFS quota in microseconds per period (-1: none)"),
             (("--cpu-period",), "cpu_period", "value", "CFS period in microseconds"),
             (("--cpu-shares", "--cpu-share"), "cpu_shares", "value", "relative CPU weight"),
             (("--cpuset-cpus",), "cpuset_cpus", "value", "the CPUs it may use (0-3,7)"),
             (("--cpuset-mems",), "cpuset_mems", "value", "the memory nodes it may use"),
             (("--blkio-weight",), "blkio_weight", "value", "I/O weight (10-1000)")], "commands"),
    Command("features", "", "Print the features document (features.md): what lcrun supports.", [], "commands",
            (0, 0)),
    Command("spec", "[--rootless] [--bundle DIR]", "Write a default config.json into the bundle directory.",
            [(("--rootless",), "rootless", "flag", "for a container run by an unprivileged user"), _BUNDLE],
            "commands", (0, 0)),
]}


def _option_lines(options: list[Option]) -> list[str]:
    out = []
    for names, _, kind, text in options:
        shown = ", ".join(names) + (" VALUE" if kind in ("value", "list") else "")
        out.append(f"  {shown:<28} {text}")
    return out


def main_usage() -> str:
    lines = ["usage: lcrun [global options] COMMAND [options] [ARGS]", "",
             "An OCI runtime with runc's command line, on libcontainer's engine.", "", "commands:"]
    lines += [f"  {c.name:<10} {c.summary.split('. ')[0].split(': ')[0].rstrip('.')}" for c in COMMANDS.values()]
    lines += ["", "global options:"] + _option_lines(GLOBAL_OPTIONS)
    lines += ["", "lcrun COMMAND --help: that command's options."]
    return "\n".join(lines) + "\n"


def parse_options(argv: list[str], options: list[Option], stop_at_positional: bool, what: str
                  ) -> tuple[dict[str, object], list[str]]:
    """Options (``--name VALUE``, ``--name=VALUE``, ``-n VALUE``; one dash or two, as Go's flag package) and positionals.

    With ``stop_at_positional`` the first positional ends the options, and
    everything from it on is positional (lcrun's global options; exec's and
    ps's command after the id comes separately).
    """
    by_name = {name: opt for opt in options for name in opt[0]}
    found: dict[str, object] = {}
    positionals: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positionals += argv[i:]
            break
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            if stop_at_positional:
                positionals += argv[i:]
                break
            continue
        name, eq, value = arg.partition("=")
        opt = by_name.get(name) or by_name.get("-" + name if not name.startswith("--") else name[1:])
        if opt is None:
            raise UsageError(f"{what}: unknown option {name} (lcrun {what} --help)" if what != "lcrun"
                             else f"unknown global option {name} (lcrun --help)")
        _, dest, kind, _ = opt
        if kind == "flag":
            if eq and value.lower() not in ("true", "false", "1", "0"):
                raise UsageError(f"{name} takes no value, got {value!r}")
            found[dest] = not eq or value.lower() in ("true", "1")
            continue
        if kind == "optional":
            if eq:
                found[dest] = value
            elif i < len(argv) and argv[i] in ("true", "false", "auto"):
                found[dest] = argv[i]
                i += 1
            else:
                found[dest] = "true"
            continue
        if not eq:
            if i >= len(argv):
                raise UsageError(f"{name} needs a value")
            value = argv[i]
            i += 1
        if kind == "list":
            found.setdefault(dest, [])
            found[dest].append(value)  # type: ignore[union-attr]
        else:
            found[dest] = value
    return found, positionals


class Globals:
    """The global options, as the commands read them."""

    def __init__(self, found: dict[str, object]) -> None:
        self.root = str(found.get("root") or DEFAULT_ROOT)
        self.log = found.get("log")
        self.log_format = str(found.get("log_format") or "text")
        self.debug = bool(found.get("debug"))
        self.systemd_cgroup = bool(found.get("systemd_cgroup"))
        self.rootless = found.get("rootless")


def split_command(argv: list[str], command: Command) -> tuple[dict[str, object], list[str], list[str]]:
    """The command's options, its positionals, and (exec, ps) what follows the id."""
    if command.rest_after_id:
        found, positionals = parse_options(argv, command.options, True, command.name)
        return found, positionals[:1], positionals[1:]
    found, positionals = parse_options(argv, command.options, False, command.name)
    return found, positionals, []


def run(argv: list[str]) -> int:
    """lcrun with ``argv`` (without the program name); the exit status."""
    from . import log

    found, rest = parse_options(argv, GLOBAL_OPTIONS, True, "lcrun")
    g = Globals(found)
    if g.log_format not in ("text", "json"):
        raise UsageError(f"--log-format: expected text or json, got {g.log_format!r}")
    log.configure(str(g.log) if g.log else None, g.log_format, g.debug)
    if found.get("version"):
        sys.stdout.write(f"lcrun version {VERSION}\nspec: {SPEC_VERSION}\n")
        return 0
    if not rest or found.get("help"):
        if not rest and not found.get("help"):
            sys.stderr.write(main_usage())
            return 1
        sys.stdout.write(main_usage())
        return 0
    name, args = rest[0], rest[1:]
    if name == "help":
        command = COMMANDS.get(args[0]) if args else None
        sys.stdout.write(command.usage() if command else main_usage())
        return 0
    command = COMMANDS.get(name)
    if command is None:
        raise UsageError(f"unknown command {name!r} (lcrun --help lists them)")
    if "--help" in args or "-h" in args:
        before_id = args if not command.rest_after_id else args[:_first_positional(args, command)]
        if "--help" in before_id or "-h" in before_id:
            sys.stdout.write(command.usage())
            return 0
    if g.systemd_cgroup:
        raise Failure("--systemd-cgroup: lcrun has no systemd cgroup driver; give cgroupsPath as a path (/parent/name)")
    log.debug(f"lcrun {' '.join(argv)}")
    opts, positionals, tail = split_command(args, command)
    low, high = command.positionals
    if len(positionals) < low:
        what = "an id" if low == 1 else f"{low} arguments"
        raise UsageError(f"{name} needs {what}: lcrun {name} {command.args}".rstrip())
    if high is not None and len(positionals) > high:
        raise UsageError(f"{name}: unexpected argument {positionals[high]!r}: lcrun {name} {command.args}".rstrip())
    if command.module == "lightcmd":
        from . import lightcmd as module
    else:
        from . import commands as module  # type: ignore[no-redef]
    function = getattr(module, "cmd_" + name)
    return int(function(g, opts, positionals, tail) or 0)


def _first_positional(args: list[str], command: Command) -> int:
    """Where the id is in exec's or ps's arguments (options taking a value skipped)."""
    takes_value = {n for names, _, kind, _ in command.options if kind in ("value", "list") for n in names}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--" or not a.startswith("-"):
            return i
        i += 2 if a in takes_value else 1
    return len(args)


def main(argv: list[str] | None = None) -> None:
    """The console script."""
    from . import log

    argv = sys.argv[1:] if argv is None else argv
    try:
        status = run(argv)
    except UsageError as e:
        log.error(str(e))
        status = 1
    except Failure as e:
        log.error(str(e))
        status = 255 if e.status == 1 and _command_of(argv) == "exec" else e.status
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        status = 1
    except Exception as e:  # noqa: BLE001 - one line for anything, never a traceback
        status = _report(e, argv)
    sys.exit(status)


def _report(e: BaseException, argv: list[str]) -> int:
    """One line for an error of the library (or anything else); the exit status."""
    from . import log

    from libcontainer.errors import LibcontainerError

    if isinstance(e, LibcontainerError):
        message = "; ".join(line for line in str(e).splitlines() if line) or type(e).__name__
    elif isinstance(e, OSError):
        message = f"{e.filename}: {e.strerror}" if e.filename else (e.strerror or str(e))
    else:
        message = f"{type(e).__name__}: {e}"
        if os.environ.get("LCRUN_DEBUG"):
            import traceback

            traceback.print_exception(e)
    log.error(message)
    return 255 if _command_of(argv) == "exec" else 1


def _command_of(argv: list[str]) -> str:
    """The command word of ``argv`` (runc's exec fails with 255, every other command with 1)."""
    try:
        _, rest = parse_options(argv, GLOBAL_OPTIONS, True, "lcrun")
    except UsageError:
        return ""
    return rest[0] if rest else ""
