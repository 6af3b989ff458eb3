"""Run a command in a session keyring of its own holding a key only its possessors can see.

``python tests/possess_key.py KEY COMMAND...``: joins a new session keyring,
adds the user key KEY with possessor-only permissions, and execs COMMAND.
A container that inherits that session keyring (config ``no_new_keyring``,
``lcrun --no-new-keyring``) lists KEY in its /proc/keys; one with a new
session keyring of its own does not.  A script, not a module of the
package: only libcontainer/syscalls.py calls libc.
"""

import ctypes, os, platform, sys
numbers = {"x86_64": (248, 250), "aarch64": (217, 219)}.get(platform.machine())
if numbers is None:
    sys.exit("add_key and keyctl numbers unknown on " + platform.machine())
add_key, keyctl = numbers
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
if libc.syscall(keyctl, 1, b"lctest-session") < 0:  # KEYCTL_JOIN_SESSION_KEYRING
    sys.exit("join_session_keyring: " + os.strerror(ctypes.get_errno()))
key = libc.syscall(add_key, b"user", sys.argv[1].encode(), b"x", 1, -3)  # into KEY_SPEC_SESSION_KEYRING
if key < 0 or libc.syscall(keyctl, 5, key, 0x3F000000) < 0:  # KEYCTL_SETPERM: the possessor only
    sys.exit("add_key: " + os.strerror(ctypes.get_errno()))
os.execvp(sys.argv[2], sys.argv[2:])
