"""The exec stub: what executes a container's command, instead of the host's Python.

The setup process is the host's interpreter, forked.  Were it to execve the
command itself, a command that is a script starting ``#!/proc/self/exe``
would have the kernel start *the host's interpreter* inside the container
(binfmt_script opens the interpreter as the process calling execve sees
it), and the container would hold a handle on that file, to write it once
no process runs it (CVE-2019-5736).  runc closes this by running its own
setup from a sealed copy of its binary; a Python interpreter and its
libraries are too big to copy per container, so the setup process execs a
stub instead: a static program of ~150 bytes, written into a sealed memfd,
that only marks one fd close-on-exec and execs the command.  Whatever
``/proc/self/exe`` the container can reach is then the sealed stub, which no
one can write and nothing outside the container runs.

The stub is called as ``execveat(stub, ["FD", path, argv0, args...], envp)``:

1. argv[0] must be a decimal fd number, else it exits 126 (a script whose
   interpreter is the stub gets argv[0] "/proc/self/exe": it ends there);
2. ``fcntl(FD, F_SETFD, FD_CLOEXEC)``: the start channel closes when the
   command is exec'd, which tells the starter that the exec succeeded;
3. ``execve(path, [argv0, args...], envp)``;
4. on failure, writes errno to FD (4 bytes, native order) and exits 127.

The machine code below is written out with its assembly; the ELF around it
is built here.  x86_64 and aarch64 are known; any other machine is an error.
"""

from __future__ import annotations

import fcntl
import os
import struct

# x86_64 (System V: argc at [rsp], argv[i] at [rsp+8+8i], then envp; syscall
# number in eax: fcntl 72, execve 59, write 1, exit_group 231).
_X86_64 = bytes.fromhex(
    "488b742408"      # mov   rsi, [rsp+8]          argv[0]: the fd, in decimal
    "31ff"            # xor   edi, edi              fd = 0
    "0fb606"          # movzx eax, byte [rsi]
    "85c0"            # test  eax, eax
    "7467"            # jz    bad                   empty: not ours
    "83e830"          # parse: sub eax, '0'
    "83f809"          # cmp   eax, 9
    "775f"            # ja    bad                   not a digit
    "6bff0a"          # imul  edi, edi, 10
    "01c7"            # add   edi, eax
    "48ffc6"          # inc   rsi
    "0fb606"          # movzx eax, byte [rsi]
    "85c0"            # test  eax, eax
    "75e9"            # jnz   parse
    "4189fc"          # mov   r12d, edi             keep the fd
    "be02000000"      # mov   esi, 2                F_SETFD
    "ba01000000"      # mov   edx, 1                FD_CLOEXEC
    "b848000000"      # mov   eax, 72               fcntl
    "0f05"            # syscall
    "488b0c24"        # mov   rcx, [rsp]            argc
    "4883f903"        # cmp   rcx, 3
    "7232"            # jb    bad                   fd, path and argv0 at least
    "488d54cc10"      # lea   rdx, [rsp+rcx*8+16]   envp
    "488b7c2410"      # mov   rdi, [rsp+16]         argv[1]: the path
    "488d742418"      # lea   rsi, [rsp+24]         &argv[2]: the command's argv
    "b83b000000"      # mov   eax, 59               execve
    "0f05"            # syscall
    "f7d8"            # neg   eax                   errno
    "50"              # push  rax
    "4489e7"          # mov   edi, r12d
    "4889e6"          # mov   rsi, rsp
    "ba04000000"      # mov   edx, 4
    "b801000000"      # mov   eax, 1                write
    "0f05"            # syscall
    "bf7f000000"      # mov   edi, 127
    "eb05"            # jmp   quit
    "bf7e000000"      # bad: mov edi, 126
    "b8e7000000"      # quit: mov eax, 231          exit_group
    "0f05"            # syscall
)

