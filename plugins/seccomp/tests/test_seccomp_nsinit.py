"""The seccomp plugin end to end: ``nsinit exec`` in a busybox container, first, joined and threaded-caller processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest

from libcontainer.testing.fixtures import require_root
from libcontainer_seccomp.config import RUNTIME_CALLS

pytestmark = pytest.mark.privileged

SIGSYS_STATUS = 128 + signal.SIGSYS  # 159: killed by the filter
DENY_MKDIR = {"default_action": "allow", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "errno", "errno": "EPERM"}]}
STATUS = ["grep", "-E", "^(Seccomp|NoNewPrivs)", "/proc/self/status"]
# What a static busybox's `echo` makes after execve (strace, x86_64), besides the runtime's own calls.
BUSYBOX_ECHO = ["brk", "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64", "readlink",
                "getrandom", "mprotect", "prctl", "getuid", "write", "exit_group"]


@pytest.fixture
def box(container):
    """The container fixture, as root only."""
    require_root()
    return container


def status_fields(text: str) -> dict[str, int]:
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("Seccomp", "NoNewPrivs", "Seccomp_filters"):
            found[key] = int(value)
    return found


def default_deny(allowed: list[str], default: str = "errno") -> dict:
    return {"default_action": default, "syscalls": [{"names": allowed, "action": "allow"}]}


def nothing_left(box) -> bool:
    return not (box.path / "pid").exists() and not (box.path / "state.json").exists()


# -- an errno rule ----------------------------------------------------------------------------


def test_mkdir_fails_with_eperm_while_everything_else_works(box):
    box.write_config(seccomp=DENY_MKDIR)
    result = box.exec("sh", "-c", "echo hello; ls /etc; mkdir /tmp/made")
    assert result.returncode == 1
    assert "mkdir: can't create directory '/tmp/made': Operation not permitted" in result.stderr
    assert result.stdout.split()[:1] == ["hello"] and "passwd" in result.stdout
    assert not (box.path / "tmp" / "made").exists()


def test_trace_action_without_a_tracer_fails_the_call_with_enosys(box):
    box.write_config(seccomp={"default_action": "allow",
                              "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "trace", "errno": 7}]})
    result = box.exec("sh", "-c", "mkdir /tmp/traced")
    assert result.returncode == 1
    assert "Function not implemented" in result.stderr  # SECCOMP_RET_TRACE with no tracer (seccomp(2))
    assert not (box.path / "tmp" / "traced").exists()


def test_without_the_profile_mkdir_works(box):
    box.write_config()
    result = box.exec("sh", "-c", "mkdir /tmp/made")
    assert result.returncode == 0, result.stderr
    assert (box.path / "tmp" / "made").is_dir()


def test_filter_is_in_the_kernels_status_of_the_process(box):
    box.write_config(seccomp=DENY_MKDIR)
    fields = status_fields(box.exec(*STATUS).stdout)
    assert fields["Seccomp"] == 2 and fields["Seccomp_filters"] == 1  # SECCOMP_MODE_FILTER (proc(5))


def test_process_without_the_profile_has_no_filter(box):
    box.write_config()
    assert status_fields(box.exec(*STATUS).stdout)["Seccomp"] == 0


def test_errno_rule_with_an_argument_condition_catches_only_matching_calls(box):
    # chmod(path, mode): mode is argument 1; busybox chmod makes chmod(2) itself.
    box.write_config(seccomp={"default_action": "allow", "syscalls": [
        {"names": ["chmod"], "action": "errno", "errno": "EACCES", "args": [{"index": 1, "op": "eq", "value": 0o700}]}]})
    result = box.exec("sh", "-c", "touch /tmp/f; chmod 755 /tmp/f && echo 755 ok; chmod 700 /tmp/f")
    assert result.stdout.strip() == "755 ok"
    assert "Permission denied" in result.stderr and result.returncode == 1
    assert (box.path / "tmp" / "f").stat().st_mode & 0o777 == 0o755


def test_masked_eq_condition_compares_the_masked_argument(box):
    # Refuse any mode that gives the group or others write access: (mode & 0o022) != 0 ... as == 0o002 / 0o020.
    box.write_config(seccomp={"default_action": "allow", "syscalls": [
        {"names": ["chmod"], "action": "errno", "args": [{"index": 1, "op": "masked_eq", "value": 0o002,
                                                         "value_two": 0o002}]}]})
    result = box.exec("sh", "-c", "touch /tmp/f; chmod 644 /tmp/f && echo 644 ok; chmod 646 /tmp/f")
    assert result.stdout.strip() == "644 ok" and "Operation not permitted" in result.stderr


# -- default deny --------------------------------------------------------------------------------


def test_default_deny_profile_with_an_allow_list_runs_its_command(box):
    box.write_config(seccomp=default_deny(list(RUNTIME_CALLS) + BUSYBOX_ECHO))
    result = box.exec("echo", "allowed")
    assert (result.returncode, result.stdout) == (0, "allowed\n"), result.stderr


def test_default_deny_profile_without_write_silences_echo(box):
    box.write_config(seccomp=default_deny(list(RUNTIME_CALLS) + [n for n in BUSYBOX_ECHO if n != "write"]))
    result = box.exec("echo", "allowed")
    assert result.returncode != 0 and result.stdout == ""


def test_default_kill_profile_kills_the_command_at_its_first_denied_call(box):
    box.write_config(seccomp=default_deny(list(RUNTIME_CALLS) + [n for n in BUSYBOX_ECHO if n != "write"], "kill"))
    result = box.exec("echo", "allowed")
    assert result.returncode == SIGSYS_STATUS and result.stdout == ""


def test_default_deny_profile_missing_the_runtimes_calls_is_refused_before_start(box):
    box.write_config(seccomp=default_deny(BUSYBOX_ECHO))
    result = box.exec("echo", "allowed")
    assert result.returncode != 0 and result.stdout == ""
    assert ("$.seccomp: the runtime needs newfstatat, access, rt_sigaction, rt_sigprocmask, close_range, ioctl, "
            "sendto, execveat, fcntl, execve") in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert nothing_left(box)


# -- the other actions -----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["kill", "kill_process", "trap"])
def test_killing_action_ends_the_command_with_sigsys(box, action):
    box.write_config(seccomp={"default_action": "allow", "syscalls": [{"names": ["mkdir"], "action": action}]})
    result = box.exec("mkdir", "/tmp/made")
    assert result.returncode == SIGSYS_STATUS
    assert not (box.path / "tmp" / "made").exists()


def test_killing_action_spares_other_calls(box):
    box.write_config(seccomp={"default_action": "allow", "syscalls": [{"names": ["rmdir"], "action": "kill"}]})
    assert box.exec("mkdir", "/tmp/made").returncode == 0


def test_log_action_lets_the_call_run(box):
    box.write_config(seccomp={"default_action": "allow", "syscalls": [{"names": ["mkdir"], "action": "log"}]})
    result = box.exec("sh", "-c", "mkdir /tmp/made && grep ^Seccomp: /proc/self/status")
    assert result.returncode == 0, result.stderr
    assert (box.path / "tmp" / "made").is_dir() and status_fields(result.stdout)["Seccomp"] == 2


# -- privileges ---------------------------------------------------------------------------------------


def test_non_root_user_gets_no_new_privs_to_load_the_filter(box):
    box.write_config(seccomp=DENY_MKDIR, user="user")
    result = box.exec("sh", "-c", "grep -E '^(Seccomp|NoNewPrivs)' /proc/self/status; mkdir /tmp/made")
    assert status_fields(result.stdout) == {"NoNewPrivs": 1, "Seccomp": 2, "Seccomp_filters": 1}
    assert "Operation not permitted" in result.stderr


def test_root_keeping_sys_admin_loads_the_filter_without_no_new_privs(box):
    box.write_config(seccomp=DENY_MKDIR)
    assert status_fields(box.exec(*STATUS).stdout) == {"NoNewPrivs": 0, "Seccomp": 2, "Seccomp_filters": 1}


def test_filter_comes_after_the_capability_drop(box):
    # Without SYS_ADMIN the filter still loads (no_new_privs), after capabilities are final.
    box.write_config(seccomp=DENY_MKDIR, capabilities=["CHOWN"])
    result = box.exec(*STATUS)
    assert status_fields(result.stdout) == {"NoNewPrivs": 1, "Seccomp": 2, "Seccomp_filters": 1}, result.stderr


# -- joined processes ------------------------------------------------------------------------------------


def test_joined_process_gets_the_same_filter(box):
    box.write_config(seccomp=DENY_MKDIR)
    first = box.popen("sleep", "30")
    pid = box.wait_running()
    joined = box.exec("sh", "-c", "grep ^Seccomp: /proc/self/status; mkdir /tmp/joined")
    with open(f"/proc/{pid}/status") as f:
        assert status_fields(f.read())["Seccomp"] == 2
    assert status_fields(joined.stdout) == {"Seccomp": 2}
    assert "Operation not permitted" in joined.stderr and not (box.path / "tmp" / "joined").exists()
    first.kill()


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("section, message", [
    ({"default_action": "allow", "syscalls": [{"names": ["mkdri"], "action": "errno"}]},
     "$.seccomp.syscalls[0].names[0]: unknown system call 'mkdri'"),
    ({"default_action": "allow", "syscalls": [{"names": ["mkdir"], "action": "deny"}]},
     "$.seccomp.syscalls[0].action: unknown seccomp action 'deny'"),
    ({"default_action": "alow"}, "$.seccomp.default_action: unknown seccomp action 'alow': did you mean allow?"),
])
def test_bad_profile_is_one_line_error_and_leaves_nothing(box, section, message):
    box.write_config(seccomp=section)
    result = box.exec("true")
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert nothing_left(box)


# -- a threaded caller: the engine's fresh interpreter runs the setup --------------------------------------

THREADED = textwrap.dedent("""
    import sys, threading
    from libcontainer.container import Container
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        status = Container(".").run(sys.argv[1:])
    finally:
        stop.set()
        worker.join()
    sys.exit(status)
