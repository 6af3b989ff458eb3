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


class _Unasked:
    """A hook relay that must not be asked."""

    def __getattr__(self, name):
        raise AssertionError(f"hook relay asked for {name}")


def test_builtin_types_resolve_without_asking_the_hook_relay():
    assert sorted(registry.resolve({"loopback", "veth"}, _Unasked())) == ["loopback", "veth"]


def test_without_a_hook_relay_only_the_builtin_types_are_known():
    assert sorted(registry.resolve({"loopback", "lctdummy"}, None)) == ["loopback"]
    assert registry.known_names(None) == ["loopback", "netns", "veth"]


# -- a type registered only through get_plugin_manager(extra=...) ----------------------


class Recorder(Strategy):
    """A type that does nothing but note which of its steps ran, and where."""

    needs_new_netns = True

    def __init__(self, log):
        self.log = log

    def check(self, container, network, index):
        self.log.append("check")

    def create(self, container, pid, network, index):
        self.log.append("create")

    def initialize(self, container, network, index):
        self.log.append("initialize")

    def destroy(self, container, network, index):
        self.log.append("destroy")


def _extra(log, strategy=Recorder) -> types.ModuleType:
    """A plugin module providing ``lctextra``, to be registered through ``extra=`` only."""
    module = types.ModuleType("lct_extra_plugin")

    @hookimpl
    def libcontainer_network_types():
        return {"lctextra": strategy(log)}

    module.libcontainer_network_types = libcontainer_network_types
    return module


EXTRA_DOC = {"namespaces": {"NEWNET": True}, "networks": [{"type": "loopback"}, {"type": "lctextra"}]}


def test_a_type_registered_through_extra_passes_validation(monkeypatch):
    from libcontainer.configfile import parse_config

    plugins = get_plugin_manager(extra=[("lctextra", _extra([]))])
    assert parse_config(EXTRA_DOC, "c.json", plugins).sections["networks"][1] == {"type": "lctextra"}


def test_a_type_registered_through_extra_is_unknown_to_another_manager():
    """Twin: the same config with a manager that does not hold the extra plugin."""
    from libcontainer.configfile import parse_config
    from libcontainer.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_config(EXTRA_DOC, "c.json", get_plugin_manager())
    assert [str(p) for p in e.value.problems] == [
        "$.networks[1].type: unknown network type 'lctextra' (known: loopback, netns, veth)"]


def test_network_types_are_not_found_by_rescanning_entry_points(monkeypatch):
    import importlib.metadata

    from libcontainer.configfile import parse_config

    plugins = get_plugin_manager(extra=[("lctextra", _extra([]))])

    def boom(*args, **kwargs):
        raise AssertionError("entry points rescanned")

    monkeypatch.setattr(importlib.metadata, "entry_points", boom)
    parse_config(EXTRA_DOC, "c.json", plugins)


def test_start_and_cleanup_find_the_extra_type_through_the_hook_relay(tmp_path):
    """The host-side hooks as the engine calls them, with the context's relay: check, create, destroy."""
    import libcontainer_network as network
    from libcontainer.configfile import parse_config
    from libcontainer.context import ContainerContext, Process

    log: list[str] = []
    plugins = get_plugin_manager(extra=[("lctextra", _extra(log))])
    ctx = ContainerContext(config=parse_config(EXTRA_DOC, "c.json", plugins), root=tmp_path, rootfs=tmp_path,
                           id="lctest", process=Process(args=["true"], env=[]), hook=plugins.pm.hook)
    network.libcontainer_pre_clone(ctx)
    network.libcontainer_post_clone(ctx, 1)
    network.libcontainer_post_exit(ctx)
    assert log == ["check", "create", "destroy"]


def test_a_context_without_the_relay_refuses_the_extra_type_by_name(tmp_path):
    import libcontainer_network as network
    from libcontainer.configfile import parse_config
    from libcontainer.context import ContainerContext, Process
    from libcontainer.errors import ContainerError

    plugins = get_plugin_manager(extra=[("lctextra", _extra([]))])
    ctx = ContainerContext(config=parse_config(EXTRA_DOC, "c.json", plugins), root=tmp_path, rootfs=tmp_path,
                           id="lctest", process=Process(args=["true"], env=[]))
    with pytest.raises(ContainerError, match=r"unknown network type 'lctextra' \(networks\[1\]\)"):
        network.libcontainer_pre_clone(ctx)


