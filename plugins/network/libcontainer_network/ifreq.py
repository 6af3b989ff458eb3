"""Interface flags and MTU through ioctl(2) on a socket: loopback needs no netlink library.

netdevice(7): SIOCGIFFLAGS/SIOCSIFFLAGS read and write ``ifr_flags``,
SIOCSIFMTU writes ``ifr_mtu``, on any socket of the network namespace the
calling process is in.  Pure Python (_socket, fcntl, struct): no ctypes.
"""

from __future__ import annotations

import fcntl
import struct

# The C module, not socket.py, whose import costs 2-4 ms of every start with a
# loopback network (enum conversions, selectors) for a socket used once.
import _socket

from libcontainer.errors import SyscallError

# linux/sockios.h
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCSIFMTU = 0x8922
IFF_UP = 0x1  # linux/if.h

# struct ifreq: char ifr_name[IFNAMSIZ]; then a 24-byte union (netdevice(7)).
_IFREQ_SIZE = 40


def _ifreq(name: str, fmt: str = "", *values: int) -> bytes:
    head = struct.pack("16s", name.encode())
    body = struct.pack(fmt, *values) if fmt else b""
    return head + body + b"\0" * (_IFREQ_SIZE - len(head) - len(body))


def _ioctl(op: str, request: int, name: str, arg: bytes) -> bytes:
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        return fcntl.ioctl(sock.fileno(), request, arg)
    except OSError as e:
        raise SyscallError(op, name, e.errno) from None
    finally:
        sock.close()


def link_flags(name: str) -> int:
    """The interface flags (IFF_*) of ``name`` in the current network namespace."""
    out = _ioctl("SIOCGIFFLAGS", SIOCGIFFLAGS, name, _ifreq(name))
    return struct.unpack_from("H", out, 16)[0]


def set_link_up(name: str) -> None:
    """Bring ``name`` up (``ip link set NAME up``) in the current network namespace."""
    flags = link_flags(name)
    if not flags & IFF_UP:
        _ioctl("SIOCSIFFLAGS", SIOCSIFFLAGS, name, _ifreq(name, "H", flags | IFF_UP))


def set_mtu(name: str, mtu: int) -> None:
    """Set the MTU of ``name`` in the current network namespace."""
    _ioctl("SIOCSIFMTU", SIOCSIFMTU, name, _ifreq(name, "i", mtu))


def link_exists(name: str) -> bool:
    """True when an interface of that name exists in the current network namespace."""
    try:
        _socket.if_nametoindex(name)
    except OSError:
        return False
    return True
