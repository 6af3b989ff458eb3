"""The entry-point discovery cache: used when nothing changed, rebuilt when a distribution is installed or removed, ignored when others could have written it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from libcontainer import plugins

DIST_INFO = "lct_cached_plugin-0.1.dist-info"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache file and an empty site directory on sys.path for the test to install into."""
    path = tmp_path / "cache" / "plugins.json"
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setenv("LIBCONTAINER_PLUGIN_CACHE", str(path))
    monkeypatch.syspath_prepend(str(site))
    return path, site


def install(site, name="lctcached", version="0.1"):
    """A distribution with one libcontainer.plugins entry point, as pip would lay it out."""
    info = site / DIST_INFO
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: lct-cached-plugin\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[libcontainer.plugins]\n{name} = lct_cached_plugin\n")


def names() -> set[str]:
    return {ep.name for ep in plugins._entry_points()}


def forge(path, name="forged", value="os:system"):
    """Add an entry point to every entry of the cache file, as an attacker with write access would."""
    doc = json.loads(path.read_text())
    for entry in doc["entries"]:
        entry["entry_points"].append({"name": name, "value": value, "dist": ["evil", "6.6.6"]})
    path.write_text(json.dumps(doc))


def test_discovery_is_written_to_the_cache_and_read_back(cache):
    path, _ = cache
    first = names()
    assert path.exists() and first == names()
    forge(path)
    assert "forged" in names()  # proof that the second answer came from the file


def test_a_cached_start_does_not_import_importlib_metadata(tmp_path):
    code = textwrap.dedent("""
        import sys
        from libcontainer.plugins import _entry_points
        found = sorted(ep.name for ep in _entry_points())
        print("importlib.metadata" in sys.modules, found)
    """)
    env = {**os.environ, "LIBCONTAINER_PLUGIN_CACHE": str(tmp_path / "cache" / "plugins.json")}
    run = lambda: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                                 check=True).stdout.split(" ", 1)
    scanned, first = run()
    cached, second = run()
    assert (scanned, cached) == ("True", "False")
    assert first == second and "cgroups" in first


def test_other_files_in_a_sys_path_directory_keep_the_cache(cache):
    """python -m nsinit puts the container's directory on sys.path; its state files must not invalidate."""
    path, site = cache
    names()
    forge(path)
    (site / "state.json").write_text("{}")
    assert "forged" in names()


def test_another_directory_without_metadata_on_sys_path_keeps_the_cache(cache, tmp_path, monkeypatch):
    """python -m nsinit in another container's directory: the same plugins, the same cache entry."""
    path, _ = cache
    names()
    forge(path)
    other = tmp_path / "another-container"
    other.mkdir()
    monkeypatch.syspath_prepend(str(other))
    assert "forged" in names()


def test_installing_a_distribution_invalidates_the_cache(cache):
    _, site = cache
    assert "lctcached" not in names()
    install(site)
    assert "lctcached" in names()


def test_removing_a_distribution_invalidates_the_cache(cache):
    _, site = cache
    install(site)
    assert "lctcached" in names()
    for f in (site / DIST_INFO).iterdir():
        f.unlink()
    (site / DIST_INFO).rmdir()
    assert "lctcached" not in names()


def test_entry_points_edited_in_place_invalidate_the_cache(cache):
    _, site = cache
    install(site, name="before")
    assert "before" in names()
    ep = site / DIST_INFO / "entry_points.txt"
    ep.write_text("[libcontainer.plugins]\nafter = lct_cached_plugin\n")
    os.utime(ep, ns=(ep.stat().st_atime_ns, ep.stat().st_mtime_ns + 1_000_000))  # a coarse clock must not hide it
    assert "after" in names() and "before" not in names()


def test_an_upgrade_replaces_the_entry_of_its_sys_path_layout(cache):
    """The entry written before an upgrade can never match again: it goes, not kept for every start to parse."""
    path, site = cache
    install(site, version="0.1")
    names()
    ep = site / DIST_INFO / "entry_points.txt"
    os.utime(ep, ns=(ep.stat().st_atime_ns, ep.stat().st_mtime_ns + 1_000_000))  # reinstalled
    names()
    assert len(json.loads(path.read_text())["entries"]) == 1


