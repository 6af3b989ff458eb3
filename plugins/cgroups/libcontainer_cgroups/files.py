"""Reading and writing cgroup control files, with errors that name the file and value."""

from __future__ import annotations

import errno
import os
import time

from libcontainer.errors import ContainerError
from libcontainer.state import read_bytes

STEP = "cgroups"


def write_value(path: str, value: str | int) -> None:
    """Write one value to a control file; the kernel's refusal names the file and value."""
    data = str(value)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ContainerError(STEP, f"{path}: {e.strerror}", errno=e.errno) from None
    try:
        os.write(fd, data.encode())
    except OSError as e:
        raise ContainerError(STEP, f"{path} {data!r}: {e.strerror}", errno=e.errno) from None
    finally:
        os.close(fd)


def read_text(path: str) -> str | None:
    """A control file's content, stripped, or None when it does not exist.

    Read with os.read, not open() (state.read_bytes): a file object costs
    four system calls more per file, and a start and end read some twenty.
    """
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno in (errno.ENODEV, errno.ENOENT, errno.EOPNOTSUPP):
            return None
        raise ContainerError(STEP, f"{path}: {e.strerror}", errno=e.errno) from None
    return data.decode().strip()


def read_int(path: str) -> int | None:
    """An integer file ("max" reads as None)."""
    text = read_text(path)
    if text is None or text == "max" or text == "":
        return None
    return int(text.split()[0])


def read_keyed(path: str) -> dict[str, int]:
    """A flat keyed file ("key value" per line: memory.stat, cpu.stat) as a dict."""
    text = read_text(path) or ""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def read_pids(directory: str) -> list[int]:
    """The processes in a cgroup (cgroup.procs); empty when it is gone."""
    text = read_text(os.path.join(directory, "cgroup.procs")) or ""
    return [int(p) for p in text.split()]


RACE_RETRIES = 20  # parents removed by concurrent teardowns, tolerated this many times


def make_dirs(path: str, root: str) -> list[str]:
    """Create ``path`` and missing parents below ``root``; the directories made, outermost first.

    Another container's teardown may rmdir a shared parent (the default
    "libcontainer") between our mkdir of it, which found it there, and our mkdir
    of the child, which then fails with ENOENT: start again from the top, a few
    times.  The kernel refuses rmdir of a cgroup with children (EBUSY), so once
    the child exists the parent stays.
    """
    made: list[str] = []
    rel = os.path.relpath(path, root)
    for attempt in range(RACE_RETRIES):
        current = root
        for part in rel.split(os.sep):
            current = os.path.join(current, part)
            try:
                os.mkdir(current)
            except FileExistsError:
                continue
            except FileNotFoundError:
                if attempt + 1 < RACE_RETRIES and os.path.isdir(root):
                    break  # a parent went away under us: again from the top
                raise ContainerError(STEP, f"cannot create {current}: its parent vanished "
                                           f"{RACE_RETRIES} times", errno=errno.ENOENT) from None
            except OSError as e:
                if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise ContainerError(STEP, f"cannot create {current}: {e.strerror} (creating cgroups needs root)",
                                         errno=e.errno) from None
                raise ContainerError(STEP, f"cannot create {current}: {e.strerror}", errno=e.errno) from None
            if current not in made:
                made.append(current)
        else:
            return made
    return made  # not reached: the last attempt returns or raises


def remove_dir(path: str, retries: float = 1.0) -> bool:
    """rmdir a cgroup, retrying on EBUSY (the last tasks may still be exiting); False if it stays busy.

    A cgroup directory holds only kernel files, so rmdir (never unlink) removes it.
    """
    deadline = time.monotonic() + retries
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() >= deadline:
                if e.errno in (errno.EBUSY, errno.ENOTEMPTY):
                    return False
                raise ContainerError(STEP, f"cannot remove {path}: {e.strerror}", errno=e.errno) from None
        time.sleep(0.02)
