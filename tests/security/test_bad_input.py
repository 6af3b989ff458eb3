"""Bad input: each malformed config is refused with one clear line naming the field or file, fast, leaving nothing."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from libcontainer.configfile import MAX_CONFIG_BYTES
from libcontainer.testing.fixtures import nsinit_command

pytestmark = pytest.mark.privileged

# The bound: a refused config costs the user less than this.
MAX_SECONDS = 2.0
# What a container directory holds while (or after) a container ran there.
STATE_FILES = ("pid", "start", "state.json")


@dataclass(frozen=True)
class BadConfig:
    """A config file that must be refused, and what its one line of error must say."""

    id: str
    name: str  # container.json or container.yaml
    content: bytes
    says: str  # the field (JSON path) or the file's problem that the line names


def _json(doc: object) -> bytes:
    return json.dumps(doc).encode()


def _billion_laughs() -> bytes:
    """Nine levels of YAML aliases of aliases: 9**6 values once expanded."""
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for prev, cur in zip("abcde", "bcdef"):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def _fifty_megabytes() -> bytes:
    """A well-formed 50 MB JSON config: refused for its size, not for its content."""
    return b'{"hostname": "' + b"a" * (50 * 1024 * 1024) + b'"}'


CASES = [
    BadConfig("json-truncated", "container.json", b'{"namespaces": ', "invalid JSON"),
    BadConfig("json-trailing-comma", "container.json", b'{"hostname": "x",}', "invalid JSON"),
    BadConfig("json-empty", "container.json", b"", "invalid JSON"),
    BadConfig("json-top-level-list", "container.json", b"[1, 2]", "the top level must be a mapping"),
    BadConfig("json-nested-too-deeply", "container.json", b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    BadConfig("json-infinity", "container.json", b'{"hostname": 1e999}', "$.hostname"),
    BadConfig("yaml-unclosed-flow", "container.yaml", b"namespaces: [NEWNS\nhostname: :\n", "invalid YAML"),
    BadConfig("yaml-tab-indent", "container.yaml", b"namespaces:\n\tNEWNS: true\n", "invalid YAML"),
    BadConfig("yaml-python-tag", "container.yaml", b"hostname: !!python/object/apply:os.system ['true']\n",
              "invalid YAML"),
    BadConfig("yaml-billion-laughs", "container.yaml", _billion_laughs(), "expands to more than"),
    BadConfig("wrong-type-hostname", "container.json", _json({"hostname": 5}), "$.hostname"),
    BadConfig("wrong-type-namespaces", "container.json", _json({"namespaces": ["NEWNS"]}), "$.namespaces"),
    BadConfig("wrong-type-environment", "container.json", _json({"environment": "PATH=/bin"}), "$.environment"),
    BadConfig("wrong-type-readonly-fs", "container.json", _json({"readonly_fs": "yes"}), "$.readonly_fs"),
    BadConfig("wrong-type-mounts", "container.json", _json({"mounts": {"destination": "/mnt"}}), "$.mounts"),
    BadConfig("unknown-key", "container.json", _json({"hostnme": "x"}), "$.hostnme"),
    BadConfig("missing-rootfs", "container.json", _json({"rootfs": "/nonexistent-lctest-security-b"}), "$.rootfs"),
    BadConfig("rootfs-is-a-file", "container.json", _json({"rootfs": "/etc/hostname"}), "$.rootfs"),
    BadConfig("relative-rootfs", "container.json", _json({"rootfs": "relative/root"}), "$.rootfs"),
    BadConfig("relative-working-dir", "container.json", _json({"working_dir": "rel/dir"}), "$.working_dir"),
    BadConfig("relative-mount-destination", "container.json",
              _json({"mounts": [{"type": "bind", "source": "/tmp", "destination": "rel"}]}), "$.mounts[0].destination"),
    BadConfig("dotdot-mount-destination", "container.json",
              _json({"mounts": [{"type": "bind", "source": "/tmp", "destination": "/../etc"}]}),
              "$.mounts[0].destination"),
    BadConfig("unknown-namespace", "container.json", _json({"namespaces": {"NEWFOO": True}}), "$.namespaces.NEWFOO"),
    BadConfig("duplicated-namespace-json", "container.json", b'{"namespaces": {"NEWNS": true, "NEWNS": false}}',
              "duplicate key 'NEWNS'"),
    BadConfig("duplicated-namespace-yaml", "container.yaml", b"namespaces:\n  NEWNS: true\n  NEWNS: false\n",
              "duplicate key 'NEWNS'"),
    BadConfig("duplicated-namespace-alias", "container.json", _json({"namespaces": {"NEWNS": True, "MOUNT": True}}),
              "$.namespaces.MOUNT"),
    BadConfig("unknown-capability", "container.json", _json({"capabilities": ["CHOWN", "CAP_FOO"]}),
              "$.capabilities[1]"),
    BadConfig("nul-in-hostname", "container.json", b'{"hostname": "box\\u0000evil"}', "$.hostname"),
    BadConfig("nul-in-user", "container.json", b'{"user": "root\\u0000x"}', "$.user"),
    BadConfig("nul-in-a-key", "container.json", b'{"cgroups": {"name\\u0000": "x"}}', "NUL"),
    BadConfig("fifty-megabytes", "container.json", _fifty_megabytes(), f"at most {MAX_CONFIG_BYTES} bytes"),
    BadConfig("binary-elf", "container.json", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, "binary data"),
    BadConfig("binary-not-utf8", "container.json", b"\xff\xfe\x80\x81garbage", "not UTF-8"),
]


def _write(directory: Path, case: BadConfig) -> Path:
    path = directory / case.name
    path.write_bytes(case.content)
    return path


def _run(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    result = subprocess.run(nsinit_command() + args, cwd=cwd, capture_output=True, text=True, timeout=30,
                            stdin=subprocess.DEVNULL)
    return result, time.monotonic() - began


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _assert_nothing_left(directory: Path, case: BadConfig) -> None:
    from libcontainer.state import private_dir

    left = sorted(p.name for p in directory.iterdir() if p.name != case.name)
    assert left == [], f"{case.id}: left behind in the container directory: {left}"
    assert not private_dir(directory).exists(), f"{case.id}: left its trusted state behind"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_config_is_refused_by_exec_with_one_line_naming_it(tmp_path, case):
    config = _write(tmp_path, case)
    result, seconds = _run(["exec", "true"], tmp_path)
    lines = _lines(result.stderr)
    assert result.returncode == 125, (case.id, result.returncode, result.stderr)
    assert len(lines) == 1, f"{case.id}: expected one line, got {lines}"
    assert lines[0].startswith(f"nsinit: {config}"), lines  # names the file
    assert case.says in lines[0], lines
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert seconds < MAX_SECONDS, f"{case.id}: took {seconds:.2f}s"
    _assert_nothing_left(tmp_path, case)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_config_is_refused_by_config_validate_with_one_line_naming_it(tmp_path, case):
    config = _write(tmp_path, case)
    result, seconds = _run(["config", "validate", str(config)], tmp_path)
    # validate prints its findings as its output (stdout), as a linter does.
    lines = _lines(result.stdout) + _lines(result.stderr)
    assert result.returncode == 1, (case.id, result.returncode, result.stdout, result.stderr)
    assert len(lines) == 1, f"{case.id}: expected one line, got {lines}"
    assert str(config) in lines[0] and case.says in lines[0], lines
    assert "Traceback" not in result.stdout + result.stderr
    assert seconds < MAX_SECONDS, f"{case.id}: took {seconds:.2f}s"
    _assert_nothing_left(tmp_path, case)


def test_good_config_is_accepted_by_both(container):
    """The twin: the same checks pass a valid config, so the refusals above are the config's doing."""
    container.write_config()
    result, _ = _run(["config", "validate", str(container.path / "container.json")], container.path)
    assert result.returncode == 0, result.stdout + result.stderr
    result = container.exec("true")
    assert result.returncode == 0, result.stderr
    assert not any((container.path / name).exists() for name in STATE_FILES)


