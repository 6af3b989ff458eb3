"""container.json beside a container.yaml (or .yml) that says something else is refused, not silently preferred."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from libcontainer.configfile import ConfigFileError, load_config
from nsinit.cli import app

JSON = '{"capabilities": ["CHOWN", "KILL"], "cgroups": {"memory": 536870912}, "hostname": "box"}'
SAME_YAML = "# the same, as a person writes it\nhostname: box\ncapabilities: [chown, cap_kill]\ncgroups: {memory: 512M}\n"
OTHER_YAML = "hostname: other\n"


def refusal(directory, plugins) -> str:
    with pytest.raises(ConfigFileError) as e:
        load_config(directory, plugins)
    return str(e.value)


@pytest.mark.parametrize("name", ["container.yaml", "container.yml"])
def test_a_json_and_a_yaml_that_differ_are_refused_naming_both(tmp_path, fake_plugins, name):
    (tmp_path / "container.json").write_text(JSON)
    (tmp_path / name).write_text(OTHER_YAML)
    assert refusal(tmp_path, fake_plugins) == (
        f"{tmp_path}: container.json and {name} differ, and nsinit reads only container.json: remove the one "
        f"you do not mean, or write one from the other (nsinit config convert {name} -o container.json)"
    )


def test_a_json_and_a_yaml_that_mean_the_same_are_used_silently(tmp_path, fake_plugins):
    """Twin: the YAML is written as a person writes it, the JSON canonical; after parsing they are one config."""
    (tmp_path / "container.json").write_text(JSON)
    (tmp_path / "container.yaml").write_text(SAME_YAML)
    assert load_config(tmp_path, fake_plugins).hostname == "box"


def test_a_yaml_beside_a_yml_that_differ_are_refused(tmp_path, fake_plugins):
    (tmp_path / "container.yaml").write_text(SAME_YAML)
    (tmp_path / "container.yml").write_text(OTHER_YAML)
    assert refusal(tmp_path, fake_plugins).startswith(f"{tmp_path}: container.yaml and container.yml differ,")


def test_an_invalid_twin_is_refused_with_its_first_problem(tmp_path, fake_plugins):
    (tmp_path / "container.json").write_text(JSON)
    (tmp_path / "container.yaml").write_text("hostname: 5\ntty: maybe\n")
    assert refusal(tmp_path, fake_plugins) == (
        f"{tmp_path}: container.json and container.yaml are both here, and container.yaml is not a valid config "
        "($.hostname: expected a string, got an integer (5)): remove the one you do not mean"
    )


def test_a_twin_that_is_not_a_regular_file_is_left_alone(tmp_path, fake_plugins):
    """A directory (or a pipe, never read) named container.yaml is no config: the JSON is used."""
    (tmp_path / "container.json").write_text(JSON)
    (tmp_path / "container.yaml").mkdir()
    assert load_config(tmp_path, fake_plugins).hostname == "box"


def test_a_file_named_directly_is_read_whatever_lies_beside_it(tmp_path, fake_plugins):
    (tmp_path / "container.json").write_text(JSON)
    (tmp_path / "container.yaml").write_text(OTHER_YAML)
    assert load_config(tmp_path / "container.yaml", fake_plugins).hostname == "other"


@pytest.mark.parametrize("args", [["config", "validate", "{dir}"], ["spec", "--root", "{dir}"],
                                  ["config", "convert", "{dir}"]], ids=["validate", "spec", "convert"])
def test_nsinit_refuses_differing_twins_in_one_line(tmp_path, args):
    (tmp_path / "container.json").write_text('{"hostname": "box"}')
    (tmp_path / "container.yaml").write_text(OTHER_YAML)
    result = CliRunner().invoke(app, [a.format(dir=tmp_path) for a in args])
    assert result.exit_code == 1
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 1 and "container.json and container.yaml differ" in lines[0], lines
    assert "Traceback" not in result.stdout + result.stderr


def test_nsinit_validate_accepts_twins_that_mean_the_same(tmp_path):
    (tmp_path / "container.json").write_text('{"hostname": "box", "namespaces": {"NEWUTS": true}}')
    (tmp_path / "container.yaml").write_text("namespaces: {newuts: true}\nhostname: box\n")
    result = CliRunner().invoke(app, ["config", "validate", str(tmp_path)])
    assert result.exit_code == 0 and result.stdout == f"{tmp_path}: valid\n"
