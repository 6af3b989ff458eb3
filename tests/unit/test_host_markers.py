"""needs_host: a test that needs a kind of host is skipped where the host lacks it, also in CI, and counted."""

from __future__ import annotations

import pytest

from libcontainer.testing import fixtures
from libcontainer.testing.fixtures import host_features

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
ONLY_NAMED_V1 = "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
NO_CGROUPS = "22 1 0:5 / /proc rw - proc proc rw\n"


def _mountinfo(tmp_path, text: str) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(text)
    return str(path)


def test_a_hybrid_host_has_v1_cgroup2_and_memory(tmp_path):
    assert host_features(_mountinfo(tmp_path, HYBRID)) == {"cgroup-v1", "cgroup2", "cgroup-memory"}


def test_a_named_v1_hierarchy_alone_is_not_cgroup_v1(tmp_path):
    assert host_features(_mountinfo(tmp_path, ONLY_NAMED_V1)) == set()


def test_a_host_without_cgroup_mounts_has_none(tmp_path):
    assert host_features(_mountinfo(tmp_path, NO_CGROUPS)) == set()


@pytest.mark.parametrize("controllers, features", [("cpu memory pids\n", {"cgroup2", "cgroup-memory"}),
                                                    ("cpu pids\n", {"cgroup2"})])
def test_a_unified_host_has_memory_when_its_root_offers_it(tmp_path, controllers, features):
    root = tmp_path / "cgroup root"  # a space: mountinfo escapes it as \040
    root.mkdir()
    (root / "cgroup.controllers").write_text(controllers)
    line = f"25 1 0:22 / {str(root).replace(' ', chr(92) + '040')} rw,relatime shared:4 - cgroup2 cgroup2 rw\n"
    assert host_features(_mountinfo(tmp_path, line)) == features


def test_this_hosts_features_are_known_ones():
    assert host_features() <= set(fixtures.HOST_FEATURES)


INNER = """
import pytest

@pytest.mark.privileged
@pytest.mark.needs_host("cgroup-v1")
def test_needs_v1():
    pass

@pytest.mark.privileged
@pytest.mark.needs_host("cgroup2")
def test_needs_cgroup2():
    pass

@pytest.mark.privileged
def test_skips_for_another_reason():
    pytest.skip("no block device")
"""


@pytest.fixture
def unified_only_host(tmp_path, monkeypatch):
    """The plugin's probe reads a mountinfo with cgroup2 and no v1 controller."""
    fake = _mountinfo(tmp_path, "41 31 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n")
    real = fixtures.host_features
    monkeypatch.setattr(fixtures, "host_features", lambda: real(fake))
    monkeypatch.setenv("CI", "true")


def test_a_marked_test_is_skipped_not_failed_in_ci_on_a_host_without_the_feature(pytester, unified_only_host):
    pytester.makepyfile(INNER)
    result = pytester.runpytest_inprocess("-rfs")
    outcomes = result.parseoutcomes()
    # The cgroup2 test runs; the v1 one is a skip with its reason; a privileged
    # test skipped for another reason still fails in CI.
    assert (outcomes.get("passed"), outcomes.get("skipped"), outcomes.get("failed")) == (1, 1, 1), result.stdout.str()
    result.stdout.fnmatch_lines(["SKIPPED * this host lacks what the test needs: cgroup v1 controllers are mounted*"
                                 "(needs_host 'cgroup-v1')"])
    result.stdout.fnmatch_lines(["FAILED *test_skips_for_another_reason*"])
    result.stdout.fnmatch_lines(["host-dependent tests skipped: cgroup-v1: 1 of 1, cgroup2: 0 of 1"])


def test_a_marked_test_runs_on_a_host_with_the_feature(pytester, unified_only_host):
    pytester.makepyfile(INNER)
    result = pytester.runpytest_inprocess("-k", "cgroup2")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["host-dependent tests skipped: cgroup2: 0 of 1"])


def test_a_run_without_marked_tests_prints_no_count(pytester):
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=1)
    assert "host-dependent" not in result.stdout.str()


def test_a_misspelled_feature_stops_the_run_naming_it(pytester):
    pytester.makepyfile("import pytest\n\n@pytest.mark.needs_host('cgroupv1')\ndef test_x():\n    pass\n")
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*needs_host('cgroupv1'): unknown host feature (known: cgroup-v1, cgroup2, "
                                 "cgroup-memory)*"])
