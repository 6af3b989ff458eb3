"""Config files: finding, parsing JSON and YAML, clean errors, key ownership, samples, schema, dump."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from libcontainer.config import Config
from libcontainer.configfile import (
    MAX_CONFIG_BYTES,
    combined_schema,
    dump,
    find_config,
    load_config,
    load_document,
    parse_config,
)
from libcontainer.errors import ConfigError, ConfigProblem
from libcontainer.plugins import PluginInfo, get_plugin_manager, hookimpl


SAMPLES = Path(__file__).resolve().parents[2] / "sample_configs"
SAMPLE_NAMES = ["minimal", "attach_to_bridge"]
# SHA-256 of the original libcontainer's sample_configs/<name>.json, which
# sample_configs/ keeps byte for byte (taken from the reference copies the
# project started from, so the check needs nothing outside the repository).
REFERENCE_SHA256 = {
    "minimal": "8e0701e142439335bccea73777a55bbe68e98da86579b77433d12b009dafcd7b",
    "attach_to_bridge": "9e7c6a840f26770803e460e7b0e0f1441b3ef2af175e65aac9c270d06364eea0",
}


def error_of(fn, *args):
    with pytest.raises(ConfigError) as e:
        fn(*args)
    return str(e.value)


# -- finding ---------------------------------------------------------------------


def test_container_json_is_preferred_to_yaml(tmp_path):
    (tmp_path / "container.yaml").write_text("tty: true\n")
    (tmp_path / "container.json").write_text("{}")
    assert find_config(tmp_path) == tmp_path / "container.json"


def test_container_yaml_is_found_without_json(tmp_path):
    (tmp_path / "container.yml").write_text("tty: true\n")
    assert find_config(tmp_path) == tmp_path / "container.yml"


def test_directory_without_config_is_named_in_the_error(tmp_path):
    assert error_of(find_config, tmp_path) == (
        f"{tmp_path}: no container config here: looked for container.json, container.yaml, container.yml"
    )


def test_load_config_accepts_a_container_directory(tmp_path, core_only):
    (tmp_path / "container.yaml").write_text("hostname: box\n")
    assert load_config(tmp_path, core_only).hostname == "box"


def test_missing_file_is_a_clean_error(tmp_path, core_only):
    assert error_of(load_config, tmp_path / "nope.json", core_only) == f"{tmp_path}/nope.json: no such file"


# -- malformed files ---------------------------------------------------------------


def test_malformed_json_gives_file_line_and_column(write):
    path = write("c.json", '{\n    "hostname": "box",\n    "tty": tru\n}\n')
    assert error_of(load_document, path) == f"{path}:3:12: invalid JSON: Expecting value"


def test_trailing_comma_in_json_gives_its_position(write):
    path = write("c.json", '{"tty": true,}')
    assert error_of(load_document, path).startswith(f"{path}:1:14: invalid JSON:")


def test_malformed_yaml_gives_file_line_and_column(write):
    path = write("c.yaml", "hostname: box\ntty: [true\nuser: x\n")
    message = error_of(load_document, path)
    assert message.startswith(f"{path}:3:5: invalid YAML: ")


def test_yaml_tab_indentation_gives_its_position(write):
    path = write("c.yaml", "context:\n\trestrictions: 'true'\n")
    assert error_of(load_document, path).startswith(f"{path}:2:1: invalid YAML: ")


def test_duplicate_key_in_json_is_refused(write):
    path = write("c.json", '{"tty": true, "tty": false}')
    assert error_of(load_document, path) == f"{path}: invalid JSON: duplicate key 'tty' in one object"


def test_duplicate_key_in_yaml_is_refused_with_its_position(write):
    path = write("c.yaml", "tty: true\nhostname: a\ntty: false\n")
    assert error_of(load_document, path) == f"{path}:3:1: invalid YAML: found duplicate key 'tty' while constructing a mapping"


def test_yaml_merge_keys_may_override_merged_values(write):
    path = write("c.yaml", "a: &base {x: 1, y: 2}\nb:\n  <<: *base\n  y: 3\n")
    assert load_document(path) == {"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 3}}


def test_yaml_python_object_tags_are_refused(write):
    path = write("c.yaml", "hostname: !!python/object/apply:os.system ['echo pwned']\n")
    assert error_of(load_document, path).startswith(f"{path}:1:11: invalid YAML: could not determine a constructor")


def test_nan_in_json_is_refused(write):
    path = write("c.json", '{"cgroups": {"memory": NaN}}')
    assert error_of(load_document, path) == f"{path}: invalid JSON: NaN is not a JSON number"


def test_oversized_file_is_refused_before_reading(write):
    path = write("c.json", "{}")
    with open(path, "r+b") as f:  # sparse: big on paper, nothing to read
        f.truncate(MAX_CONFIG_BYTES + 1)
    assert error_of(load_document, path) == (
        f"{path}: too large ({MAX_CONFIG_BYTES + 1} bytes); a config may be at most 4194304 bytes (4 MiB)"
    )


def test_file_of_exactly_the_limit_is_read(write):
    path = write("c.json", '{"hostname": "' + "x" * (MAX_CONFIG_BYTES - 16) + '"}')
    assert len(load_document(path)["hostname"]) == MAX_CONFIG_BYTES - 16


def test_binary_garbage_is_a_clean_error(write):
    path = write("c.json", b"\x7fELF\x02\x01\x01\x00\x00\x00garbage")
    assert error_of(load_document, path) == f"{path}:1:8: binary data (a NUL byte), not JSON or YAML text"


def test_text_that_is_not_utf8_is_a_clean_error(write):
    path = write("c.yaml", b"hostname: caf\xe9\n")
    assert error_of(load_document, path) == f"{path}:1:14: not UTF-8 text (byte 0xe9)"


def test_utf8_bom_is_accepted(write):
    assert load_document(write("c.json", b'\xef\xbb\xbf{"tty": true}')) == {"tty": True}


@pytest.mark.parametrize(
    "name, text, found",
    [("c.json", "[1, 2]", "a list of 2 items"), ("c.yaml", "just text\n", "a string ('just text')"), ("c.json", "7", "an integer (7)")],
)
def test_top_level_must_be_a_mapping(write, name, text, found):
    path = write(name, text)
    assert error_of(load_document, path) == f"{path}: the top level must be a mapping of config keys, got {found}"


def test_empty_yaml_file_is_a_clean_error(write):
    path = write("c.yaml", "# only a comment\n")
    assert error_of(load_document, path) == f"{path}: the file is empty; expected a mapping of config keys"


def test_a_directory_given_as_document_is_a_clean_error(tmp_path):
    assert error_of(load_document, tmp_path) == f"{tmp_path}: is a directory, not a config file"


def test_yaml_alias_bomb_is_refused(write):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write("bomb.yaml", "\n".join(lines) + "\n")
    assert "expands to more than" in error_of(load_document, path)


def test_recursive_yaml_is_refused(write):
    path = write("c.yaml", "environment: &e [*e]\n")
    assert "expands to more than" in error_of(load_document, path)


def test_deeply_nested_json_is_a_clean_error(write):
    path = write("c.json", '{"a": ' + "[" * 100000 + "]" * 100000 + "}")
    assert error_of(load_document, path).startswith(f"{path}")


def test_format_is_sniffed_when_the_extension_says_nothing(write):
    assert load_document(write("config", '{"tty": true}')) == {"tty": True}
    assert load_document(write("config2", "tty: true  # yes\n")) == {"tty": True}


def test_yaml_comments_anchors_and_aliases_work(write, core_only):
    text = (
        "# a container\n"
        "environment: &env\n"
        "  - HOME=/   # home\n"
        "mounts:\n"
        "  - &m {source: /srv, destination: /srv}\n"
        "  - {<<: *m, destination: /srv2, writable: true}\n"
    )
    cfg = load_config(write("c.yaml", text), core_only)
    assert cfg.environment == ["HOME=/"]
    assert [(m.source, m.destination, m.writable) for m in cfg.mounts] == [("/srv", "/srv", None), ("/srv", "/srv2", True)]


# -- validation through the plugins ----------------------------------------------


def test_key_owned_by_no_plugin_says_so_and_lists_installed_plugins(fake_plugins):
    assert error_of(parse_config, {"seccomp": {}}, "c.json", fake_plugins) == (
        "c.json: $.seccomp: unknown key 'seccomp': no installed plugin owns it; "
        "installed plugins: capabilities, cgroups, core, namespaces, network"
    )


def test_unknown_key_close_to_a_known_one_gets_did_you_mean(fake_plugins):
    assert error_of(parse_config, {"hostnme": "box"}, "c.json", fake_plugins) == (
        "c.json: $.hostnme: unknown key 'hostnme'; did you mean 'hostname'?"
    )
    assert error_of(parse_config, {"cgroup": {}}, "c.json", fake_plugins) == (
        "c.json: $.cgroup: unknown key 'cgroup'; did you mean 'cgroups'?"
    )


def test_unowned_key_mentions_plugins_that_failed_to_load(monkeypatch):
    class BrokenEntryPoint:
        name = "seccomp"
        dist = type("Dist", (), {"version": "9.9", "name": "libcontainer-seccomp"})()

        def load(self):
            raise ImportError("No module named 'seccomp'")

    monkeypatch.setattr("libcontainer.plugins._entry_points", lambda: [BrokenEntryPoint()])
    plugins = get_plugin_manager()
    assert error_of(parse_config, {"seccomp": {}}, "c.json", plugins) == (
        "c.json: $.seccomp: unknown key 'seccomp': no installed plugin owns it; installed plugins: core; "
        "plugin 'seccomp' failed to load (ImportError: No module named 'seccomp')"
    )


def test_non_string_top_level_key_is_reported(core_only):
    assert error_of(parse_config, {1: True}, "c.yaml", core_only).startswith("c.yaml: $[1]: unknown key 1")


def test_every_problem_of_every_key_is_reported_at_once(fake_plugins):
    doc = {
        "hostname": 5,
        "tty": "yes",
        "capabilities": ["chown", "CAP_FLY"],
        "namespaces": {"NEWPIG": True},
        "mounts": [{"source": "/a", "destination": "/b"}, {"source": "/a", "destination": "b", "bogus": 1}],
        "zzz": 1,
    }
    assert error_of(parse_config, doc, "c.json", fake_plugins).splitlines() == [
        "c.json: $.hostname: expected a string, got an integer (5)",
        "c.json: $.tty: expected a boolean, got a string ('yes')",
        "c.json: $.capabilities[1]: unknown capability 'CAP_FLY'; expected one of CHOWN, DAC_OVERRIDE, FOWNER, KILL, "
        "MKNOD, NET_BIND_SERVICE, NET_RAW, SETFCAP, SETGID, SETPCAP, SETUID, SYS_ADMIN, SYS_CHROOT",
        "c.json: $.namespaces.NEWPIG: unknown namespace 'NEWPIG'; expected one of NEWIPC, NEWNET, NEWNS, NEWPID, "
        "NEWUSER, NEWUTS",
        "c.json: $.mounts[1].destination: expected an absolute path (starting with '/'), got 'b'",
        "c.json: $.mounts[1].bogus: unknown key 'bogus'; expected one of 'type', 'source', 'destination', "
        "'writable', 'private', 'data', 'options'",
        "c.json: $.zzz: unknown key 'zzz': no installed plugin owns it; installed plugins: capabilities, cgroups, "
        "core, namespaces, network",
    ]


def test_plugin_cross_field_problems_are_collected_with_the_cores(make_plugins):
    class NeedsUts:
        @hookimpl
        def libcontainer_config_schema(self):
            return {"uts": {"type": "boolean"}}

        @hookimpl
        def libcontainer_validate_config(self, config):
            if config.hostname and not config.section("uts"):
                return [ConfigProblem("$.hostname", "unable to set hostname without a private UTS namespace")]
            return None

    plugins = make_plugins(("uts", NeedsUts()))
    doc = {"hostname": "box", "uts": False, "environment": ["A=1", "A=2"]}
    assert sorted(error_of(parse_config, doc, "c.json", plugins).splitlines()) == [
        "c.json: $.environment[1]: A is set twice (also at [0])",
        "c.json: $.hostname: unable to set hostname without a private UTS namespace",
    ]
    assert parse_config({"hostname": "box", "uts": True}, "c", plugins).hostname == "box"


def test_cross_field_checks_of_inactive_plugins_are_not_called(make_plugins):
    calls = []

    class Watcher:
        @hookimpl
        def libcontainer_config_schema(self):
            return {"watched": {"type": "boolean"}}

        @hookimpl
        def libcontainer_validate_config(self, config):
            calls.append(config)

    plugins = make_plugins(("watcher", Watcher()))
    parse_config({"tty": True}, "c", plugins)
    assert calls == []
    parse_config({"watched": True}, "c", plugins)
    assert len(calls) == 1


def test_a_crashing_cross_field_check_is_a_config_error_naming_the_plugin(make_plugins):
    class Buggy:
        @hookimpl
        def libcontainer_validate_config(self, config):
            raise KeyError("oops")

    plugins = make_plugins(("buggy", Buggy()))
    assert error_of(parse_config, {"tty": True}, "c.json", plugins) == (
        "c.json: $: cannot validate: validate_config (buggy): KeyError: 'oops'"
    )


def test_yaml_authors_may_write_human_forms_that_become_canonical(write, fake_plugins):
    text = "capabilities: [chown, cap_kill]\nnamespaces: {newpid: true, CLONE_NEWNS: true}\ncgroups: {memory: 512M}\n"
    cfg = load_config(write("c.yaml", text), fake_plugins)
    assert cfg.to_dict() == {
        "capabilities": ["CHOWN", "KILL"],
        "cgroups": {"memory": 536870912},
        "namespaces": {"NEWPID": True, "NEWNS": True},
    }


# -- the samples -------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_json_is_the_reference_unchanged(name):
    assert hashlib.sha256((SAMPLES / f"{name}.json").read_bytes()).hexdigest() == REFERENCE_SHA256[name]


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_reference_sample_loads_and_round_trips_losslessly(name, fake_plugins):
    doc = json.loads((SAMPLES / f"{name}.json").read_text())
    cfg = load_config(SAMPLES / f"{name}.json", fake_plugins)
    assert cfg.to_dict() == doc
    assert Config.from_dict(doc).to_dict() == doc
    assert dump(cfg, "json") == (SAMPLES / f"{name}.json").read_text()


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_yaml_sample_converts_to_exactly_the_json_sample(name, fake_plugins):
    cfg = load_config(SAMPLES / f"{name}.yaml", fake_plugins)
    assert dump(cfg, "json") == (SAMPLES / f"{name}.json").read_text()


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_yaml_sample_uses_comments_anchors_and_lower_case_capabilities(name):
    text = (SAMPLES / f"{name}.yaml").read_text()
    assert "# " in text and "&null" in text and "*null" in text
    assert "- chown" in text or "[chown," in text


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_json_to_yaml_to_json_is_lossless(name, fake_plugins, write):
    original = (SAMPLES / f"{name}.json").read_text()
    as_yaml = dump(load_config(SAMPLES / f"{name}.json", fake_plugins), "yaml")
    back = dump(load_config(write("back.yaml", as_yaml), fake_plugins), "json")
    assert back == original


def test_yaml_dump_quotes_strings_that_yaml_would_read_as_other_types(write, core_only):
    doc = {"context": {"restrictions": "true", "mount_label": "", "process_label": "no", "x": "0755", "y": "null"}}
    text = dump(doc, "yaml")
    assert load_config(write("c.yaml", text), core_only).to_dict() == doc


def test_canonical_json_has_sorted_keys_and_indent_4():
    assert dump({"tty": True, "hostname": "a"}) == '{\n    "hostname": "a",\n    "tty": true\n}\n'


def test_yaml_dump_is_block_style_and_sorted():
    assert dump({"tty": True, "environment": ["A=1"]}, "yaml") == "environment:\n- A=1\ntty: true\n"


def test_yaml_dump_writes_shared_values_without_anchors():
    shared = {"path": "/dev/null"}
    assert "&" not in dump({"a": [shared], "b": [shared]}, "yaml")


@pytest.mark.parametrize("name", ["minimal.json", "attach_to_bridge.json", "minimal.yaml", "attach_to_bridge.yaml"])
def test_samples_load_with_the_installed_plugins(name):
    # The real entry points: the four built-in plugins declare capabilities,
    # namespaces, cgroups, networks and accept the samples' values.
    cfg = load_config(SAMPLES / name)
    assert dump(cfg) == (SAMPLES / (name.rsplit(".", 1)[0] + ".json")).read_text()


# -- schema for editors --------------------------------------------------------------


def test_combined_schema_has_every_owned_key_and_refuses_others(fake_plugins):
    schema = combined_schema(fake_plugins)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(fake_plugins.owners)
    assert "owned by the cgroups plugin" in schema["properties"]["cgroups"]["description"]
    assert all(p.get("title") and p.get("description") for p in schema["properties"].values())
    json.dumps(schema)  # JSON-serialisable as is


def test_combined_schema_validates_the_samples_with_our_validator(fake_plugins):
    from libcontainer.validate import validate

    schema = combined_schema(fake_plugins)
    for name in SAMPLE_NAMES:
        doc = json.loads((SAMPLES / f"{name}.json").read_text())
        assert validate(doc, schema, fake_plugins.formats)[1] == []
    assert [str(p) for p in validate({"bogus": 1}, schema)[1]][0].startswith("$.bogus: unknown key 'bogus'")


# -- cost on the start path -------------------------------------------------------------


def test_validating_a_sample_takes_well_under_5_ms(fake_plugins):
    doc = json.loads((SAMPLES / "attach_to_bridge.json").read_text())
    best = min(_timed(parse_config, doc, "c", fake_plugins) for _ in range(20))
    assert best < 0.005


def _timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def test_loading_json_imports_neither_yaml_nor_typer(tmp_path):
    (tmp_path / "container.json").write_text('{"hostname": "box"}')
    code = (
        "import sys; from libcontainer.configfile import load_config; from libcontainer.plugins import get_plugin_manager;"
        f"load_config({str(tmp_path)!r}, get_plugin_manager(entry_points=False));"
        "print(sorted(m for m in ('yaml', 'typer', 'click', 'difflib', 'jsonschema') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_plugin_info_lists_keys_of_fake_plugins(fake_plugins):
    assert fake_plugins.infos["capabilities"] == PluginInfo("capabilities", "0.0.1", "(registered)", ["capabilities"], [])
