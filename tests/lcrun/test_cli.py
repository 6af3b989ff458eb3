"""lcrun's command line without a container: runc's flags, --help everywhere, one line for bad input, runc's exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lcrunner import LCRUN, Lcrun
from lcrun import cli


@pytest.fixture
def lcrun(tmp_path):
    return Lcrun(tmp_path / "root")


def test_version_names_lcrun_and_the_spec_it_implements(lcrun):
    from lcrun.oci import OCI_VERSION

    r = lcrun("--version")
    assert r.returncode == 0
    assert r.stdout.splitlines() == [f"lcrun version {cli.VERSION}", f"spec: {OCI_VERSION}"]
    assert cli.SPEC_VERSION == OCI_VERSION


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_has_its_help(lcrun, command):
    r = lcrun(command, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: lcrun [global options] {command}")
    for names, _, _, _ in cli.COMMANDS[command].options:
        assert names[0] in r.stdout


def test_global_help_lists_every_command(lcrun):
    r = lcrun("--help")
    assert r.returncode == 0
    for command in cli.COMMANDS:
        assert f"  {command} " in r.stdout


@pytest.mark.parametrize("args, words", [
    (["state"], "state needs an id"),
    (["state", "a/b"], "invalid container id 'a/b'"),
    (["state", ".."], "invalid container id '..'"),
    (["kill", "c1", "NOSUCH"], "unknown signal 'NOSUCH'"),
    (["kill", "c1", "99"], "unknown signal '99'"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["create", "--no-such-flag", "c1"], "create: unknown option --no-such-flag"),
    (["--no-such-global", "state", "c1"], "unknown global option --no-such-global"),
    (["--log-format", "xml", "state", "c1"], "--log-format: expected text or json"),
    (["--systemd-cgroup", "state", "c1"], "--systemd-cgroup: lcrun has no systemd cgroup driver"),
    (["state", "c1"], "container c1 does not exist"),
    (["start", "c1"], "container c1 does not exist"),
    (["kill", "c1"], "container c1 does not exist"),
    (["delete", "c1"], "container c1 does not exist"),
    (["create", "--bundle", "/nonexistent/bundle", "c1"], "no such bundle directory"),
    (["create", "--preserve-fds", "x", "c1"], "--preserve-fds: expected a number"),
    (["kill", "c1", "15", "extra"], "kill: unexpected argument 'extra'"),
])
def test_bad_input_is_one_line_and_status_1(lcrun, args, words):
    r = lcrun(*args)
    assert r.returncode == 1, r
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("lcrun: ") and words in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_a_bundle_without_config_json_is_one_line(lcrun, tmp_path):
    (tmp_path / "b").mkdir()
    r = lcrun("create", "--bundle", str(tmp_path / "b"), "c1")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "config.json" in r.stderr, r.stderr
    assert lcrun.ids() == []


def test_delete_force_of_an_unknown_container_succeeds_as_runcs(lcrun):
    # podman and containerd-shim delete twice; the second finds nothing.
    assert lcrun("delete", "--force", "c1").returncode == 0
    assert lcrun("delete", "c1").returncode == 1


def test_errors_go_to_the_log_file_in_json_lines(lcrun, tmp_path):
    log = tmp_path / "log.json"
    r = lcrun("start", "c1", options=("--log", str(log), "--log-format", "json"))
    assert r.returncode == 1
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and entry["msg"] == "container c1 does not exist"
    assert entry["time"].endswith("Z") and "T" in entry["time"]
    assert r.stderr == "lcrun: container c1 does not exist\n"


def test_the_log_file_in_text_is_logrus_like(lcrun, tmp_path):
    log = tmp_path / "log.txt"
    lcrun("--log=" + str(log), "state", "c1")
    line = log.read_text().splitlines()[-1]
    assert line.startswith('time="') and 'level=error msg="container c1 does not exist"' in line


def test_global_options_take_go_flag_spellings(lcrun, tmp_path):
    # Go's flag package: one dash or two, "=VALUE" or a separate word.
    r = subprocess.run(LCRUN + [f"-root={tmp_path}", "-log-format", "json", "list", "-f", "json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []


def test_rootless_is_accepted_with_or_without_a_value(lcrun):
    for options in (("--rootless",), ("--rootless", "auto"), ("--rootless=false",)):
        r = lcrun("list", "--quiet", options=options)
        assert r.returncode == 0 and r.stdout == "", r.stderr


def test_spec_writes_config_json_once(lcrun, tmp_path):
    assert lcrun("spec", "--bundle", str(tmp_path)).returncode == 0
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc["process"]["terminal"] is True and doc["root"]["path"] == "rootfs"
    again = lcrun("spec", "--bundle", str(tmp_path))
    assert again.returncode == 1 and "exists" in again.stderr
    rootless = tmp_path / "rl"
    rootless.mkdir()
    assert lcrun("spec", "--rootless", cwd=rootless).returncode == 0
    assert any(ns["type"] == "user" for ns in json.loads((rootless / "config.json").read_text())["linux"]["namespaces"])


def test_features_is_the_features_document(lcrun):
    r = lcrun("features")
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    assert doc["ociVersionMax"] == cli.SPEC_VERSION and "createRuntime" in doc["hooks"]


def test_state_kill_and_list_import_neither_pluggy_nor_typer(tmp_path):
    code = ("import sys; from lcrun import cli\n"
            "for argv in (['state', 'c1'], ['kill', 'c1', 'KILL'], ['list'], ['delete', '--force', 'c1']):\n"
            "    try: cli.run(['--root', sys.argv[1]] + argv)\n"
            "    except cli.Failure: pass\n"
            "print(sorted(m for m in ('pluggy', 'typer', 'libcontainer.container', 'libcontainer.plugins') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "[]"


def test_parse_options_stops_at_exec_id():
    command = cli.COMMANDS["exec"]
    opts, positionals, tail = cli.split_command(["--tty", "-e", "A=B", "c1", "sh", "-c", "--help"], command)
    assert opts == {"tty": True, "env": ["A=B"]}
    assert positionals == ["c1"] and tail == ["sh", "-c", "--help"]
