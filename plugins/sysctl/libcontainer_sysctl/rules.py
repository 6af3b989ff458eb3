"""Which kernel parameters a container may set, and setting them through the container's /proc/sys.

A parameter of /proc/sys belongs either to a namespace (then a container
with a namespace of its own of that kind changes only its own copy) or to
the whole machine.  Only the first kind is accepted, with the namespace it
needs, as runc does (libcontainer/configs/validate): ``net.*`` with a
network namespace that is not the host's, the System V IPC and POSIX
message queue limits with a new IPC namespace, ``kernel.hostname`` and
``kernel.domainname`` with a new UTS namespace (ipc_namespaces(7),
network_namespaces(7), uts_namespaces(7)).  Everything else would change
the host and is refused, naming the key.
"""

from __future__ import annotations

import errno
import os
import re
from typing import Any

from libcontainer.errors import ContainerError

KEY = "sysctl"

# Parameters of an IPC namespace (ipc_namespaces(7)): the System V limits, and fs.mqueue.*.
IPC_KEYS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                      "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"})
IPC_PREFIXES = ("fs.mqueue.",)
UTS_KEYS = frozenset({"kernel.hostname", "kernel.domainname"})
NET_PREFIXES = ("net.",)

# A name component of /proc/sys: letters, digits and the punctuation interface names use.
_COMPONENT = re.compile(r"^[A-Za-z0-9_@:+-][A-Za-z0-9_@:+.-]*$")
PROC_SUPER_MAGIC = 0x9FA0  # statfs(2)


def canonical_key(value: Any) -> str:
    """A parameter as sysctl(8) writes it: ``net.ipv4.ip_forward``, or with slashes when a name holds a dot
    (``net/ipv4/conf/eth0.100/forwarding``); kept as written."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a kernel parameter such as net.ipv4.ip_forward, got {value!r}")
    if proc_path(value) is None:
        raise ValueError(f"{value!r} is not a kernel parameter name (dot- or slash-separated names of "
                         "/proc/sys, such as net.ipv4.ip_forward)")
    return value


def canonical_value(value: Any) -> str:
    """The text written to the file: a string as given, a number as its decimal text."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"expected a string (or an integer), got {value!r}")
    text = str(value)
    if "\n" in text.rstrip("\n") or "\0" in text:
        raise ValueError(f"a value is one line, got {value!r}")
    return text


def proc_path(key: str) -> str | None:
    """``net.ipv4.ip_forward`` -> ``net/ipv4/ip_forward`` (relative to /proc/sys); None when malformed.

    With a slash anywhere the slashes separate and dots are literal (sysctl(8)).
    """
    parts = key.split("/") if "/" in key else key.split(".")
    if any(not _COMPONENT.match(p) or p in (".", "..") for p in parts):
        return None
    return "/".join(parts)


def dotted(key: str) -> str:
    """The parameter with dots, for telling which namespace it belongs to."""
    return key.replace("/", ".") if "/" in key else key


def namespace_needed(key: str) -> str | None:
    """NEWNET, NEWIPC or NEWUTS: the namespace whose parameter this is; None for the machine's."""
    name = dotted(key)
    if name.startswith(NET_PREFIXES):
        return "NEWNET"
    if name in IPC_KEYS or name.startswith(IPC_PREFIXES):
        return "NEWIPC"
    if name in UTS_KEYS:
        return "NEWUTS"
    return None


def problems(section: dict[str, str], spaces: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for each parameter the container may not set with these namespaces."""
    found = []
    for key in section:
        kind = namespace_needed(key)
        if kind is None:
            found.append((key, f"{dotted(key)} is not namespaced: setting it would change the host's "
                               "(only net.*, the IPC limits kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, and "
                               "kernel.hostname and kernel.domainname can be set for a container)"))
        elif kind == "NEWNET" and not spaces.get("NEWNET"):
            found.append((key, f"{dotted(key)} needs a network namespace of the container's (add NEWNET to "
                               "namespaces): it would change the host's"))
        elif kind != "NEWNET" and spaces.get(kind) is not True:
            what = "IPC" if kind == "NEWIPC" else "UTS"
            found.append((key, f"{dotted(key)} needs a new {what} namespace (add {kind}: true to namespaces): "
                               "it would change the host's"))
    return found


def check_joined_network(section: dict[str, str], spaces: dict[str, Any]) -> None:
    """net.* with a network namespace joined by path: refused when that namespace is the host's."""
    path = spaces.get("NEWNET")
    if not isinstance(path, str) or not any(namespace_needed(k) == "NEWNET" for k in section):
        return
    try:
        joined, ours = os.stat(path), os.stat("/proc/self/ns/net")
    except OSError:
        return  # the namespaces plugin reports a path that cannot be joined
    if (joined.st_dev, joined.st_ino) == (ours.st_dev, ours.st_ino):
        raise ContainerError(KEY, f"the network namespace {path} is the host's: net.* parameters would change "
                                  "the host's")


def apply(section: dict[str, str], syscalls: Any) -> None:
    """Write each parameter in /proc/sys, from inside the container's namespaces.

    /proc/sys is opened once and checked to be procfs (a rootfs may hold a
    fake /proc); each file is opened beneath it without following symlinks.
    """
    from libcontainer import syscalls as sc

    try:
        base = os.open("/proc/sys", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise ContainerError(KEY, f"/proc/sys: {e.strerror} (a container that sets sysctl needs /proc)") from None
    try:
        if syscalls.fs_magic(f"/proc/self/fd/{base}") != PROC_SUPER_MAGIC:
            raise ContainerError(KEY, "/proc/sys is not procfs; refusing to write kernel parameters there")
        for key, value in section.items():
            rel = proc_path(key)
            try:
                fd = syscalls.openat2(base, rel, os.O_WRONLY,
                                      resolve=sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_XDEV)
            except OSError as e:
                if e.errno == errno.ENOENT:
                    raise ContainerError(KEY, f"{key}: no such kernel parameter here (/proc/sys/{rel})") from None
                raise ContainerError(KEY, f"{key}: {os.strerror(e.errno)}") from None
            try:
                os.write(fd, value.encode())
            except OSError as e:
                raise ContainerError(KEY, f"{key}={value}: {e.strerror}") from None
            finally:
                os.close(fd)
    finally:
        os.close(base)