def test_oversized_config_is_refused_before_it_is_read(tmp_path):
    """The size check comes from stat(2): a sparse 50 GB file is refused as fast as a small one."""
    path = tmp_path / "container.json"
    with open(path, "wb") as f:
        f.truncate(50 * 1024 ** 3)
    result, seconds = _run(["exec", "true"], tmp_path)
    assert result.returncode == 125
    assert _lines(result.stderr) == [f"nsinit: {path}: too large ({50 * 1024 ** 3} bytes); a config may be at most "
                                     f"{MAX_CONFIG_BYTES} bytes (4 MiB)"]
    assert seconds < MAX_SECONDS


def test_config_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    """A named pipe as container.json (st_size 0) would block a reader forever; it is refused at once."""
    path = tmp_path / "container.json"
    os.mkfifo(path)
    result, seconds = _run(["exec", "true"], tmp_path)
    assert result.returncode == 125, result.stderr
    assert _lines(result.stderr) == [f"nsinit: {path}: not a regular file (a named pipe)"]
    assert seconds < MAX_SECONDS


UID_OUT_OF_RANGE = BadConfig("uid-out-of-range", "container.json", _json({"user": "99999999999999999999"}), "$.user")


@pytest.mark.parametrize("command", ["exec", "validate"])
def test_uid_out_of_range_is_refused_by_validation(tmp_path, command):
    config = _write(tmp_path, UID_OUT_OF_RANGE)
    args = ["exec", "true"] if command == "exec" else ["config", "validate", str(config)]
    result, _ = _run(args, tmp_path)
    lines = _lines(result.stdout) + _lines(result.stderr)
    assert result.returncode != 0
    assert len(lines) == 1 and str(config) in lines[0] and "$.user" in lines[0], lines
