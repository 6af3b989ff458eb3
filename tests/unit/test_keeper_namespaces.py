"""The keeper holds its container's namespaces until the end is told (keeper.py): the kernel's
freeing of them (a mount namespace's whole tree) then comes after EXITED, not before it."""

from __future__ import annotations

import os

from libcontainer import keeper
from libcontainer.errors import ContainerError


class Gone:
    """A keeper's channel whose caller has gone: every send fails."""

    def send(self, *a, **kw):
        raise ContainerError("keeper", "the caller is gone")


class Told:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.open_when_sent: list[bool] = []
        self.fds: list[int] = []

    def send(self, kind, **kw):
        self.sent.append((kind, kw))
        self.open_when_sent = [_is_open(fd) for fd in self.fds]


class Ended:
    status, reason, usage = 0, None, None


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_the_namespaces_held_are_the_processes():
    held = keeper._hold_namespaces(os.getpid())
    try:
        assert [os.fstat(fd).st_ino for fd in held] == \
            [os.stat(f"/proc/self/ns/{ns}").st_ino for ns in ("mnt", "ipc", "uts", "net")]
    finally:
        for fd in held:
            os.close(fd)


def test_they_are_let_go_after_exited_is_sent():
    held = keeper._hold_namespaces(os.getpid())
    chan = Told()
    chan.fds = list(held)
    keeper._tell_the_end(chan, Ended(), held)
    assert [kind for kind, _ in chan.sent] == [keeper.EXITED]
    assert chan.open_when_sent == [True] * 4  # still held while the caller is told
    assert held == [] and not any(_is_open(fd) for fd in chan.fds)


def test_they_are_let_go_when_the_caller_is_gone_too():
    held = keeper._hold_namespaces(os.getpid())
    fds = list(held)
    keeper._tell_the_end(Gone(), Ended(), held)
    assert not any(_is_open(fd) for fd in fds)


def test_a_process_already_gone_holds_nothing():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    assert keeper._hold_namespaces(pid) == []
