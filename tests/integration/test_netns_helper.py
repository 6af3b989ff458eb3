"""The tests' named network namespaces leave /run/netns as they found it (libcontainer.testing.fixtures).

`ip netns add` bind-mounts /run/netns on itself the first time and never
unmounts it.  Each scenario runs in a mount namespace of its own with a
fresh tmpfs on /run, so that it starts from a known /run/netns and touches
nothing of the host's.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.privileged

PRELUDE = """
import json, os, subprocess
from libcontainer.testing import fixtures as f
def seen():
    return {"mounted": f._is_mount_point(f.NETNS_DIR), "dir": os.path.isdir(f.NETNS_DIR),
            "mark": os.path.exists(f.NETNS_MARK)}
out = {}
"""


def scenario(body: str) -> dict:
    """``body`` run in a private mount namespace over an empty /run; what it put in ``out``."""
    script = PRELUDE + body + "\nprint(json.dumps(out))\n"
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        'mount -t tmpfs lctest-run /run && exec "$0" -c "$1"', sys.executable, script],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_the_mount_goes_with_the_last_namespace():
    out = scenario("""
f.add_netns("lct-a"); out["after add"] = seen()
f.add_netns("lct-b")
f.delete_netns("lct-a"); out["one left"] = seen()
f.delete_netns("lct-b"); out["none left"] = seen()
""")
    assert out["after add"] == {"mounted": True, "dir": True, "mark": True}
    assert out["one left"] == {"mounted": True, "dir": True, "mark": True}
    assert out["none left"] == {"mounted": False, "dir": False, "mark": False}


def test_without_the_release_the_mount_stays():
    """The twin: what `ip netns del` alone leaves behind."""
    out = scenario("""
f.add_netns("lct-a")
subprocess.run(["ip", "netns", "del", "lct-a"], check=True); out["deleted"] = seen()
""")
    assert out["deleted"] == {"mounted": True, "dir": True, "mark": True}


def test_what_a_killed_run_left_the_next_release_undoes():
    out = scenario("""
subprocess.run([__import__("sys").executable, "-c",
                "from libcontainer.testing import fixtures as f; import os; f.add_netns('lct-k'); os.kill(os.getpid(), 9)"])
subprocess.run(["ip", "netns", "del", "lct-k"], check=True); out["killed"] = seen()
f.release_netns_dir(); out["released"] = seen()
""")
    assert out["killed"] == {"mounted": True, "dir": True, "mark": True}
    assert out["released"] == {"mounted": False, "dir": False, "mark": False}


def test_a_mount_that_was_there_before_stays():
    out = scenario("""
os.mkdir(f.NETNS_DIR)
subprocess.run(["mount", "--bind", f.NETNS_DIR, f.NETNS_DIR], check=True)
f.add_netns("lct-c")
f.delete_netns("lct-c"); out["deleted"] = seen()
""")
    assert out["deleted"] == {"mounted": True, "dir": True, "mark": False}
