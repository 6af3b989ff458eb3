"""Scenario 7: the host's keys and the host's terminal stay out of the container's reach.

Keyring: nsinit is run from a session whose keyring holds a secret (as a
login session's does); each container gets a session keyring of its own.
Terminal: nsinit is run from a terminal, as from a shell; anything the
container pushes into that terminal's input with TIOCSTI would be read and
run by the shell once nsinit ends (CVE-2016-9016 class, bubblewrap's
CVE-2017-5226).  dev.tty.legacy_tiocsti=0 (Linux 6.2+) refuses TIOCSTI to
processes without CAP_SYS_ADMIN altogether; the tests hold either way.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from secutil import nsattack_lines, run_on_a_terminal
from libcontainer.testing.fixtures import nsinit_command

pytestmark = pytest.mark.privileged

# What these tests name on the host (see conftest.py).
RESOURCE_PREFIX = "lcs-a"

NO_SYS_ADMIN = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE"]
INJECTED = "echo lcs-pwned"


def legacy_tiocsti() -> bool:
    try:
        with open("/proc/sys/dev/tty/legacy_tiocsti") as f:
            return f.read().strip() == "1"
    except OSError:
        return True  # kernels before 6.2 have no switch: TIOCSTI always works


# -- keyrings ------------------------------------------------------------------------------------


def session_of(text: str) -> tuple[str, str]:
    """(keyring id, description) from ``nsattack keyctl show``."""
    words = nsattack_lines(text, "session")[0]
    return words[1], words[2].split(";")[-1]


def in_a_host_session(nsattack, script: str) -> subprocess.CompletedProcess[str]:
    """``sh -c SCRIPT`` in a fresh named session keyring holding the key lcs-secret (id in $KEY)."""
    from libcontainer import syscalls

    name = f"lcs-a-host-{uuid.uuid4().hex[:8]}"
    add = f'KEY=$({nsattack} keyctl add lcs-secret hunter2 | cut -d" " -f2); '
    return subprocess.run(["sh", "-c", add + script], preexec_fn=lambda: syscalls.real().join_session_keyring(name),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_each_container_has_its_own_session_keyring(container, more_containers, nsattack):
    other = more_containers("other")
    container.write_config()
    other.write_config()
    first = container.exec("nsattack", "keyctl", "show")
    second = other.exec("nsattack", "keyctl", "show")
    host = subprocess.run([str(nsattack), "keyctl", "show"], capture_output=True, text=True, timeout=10)
    rings = [session_of(r.stdout) for r in (first, second, host)]
    assert len({ring_id for ring_id, _ in rings}) == 3, rings
    assert rings[0][1].startswith("_ses.box-") and rings[1][1].startswith("_ses.other-"), rings


def test_hosts_session_keys_are_not_readable_in_the_container(container, nsattack):
    container.write_config()
    cmd = " ".join(nsinit_command())
    r = in_a_host_session(nsattack, f'cd {container.path} && {cmd} exec sh -c "nsattack keyctl read $KEY; '
                                    f'nsattack keyctl show"')
    assert r.returncode == 0, r.stderr
    reads = nsattack_lines(r.stdout, "read")
    assert len(reads) == 1 and reads[0][1] in ("ENOKEY", "EACCES"), r.stdout
    assert session_of(r.stdout)[1].startswith("_ses.box-"), r.stdout


def test_hosts_session_keys_are_readable_by_a_host_process(nsattack):
    r = in_a_host_session(nsattack, f"{nsattack} keyctl read $KEY")
    assert nsattack_lines(r.stdout, "read") == [["read", "ok", "hunter2"]], r.stdout + r.stderr


def test_another_containers_keys_are_not_readable_even_through_its_keyring_name(container, more_containers):
    container.write_config()
    victim = container.popen("sh", "-c", "nsattack keyctl then add lcs-inner s3cret -- show; sleep 30")
    container.wait_running()
    added = victim.stdout.readline().split()
    ring_id, ring_name = session_of(victim.stdout.readline())
    attacker = more_containers("attacker")
    attacker.write_config()
    r = attacker.exec("sh", "-c", f"nsattack keyctl join {ring_name}; nsattack keyctl read {added[1]}; "
                                  f"nsattack keyctl read {ring_id}")
    joined_id, _ = session_of(r.stdout)
    assert joined_id != ring_id, r.stdout  # a new keyring of that name, not the victim's
    reads = nsattack_lines(r.stdout, "read")
    assert reads[0][1] in ("EACCES", "ENOKEY"), r.stdout  # the victim's key
    assert all(w[1] != "ok" or "s3cret" not in w for w in reads), r.stdout


# -- the terminal ----------------------------------------------------------------------------------

TIOCSTI = f"nsattack tiocsti 0 '{INJECTED}\n'; nsattack tty"


def test_tiocsti_in_tty_mode_cannot_inject_into_the_hosts_terminal(container):
    container.write_config(tty=True)
    status, out, pending = run_on_a_terminal(container, "exec", "--", "sh", "-c", TIOCSTI)
    assert status == 0, out
    # At most into the container's own terminal, whose input no one reads.
    assert INJECTED.encode() not in pending, (out, pending)
    assert "ctty ok" in out and "sid 1" in out, out  # its own session and terminal


def test_tiocsti_in_pipe_mode_cannot_inject_into_the_hosts_terminal(container):
    container.write_config(capabilities=NO_SYS_ADMIN)
    status, out, pending = run_on_a_terminal(container, "exec", "--no-tty", "--", "sh", "-c", TIOCSTI)
    assert status == 0, out
    assert INJECTED.encode() not in pending, (out, pending)


def test_pipe_mode_gives_no_controlling_terminal(container):
    container.write_config(capabilities=NO_SYS_ADMIN)
    container.popen("sleep", "30")
    container.wait_running()
    for _ in ("first", "joined"):
        status, out, _ = run_on_a_terminal(container, "exec", "--no-tty", "--", "nsattack", "tty")
        assert nsattack_lines(out, "ctty") == [["ctty", "ENXIO"]], out


def test_pipe_mode_from_a_terminal_with_sys_admin_can_inject(container):
    """The limit: CAP_SYS_ADMIN allows TIOCSTI on any terminal fd (tty_ioctl(4)); use --tty or drop it."""
    container.write_config()
    status, out, pending = run_on_a_terminal(container, "exec", "--no-tty", "--", "sh", "-c", TIOCSTI)
    assert INJECTED.encode() in pending, (out, pending)


def test_pipe_mode_without_a_terminal_has_none_to_reach(container):
    container.write_config()
    r = container.exec("sh", "-c", TIOCSTI)
    assert nsattack_lines(r.stdout, "tiocsti") in ([["tiocsti", "ENOTTY"]], [["tiocsti", "EIO"]]), r.stdout
    assert nsattack_lines(r.stdout, "ctty") == [["ctty", "ENXIO"]], r.stdout


def test_legacy_tiocsti_switch_is_read(nsattack):
    # Recorded in the run's output, so that a reader knows which kernel behaviour was tested.
    assert isinstance(legacy_tiocsti(), bool)
    assert shutil.which("sh")
