"""The kernel door: its typed interface, the strict recording fake, and system-call numbers per machine."""

from __future__ import annotations

import errno
import inspect
import re
from pathlib import Path

import pytest

from libcontainer import syscalls as sc
from libcontainer.errors import SyscallError

# The kernel's own tables, from linux-libc-dev (installed with libc6-dev by scripts/setup):
# aarch64 uses the generic one.
HEADERS = {"x86_64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "aarch64": "/usr/include/asm-generic/unistd.h"}


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {n: inspect.signature(f) for n, f in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}


def test_the_real_door_has_exactly_the_calls_of_its_interface_with_their_signatures():
    assert _public(sc.Syscalls) == _public(sc.KernelDoor)


def test_the_recording_fake_records_a_call_of_the_interface():
    fake = sc.RecordingSyscalls()
    fake.mount("proc", "/proc", "proc", sc.MS_NOSUID, None)
    fake.setns(3, sc.CLONE_NEWNET, what="net")
    assert fake.calls == [("mount", ("proc", "/proc", "proc", sc.MS_NOSUID, None)), ("setns", (3, sc.CLONE_NEWNET, "net"))]


def test_the_recording_fake_refuses_a_misspelt_call():
    fake = sc.RecordingSyscalls()
    with pytest.raises(AttributeError, match="the kernel door has no call 'umnount'"):
        fake.umnount("/proc")
    with pytest.raises(AttributeError):
        fake.fail("pivotroot", errno.EPERM)


def test_the_recording_fake_refuses_arguments_the_call_does_not_take():
    fake = sc.RecordingSyscalls()
    with pytest.raises(TypeError, match=r"^unshare\(self, flags: 'int'\) -> 'None': too many positional"):
        fake.unshare(sc.CLONE_NEWNS, 0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'flag'"):
        fake.umount("/proc", flag=2)
    assert fake.calls == []


def test_the_recording_fake_fails_the_call_it_is_told_to():
    fake = sc.RecordingSyscalls()
    fake.fail("mount", errno.EPERM, match="/sys")
    fake.mount("proc", "/proc", "proc")
    with pytest.raises(SyscallError) as info:
        fake.mount("sysfs", "/sys", "sysfs")
    assert info.value.errno == errno.EPERM


def _kernel_numbers(header: str) -> dict[str, int]:
    text = Path(header).read_text()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)\b", text)}


@pytest.mark.parametrize("machine", sorted(sc.SYSCALL_NUMBERS))
def test_system_call_numbers_are_the_kernels(machine):
    kernel = _kernel_numbers(HEADERS[machine])
    ours = sc.syscall_numbers(machine)
    assert ours == {name: kernel[name] for name in ours}


def test_an_unknown_machine_is_one_clear_error():
    with pytest.raises(sc.UnsupportedMachine, match="does not know the system-call numbers of riscv64 "
                                                    r"\(it knows x86_64, aarch64\)"):
        sc.syscall_numbers("riscv64")
