"""Where lcrun's errors, warnings and debug lines go: stderr, and the ``--log`` file in its format.

containerd-shim and conmon pass ``--log FILE --log-format json`` and show
their user the last error line of that file; runc writes it with logrus, one
JSON object a line with "level", "msg" and "time".  The text format is
logrus's too (``time="..." level=error msg="..."``).  Only ``os`` and
``time`` here: ``lcrun state`` and ``kill`` configure it on every call.
"""

from __future__ import annotations

import os
import sys
import time

_file: str | None = None  # the --log file; None: stderr only
_format = "text"
_debug = False


def configure(path: str | None, fmt: str = "text", debug: bool = False) -> None:
    """Send log lines to ``path`` (appended) in ``fmt`` ("text" or "json"); ``debug`` lines too."""
    global _file, _format, _debug
    _file, _format, _debug = path, fmt, debug


def error(message: str) -> None:
    """One line on stderr (``lcrun: message``), and the same in the log file."""
    _stderr(f"lcrun: {message}\n")
    _write("error", message)


def warning(message: str) -> None:
    """To the log file when there is one, else stderr (``lcrun: warning: message``)."""
    if _file is None:
        _stderr(f"lcrun: warning: {message}\n")
    else:
        _write("warning", message)


def debug(message: str) -> None:
    if _debug:
        if _file is None:
            _stderr(f"lcrun: debug: {message}\n")
        else:
            _write("debug", message)


def _stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _now() -> str:
    now = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9)) + f".{now // 1000 % 10**6:06d}Z"


def format_line(level: str, message: str, fmt: str) -> str:
    """One log line in ``fmt``, newline included."""
    if fmt == "json":
        import json

        return json.dumps({"level": level, "msg": message, "time": _now()}) + "\n"
    escaped = message.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'time="{_now()}" level={level} msg="{escaped}"\n'


def _write(level: str, message: str) -> None:
    if _file is None:
        return
    try:
        fd = os.open(_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        _stderr(f"lcrun: cannot write the log {_file}: {e.strerror}\n")
        return
    try:
        os.write(fd, format_line(level, message, _format).encode())
    finally:
        os.close(fd)
