"""The seccomp profile: names, schema, checks and filter building (nothing is loaded into the kernel)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

import libcontainer_seccomp
from libcontainer.config import Config
from libcontainer.configfile import dump, load_config, parse_config
from libcontainer.errors import ConfigError
from libcontainer.plugins import get_plugin_manager
from libcontainer_seccomp import filter as seccomp_filter
from libcontainer_seccomp import libseccomp, names
from libcontainer_seccomp.config import RUNTIME_CALLS, SeccompConfig, blocked_runtime_calls

SAMPLES = Path(__file__).resolve().parents[3] / "sample_configs"
ALLOW_RUNTIME = {"names": list(RUNTIME_CALLS), "action": "allow"}


def _plugins():
    return get_plugin_manager(entry_points=False, extra=[("seccomp", libcontainer_seccomp)])


def problems_of(section: dict, **keys) -> list[str]:
    """Every problem nsinit would report for a config with this seccomp section."""
    with pytest.raises(ConfigError) as info:
        parse_config({"seccomp": section, **keys}, "container.json", _plugins())
    return [str(p) for p in info.value.problems]


def parsed(section: dict) -> dict:
    return parse_config({"seccomp": section}, "container.json", _plugins()).sections["seccomp"]


def pfc(section: dict) -> str:
    """The filter libseccomp builds for a profile, as its pseudo filter code."""
    r, w = os.pipe()
    with seccomp_filter.build(SeccompConfig.from_section(parsed(section))) as filt:
        filt.export_pfc(w)
    os.close(w)
    with os.fdopen(r) as f:
        return f.read()


# -- names ------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["errno", "ERRNO", "SCMP_ACT_ERRNO", " scmp_act_errno "])
def test_action_is_canonicalised(spelling):
    assert names.canonical_action(spelling) == "errno"


def test_kill_thread_is_the_kill_action():
    assert names.canonical_action("SCMP_ACT_KILL_THREAD") == "kill"


def test_unknown_action_suggests_the_closest_one():
    with pytest.raises(ValueError, match=r"unknown seccomp action 'erno': did you mean errno\? valid ones are kill, "):
        names.canonical_action("erno")


@pytest.mark.parametrize("spelling, canonical", [("SCMP_CMP_MASKED_EQ", "masked_eq"), ("EQ", "eq"), ("ge", "ge")])
def test_operator_is_canonicalised(spelling, canonical):
    assert names.canonical_operator(spelling) == canonical


@pytest.mark.parametrize("spelling, canonical", [("SCMP_ARCH_X86_64", "x86_64"), ("X32", "x32"), ("aarch64", "aarch64")])
def test_architecture_is_canonicalised(spelling, canonical):
    assert names.canonical_architecture(spelling) == canonical


@pytest.mark.parametrize("value, canonical", [("eperm", "EPERM"), (1, "EPERM"), ("EWOULDBLOCK", "EAGAIN"), (0, 0),
                                              (4095, 4095), (38, "ENOSYS")])
def test_errno_is_canonicalised(value, canonical):
    assert names.canonical_errno(value) == canonical


@pytest.mark.parametrize("value, message", [(4096, "out of range"), (-1, "out of range"), ("EPREM", "did you mean EPERM"),
                                            ("PERM", "unknown errno name"), (True, "must be a name")])
def test_bad_errno_is_refused(value, message):
    with pytest.raises(ValueError, match=message):
        names.canonical_errno(value)


def test_errno_action_carries_its_errno_and_defaults_to_eperm():
    assert names.action_value("errno", "ENOENT") == 0x00050000 | errno.ENOENT
    assert names.action_value("errno") == 0x00050000 | errno.EPERM


def test_negative_argument_value_is_the_64_bit_word():
    assert names.datum(-100) == 2**64 - 100


# -- the schema and the checks -------------------------------------------------------------


def test_profile_is_normalised_by_the_schema():
    section = parsed({"default_action": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
                      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errno": 13,
                                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]})
    assert section == {"default_action": "allow", "architectures": ["x86"],
                       "syscalls": [{"names": ["mkdir"], "action": "errno", "errno": "EACCES",
                                     "args": [{"index": 0, "value": 1, "op": "eq"}]}]}


def test_unknown_action_is_named_with_its_path():
    found = problems_of({"default_action": "allow", "syscalls": [{"names": ["mkdir"], "action": "deny"}]})
    assert found == ["$.seccomp.syscalls[0].action: unknown seccomp action 'deny' valid ones are kill, kill_process, "
                     "trap, errno, trace, log, allow"]


def test_unknown_syscall_is_named_with_its_path():
    found = problems_of({"default_action": "allow", "syscalls": [{"names": ["mkdir", "mkdri"], "action": "errno"}]})
    assert found == ["$.seccomp.syscalls[0].names[1]: unknown system call 'mkdri' (libseccomp knows no such name on "
                     "any architecture)"]


def test_syscall_of_another_architecture_is_known():
    assert parsed({"default_action": "allow", "syscalls": [{"names": ["socketcall", "arm_fadvise64_64"],
                                                            "action": "errno"}]})


def test_missing_default_action_is_refused():
    assert problems_of({"syscalls": []}) == ["$.seccomp: missing required key 'default_action'"]


def test_argument_index_beyond_five_is_refused():
    found = problems_of({"default_action": "allow", "syscalls": [
        {"names": ["mkdir"], "action": "errno", "args": [{"index": 6, "value": 0, "op": "eq"}]}]})
    assert len(found) == 1 and found[0].startswith("$.seccomp.syscalls[0].args[0].index:")


def test_unknown_field_of_a_rule_is_refused():
    found = problems_of({"default_action": "allow", "syscalls": [{"name": ["mkdir"], "action": "errno"}]})
    assert any(p.startswith("$.seccomp.syscalls[0]") and "name" in p for p in found)


def test_errno_with_another_action_is_refused():
    found = problems_of({"default_action": "allow", "default_errno": "EPERM",
                         "syscalls": [{"names": ["mkdir"], "action": "kill", "errno": 1}]})
    assert found == ["$.seccomp.default_errno: applies only to the errno default action, not to allow",
                     "$.seccomp.syscalls[0].errno: applies only to the errno action, not to kill"]


def test_one_argument_compared_twice_in_a_rule_is_refused():
    found = problems_of({"default_action": "allow", "syscalls": [{"names": ["personality"], "action": "errno", "args": [
        {"index": 0, "value": 1, "op": "gt"}, {"index": 0, "value": 9, "op": "lt", "value_two": 3}]}]})
    assert found == [
        "$.seccomp.syscalls[0].args[1].index: argument 0 is already compared in this rule (args[0]); write a second "
        "rule instead: a call matching either is caught",
        "$.seccomp.syscalls[0].args[1].value_two: applies only to the masked_eq operator, not to lt",
    ]


def test_syscall_listed_twice_without_conditions_is_refused():
    found = problems_of({"default_action": "allow", "syscalls": [{"names": ["mkdir"], "action": "errno"},
                                                                 {"names": ["rmdir", "mkdir"], "action": "kill"}]})
    assert found == ["$.seccomp.syscalls[1].names[1]: mkdir is listed twice without conditions "
                     "(also at $.seccomp.syscalls[0].names[0])"]


def test_default_deny_profile_must_allow_the_runtimes_calls():
    found = problems_of({"default_action": "errno", "syscalls": [{"names": ["execve", "sendto"], "action": "allow"}]})
    assert found == ["$.seccomp: the runtime needs newfstatat, access, rt_sigaction, rt_sigprocmask, close_range, "
                     "ioctl, execveat, fcntl after the filter is "
                     "loaded, to start the command; allow them (see the seccomp plugin's README)"]


def test_default_deny_profile_allowing_the_runtimes_calls_passes():
    assert parsed({"default_action": "kill", "syscalls": [ALLOW_RUNTIME]})["default_action"] == "kill"


def test_a_profile_allowing_the_runtimes_calls_blocks_none_of_them():
    section = {"default_action": "errno", "syscalls": [ALLOW_RUNTIME]}
    assert blocked_runtime_calls(section) == []


def test_runtime_call_under_a_condition_is_not_reported():
    section = {"default_action": "allow", "syscalls": [
        {"names": ["ioctl"], "action": "errno", "args": [{"index": 1, "value": 0x5421, "op": "eq"}]}]}
    assert blocked_runtime_calls(section) == []


def test_runtime_call_denied_outright_is_reported():
    section = {"default_action": "allow", "syscalls": [{"names": ["ioctl"], "action": "errno"}]}
    assert blocked_runtime_calls(section) == ["ioctl"]


def test_schema_documents_every_field():
    fragment = libcontainer_seccomp.libcontainer_config_schema()["seccomp"]
    assert fragment["description"]
    for field in fragment["properties"].values():
        assert field["description"]
    rule = fragment["properties"]["syscalls"]["items"]
    assert all(f.get("description") for f in rule["properties"].values())
    assert all(f.get("description") for f in rule["properties"]["args"]["items"]["properties"].values())


# -- building the filter (not loaded) ----------------------------------------------------------


def test_filter_has_the_profiles_errno_rule():
    code = pfc({"default_action": "allow", "syscalls": [{"names": ["mkdir"], "action": "errno", "errno": "ENOSPC"}]})
    assert "if ($syscall == 83)" in code and f"action ERRNO({errno.ENOSPC})" in code
    assert "action ALLOW;" in code


def test_filter_has_argument_conditions():
    code = pfc({"default_action": "allow", "syscalls": [{"names": ["personality"], "action": "kill_process",
                                                         "args": [{"index": 0, "value": 0xff, "op": "masked_eq",
                                                                   "value_two": 8}]}]})
    assert "if ($a0.lo32 & 0x000000ff == 8)" in code and "action KILL_PROCESS;" in code


def test_filter_covers_listed_architectures():
    code = pfc({"default_action": "allow", "architectures": ["x86"],
                "syscalls": [{"names": ["mkdir"], "action": "errno"}]})
    assert "if ($arch == 1073741827)" in code  # AUDIT_ARCH_I386


def test_rule_with_the_default_action_is_skipped():
    code = pfc({"default_action": "errno", "syscalls": [ALLOW_RUNTIME, {"names": ["mkdir"], "action": "errno"}]})
    assert "$syscall == 83" not in code


def test_unknown_syscall_fails_the_build_with_its_name():
    profile = SeccompConfig(default_action="allow", syscalls=(
        libcontainer_seccomp.config.SyscallRule(names=("mkdri",), action="errno"),))
    with pytest.raises(seccomp_filter.UnknownSyscall, match="unknown system call 'mkdri'"):
        seccomp_filter.build(profile)


def test_libseccomp_error_names_the_call():
    with pytest.raises(libseccomp.LibseccompError, match=r"seccomp_rule_add mkdir \(errno\): Invalid argument"):
        with libseccomp.Filter(names.ACTIONS["allow"]) as filt:
            filt.add_rule(names.action_value("errno"), 83, [(7, 4, 0, 0)], what="mkdir (errno)")


# -- the sample ------------------------------------------------------------------------------------


def test_seccomp_sample_loads_and_round_trips_losslessly():
    path = SAMPLES / "seccomp.json"
    cfg = load_config(path, get_plugin_manager())
    assert dump(cfg, "json") == path.read_text()
    assert Config.from_dict(json.loads(path.read_text())).to_dict() == cfg.to_dict()


def test_seccomp_yaml_sample_converts_to_exactly_the_json_sample():
    cfg = load_config(SAMPLES / "seccomp.yaml", get_plugin_manager())
    assert dump(cfg, "json") == (SAMPLES / "seccomp.json").read_text()


def test_seccomp_sample_builds_a_filter():
    section = json.loads((SAMPLES / "seccomp.json").read_text())["seccomp"]
    with seccomp_filter.build(SeccompConfig.from_section(section)) as filt:
        assert filt


# -- installing: no_new_privs only when the kernel asks for it ---------------------------------------


class FakeFilter:
    """A filter whose load fails with the errnos it is given, in turn."""

    def __init__(self, *errnos: int) -> None:
        self.errnos = list(errnos)
        self.loads = 0

    def load(self) -> None:
        self.loads += 1
        if self.errnos:
            raise libseccomp.LibseccompError("seccomp_load", self.errnos.pop(0))


class FakeSyscalls:
    def __init__(self) -> None:
        self.no_new_privs = False

    def set_no_new_privs(self) -> None:
        self.no_new_privs = True


def test_filter_loads_without_no_new_privs_when_the_kernel_accepts_it():
    filt, sysc = FakeFilter(), FakeSyscalls()
    assert seccomp_filter.install(filt, sysc) is False
    assert (filt.loads, sysc.no_new_privs) == (1, False)


def test_filter_refused_with_eacces_is_loaded_again_with_no_new_privs():
    filt, sysc = FakeFilter(errno.EACCES), FakeSyscalls()
    assert seccomp_filter.install(filt, sysc) is True
    assert (filt.loads, sysc.no_new_privs) == (2, True)


def test_other_load_error_is_raised_without_setting_no_new_privs():
    filt, sysc = FakeFilter(errno.EFAULT), FakeSyscalls()
    with pytest.raises(libseccomp.LibseccompError, match="seccomp_load: Bad address"):
        seccomp_filter.install(filt, sysc)
    assert sysc.no_new_privs is False


def test_importing_the_plugin_does_not_load_libseccomp():
    import subprocess
    import sys

    code = ("import libcontainer_seccomp, libcontainer_seccomp.libseccomp as l; "
            "maps = open('/proc/self/maps').read(); print(l.is_loaded(), 'libseccomp' in maps)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30).stdout
    assert out.split() == ["False", "False"]


def test_loading_libseccomp_maps_it():
    libseccomp.load()
    assert libseccomp.is_loaded() and "libseccomp.so" in Path("/proc/self/maps").read_text()


def test_without_libseccomp_names_are_left_to_pre_clone():
    from libcontainer_seccomp.config import problems

    section = {"default_action": "allow", "syscalls": [{"names": ["mkdri"], "action": "errno"}]}
    assert problems(section, None) == []
    assert problems(section, libseccomp.syscall_number) != []  # twin: with the library the name is checked


def test_trace_carries_its_number_as_errno_does():
    from libcontainer_seccomp import names

    assert names.action_value("trace", "ENOSYS") == 0x7FF00000 | 38
    assert names.action_value("trace") == 0x7FF00000 | 1  # EPERM when absent, as OCI's errnoRet
    assert parsed({"default_action": "allow", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_TRACE",
                                                            "errno": 38}]})["syscalls"][0] == {
        "names": ["mkdir"], "action": "trace", "errno": "ENOSYS"}
