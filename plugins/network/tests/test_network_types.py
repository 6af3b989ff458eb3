"""Network types are pluggable: a third party adds one through the hook, without touching this plugin."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types

import pytest

from libcontainer.plugins import get_plugin_manager, hookimpl
from libcontainer_network import registry
from libcontainer_network.strategies import Strategy

# A third party's plugin, as it would ship it: a module with one hook.
THIRD_PARTY = textwrap.dedent('''
    """A made-up network type for the tests: lctdummy."""
    from libcontainer.plugins import hookimpl
    from libcontainer_network.strategies import Strategy


    class Dummy(Strategy):
        keys = frozenset({"address", "parent"})
        interface = True
        needs_new_netns = True


    @hookimpl
    def libcontainer_network_types():
        return {"lctdummy": Dummy()}
''')


def _third_party_module() -> types.ModuleType:
    module = types.ModuleType("lct_dummy_plugin")
    exec(THIRD_PARTY, module.__dict__)
    return module


def test_builtin_types_register_through_the_hook():
    plugins = get_plugin_manager()
    assert sorted(registry.types_from_hook(plugins.pm.hook)) == ["loopback", "netns", "veth"]


def test_third_party_type_is_found_through_the_plugin_manager():
    plugins = get_plugin_manager(extra=[("lctdummy", _third_party_module())])
    found = registry.types_from_hook(plugins.pm.hook)
    assert sorted(found) == ["lctdummy", "loopback", "netns", "veth"]
    assert found["lctdummy"].interface


def test_builtin_type_is_kept_when_a_third_party_registers_its_name():
    module = types.ModuleType("lct_replacer")

    @hookimpl
    def libcontainer_network_types():
        return {"veth": Strategy()}

    module.libcontainer_network_types = libcontainer_network_types
    plugins = get_plugin_manager(extra=[("lctreplacer", module)])
    assert registry.types_from_hook(plugins.pm.hook)["veth"].needs_net_admin


def test_builtin_types_resolve_without_scanning_entry_points(monkeypatch):
    def boom():
        raise AssertionError("entry points scanned")

    monkeypatch.setattr(registry, "types_from_entry_points", boom)
    assert sorted(registry.resolve({"loopback", "veth"})) == ["loopback", "veth"]


def _installed(tmp_path) -> dict:
    """A site directory holding the third party's module and its entry point, as pip would install it."""
    (tmp_path / "lct_dummy_plugin.py").write_text(THIRD_PARTY)
    info = tmp_path / "lct_dummy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lct-dummy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[libcontainer.plugins]\nlctdummy = lct_dummy_plugin\n")
    return {"PYTHONPATH": str(tmp_path)}


VALIDATE = textwrap.dedent("""
    import json, sys
    from libcontainer.configfile import parse_config
    from libcontainer.errors import ConfigError
    from libcontainer.plugins import get_plugin_manager
    try:
        parse_config(json.loads(sys.argv[1]), "c.json", get_plugin_manager())
        print(json.dumps([]))
    except ConfigError as e:
        print(json.dumps([str(p) for p in e.problems]))
""")


def _validate(doc, env) -> list[str]:
    import os

    out = subprocess.run([sys.executable, "-c", VALIDATE, json.dumps(doc)], capture_output=True, text=True,
                         check=True, env={**os.environ, **env})
    return json.loads(out.stdout)


def test_installed_third_party_type_is_accepted_by_the_config_loader(tmp_path):
    doc = {"namespaces": {"NEWNET": True}, "networks": [{"type": "lctdummy", "address": "198.18.0.2/24", "parent": "lctbr0"}]}
    assert _validate(doc, _installed(tmp_path)) == []


def test_third_party_type_keys_are_checked_too(tmp_path):
    doc = {"namespaces": {"NEWNET": True}, "networks": [{"type": "lctdummy", "parnet": "lctbr0"}]}
    assert _validate(doc, _installed(tmp_path)) == ["$.networks[0].parnet: unknown key for a lctdummy network (did you mean parent?)"]


def test_uninstalled_third_party_type_is_reported_unknown(tmp_path):
    doc = {"namespaces": {"NEWNET": True}, "networks": [{"type": "lctdummy"}]}
    assert _validate(doc, {}) == ["$.networks[0].type: unknown network type 'lctdummy' (known: loopback, netns, veth)"]