# -- a deferred plugin (lazy loading) that provides a type -------------------------------

KEYED = textwrap.dedent('''
    """Owns a key (so a lazy manager defers it) and provides the lctkeyed network type."""
    from libcontainer.plugins import hookimpl
    from libcontainer_network.strategies import Strategy


    @hookimpl
    def libcontainer_config_schema():
        return {"lct_keyed": {"type": "boolean"}}


    @hookimpl
    def libcontainer_network_types():
        return {"lctkeyed": Strategy()}
''')

LAZY_VALIDATE = textwrap.dedent("""
    import json, sys
    from libcontainer.configfile import parse_config
    from libcontainer.errors import ConfigError
    from libcontainer.plugins import get_plugin_manager
    plugins = get_plugin_manager(lazy=True)
    deferred = "lctkeyed" in plugins.deferred
    try:
        parse_config(json.loads(sys.argv[1]), "c.json", plugins)
        problems = []
    except ConfigError as e:
        problems = [str(p) for p in e.problems]
    print(json.dumps(dict(deferred=deferred, problems=problems, imported="lct_keyed_plugin" in sys.modules,
                          relay=any("lctkeyed" in r for r in plugins.pm.hook.libcontainer_network_types()))))
""")


def _lazy_validate(doc, tmp_path) -> dict:
    import os

    site = tmp_path / "site"
    if not site.exists():
        site.mkdir()
        (site / "lct_keyed_plugin.py").write_text(KEYED)
        info = site / "lct_keyed_plugin-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lct-keyed-plugin\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text("[libcontainer.plugins]\nlctkeyed = lct_keyed_plugin\n")
    env = {**os.environ, "PYTHONPATH": str(site), "LIBCONTAINER_PLUGIN_CACHE": str(tmp_path / "cache" / "plugins.json")}
    out = subprocess.run([sys.executable, "-c", LAZY_VALIDATE, json.dumps(doc)], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_deferred_plugin_is_imported_when_the_config_uses_its_network_type(tmp_path):
    doc = {"namespaces": {"NEWNET": True}, "networks": [{"type": "lctkeyed"}]}
    _lazy_validate({}, tmp_path)  # the first run (a cache miss) imports every plugin and records their keys
    out = _lazy_validate(doc, tmp_path)
    assert out["deferred"] and out["imported"] and out["problems"] == []
    assert out["relay"]  # registered in the manager: the engine's container.hook finds the type at start


def test_a_deferred_plugin_providing_a_type_the_config_does_not_use_stays_unimported(tmp_path):
    """Twin: the same plugin, a config with built-in types only."""
    doc = {"namespaces": {"NEWNET": True}, "networks": [{"type": "loopback"}]}
    _lazy_validate({}, tmp_path)
    out = _lazy_validate(doc, tmp_path)
    assert out["deferred"] and not out["imported"] and out["problems"] == []


class MarkingRecorder(Recorder):
    """initialize runs in the container's setup process: it leaves its network namespace in a file."""

    def initialize(self, container, network, index):
        import os

        (container.root / "lctextra-initialized").write_text(os.readlink("/proc/self/ns/net"))


@pytest.mark.privileged
def test_a_container_runs_with_a_type_registered_through_extra(container):
    """The library runs a container whose network type only an extra plugin provides: every step runs once."""
    import os

    from libcontainer.container import Container

    log: list[str] = []
    container.write_config(networks=EXTRA_DOC["networks"])
    plugins = get_plugin_manager(extra=[("lctextra", _extra(log, MarkingRecorder))])
    assert Container(container.path, plugins=plugins).run(["/bin/true"]).returncode == 0
    assert log == ["check", "create", "destroy"]
    inside = (container.path / "lctextra-initialized").read_text()
    assert inside.startswith("net:[") and inside != os.readlink("/proc/self/ns/net")