def test_another_sys_path_layout_keeps_its_own_entry(cache, tmp_path, monkeypatch):
    """Twin: python -m from a directory with metadata of its own is another layout, remembered beside."""
    path, site = cache
    names()
    other = tmp_path / "other"
    other.mkdir()
    install(other)
    monkeypatch.syspath_prepend(str(other))
    names()
    assert len(json.loads(path.read_text())["entries"]) == 2


def test_without_the_key_a_stale_cache_would_miss_a_new_distribution(cache):
    """Twin: with the key ignored the stale answer would be served; the key is what invalidates."""
    path, site = cache
    names()
    install(site)
    doc = json.loads(path.read_text())
    stale = doc["entries"][0]["entry_points"]
    assert not any(e["name"] == "lctcached" for e in stale)
    assert "lctcached" in names()


def test_cache_writable_by_others_is_ignored(cache):
    path, _ = cache
    names()
    forge(path)
    os.chmod(path, 0o666)
    assert "forged" not in names()


def test_cache_writable_only_by_its_owner_is_trusted(cache):
    """Twin of the above: the same forged file, not writable by others, is believed."""
    path, _ = cache
    names()
    forge(path)
    os.chmod(path, 0o644)
    assert "forged" in names()


def test_cache_in_a_directory_writable_by_others_is_ignored(cache):
    path, _ = cache
    names()
    forge(path)
    os.chmod(path.parent, 0o777)
    try:
        assert "forged" not in names()
    finally:
        os.chmod(path.parent, 0o755)


def test_cache_through_a_symlink_is_ignored(cache, tmp_path):
    path, _ = cache
    names()
    forge(path)
    real = tmp_path / "elsewhere.json"
    os.replace(path, real)
    path.symlink_to(real)
    assert "forged" not in names()


def test_malformed_cache_is_rebuilt(cache):
    path, _ = cache
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert "cgroups" in names()
    assert json.loads(path.read_text())["format"] == plugins.CACHE_FORMAT


def test_empty_cache_setting_disables_the_cache(cache, monkeypatch):
    path, _ = cache
    monkeypatch.setenv("LIBCONTAINER_PLUGIN_CACHE", "")
    assert "cgroups" in names()
    assert not path.exists()


# -- lazy loading: a plugin is imported only when the config uses a key it owns ----------

PLUGIN_MODULE = '''
from libcontainer.plugins import hookimpl

@hookimpl
def libcontainer_config_schema():
    return {KEYS}
'''


def install_plugin(site, keys=("lct_key",), name="lctlazy", schema=None):
    """A real plugin package (owning ``keys``, each with ``schema``) with its distribution's metadata."""
    install(site, name=name)
    package = site / "lct_cached_plugin"
    package.mkdir(exist_ok=True)
    schema = {k: schema or {"type": "string"} for k in keys}
    (package / "__init__.py").write_text(PLUGIN_MODULE.replace("{KEYS}", repr(schema)))
    return package


def imported_for(tmp_path, site, keys, env=None):
    """In a fresh interpreter: the lazily built manager's deferred plugins before and after ``require(keys)``."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(site)!r})
        from libcontainer.plugins import get_plugin_manager
        p = get_plugin_manager(lazy=True)
        before = sorted(p.deferred)
        p.require({list(keys)!r})
        import json
        print(json.dumps(dict(deferred_before=before, deferred_after=sorted(p.deferred),
                              imported="lct_cached_plugin" in sys.modules, owned=sorted(p.owners))))
    """)
    return fresh_json(tmp_path, code, env)