# aarch64 (argc at [sp], argv[i] at [sp+8+8i], then envp; syscall number in
# x8: fcntl 25, execve 221, write 64, exit_group 94).
_AARCH64 = bytes.fromhex(
    "e10740f9"        # ldr   x1, [sp, #8]          argv[0]: the fd, in decimal
    "13008052"        # mov   w19, #0               fd = 0
    "22004039"        # ldrb  w2, [x1]
    "02040034"        # cbz   w2, bad               empty: not ours
    "42c00051"        # parse: sub w2, w2, #'0'
    "5f240071"        # cmp   w2, #9
    "a8030054"        # b.hi  bad                   not a digit
    "43018052"        # mov   w3, #10
    "730a031b"        # madd  w19, w19, w3, w2      fd = fd * 10 + digit
    "21040091"        # add   x1, x1, #1
    "22004039"        # ldrb  w2, [x1]
    "22ffff35"        # cbnz  w2, parse
    "e003132a"        # mov   w0, w19
    "410080d2"        # mov   x1, #2                F_SETFD
    "220080d2"        # mov   x2, #1                FD_CLOEXEC
    "280380d2"        # mov   x8, #25               fcntl
    "010000d4"        # svc   #0
    "e30340f9"        # ldr   x3, [sp]              argc
    "7f0c00f1"        # cmp   x3, #3
    "03020054"        # b.lo  bad                   fd, path and argv0 at least
    "e00b40f9"        # ldr   x0, [sp, #16]         argv[1]: the path
    "e1630091"        # add   x1, sp, #24           &argv[2]: the command's argv
    "e26f238b"        # add   x2, sp, x3, uxtx #3
    "42400091"        # add   x2, x2, #16           envp
    "a81b80d2"        # mov   x8, #221              execve
    "010000d4"        # svc   #0
    "e003004b"        # neg   w0, w0                errno
    "e00f1fb8"        # str   w0, [sp, #-16]!
    "e1030091"        # mov   x1, sp
    "e003132a"        # mov   w0, w19
    "820080d2"        # mov   x2, #4
    "080880d2"        # mov   x8, #64               write
    "010000d4"        # svc   #0
    "e00f80d2"        # mov   x0, #127
    "02000014"        # b     quit
    "c00f80d2"        # bad: mov x0, #126
    "c80b80d2"        # quit: mov x8, #94           exit_group
    "010000d4"        # svc   #0
)

# uname machine -> (e_machine of elf.h, code)
MACHINES = {"x86_64": (62, _X86_64), "aarch64": (183, _AARCH64)}

_BASE = 0x400000  # where the one segment is loaded
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr
_PHDR = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr


class UnknownMachine(Exception):
    """No exec stub for this machine."""


def image(machine: str | None = None) -> bytes:
    """The stub as an ELF executable for ``machine`` (default: this one's)."""
    machine = machine or os.uname().machine
    try:
        e_machine, code = MACHINES[machine]
    except KeyError:
        raise UnknownMachine(f"libcontainer has no exec stub for {machine} (known: {', '.join(MACHINES)})") from None
    start = _EHDR.size + _PHDR.size  # the code follows the two headers, 4-byte aligned (120)
    ident = b"\x7fELF" + bytes([2, 1, 1])  # 64-bit, little-endian, ELF version 1 (padded to 16)
    header = _EHDR.pack(ident, 2, e_machine, 1, _BASE + start, _EHDR.size, 0, 0,  # ET_EXEC; entry; phoff
                        _EHDR.size, _PHDR.size, 1, 0, 0, 0)  # one program header, no sections
    size = start + len(code)
    segment = _PHDR.pack(1, 5, 0, _BASE, _BASE, size, size, 0x1000)  # PT_LOAD, R+X, the whole file
    return header + segment + code


# memfd_create(2) and fcntl(2) flags (linux/memfd.h, linux/fcntl.h).
_MFD_EXEC = 0x0010  # executable even where vm.memfd_noexec defaults to not (Linux 6.3)
_F_SEALS = 0x0001 | 0x0002 | 0x0004 | 0x0008  # F_SEAL_SEAL, SHRINK, GROW, WRITE


def open_stub() -> int:
    """A sealed memfd holding the stub, close-on-exec: exec it with ``os.execve(fd, ...)``.

    Called in the setup process after pivot_root: everything it needs is
    imported with this module.
    """
    code = image()
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create("libcontainer-exec", flags | _MFD_EXEC)
    except OSError:
        fd = os.memfd_create("libcontainer-exec", flags)  # kernels before 6.3 know no MFD_EXEC
    try:
        os.write(fd, code)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _F_SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def stub_argv(report_fd: int, path: str, args: list[str]) -> list[str]:
    """The stub's argv: the fd it marks close-on-exec (and reports a failure on), then the command."""
    return [str(report_fd), path, *args]