""")


def test_threaded_caller_gets_the_filter_through_a_fresh_interpreter(box):
    box.write_config(seccomp=DENY_MKDIR)
    result = subprocess.run([sys.executable, "-c", THREADED, "sh", "-c", "grep ^Seccomp: /proc/self/status; mkdir /tmp/m"],
                            cwd=box.path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert status_fields(result.stdout) == {"Seccomp": 2}, result.stderr
    assert "Operation not permitted" in result.stderr and not (box.path / "tmp" / "m").exists()


# -- the CLI lists the plugin ---------------------------------------------------------------------------------


def test_nsinit_plugins_lists_seccomp(box):
    result = box.nsinit("plugins")
    assert result.returncode == 0
    assert "seccomp 0.1.0 (libcontainer-seccomp)" in result.stdout
    assert "keys:  seccomp" in result.stdout


def test_nsinit_config_schema_includes_seccomp(box):
    result = box.nsinit("config", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    seccomp = schema["properties"]["seccomp"]
    assert seccomp["required"] == ["default_action"]
    assert set(seccomp["properties"]) == {"default_action", "default_errno", "architectures", "syscalls"}


THREADED_JOIN = textwrap.dedent("""
    import sys, threading
    from libcontainer.container import Container
    from libcontainer.errors import ContainerError
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        proc = Container(".").join(sys.argv[1:])
        proc.start()
        status = proc.wait()
    except ContainerError as e:
        print(e, file=sys.stderr)
        status = 125
    finally:
        stop.set()
        worker.join()
    sys.exit(status)
