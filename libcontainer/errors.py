"""The error types of libcontainer.

Every failure the library reports is one of these, and each renders as one line
meant for a person: ``nsinit`` prints ``str(error)`` and nothing else.
"""

from __future__ import annotations

import errno as _errno
import os


class LibcontainerError(Exception):
    """Base of every error libcontainer raises on purpose."""


class SyscallError(LibcontainerError, OSError):
    """A kernel call failed.

    Carries the operation, a short description of its arguments and the errno,
    so that ``str()`` reads ``mount proc -> /proc (proc, MS_NOSUID|MS_NODEV):
    Operation not permitted``.
    """

    def __init__(self, op: str, detail: str, err: int) -> None:
        OSError.__init__(self, err, os.strerror(err))
        self.op = op
        self.detail = detail

    def __str__(self) -> str:
        where = f"{self.op} {self.detail}".strip()
        return f"{where}: {os.strerror(self.errno)}"

    @property
    def errname(self) -> str:
        return _errno.errorcode.get(self.errno, str(self.errno))


class ConfigProblem:
    """One thing wrong with a config: where (a JSON path) and what."""

    __slots__ = ("path", "message")

    def __init__(self, path: str, message: str) -> None:
        self.path = path  # JSON path such as "$.cgroups.memory"
        self.message = message  # what was found and what was expected

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def __repr__(self) -> str:
        return f"ConfigProblem({self.path!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigProblem) and (self.path, self.message) == (
            other.path,
            other.message,
        )


class ConfigError(LibcontainerError):
    """A config could not be read or is not valid; lists every problem found."""

    def __init__(self, source: str, problems: list[ConfigProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem("$", problems)]
        self.source = source  # the file (or "<config>") the problems are in
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(f"{self.source}: {p}" for p in self.problems)


class ContainerError(LibcontainerError):
    """A lifecycle step failed; names the step and the cause.

    ``str()`` reads ``mounts: bind /data -> /mnt/data: No such file or
    directory``. ``exit_code`` is what nsinit exits with: 125 for a runtime
    failure, 126 for a command that cannot be executed, 127 for one that does
    not exist.
    """

    def __init__(self, step: str, cause: str, exit_code: int = 125, errno: int | None = None) -> None:
        super().__init__(f"{step}: {cause}")
        self.step = step
        self.cause = cause
        self.exit_code = exit_code
        self.errno = errno  # after: OSError's __init__ (CommandNotFound's base) sets it to None


class CommandNotFound(ContainerError, FileNotFoundError):
    """The command is not in the container: nsinit exits 127, and the library raises what
    ``subprocess`` raises for a missing program (``except FileNotFoundError`` works)."""


class CommandNotExecutable(ContainerError, PermissionError):
    """The command cannot be executed: nsinit exits 126; ``subprocess``'s PermissionError."""


def container_error(step: str, cause: str, exit_code: int = 125, errno: int | None = None) -> ContainerError:
    """The ContainerError for a failed step; for the exec, the kind ``subprocess`` users catch."""
    if step == "exec" and exit_code == 127:
        return CommandNotFound(step, cause, exit_code, errno if errno is not None else _errno.ENOENT)
    if step == "exec" and exit_code == 126 and errno in (_errno.EACCES, _errno.EPERM, None):
        return CommandNotExecutable(step, cause, exit_code, errno if errno is not None else _errno.EACCES)
    return ContainerError(step, cause, exit_code, errno)


class PluginError(ContainerError):
    """A plugin's hook raised: names the plugin and the hook."""

    def __init__(self, plugin: str, hook: str, cause: str) -> None:
        self.plugin = plugin
        self.hook = hook
        super().__init__(f"{hook} ({plugin})", cause)


class StateError(LibcontainerError):
    """No container runs where one was expected, or its state is unusable."""


class NotRunning(StateError):
    """No container runs in the directory (none was started, or it has ended)."""
