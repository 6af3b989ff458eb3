"""oom_score_adj: the schema, and the value the container's first and joined processes get."""

from __future__ import annotations

import pytest

import libcontainer_oom
from libcontainer.configfile import parse_config
from libcontainer.errors import ConfigError
from libcontainer.plugins import get_plugin_manager


def load(value):
    plugins = get_plugin_manager(extra=[("oom", libcontainer_oom)], entry_points=False)
    return parse_config({"oom_score_adj": value}, "<test>", plugins)


def test_the_range_of_proc_5_is_accepted():
    assert load(-1000).sections["oom_score_adj"] == -1000
    assert load(1000).sections["oom_score_adj"] == 1000


@pytest.mark.parametrize("value, message", [(1001, "must be at most 1000"), (-1001, "must be at least -1000"),
                                            ("5", "expected an integer")])
def test_values_outside_it_are_refused(value, message):
    with pytest.raises(ConfigError) as info:
        load(value)
    assert message in str(info.value) and "$.oom_score_adj" in str(info.value)


@pytest.mark.privileged
def test_the_first_and_a_joined_process_get_the_score(container):
    from libcontainer.testing.fixtures import require_root

    require_root()
    container.write_config(oom_score_adj=345)
    first = container.popen("sh", "-c", "cat /proc/self/oom_score_adj; trap 'exit 0' TERM; sleep 30 & wait")
    container.wait_running()
    assert first.stdout.readline().strip() == "345"
    joined = container.exec("cat", "/proc/self/oom_score_adj")
    assert joined.stdout.strip() == "345", joined.stderr
    first.terminate()
    first.wait(timeout=20)


@pytest.mark.privileged
def test_without_the_key_the_score_is_nsinits(container):
    from libcontainer.testing.fixtures import require_root

    require_root()
    with open("/proc/self/oom_score_adj") as f:
        mine = f.read().strip()
    container.write_config()
    r = container.exec("cat", "/proc/self/oom_score_adj")
    assert r.stdout.strip() == mine, r.stderr
