"""nsinit config convert|validate|schema, nsinit spec and nsinit plugins: output, exit codes, clean errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nsinit.cli import app

NSINIT = Path(sys.executable).parent / "nsinit"
SAMPLES = Path(__file__).resolve().parents[2] / "sample_configs"
CORE_JSON = '{\n    "environment": [\n        "HOME=/"\n    ],\n    "hostname": "box",\n    "tty": true\n}\n'
CORE_YAML = "# a box\nhostname: box\ntty: true\nenvironment: [HOME=/]\n"


def nsinit(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def run_nsinit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(NSINIT), *args], capture_output=True, text=True, cwd=cwd, timeout=60)


# -- convert ------------------------------------------------------------------------


def test_convert_yaml_writes_canonical_json_to_stdout(write):
    result = nsinit("config", "convert", str(write("c.yaml", CORE_YAML)))
    assert result.exit_code == 0 and result.stdout == CORE_JSON


def test_convert_json_defaults_to_yaml(write):
    result = nsinit("config", "convert", str(write("c.json", CORE_JSON)))
    assert result.exit_code == 0
    assert result.stdout == "environment:\n- HOME=/\nhostname: box\ntty: true\n"


def test_convert_to_chosen_format_and_output_file(write, tmp_path):
    out = tmp_path / "out.json"
    result = nsinit("config", "convert", str(write("c.json", CORE_JSON)), "-o", str(out), "--to", "json")
    assert result.exit_code == 0 and result.stdout == "" and out.read_text() == CORE_JSON


def test_convert_takes_the_format_from_the_output_extension(write, tmp_path):
    out = tmp_path / "out.yaml"
    assert nsinit("config", "convert", str(write("c.yaml", CORE_YAML)), "-o", str(out)).exit_code == 0
    assert out.read_text().startswith("environment:\n- HOME=/\n")


def test_convert_refuses_to_overwrite_its_input(write):
    path = write("c.yaml", CORE_YAML)
    result = nsinit("config", "convert", str(path), "-o", str(path))
    assert result.exit_code == 2
    assert result.stderr == f"nsinit: refusing to overwrite the input {path} with -o; add --force to do so\n"
    assert path.read_text() == CORE_YAML


def test_convert_overwrites_its_input_with_force(write):
    path = write("c.yaml", CORE_YAML)
    assert nsinit("config", "convert", str(path), "-o", str(path), "--force", "--to", "json").exit_code == 0
    assert path.read_text() == CORE_JSON


def test_convert_of_invalid_config_prints_every_problem_and_exits_1(write):
    path = write("c.yaml", "hostname: 5\ntty: maybe\n")
    result = nsinit("config", "convert", str(path))
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"nsinit: {path}: $.hostname: expected a string, got an integer (5)",
        f"nsinit: {path}: $.tty: expected a boolean, got a string ('maybe')",
    ]


def test_convert_with_unknown_output_format_is_a_usage_error(write):
    assert nsinit("config", "convert", str(write("c.yaml", CORE_YAML)), "--to", "xml").exit_code == 2


# -- validate -------------------------------------------------------------------------


def test_validate_says_valid(write):
    path = write("c.yaml", CORE_YAML)
    result = nsinit("config", "validate", str(path))
    assert result.exit_code == 0 and result.stdout == f"{path}: valid\n"


def test_validate_prints_each_problem_with_file_and_path(write):
    path = write("c.json", '{"hostnme": "x", "working_dir": "tmp"}')
    result = nsinit("config", "validate", str(path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}: $.hostnme: unknown key 'hostnme'; did you mean 'hostname'?",
        f"{path}: $.working_dir: expected an absolute path (starting with '/'), got 'tmp'",
    ]


def test_validate_reports_syntax_errors_with_line_and_column(write):
    path = write("c.json", '{\n  "tty": true,\n}\n')
    result = nsinit("config", "validate", str(path))
    assert result.exit_code == 1
    assert result.stdout == f"{path}:3:1: invalid JSON: Expecting property name enclosed in double quotes\n"


def test_validate_accepts_a_container_directory(tmp_path):
    (tmp_path / "container.yaml").write_text(CORE_YAML)
    result = nsinit("config", "validate", str(tmp_path))
    assert result.exit_code == 0 and result.stdout == f"{tmp_path}: valid\n"


# -- schema, spec, plugins ----------------------------------------------------------------


def test_schema_is_a_json_schema_of_the_installed_plugins_keys():
    result = nsinit("config", "schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"].endswith("2020-12/schema") and schema["additionalProperties"] is False
    assert {"hostname", "mounts", "device_nodes"} <= set(schema["properties"])


def test_spec_prints_the_canonical_config_of_the_container_directory(tmp_path):
    (tmp_path / "container.yaml").write_text(CORE_YAML)
    result = nsinit("spec", "--root", str(tmp_path))
    assert result.exit_code == 0 and result.stdout == CORE_JSON


def test_spec_reads_data_path_from_the_environment(tmp_path):
    (tmp_path / "container.yaml").write_text(CORE_YAML)
    assert nsinit("spec", env={"data_path": str(tmp_path)}).stdout == CORE_JSON


def test_spec_uses_the_current_directory(tmp_path):
    (tmp_path / "container.json").write_text(CORE_JSON)
    result = run_nsinit("spec", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == CORE_JSON


def test_spec_without_a_config_is_a_one_line_error(tmp_path):
    result = run_nsinit("spec", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == (
        f"nsinit: {tmp_path}: no container config here: looked for container.json, container.yaml, container.yml\n"
    )


def test_plugins_lists_the_core_with_its_keys_and_hooks():
    result = nsinit("plugins")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("core ") and "hostname" in lines[1] and "validate_config" in lines[2]


def test_plugins_json_lists_every_plugin_with_keys_hooks_and_errors():
    infos = json.loads(nsinit("plugins", "--json").stdout)
    core = next(i for i in infos if i["name"] == "core")
    assert core["distribution"] == "libcontainer" and "hostname" in core["keys"]
    assert "libcontainer_validate_config" in core["hooks"]
    assert all(set(i) == {"name", "version", "distribution", "keys", "hooks", "error"} for i in infos)


def test_plugins_shows_a_plugin_that_failed_to_load(monkeypatch):
    class Broken:
        name = "seccomp"
        dist = type("Dist", (), {"version": "1.0", "name": "libcontainer-seccomp"})()

        def load(self):
            raise ImportError("libseccomp.so.2: cannot open shared object file")

    monkeypatch.setattr("libcontainer.plugins._entry_points", lambda: [Broken()])
    result = nsinit("plugins")
    assert result.exit_code == 0
    assert "seccomp 1.0 (libcontainer-seccomp)\n    FAILED to load: ImportError: libseccomp.so.2" in result.stdout


# -- through the installed command: exit codes and no tracebacks -----------------------------


@pytest.mark.parametrize(
    "content, code",
    [(b"\x00\x01garbage", 1), (b"hostname: [", 1), (b'{"tty": 1}', 1), (b"- a list\n", 1)],
)
def test_bad_files_give_one_line_errors_without_traceback(tmp_path, content, code):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    result = run_nsinit("config", "convert", str(path))
    assert result.returncode == code
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(f"nsinit: {path}")


@pytest.mark.parametrize("name", ["minimal.yaml", "attach_to_bridge.yaml"])
def test_installed_nsinit_converts_the_yaml_samples(name):
    result = run_nsinit("config", "convert", str(SAMPLES / name))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (SAMPLES / name.replace(".yaml", ".json")).read_text()