""")


def _threaded_join(box, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", THREADED_JOIN, *cmd], cwd=box.path, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_threaded_join_never_runs_without_the_filter(box):
    """Whatever the engine does, a joined process never runs unfiltered: it gets the filter or is refused."""
    box.write_config(seccomp=DENY_MKDIR)
    first = box.popen("sleep", "30")
    box.wait_running()
    result = _threaded_join(box, "sh", "-c", "grep ^Seccomp: /proc/self/status; mkdir /tmp/j")
    first.kill()
    assert not (box.path / "tmp" / "j").exists()
    assert status_fields(result.stdout) == {"Seccomp": 2} or (
        result.returncode == 125 and "seccomp: libseccomp.so.2 was not loaded" in result.stderr), result.stderr


def test_threaded_join_gets_the_same_filter(box):
    box.write_config(seccomp=DENY_MKDIR)
    first = box.popen("sleep", "30")
    box.wait_running()
    result = _threaded_join(box, "sh", "-c", "grep ^Seccomp: /proc/self/status; mkdir /tmp/j")
    first.kill()
    assert status_fields(result.stdout) == {"Seccomp": 2}, result.stderr
    assert "Operation not permitted" in result.stderr


def test_default_deny_profile_with_a_tty_runs_its_command(box):
    import shutil

    from libcontainer.testing.fixtures import nsinit_command

    if not shutil.which("script"):
        pytest.skip("needs script(1) for a terminal")
    # The tty's master end goes to nsinit before the start: no call more than without a tty.
    box.write_config(tty=True, seccomp=default_deny(list(RUNTIME_CALLS) + BUSYBOX_ECHO))
    command = " ".join(nsinit_command() + ["exec", "--", "echo", "tty-allowed"])
    result = subprocess.run(["script", "-qec", command, "/dev/null"], cwd=box.path, capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0 and "tty-allowed" in result.stdout, result.stdout + result.stderr


def test_profile_libseccomp_rejects_fails_on_the_host_before_the_container_exists(box):
    same = [{"index": 1, "op": "eq", "value": 0o700}]
    box.write_config(seccomp={"default_action": "allow", "syscalls": [
        {"names": ["chmod"], "action": "errno", "args": same}, {"names": ["chmod"], "action": "kill", "args": same}]})
    result = box.exec("true")
    assert result.returncode == 125
    assert result.stderr == ("nsinit: seccomp: the rule for chmod (kill) conflicts with an earlier rule for it with the "
                             "same conditions and another action\n")
    assert nothing_left(box)


def test_same_conditions_with_the_same_action_are_accepted(box):
    same = [{"index": 1, "op": "eq", "value": 0o700}]
    box.write_config(seccomp={"default_action": "allow", "syscalls": [
        {"names": ["chmod"], "action": "errno", "args": same}, {"names": ["chmod"], "action": "errno", "args": same}]})
    assert box.exec("true").returncode == 0


def test_a_filter_that_kills_the_setup_is_named_in_the_error(box):
    """A rule with conditions passes validation; when it kills a call the setup makes, nsinit says SIGSYS, not just EOF."""
    killer = {"default_action": "allow",
              "syscalls": [{"names": ["close_range"], "action": "kill_process", "args": [{"index": 0, "op": "ge", "value": 0}]}]}
    box.write_config(seccomp=killer)
    result = box.exec("true")
    assert result.returncode == 125
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "killed by SIGSYS" in lines[0] and "seccomp" in lines[0], result.stderr
    assert nothing_left(box)


def test_a_filter_sparing_the_setup_runs_the_command(box):
    """Twin: the same rule on a call the setup does not make lets the command run."""
    spared = {"default_action": "allow",
              "syscalls": [{"names": ["mknodat"], "action": "kill_process", "args": [{"index": 2, "op": "ge", "value": 0}]}]}
    box.write_config(seccomp=spared)
    assert box.exec("true").returncode == 0
