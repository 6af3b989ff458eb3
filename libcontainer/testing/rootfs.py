"""Build a small root filesystem from the distribution's static busybox, no image registry needed.

``python -m libcontainer.testing.rootfs DIR`` makes one on the command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
user:x:1000:1000:user:/home/user:/bin/sh
"""

GROUP = """root:x:0:
daemon:x:1:
tty:x:5:
audio:x:29:user
video:x:44:user,daemon
users:x:100:user
user:x:1000:
nogroup:x:65534:
"""


def find_busybox() -> str:
    for path in BUSYBOX_CANDIDATES:
        if os.path.exists(path):
            out = subprocess.run(["file", "-L", path], capture_output=True, text=True).stdout if shutil.which("file") else ""
            if "dynamically linked" in out:
                continue
            return path
    raise FileNotFoundError("no static busybox found: install the Debian package busybox-static")


def build_busybox_rootfs(dest: str | os.PathLike[str]) -> Path:
    """Make ``dest`` a rootfs: busybox and its applets, /etc/passwd and /etc/group, empty /proc /sys /dev."""
    root = Path(dest)
    busybox = find_busybox()
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "home/user", "var/run", "mnt"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    target = root / "bin" / "busybox"
    shutil.copy2(busybox, target)
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for name in applets:
        link = root / "bin" / name
        if name != "busybox" and not link.exists():
            os.symlink("busybox", link)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    (root / "etc" / "hostname").write_text("container\n")
    os.chown(root / "home" / "user", 1000, 1000) if os.geteuid() == 0 else None
    return root


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m libcontainer.testing.rootfs DIR")
    print(build_busybox_rootfs(sys.argv[1]))
