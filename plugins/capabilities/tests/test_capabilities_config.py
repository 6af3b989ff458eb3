"""Capability names, the plugin's schema and its config checks (no kernel state changed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import libcontainer_capabilities
from libcontainer.config import Config
from libcontainer.context import ContainerContext, Process
from libcontainer.errors import ConfigProblem
from libcontainer.plugins import get_plugin_manager
from libcontainer.syscalls import RecordingSyscalls
from libcontainer_capabilities import apply, names
from libcontainer_capabilities.config import CapabilitiesConfig, problems


def _plugins():
    return get_plugin_manager(entry_points=False, extra=[("capabilities", libcontainer_capabilities)])


# -- names ------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["cap_net_raw", "NET_RAW", "Net_Raw", "CAP_NET_RAW", " net_raw "])
def test_capability_name_is_canonicalised(spelling):
    assert names.canonical_name(spelling) == "NET_RAW"


def test_unknown_capability_name_suggests_the_closest_one():
    with pytest.raises(ValueError, match=r"unknown capability 'NET_RAWW': did you mean NET_RAW\? valid names are .*SYS_ADMIN"):
        names.canonical_name("NET_RAWW")


def test_unknown_capability_name_without_close_match_lists_the_valid_ones():
    with pytest.raises(ValueError) as info:
        names.canonical_name("cap_teleport")
    assert "did you mean" not in str(info.value) and "CHOWN" in str(info.value)


def test_capability_name_must_be_a_string():
    with pytest.raises(ValueError, match="must be a string"):
        names.canonical_name(13)


def test_names_table_covers_the_running_kernel():
    assert names.kernel_last_cap() in names.CAPABILITIES


def test_kernel_last_cap_is_read_from_the_proc_file(tmp_path):
    (tmp_path / "cap_last_cap").write_text("37\n")
    assert names.kernel_last_cap(str(tmp_path / "cap_last_cap")) == 37


def test_kernel_last_cap_is_probed_without_the_proc_file(tmp_path):
    assert names.kernel_last_cap(str(tmp_path / "missing")) == names.kernel_last_cap()


def test_mask_matches_proc_status_bits():
    assert names.mask([names.number("CHOWN"), names.number("NET_RAW")]) == 0x2001


# -- schema and formats --------------------------------------------------------


def test_plugin_owns_its_four_keys():
    plugins = _plugins()
    assert {k: v for k, v in plugins.owners.items() if v == "capabilities"} == {
        "capabilities": "capabilities", "ambient_capabilities": "capabilities", "no_new_privileges": "capabilities",
        "capability_sets": "capabilities",
    }
    assert plugins.schemas["capabilities"]["items"] == {"type": "string", "format": "capability"}


def test_capability_format_is_registered_and_canonicalises():
    assert _plugins().formats["capability"]("cap_sys_admin") == "SYS_ADMIN"


def test_plugin_is_active_only_with_one_of_its_keys():
    plugins = _plugins()
    assert "capabilities" in plugins.active(["capabilities"])
    assert "capabilities" in plugins.active(["no_new_privileges"])
    assert "capabilities" not in plugins.active(["hostname"])


def test_sample_config_list_is_accepted():
    keep = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
            "NET_BIND_SERVICE", "SYS_CHROOT", "KILL"]
    assert problems({"capabilities": keep}, 40) == []


# -- cross-field checks ----------------------------------------------------------


def _validate(doc):
    pm = _plugins().pm
    return pm.hook.libcontainer_validate_config(config=Config.from_dict(doc), hook=pm.hook)[0]


def test_valid_config_has_no_problems():
    assert _validate({"capabilities": ["CHOWN", "NET_RAW"], "ambient_capabilities": ["NET_RAW"]}) == []


def test_duplicate_capability_is_a_problem():
    assert _validate({"capabilities": ["CHOWN", "cap_chown"]}) == [
        ConfigProblem("$.capabilities[1]", "CHOWN is listed twice (also at $.capabilities[0])")
    ]


def test_ambient_capability_must_be_kept():
    assert _validate({"capabilities": ["CHOWN"], "ambient_capabilities": ["NET_RAW"]}) == [
        ConfigProblem("$.ambient_capabilities[0]", "NET_RAW is not in capabilities; an ambient capability must also be kept")
    ]


def test_ambient_capabilities_need_the_keep_list():
    found = _validate({"ambient_capabilities": ["NET_RAW"]})
    assert [p.path for p in found] == ["$.ambient_capabilities"]
    assert "need a capabilities list" in found[0].message


def test_unknown_name_reaching_validation_is_a_problem_with_a_suggestion():
    found = _validate({"capabilities": ["SYS_ADMN"]})
    assert [p.path for p in found] == ["$.capabilities[0]"] and "did you mean SYS_ADMIN?" in found[0].message


def test_capability_beyond_the_kernels_last_is_a_problem():
    assert problems({"capabilities": ["CHOWN", "CHECKPOINT_RESTORE"]}, 39) == [(
        "$.capabilities[1]",
        "CHECKPOINT_RESTORE (capability 40) is not known to the running kernel, whose highest capability is "
        "BPF (39, /proc/sys/kernel/cap_last_cap); remove it or use a newer kernel",
    )]


def test_capability_within_the_kernels_range_is_accepted():
    assert problems({"capabilities": ["CHOWN", "CHECKPOINT_RESTORE"]}, 40) == []


# -- settings and plans ------------------------------------------------------------


def test_settings_without_the_key_restrict_nothing():
    settings = CapabilitiesConfig.from_sections({"no_new_privileges": True})
    assert not settings.restricts and settings.no_new_privileges


def test_settings_canonicalise_names():
    settings = CapabilitiesConfig.from_sections({"capabilities": ["cap_chown"], "ambient_capabilities": ["Chown"]})
    assert settings.capabilities == ("CHOWN",) and settings.ambient_numbers == {0}


def test_bounding_drops_are_every_other_number_the_kernel_knows():
    assert apply.bounding_drops(frozenset({0, 13}), 15) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15]


def test_final_sets_keep_inheritable_to_the_ambient_ones():
    sets = apply.final_sets(frozenset({0, 13}), frozenset({13}))
    assert (sets.effective, sets.permitted, sets.inheritable, sets.ambient) == ({0, 13}, {0, 13}, {13}, {13})


def test_read_sets_parses_proc_status():
    sets = apply.read_sets()
    assert set(sets) == {"inheritable", "permitted", "effective", "bounding", "ambient"}


# -- hooks that must not touch the kernel -------------------------------------------


def _context(doc, syscalls):
    return ContainerContext(
        config=Config.from_dict(doc), root=Path("/"), rootfs=Path("/"), id="lctest-capabilities",
        process=Process(args=["true"], env=[]), syscalls=syscalls,
    )


def test_no_new_privileges_alone_only_sets_the_flag():
    fake = RecordingSyscalls()
    ctx = _context({"no_new_privileges": True}, fake)
    libcontainer_capabilities.libcontainer_pre_user(container=ctx)
    libcontainer_capabilities.libcontainer_post_user(container=ctx)
    assert fake.names() == ["set_no_new_privs"]


def test_no_new_privileges_false_makes_no_prctl_call():
    fake = RecordingSyscalls()
    ctx = _context({"no_new_privileges": False}, fake)
    libcontainer_capabilities.libcontainer_post_user(container=ctx)
    assert fake.names() == []


# -- through the config loader ------------------------------------------------------


def test_loaded_config_has_canonical_capability_names():
    from libcontainer.configfile import parse_config

    config = parse_config({"capabilities": ["cap_net_raw", "Chown"], "no_new_privileges": True}, "c.json", _plugins())
    assert config.sections == {"capabilities": ["NET_RAW", "CHOWN"], "no_new_privileges": True}


def test_loaded_config_with_a_misspelled_capability_says_did_you_mean():
    from libcontainer.configfile import parse_config
    from libcontainer.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config({"capabilities": ["CHOWN", "cap_net_rawx"]}, "c.json", _plugins())
    assert str(info.value).startswith("c.json: $.capabilities[1]: unknown capability 'cap_net_rawx': did you mean NET_RAW?")
    assert "\n" not in str(info.value)


# -- the five sets (capability_sets) -----------------------------------------------


def test_capability_sets_are_read_one_by_one_and_a_missing_set_is_empty():
    settings = CapabilitiesConfig.from_sections({"capability_sets": {"bounding": ["cap_chown", "NET_ADMIN"],
                                                                     "permitted": ["NET_ADMIN"]}})
    assert settings.restricts
    assert settings.keep_numbers == frozenset({0, 12})  # the bounding set
    assert settings.set_numbers("permitted") == frozenset({12}) and settings.set_numbers("effective") == frozenset()
    assert settings.needed_numbers == frozenset({0, 12})


def test_podmans_sets_for_a_user_are_accepted():
    bounding = ["CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SETUID", "CAP_SETGID"]
    one = ["CAP_NET_ADMIN"]
    sections = {"capability_sets": {"bounding": bounding, "effective": one, "inheritable": one, "permitted": one,
                                    "ambient": one}}
    assert problems(sections, 40) == []


@pytest.mark.parametrize("sets, expected", [
    ({"effective": ["KILL"]}, ("$.capability_sets.effective[0]", "KILL is not in permitted: an effective capability "
                                                                 "must be permitted")),
    ({"inheritable": ["KILL"]}, ("$.capability_sets.inheritable[0]", "KILL is not in bounding: the kernel refuses an "
                                                                    "inheritable capability outside the bounding set")),
    ({"bounding": ["KILL"], "inheritable": ["KILL"], "ambient": ["KILL"]},
     ("$.capability_sets.ambient[0]", "KILL is not in permitted: an ambient capability must be permitted and "
                                      "inheritable")),
    ({"bounding": ["BPF"]}, ("$.capability_sets.bounding[0]", names.kernel_problem("BPF", 38))),
])
def test_sets_capset_would_refuse_are_named(sets, expected):
    assert problems({"capability_sets": sets}, 38) == [expected]


def test_capability_sets_and_the_keep_list_are_not_mixed():
    assert problems({"capability_sets": {}, "capabilities": ["KILL"]}, 40) == [
        ("$.capabilities", "give either capability_sets or capabilities, not both")]


def test_the_sets_are_applied_exactly_after_the_user_switch(monkeypatch):
    calls = []
    monkeypatch.setattr(apply.prctl, "set_caps", lambda *changes: calls.append(changes))
    fake = RecordingSyscalls()
    sets = apply.FinalSets(effective=frozenset({12}), permitted=frozenset({12, 0}), inheritable=frozenset({12}),
                           ambient=frozenset({12}))
    apply.set_sets(sets, fake)
    (changes,) = calls
    on = {flag: set(nums) for nums, flag, value in changes if value}
    assert on == {apply.prctl.CAP_EFFECTIVE: {12}, apply.prctl.CAP_PERMITTED: {0, 12},
                  apply.prctl.CAP_INHERITABLE: {12}}
    assert fake.names() == ["cap_ambient_clear_all", "cap_ambient_raise"]