def fresh_json(tmp_path, code: str, env=None):
    """What ``code`` prints as JSON, run in a fresh interpreter with the test's private plugin cache."""
    env = {**os.environ, "LIBCONTAINER_PLUGIN_CACHE": str(tmp_path / "cache" / "plugins.json"), **(env or {})}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_plugin_whose_key_the_config_lacks_is_not_imported(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site)
    imported_for(tmp_path, site, [])  # a cache miss imports everything and records the keys
    out = imported_for(tmp_path, site, ["namespaces"])
    assert "lctlazy" in out["deferred_before"] and "lctlazy" in out["deferred_after"]
    assert not out["imported"]


def test_a_plugin_whose_key_the_config_has_is_imported(tmp_path):
    """Twin: the same plugin, and a config that uses its key."""
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site)
    imported_for(tmp_path, site, [])
    out = imported_for(tmp_path, site, ["lct_key"])
    assert "lctlazy" in out["deferred_before"] and "lctlazy" not in out["deferred_after"]
    assert out["imported"] and "lct_key" in out["owned"]


def test_a_key_unknown_to_the_cache_imports_every_deferred_plugin(tmp_path):
    """The cache may predate the plugin's new key: the unknown-key message must still be right."""
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site)
    imported_for(tmp_path, site, [])
    out = imported_for(tmp_path, site, ["no_such_key"])
    assert out["imported"] and out["deferred_after"] == []


def test_a_plugin_edited_since_it_was_cached_is_imported(tmp_path):
    """An editable plugin whose source changed may own other keys now: not deferred on the old answer."""
    site = tmp_path / "site"
    site.mkdir()
    package = install_plugin(site)
    imported_for(tmp_path, site, [])
    init = package / "__init__.py"
    install_plugin(site, keys=("lct_other",))
    os.utime(init, ns=(init.stat().st_atime_ns, init.stat().st_mtime_ns + 1_000_000))
    out = imported_for(tmp_path, site, ["namespaces"])
    assert "lctlazy" not in out["deferred_before"]
    assert out["imported"] and "lct_other" in out["owned"]


def test_two_deferred_plugins_claiming_one_key_conflict(tmp_path):
    """The cached keys are checked too: a conflict is reported though neither plugin is imported."""
    from libcontainer.plugins import CachedEntryPoint, DistributionName, Plugins

    pm = get_plugin_manager_without_entry_points()
    deferred = {n: CachedEntryPoint(n, "x", DistributionName(n, "1"), ("shared",), None) for n in ("aaa", "bbb")}
    with pytest.raises(plugins.PluginConflict, match="'shared' is claimed by two plugins: aaa and bbb"):
        Plugins(pm.pm, pm.infos, deferred)


def get_plugin_manager_without_entry_points():
    return plugins.get_plugin_manager(entry_points=False)


def schema_checks(tmp_path, site):
    """In a fresh interpreter: the plugins whose schemas a start checks, and its error if it fails."""
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(site)!r})
        from libcontainer import plugins
        seen = []
        real = plugins._check_schemas

        def check(name, schemas):
            seen.append(name)
            real(name, schemas)

        plugins._check_schemas = check
        try:
            plugins.get_plugin_manager(lazy=True).require(["lct_key"])
            error = None
        except Exception as e:
            error = str(e)
        print(json.dumps(dict(checked=seen, error=error)))
    """)
    return fresh_json(tmp_path, code)


def test_a_schema_the_cache_vouches_for_is_not_checked_again(tmp_path):
    """The cache records a plugin's keys only once its schema passed: later starts skip the check (0.2 ms)."""
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site)
    first, second = schema_checks(tmp_path, site), schema_checks(tmp_path, site)
    assert "lctlazy" in first["checked"] and first["error"] is None  # with every installed plugin: a new cache
    assert second == {"checked": [], "error": None}


def test_a_refused_schema_is_refused_at_every_start(tmp_path):
    """Twin: a schema the validator cannot check is never recorded, so the cache never vouches for it."""
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site, schema={"type": "integer", "multipleOf": 2})
    first, second = schema_checks(tmp_path, site), schema_checks(tmp_path, site)
    for out in (first, second):
        assert "lctlazy" in out["checked"]
        assert out["error"].startswith("plugin 'lctlazy': its schema uses 'multipleOf' at $.lct_key")
