"""A container process's standard streams, given as ``subprocess`` takes them.

``None`` (inherited), ``PIPE``, ``DEVNULL``, an fd, a file object, and for
stderr ``STDOUT``: the same values as ``subprocess``'s constants, so that
``subprocess.PIPE`` works here (and ``libcontainer.stdio.PIPE`` there).
Only ``os``: the per-container path imports nothing more for streams.
"""

from __future__ import annotations

import os
from typing import IO, Any

PIPE = -1  # subprocess.PIPE
STDOUT = -2  # subprocess.STDOUT
DEVNULL = -3  # subprocess.DEVNULL


class Streams:
    """The three streams of a process: the fds it gets, and our ends of the pipes.

    ``child`` holds the fds the process gets as 0, 1 and 2 (-1: ours,
    inherited); ``stdin``, ``stdout`` and ``stderr`` are our ends of pipes,
    as file objects (text with ``text``), or None.
    """

    def __init__(self, stdin: Any = None, stdout: Any = None, stderr: Any = None, *, text: bool = False,
                 encoding: str | None = None, errors: str | None = None) -> None:
        self.child = [-1, -1, -1]
        self.stdin: IO[Any] | None = None
        self.stdout: IO[Any] | None = None
        self.stderr: IO[Any] | None = None
        self._ours_to_close: list[int] = []  # child ends we opened: closed once the process has its copies
        self._text = text or encoding is not None or errors is not None
        self._encoding, self._errors = encoding, errors
        try:
            self.child[0] = self._child_end(stdin, 0)
            self.child[1] = self._child_end(stdout, 1)
            self.child[2] = self.child[1] if stderr == STDOUT else self._child_end(stderr, 2)
        except BaseException:
            self.close()
            raise

    def _child_end(self, spec: Any, fd: int) -> int:
        if spec is None:
            return -1
        if spec == PIPE:
            r, w = os.pipe2(os.O_CLOEXEC)
            ours, theirs = (w, r) if fd == 0 else (r, w)
            self._ours_to_close.append(theirs)
            stream = self._wrap(ours, "wb" if fd == 0 else "rb")
            setattr(self, ("stdin", "stdout", "stderr")[fd], stream)
            return theirs
        if spec == DEVNULL:
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            self._ours_to_close.append(null)
            return null
        if spec == STDOUT:
            raise ValueError("STDOUT is for stderr only")
        if isinstance(spec, int):
            if spec < 0:
                raise ValueError(f"invalid file descriptor {spec}")
            return spec
        if hasattr(spec, "fileno"):
            return spec.fileno()
        raise TypeError(f"expected None, PIPE, DEVNULL, STDOUT, an fd or a file object, got {spec!r}")

    def _wrap(self, fd: int, mode: str) -> IO[Any]:
        stream = open(fd, mode, buffering=0 if mode == "wb" else -1)
        if self._text:
            import io

            return io.TextIOWrapper(stream, encoding=self._encoding or "utf-8", errors=self._errors,
                                    write_through=mode == "wb")
        return stream

    def fds(self) -> list[int]:
        """The process's 0, 1 and 2 as fds to dup (an inherited one: ours, the same number); [] when all are ours."""
        if self.child == [-1, -1, -1]:
            return []
        return [fd if fd >= 0 else i for i, fd in enumerate(self.child)]

    def given(self) -> None:
        """The process has its copies: close the child ends we opened."""
        for fd in self._ours_to_close:
            try:
                os.close(fd)
            except OSError:
                pass
        self._ours_to_close = []

    @property
    def text(self) -> bool:
        return self._text

    def close(self) -> None:
        self.given()
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


def command_args(args: Any) -> list[str]:
    """``args`` as ``subprocess`` takes them without a shell: a sequence of str, bytes or paths,
    or one program (a str or a path) run with no arguments.  A TypeError names what is wrong."""
    if isinstance(args, (str, bytes, os.PathLike)):
        return [os.fsdecode(args)]
    if isinstance(args, dict) or not hasattr(args, "__iter__"):
        raise TypeError(f"args must be a list of strings, not {type(args).__name__}")
    out = []
    for i, arg in enumerate(args):
        if not isinstance(arg, (str, bytes, os.PathLike)):
            raise TypeError(f"args[{i}] must be a str, bytes or path, not {type(arg).__name__}")
        out.append(os.fsdecode(arg))
    return out


def environment(env: Any) -> list[str] | None:
    """``env`` as a list of "NAME=value": from a mapping (as ``subprocess`` takes it) or such a list."""
    if env is None:
        return None
    if hasattr(env, "items"):
        items = list(env.items())
        for name, value in items:
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(f"env[{name!r}]: names and values must be str, not "
                                f"{type(name if not isinstance(name, str) else value).__name__}")
            if not name or "=" in name:
                raise ValueError(f"env: {name!r} is not a variable name (empty or with '=')")
        return [f"{name}={value}" for name, value in items]
    if isinstance(env, (str, bytes)) or not hasattr(env, "__iter__"):
        raise TypeError(f"env must be a mapping or a list of 'NAME=value' strings, not {type(env).__name__}")
    out = list(env)
    for i, entry in enumerate(out):
        if not isinstance(entry, str):
            raise TypeError(f"env[{i}] must be a 'NAME=value' str, not {type(entry).__name__}")
        if "=" not in entry[1:]:
            raise ValueError(f"env[{i}] {entry!r} is not 'NAME=value'")
    return out


def run_streams(input: Any, capture_output: bool, stdin: Any, stdout: Any, stderr: Any) -> tuple[Any, Any, Any]:
    """subprocess.run's ``input`` and ``capture_output`` as the three streams, with its errors for a clash."""
    if capture_output:
        if stdout is not None or stderr is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output.")
        stdout = stderr = PIPE
    if input is not None:
        if stdin is not None:
            raise ValueError("stdin and input arguments may not both be used.")
        stdin = PIPE
    return stdin, stdout, stderr
