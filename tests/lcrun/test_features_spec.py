"""lcrun features lists exactly what the translation accepts; lcrun spec writes a config.json it accepts."""

from __future__ import annotations

import json

import pytest

from ocibundles import read_fixture
from lcrun import oci
from lcrun.features import features, features_json
from lcrun.oci import load_bundle
from lcrun.spec import SpecExists, default_spec, write_spec
from libcontainer.errors import ConfigError


def accepted(bundle, doc) -> bool:
    try:
        load_bundle(bundle("b", doc))
    except ConfigError:
        return False
    return True


def test_the_document_has_the_spec_version_range_and_only_its_properties():
    doc = json.loads(features_json())
    assert (doc["ociVersionMin"], doc["ociVersionMax"]) == ("1.0.0", "1.3.0")
    assert set(doc) == {"ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux",
                        "potentiallyUnsafeConfigAnnotations"}
    assert set(doc["linux"]) == {"namespaces", "capabilities", "cgroup", "seccomp", "apparmor", "selinux", "intelRdt",
                                 "mountExtensions", "netDevices"}
    assert doc["hooks"] == list(oci.HOOK_NAMES)


def test_what_is_refused_is_advertised_as_disabled():
    linux = features()["linux"]
    assert linux["apparmor"] == {"enabled": False} and linux["selinux"] == {"enabled": False}
    assert linux["intelRdt"] == {"enabled": False} and linux["netDevices"] == {"enabled": False}
    assert linux["mountExtensions"] == {"idmap": {"enabled": False}}
    assert linux["seccomp"]["enabled"] and linux["seccomp"]["knownFlags"] == []
    assert linux["cgroup"]["systemd"] is False


@pytest.fixture
def minimal():
    return read_fixture("ctr-run")


def test_every_advertised_mount_option_is_accepted(bundle, minimal):
    options = features()["mountOptions"]
    assert {"ro", "rbind", "rprivate", "rro", "tmpcopyup", "nosuid", "strictatime"} <= set(options)
    assert not {"remount", "idmap", "ridmap", "mand"} & set(options)
    flags = [o for o in options if o not in ("bind", "rbind", "tmpcopyup")]
    minimal["mounts"] += [{"destination": "/t", "type": "tmpfs", "options": flags + ["tmpcopyup"]},
                          {"destination": "/b", "source": "/srv", "options": ["rbind"] + flags}]
    assert accepted(bundle, minimal)


def test_every_advertised_namespace_is_accepted(bundle, minimal):
    minimal["linux"]["namespaces"] = [{"type": t} for t in features()["linux"]["namespaces"]]
    minimal["linux"]["uidMappings"] = minimal["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0,
                                                                          "size": 65536}]
    assert accepted(bundle, minimal)


def test_every_advertised_seccomp_action_operator_and_architecture_is_accepted(bundle, minimal):
    seccomp = features()["linux"]["seccomp"]
    assert "SCMP_ACT_NOTIFY" not in seccomp["actions"] and "SCMP_ACT_TRACE" in seccomp["actions"]
    names = ["mkdir", "rmdir", "chmod", "chown", "link", "unlink", "rename", "symlink"]
    rules = [{"names": [names[i]], "action": a, "args": [{"index": 1, "value": 7, "op": op}]}
             for i, (a, op) in enumerate(zip(seccomp["actions"], seccomp["operators"]))]
    minimal["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": seccomp["archs"],
                                   "syscalls": rules}
    assert len(rules) == 7 and accepted(bundle, minimal)


def test_every_advertised_capability_the_kernel_knows_is_accepted(bundle, minimal):
    from libcontainer_capabilities import names

    last = names.kernel_last_cap()
    known = [c for c in features()["linux"]["capabilities"] if names.NUMBERS[c[4:]] <= last]
    minimal["process"]["capabilities"] = {"bounding": known, "permitted": known, "effective": known}
    assert accepted(bundle, minimal)


@pytest.mark.parametrize("rootless", [False, True])
def test_the_default_spec_is_accepted_as_it_is(bundle, rootless):
    config, extras = load_bundle(bundle("b", default_spec(rootless, uid=1000, gid=1000)))
    assert extras.process.args == ["sh"] and extras.process.terminal
    doc = config.to_dict()
    assert doc["readonly_fs"] is True and doc["no_new_privileges"] is True
    if rootless:
        assert doc["uid_mappings"] == [{"container_id": 0, "host_id": 1000, "size": 1}]
        assert "cgroups" not in doc  # no cgroup of its own: a user cannot make one on a v1 host
        assert "NEWNET" not in doc["namespaces"] and doc["namespaces"]["NEWUSER"] is True
    else:
        assert doc["cgroups"]["devices"][0] == {"allow": False, "type": "a", "access": "rwm"}


def test_spec_writes_config_json_once(tmp_path):
    path = write_spec(tmp_path)
    assert json.loads(path.read_text())["ociVersion"] == oci.OCI_VERSION
    with pytest.raises(SpecExists, match=f"{tmp_path}/config.json exists; remove it first"):
        write_spec(tmp_path)
