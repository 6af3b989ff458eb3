"""config.json as real clients write it, translated into the engine's config (no root needed)."""

from __future__ import annotations

import copy
import json

import pytest

from ocibundles import read_fixture
from lcrun.oci import DEFAULT_DEVICE_RULES, FIELDS, load_bundle, translate
from libcontainer.configfile import ConfigFileError
from libcontainer.errors import ConfigError


def problems(bundle, doc, name="b") -> list[str]:
    """Every line the translation reports for ``doc``, without the file's name."""
    path = bundle(name, doc)
    with pytest.raises(ConfigError) as info:
        load_bundle(path)
    prefix = f"{path}/config.json: "
    lines = str(info.value).splitlines()
    assert all(line.startswith(prefix) for line in lines), lines
    return [line[len(prefix):] for line in lines]


# -- what real clients send --------------------------------------------------------------------


def test_podmans_run_with_options_is_translated_field_by_field(bundle):
    path = bundle("podman-run")
    config, extras = load_bundle(path, container_id="libpod-x")
    doc = config.to_dict()
    assert doc["rootfs"] == str(path / "rootfs")
    assert (doc["user"], doc["umask"], doc["additional_gids"]) == ("1000:1000", 18, [1000, 44])
    assert doc["hostname"] == "box" and doc["environment"][2] == "HOSTNAME=box"
    assert doc["namespaces"] == {"NEWPID": True, "NEWNET": True, "NEWIPC": True, "NEWUTS": True, "NEWNS": True}
    assert doc["networks"] == [{"type": "loopback"}]  # a new network namespace gets its lo up, as runc does
    assert doc["capability_sets"]["effective"] == ["NET_ADMIN"] and len(doc["capability_sets"]["bounding"]) == 15
    assert doc["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                              {"type": "RLIMIT_NPROC", "soft": 1048576, "hard": 1048576}]
    assert doc["oom_score_adj"] == 100 and doc["sysctl"] == {"kernel.msgmax": "9000"}
    cgroups = doc["cgroups"]
    assert (cgroups["parent"], cgroups["name"]) == ("/lctest-oci-podman", "libpod-" + "8068448e2b53b3eeb9c13214c771032c5f95089d16b2c531fe0ba1409e4d26b6")
    assert (cgroups["memory"], cgroups["memory_swap"], cgroups["cpu_shares"], cgroups["pids_limit"]) == (
        64 << 20, 128 << 20, 512, 50)
    assert cgroups["devices"][:2] == [{"allow": False, "type": "a", "access": "rwm"},
                                      {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]
    assert len(cgroups["devices"]) == 2 + len(DEFAULT_DEVICE_RULES)  # runc's defaults follow the config's
    assert doc["default_mounts"] is False and doc["rootfs_propagation"] == "rslave"
    assert [(m["type"], m["destination"]) for m in doc["mounts"]] == [
        ("tmpfs", "/scratch"), ("bind", "/data"), ("proc", "/proc"), ("tmpfs", "/dev"), ("sysfs", "/sys"),
        ("devpts", "/dev/pts"), ("mqueue", "/dev/mqueue"), ("bind", "/etc/hosts"), ("bind", "/dev/shm"),
        ("bind", "/run/.containerenv"), ("bind", "/etc/hostname"), ("cgroup", "/sys/fs/cgroup")]
    assert doc["mounts"][1]["source"] == str(path / "volume")  # relative to the bundle
    assert doc["mounts"][0]["options"] == ["size=1m", "mode=1777", "rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
    fuse = [n for n in doc["device_nodes"] if n["path"] == "/dev/fuse"]
    assert fuse == [{"type": 99, "path": "/dev/fuse", "major_number": 10, "minor_number": 229, "file_mode": 0o600,
                     "uid": 0, "gid": 0}]  # fileMode 8576 carries S_IFCHR: the permission bits are kept
    assert {n["path"] for n in doc["device_nodes"]} >= {"/dev/null", "/dev/zero", "/dev/tty", "/dev/urandom"}
    assert "/sys/dev/block" in doc["masked_paths"] and "/proc/sys" in doc["readonly_paths"]
    seccomp = doc["seccomp"]
    assert (seccomp["default_action"], seccomp["default_errno"]) == ("errno", "ENOSYS")
    assert seccomp["architectures"] == ["x86_64", "x86", "x32"]
    assert extras.process.args == ["id"] and extras.process.user.additional_gids == (1000, 44)
    assert extras.annotations["io.container.manager"] == "libpod"
    assert extras.hooks == {name: [] for name in extras.hooks}
    # podman lists setns twice without conditions: libseccomp keeps the first rule (runc's result), said aloud.
    assert extras.warnings == ["$.linux.seccomp.syscalls[10].names[7]: setns already has a rule without conditions "
                               "at $.linux.seccomp.syscalls[1]; the first one applies"]


def test_containerds_ctr_run_has_no_environment_and_no_new_privileges(bundle):
    config, extras = load_bundle(bundle("ctr-run"))
    doc = config.to_dict()
    assert doc["environment"] == [] and extras.process.env == []
    assert doc["no_new_privileges"] is True
    assert doc["cgroups"]["parent"] == "/lctest-oci-ctr" and doc["cgroups"]["name"] == "c1"
    assert "seccomp" not in doc and "device_nodes" not in doc  # the engine's default nodes are OCI's
    assert [m["destination"] for m in doc["mounts"]] == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue",
                                                         "/sys", "/run"]


def test_containerds_options_join_a_network_namespace_and_keep_the_root_read_only(bundle):
    config, _ = load_bundle(bundle("ctr-options"))
    doc = config.to_dict()
    assert doc["namespaces"]["NEWNET"] == "/proc/1/ns/net" and "networks" not in doc
    assert doc["readonly_fs"] is True and doc["rootfs_propagation"] == "rslave"
    assert (doc["cgroups"]["cpu_quota"], doc["cgroups"]["cpu_period"]) == (50000, 100000)
    assert doc["mounts"][-1] == {"type": "bind", "source": "/etc", "destination": "/hostetc", "options": ["rbind", "ro"]}
    clone = [r for r in doc["seccomp"]["syscalls"] if r["names"] == ["clone"]]
    assert clone[0]["args"] == [{"index": 0, "value": 2114060288, "op": "masked_eq"}]


def test_empty_values_of_refused_fields_are_absent(bundle):
    doc = read_fixture("ctr-run")
    doc["process"].update(apparmorProfile="", selinuxLabel="", scheduler={})
    doc["linux"].update(mountLabel="", intelRdt=None, seccomp=None, resources={"hugepageLimits": [], "unified": {}})
    config, _ = load_bundle(bundle("b", doc))
    assert "seccomp" not in config.to_dict()


def test_a_property_the_spec_does_not_define_is_ignored_with_a_warning(bundle):
    doc = read_fixture("ctr-run")
    doc["process"]["flavour"] = "vanilla"
    doc["extension"] = {"x": 1}
    _, extras = load_bundle(bundle("b", doc))
    assert extras.warnings == [
        "$.process.flavour: not a property of the runtime spec lcrun knows (1.3.0); ignored",
        "$.extension: not a property of the runtime spec lcrun knows (1.3.0); ignored"]


def test_hooks_terminal_and_console_size_are_kept_for_lcrun(bundle):
    doc = read_fixture("ctr-run")
    doc["process"].update(terminal=True, consoleSize={"height": 40, "width": 120})
    doc["hooks"] = {"prestart": [{"path": "/usr/bin/fix-net", "args": ["fix-net", "-v"], "env": ["A=1"],
                                  "timeout": 5}], "poststop": [{"path": "/bin/true"}]}
    config, extras = load_bundle(bundle("b", doc))
    assert config.tty is True
    assert (extras.process.terminal, extras.process.console_size.height, extras.process.console_size.width) == (
        True, 40, 120)
    assert extras.hooks["prestart"][0].args == ("fix-net", "-v") and extras.hooks["prestart"][0].timeout == 5
    assert extras.hooks["poststop"][0].path == "/bin/true" and extras.hooks["createRuntime"] == []


def test_rlimit_infinity_and_relative_cgroups_paths(bundle):
    doc = read_fixture("ctr-run")
    doc["process"]["rlimits"] = [{"type": "RLIMIT_CORE", "soft": 2**64 - 1, "hard": 2**64 - 1}]
    doc["linux"]["cgroupsPath"] = "tenant/box"
    config, _ = load_bundle(bundle("b", doc))
    assert config.sections["rlimits"] == [{"type": "RLIMIT_CORE", "soft": "unlimited", "hard": "unlimited"}]
    assert (config.sections["cgroups"]["parent"], config.sections["cgroups"]["name"]) == ("libcontainer/tenant", "box")


# -- refused, with the field's path ------------------------------------------------------------


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["process"].update(apparmorProfile="containers-default"),
     "$.process.apparmorProfile: not supported by lcrun (AppArmor)"),
    (lambda d: d["process"].update(selinuxLabel="system_u:system_r:container_t:s0"),
     "$.process.selinuxLabel: not supported by lcrun (SELinux)"),
    (lambda d: d["linux"].update(intelRdt={"closID": "guaranteed"}), "$.linux.intelRdt: not supported by lcrun (Intel RDT)"),
    (lambda d: d["linux"].update(personality={"domain": "LINUX32"}),
     "$.linux.personality: not supported by lcrun (execution domains (personality))"),
    (lambda d: d["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}),
     "$.linux.seccomp.listenerPath: not supported by lcrun (seccomp agents (SCMP_ACT_NOTIFY))"),
    (lambda d: d["linux"]["resources"].update(hugepageLimits=[{"pageSize": "2MB", "limit": 1}]),
     "$.linux.resources.hugepageLimits: not supported by lcrun (the hugetlb controller)"),
    (lambda d: d["mounts"].append({"destination": "/m", "type": "overlay", "source": "overlay"}),
     "$.mounts[7].type: mount type 'overlay' is not supported by lcrun (supported: tmpfs, proc, sysfs, devpts, "
     "mqueue, cgroup, cgroup2, and bind mounts)"),
    (lambda d: d["mounts"].append({"destination": "/m", "source": "/srv", "options": ["rbind", "idmap"]}),
     "$.mounts[7].options[1]: not supported by lcrun: 'idmap': id-mapped mounts are not supported"),
    (lambda d: d["linux"]["namespaces"].append({"type": "kgb"}),
     "$.linux.namespaces[5].type: namespace type 'kgb' is not supported by lcrun (supported: pid, network, mount, "
     "ipc, uts, user, cgroup, time)"),
    (lambda d: d["linux"]["namespaces"].append({"type": "pid"}),
     "$.linux.namespaces[5].type: pid is already at $.linux.namespaces[0]"),
    (lambda d: d["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW",
                                          "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
     "$.linux.seccomp.syscalls[0].action: not supported by lcrun (SCMP_ACT_NOTIFY needs a seccomp agent, "
     "listenerPath)"),
    (lambda d: d["linux"].update(devices=[{"path": "/dev/pipe", "type": "p"}]),
     "$.linux.devices[0].type: not supported by lcrun (FIFO devices; supported: c, u, b)"),
    (lambda d: d["linux"].update(cgroupsPath="system.slice:lcrun:c1"),
     "$.linux.cgroupsPath: 'system.slice:lcrun:c1' is a systemd unit (slice:prefix:name), which needs the systemd "
     "cgroup driver lcrun does not have; give a path such as /parent/name"),
])
def test_a_field_lcrun_does_not_support_is_one_line_naming_it(bundle, change, expected):
    doc = read_fixture("ctr-run")
    change(doc)
    assert problems(bundle, doc) == [expected]


# -- invalid config.json, one line per problem ---------------------------------------------------


def test_every_type_problem_is_one_line_with_its_path(bundle):
    doc = read_fixture("ctr-run")
    doc["process"]["args"] = []
    doc["process"]["cwd"] = "relative"
    doc["process"]["user"] = {"uid": -1}
    doc["root"] = {"readonly": "yes"}
    doc["linux"]["namespaces"][0] = {"path": 7}
    doc["hooks"] = {"poststart": [{"path": "notify", "timeout": 0}]}
    assert problems(bundle, doc) == [  # in the document's order
        "$.process.user.uid: must be at least 0, got -1",
        "$.process.user: missing required key 'gid'",
        "$.process.args: expected at least 1 items, got 0",
        "$.process.cwd: expected an absolute path, got 'relative'",
        "$.root.readonly: expected a boolean, got a string ('yes')",
        "$.root: missing required key 'path'",
        "$.linux.namespaces[0].path: expected a string, got an integer (7)",
        "$.linux.namespaces[0]: missing required key 'type'",
        "$.hooks.poststart[0].path: expected an absolute path, got 'notify'",
        "$.hooks.poststart[0].timeout: must be at least 1, got 0",
    ]


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.update(ociVersion="2.0.0"), "$.ociVersion: lcrun reads runtime spec 1.x (1.0.0 to 1.3.0 and later "
                                             "1.x), got '2.0.0'"),
    (lambda d: d.pop("ociVersion"), "$: missing required key 'ociVersion'"),
    (lambda d: d.pop("process"), "$: missing required key 'process' (the container's process, which lcrun needs to "
                                 "create it)"),
    (lambda d: d["root"].update(path="nowhere"), "$.root.path: {bundle}/nowhere: no such directory"),
    (lambda d: d["process"].update(env=["PATH"]), "$.process.env[0]: expected \"KEY=value\", got 'PATH'"),
    (lambda d: d["mounts"].append({"destination": "/m", "type": "bind"}),
     "$.mounts[7]: a bind mount needs a source (the host path to mount at /m)"),
])
def test_a_bad_document_names_the_field(bundle, change, expected):
    doc = read_fixture("ctr-run")
    change(doc)
    path = bundle("b", doc)
    if doc.get("root", {}).get("path") == "nowhere":
        (path / "nowhere").rmdir()
    assert problems(lambda name, d: path, doc) == [expected.format(bundle=path)]


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["process"]["capabilities"]["bounding"].append("CAP_FLY"),
     "$.process.capabilities.bounding[14]: unknown capability 'CAP_FLY'"),
    (lambda d: d["process"]["rlimits"].append({"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}),
     "$.process.rlimits[1].type: RLIMIT_NOFILE is already set by $.process.rlimits[0]"),
    (lambda d: d["linux"]["resources"].update(memory={"limit": 1 << 30, "swap": 1 << 20}),
     "$.linux.resources.memory.swap: 1048576 is less than memory (1073741824)"),
    (lambda d: d["linux"].update(sysctl={"vm.swappiness": "1"}),
     "$.linux.sysctl['vm.swappiness']: vm.swappiness is not namespaced"),
    (lambda d: d["process"]["env"].extend(["A=1", "A=2"]) if "env" in d["process"] else d["process"].update(
        env=["A=1", "A=2"]), "$.process.env[1]: A is set twice (also at [0])"),
    (lambda d: d.update(hostname="h") or d["linux"].update(namespaces=[{"type": "mount"}]),
     "$.hostname: unable to set hostname without a private UTS namespace"),
    (lambda d: d["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}),
     "$.linux.seccomp.architectures[0]: unknown architecture 'SCMP_ARCH_Z80'"),
    (lambda d: d["linux"].update(seccomp={"defaultAction": "SCMP_ACT_LOG", "defaultErrnoRet": 1}),
     "$.linux.seccomp.defaultErrnoRet: applies only to the errno default action, not to log"),
    (lambda d: d["process"]["user"].update(umask=0o1777), "$.process.user.umask: expected a umask"),
    (lambda d: d["process"].update(oomScoreAdj=-2000), "$.process.oomScoreAdj: must be at least -1000, got -2000"),
    (lambda d: d["linux"]["resources"]["devices"].extend([{"allow": True, "type": "c", "major": 1, "access": "rwm"},
                                                          {"allow": False, "type": "c", "major": 1, "minor": 7}]),
     "$.linux.resources.devices[11]: cannot deny c 1:7 rwm after the wider c 1:* rwm"),
])
def test_what_a_plugin_refuses_is_named_at_its_config_json_path(bundle, change, expected):
    doc = read_fixture("ctr-run")
    change(doc)
    found = problems(bundle, doc)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_a_missing_bundle_or_config_json_is_one_line(tmp_path):
    with pytest.raises(ConfigFileError) as info:
        load_bundle(tmp_path / "nope")
    assert str(info.value) == f"{tmp_path}/nope: no such bundle directory"
    with pytest.raises(ConfigFileError) as info:
        load_bundle(tmp_path)
    assert str(info.value) == f"{tmp_path}/config.json: no such file"
    (tmp_path / "config.json").write_text('{"ociVersion": "1.0.0",}')
    with pytest.raises(ConfigFileError) as info:
        load_bundle(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}/config.json:1:") and "\n" not in str(info.value)


def test_the_document_given_is_not_changed(bundle):
    doc = read_fixture("podman-run")
    before = copy.deepcopy(doc)
    translate(doc, bundle("podman-run"))
    assert doc == before


def test_every_path_of_the_table_is_a_supported_or_refused_json_path():
    for path, entry in FIELDS.items():
        assert path.startswith("$.") and (entry.to or entry.refused), path
        assert not (entry.to and entry.refused), path


def test_the_table_as_markdown_lists_every_field_once():
    from lcrun.oci import fields_markdown

    rows = fields_markdown().splitlines()[2:]
    assert len(rows) == len(FIELDS)
    assert "| `$.process.apparmorProfile` | refused: AppArmor |" in rows
    assert "| `$.linux.resources.memory.swap` | `cgroups.memory_swap` |" in rows


def test_a_translated_config_round_trips_through_container_json(bundle):
    from libcontainer.config import Config
    from libcontainer.configfile import parse_config
    from libcontainer.container import default_plugins

    config, _ = load_bundle(bundle("podman-run"))
    again = parse_config(json.loads(config.to_json()), "container.json", default_plugins())
    assert again.to_dict() == config.to_dict() == Config.from_dict(config.to_dict()).to_dict()


def _leaves(value, path=()):
    """The path of every value of a document (objects and lists too), three items of a list at most."""
    if path:
        yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield from _leaves(v, path + (i,))


@pytest.mark.parametrize("name", ["ctr-run", "podman-run"])
def test_any_wrong_value_anywhere_is_a_config_error_never_a_traceback(bundle, name):
    """Every value of a real config, replaced in turn by values of every other kind."""
    original = read_fixture(name)
    path = bundle("b", original)
    for leaf in _leaves(original):
        for wrong in (None, "", "x", -1, 2**70, True, [], {}, [1], {"a": 1}):
            doc = copy.deepcopy(original)
            target = doc
            for key in leaf[:-1]:
                target = target[key]
            target[leaf[-1]] = wrong
            try:
                translate(doc, path)
            except ConfigError as e:
                assert str(e) and all(line.startswith(str(path)) for line in str(e).splitlines()), str(e)


def test_a_process_json_for_exec_is_checked_and_translated(tmp_path):
    from lcrun.oci import load_process

    process = read_fixture("podman-run")["process"]
    (tmp_path / "process.json").write_text(json.dumps(process))
    proc, keys = load_process(tmp_path / "process.json")
    assert proc.args == ["id"] and proc.user.uid == 1000
    assert keys["user"] == "1000:1000" and keys["capability_sets"]["ambient"] == ["CAP_NET_ADMIN"]
    process.update(args=[], apparmorProfile="x")
    (tmp_path / "process.json").write_text(json.dumps(process))
    with pytest.raises(ConfigError) as info:
        load_process(tmp_path / "process.json")
    assert str(info.value) == f"{tmp_path}/process.json: $.args: expected at least 1 items, got 0"
    process["args"] = ["id"]
    (tmp_path / "process.json").write_text(json.dumps(process))
    with pytest.raises(ConfigError) as info:
        load_process(tmp_path / "process.json")
    assert str(info.value) == f"{tmp_path}/process.json: $.apparmorProfile: not supported by lcrun (AppArmor)"
