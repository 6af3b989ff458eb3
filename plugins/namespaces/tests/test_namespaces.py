"""The namespaces plugin: new, shared and joined namespaces; user namespaces and rootless containers."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from libcontainer.testing.fixtures import SAMPLE_NAMESPACES, copy_rootfs, nsinit_command

pytestmark = pytest.mark.privileged

ALL = ("mnt", "uts", "ipc", "pid", "net")


def _ns(pid: int | str, name: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{name}")


def _running(container, namespaces):
    container.write_config(namespaces=namespaces)
    p = container.popen("sleep", "30")
    return p, container.wait_running()


def test_each_configured_namespace_is_new(container):
    _, pid = _running(container, SAMPLE_NAMESPACES)
    for name in ALL:
        assert _ns(pid, name) != _ns("self", name), name


def test_namespace_left_out_is_shared_with_nsinit(container):
    _, pid = _running(container, {"NEWNS": True, "NEWPID": True})
    assert _ns(pid, "mnt") != _ns("self", "mnt")
    for name in ("uts", "ipc", "net"):
        assert _ns(pid, name) == _ns("self", name), name


def test_namespace_set_false_is_shared(container):
    _, pid = _running(container, {"NEWNS": True, "NEWPID": True, "NEWNET": False})
    assert _ns(pid, "net") == _ns("self", "net")


CGROUP_VIEW = "readlink /proc/self/ns/cgroup; cat /proc/self/cgroup"


def test_cgroup_namespace_makes_own_cgroup_the_root(container):
    container.write_config(namespaces={**SAMPLE_NAMESPACES, "NEWCGROUP": True})
    r = container.exec("sh", "-c", CGROUP_VIEW)
    assert r.returncode == 0, r.stderr
    ns, *paths = r.stdout.splitlines()
    assert ns != _ns("self", "cgroup")
    # Every hierarchy reads "/" inside: the container's own cgroup is its root.
    assert paths and all(line.endswith(":/") for line in paths), r.stdout


def test_without_a_cgroup_namespace_the_host_path_shows(container):
    container.write_config()
    r = container.exec("sh", "-c", CGROUP_VIEW)
    assert r.returncode == 0, r.stderr
    ns, *paths = r.stdout.splitlines()
    assert ns == _ns("self", "cgroup")
    # Without a cgroups key the process stays in nsinit's cgroups, so in this
    # test's, and reads their paths exactly as the host does.
    with open("/proc/self/cgroup") as f:
        assert paths == f.read().splitlines()


def test_ipc_namespace_hides_host_message_queues(container):
    key = "0x" + uuid.uuid4().hex[:8]
    out = subprocess.run(["ipcmk", "-Q", "-p", "0600"], capture_output=True, text=True, check=True).stdout
    qid = out.split()[-1]
    try:
        container.write_config()
        r = container.exec("cat", "/proc/sysvipc/msg")
        assert r.returncode == 0, r.stderr
        assert len(r.stdout.strip().splitlines()) == 1  # the header only
        container.write_config(namespaces={"NEWNS": True, "NEWPID": True})
        shared = container.exec("cat", "/proc/sysvipc/msg")
        assert qid in shared.stdout.split()  # the failing twin: without NEWIPC it shows
    finally:
        subprocess.run(["ipcrm", "-q", qid], check=True)
    del key


def test_network_namespace_has_only_loopback(container):
    container.write_config()
    r = container.exec("ls", "/sys/class/net")
    assert r.stdout.split() == ["lo"]
    container.write_config(namespaces={"NEWNS": True, "NEWPID": True})
    assert len(container.exec("ls", "/sys/class/net").stdout.split()) > 1


@pytest.fixture
def named_netns():
    from libcontainer.testing.fixtures import add_netns, delete_netns

    name = f"lctest-ns-{uuid.uuid4().hex[:6]}"
    path = add_netns(name)
    try:
        yield path
    finally:
        delete_netns(name, check=True)


def test_joins_a_named_network_namespace(container, named_netns):
    subprocess.run(["ip", "netns", "exec", os.path.basename(named_netns), "ip", "link", "add", "lctns0", "type",
                    "veth", "peer", "name", "lctns1"], check=True)
    _, pid = _running(container, {**SAMPLE_NAMESPACES, "NEWNET": named_netns})
    assert _ns(pid, "net") == f"net:[{os.stat(named_netns).st_ino}]"
    r = container.exec("ls", "/sys/class/net")
    assert {"lctns0", "lctns1"} <= set(r.stdout.split())


def test_join_path_that_does_not_exist_is_a_clear_error(container):
    container.write_config(namespaces={**SAMPLE_NAMESPACES, "NEWNET": "/var/run/netns/lctest-missing"})
    r = container.exec("true")
    assert r.returncode == 125
    assert r.stderr.strip() == "nsinit: namespaces: NEWNET: cannot join /var/run/netns/lctest-missing: No such file or directory"


def test_join_path_of_another_namespace_type_is_refused(container):
    uts = f"/proc/{os.getpid()}/ns/uts"
    container.write_config(namespaces={**SAMPLE_NAMESPACES, "NEWNET": uts})
    r = container.exec("true")
    assert r.returncode == 125
    assert r.stderr.strip() == f"nsinit: namespaces: NEWNET: {uts} is a uts namespace, not a net namespace"


def test_join_path_that_is_not_a_namespace_is_refused(container):
    container.write_config(namespaces={**SAMPLE_NAMESPACES, "NEWNET": "/etc/hostname"})
    r = container.exec("true")
    assert r.returncode == 125
    assert "/etc/hostname is not a namespace file" in r.stderr


def test_unknown_namespace_name_lists_the_valid_ones(container):
    container.write_config(namespaces={"NEWNS": True, "NEWNETT": True})
    r = container.exec("true")
    assert r.returncode == 125
    assert "unknown namespace 'NEWNETT'; did you mean NEWNET?" in r.stderr
    assert "NEWUSER" in r.stderr
    assert "Traceback" not in r.stderr


def test_namespace_names_accept_clone_prefix_and_any_case(container):
    container.write_config(namespaces={"clone_newns": True, "newpid": True, "uts": True}, hostname="x")
    r = container.exec("hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "x"


def test_joined_process_enters_every_namespace_of_pid_1(container):
    _, pid = _running(container, {**SAMPLE_NAMESPACES, "NEWUSER": True,
                                  "uid_mappings": None} if False else {**SAMPLE_NAMESPACES})
    r = container.exec("sh", "-c", "for n in mnt uts ipc pid net; do readlink /proc/self/ns/$n; done")
    assert r.stdout.split() == [_ns(pid, n) for n in ALL]


# -- user namespaces -----------------------------------------------------------------------------

USERNS = {**SAMPLE_NAMESPACES, "NEWUSER": True}


@pytest.fixture
def mapped_container(container):
    """A container whose rootfs the mapped root (host uid 100000) can reach and own."""
    for parent in container.path.parents:
        if str(parent).startswith("/tmp/pytest-of-"):
            os.chmod(parent, os.stat(parent).st_mode | 0o755)
    subprocess.run(["chown", "-R", "100000:100000", str(container.path)], check=True)
    return container


def test_user_namespace_maps_root_to_the_configured_host_id(mapped_container):
    container = mapped_container
    container.write_config(namespaces=USERNS,
                           uid_mappings=[{"container_id": 0, "host_id": 100000, "size": 65536}],
                           gid_mappings=[{"container_id": 0, "host_id": 100000, "size": 65536}])
    p = container.popen("sh", "-c", "id -u; id -g; sleep 30")
    pid = container.wait_running()
    assert p.stdout.readline().strip() == "0"
    assert p.stdout.readline().strip() == "0"
    with open(f"/proc/{pid}/status") as f:
        uid_line = next(ln for ln in f if ln.startswith("Uid:"))
    assert uid_line.split()[1] == "100000"  # the host sees the mapped uid
    assert _ns(pid, "user") != _ns("self", "user")


def test_user_namespace_user_switch_inside_the_map(mapped_container):
    container = mapped_container
    container.write_config(namespaces=USERNS, user="user",
                           uid_mappings=[{"container_id": 0, "host_id": 100000, "size": 65536}],
                           gid_mappings=[{"container_id": 0, "host_id": 100000, "size": 65536}])
    r = container.exec("id", "-u")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1000"


def test_id_mappings_without_user_namespace_are_a_config_error(container):
    container.write_config(uid_mappings=[{"container_id": 0, "host_id": 1000, "size": 1}])
    r = container.exec("true")
    assert r.returncode == 125
    assert "id mappings need a new user namespace" in r.stderr


@pytest.fixture
def rootless_dir(rootfs_template, tmp_path_factory):
    """A container directory owned by an unprivileged uid, reachable by it."""
    base = tmp_path_factory.mktemp("rootless")
    os.chmod(base, 0o755)
    for parent in base.parents:
        if str(parent).startswith("/tmp/pytest-of-"):
            os.chmod(parent, os.stat(parent).st_mode | 0o755)
    box = copy_rootfs(rootfs_template, base / "box")
    subprocess.run(["chown", "-R", "4000:4000", str(box)], check=True)
    try:
        yield box
    finally:
        shutil.rmtree(base, ignore_errors=True)
        # uid 4000's nsinit keeps its states in /tmp/nsinit-4000 (no XDG_RUNTIME_DIR here).
        shutil.rmtree("/tmp/nsinit-4000", ignore_errors=True)


def _as_user(box, *cmd, uid=4000):
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                           *nsinit_command(), "exec", *cmd], cwd=box, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin", "HOME": "/"})


def _write(box, doc):
    import json

    (box / "container.json").write_text(json.dumps(doc))
    os.chown(box / "container.json", 4000, 4000)


def test_rootless_container_runs_as_root_inside_with_mounts_hostname_and_pid_namespace(rootless_dir):
    _write(rootless_dir, {"namespaces": USERNS, "hostname": "rootless", "environment": ["PATH=/bin"]})
    r = _as_user(rootless_dir, "sh", "-c", "id -u; hostname; echo $$; cat /proc/self/uid_map; ip link show lo; "
                                           "mount | grep -c ' /proc '")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "0"
    assert lines[1] == "rootless"
    assert lines[2] == "1"
    assert lines[3].split() == ["0", "4000", "1"]  # the host sees uid 4000
    assert "lo" in lines[4]
    assert not (rootless_dir / "pid").exists()


@pytest.mark.parametrize("how", ["served", "local"])
def test_rootless_join_enters_the_running_container(rootless_dir, how):
    """An unprivileged nsinit joins its own container: through its supervisor, or by itself."""
    import time

    from libcontainer.control import socket_path

    _write(rootless_dir, {"namespaces": USERNS, "environment": ["PATH=/bin"]})
    first = subprocess.Popen(["setpriv", "--reuid=4000", "--regid=4000", "--clear-groups", "--inh-caps=-all",
                              *nsinit_command(), "exec", "sleep", "60"], cwd=rootless_dir, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={"PATH": "/usr/bin:/bin", "HOME": "/"})
    control = socket_path(rootless_dir).replace("/run/nsinit/", "/tmp/nsinit-4000/")
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(control) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.path.exists(control), first.stderr.read() if first.poll() is not None else "no join server"
        env = {"NSINIT_DEBUG_LOCAL_JOIN": "1"} if how == "local" else {}
        r = subprocess.run(["setpriv", "--reuid=4000", "--regid=4000", "--clear-groups", "--inh-caps=-all",
                            *nsinit_command(), "exec", "sh", "-c", "echo $$; id -u; readlink /proc/1/ns/pid"],
                           cwd=rootless_dir, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                           env={"PATH": "/usr/bin:/bin", "HOME": "/", **env})
        assert r.returncode == 0, r.stderr
        pid, uid, pid_ns = r.stdout.split()
        assert pid != "1" and uid == "0"
        assert pid_ns == os.readlink(f"/proc/{int((rootless_dir / 'pid').read_text())}/ns/pid")
    finally:
        first.kill()
        first.wait()
        _as_user(rootless_dir, "true")  # the next command cleans up after the killed nsinit


def test_rootless_without_user_namespace_reports_a_clear_permission_error(rootless_dir):
    _write(rootless_dir, {"namespaces": SAMPLE_NAMESPACES, "environment": ["PATH=/bin"]})
    r = _as_user(rootless_dir, "id")
    assert r.returncode == 125
    assert r.stderr.strip() == ("nsinit: namespaces: unshare CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|"
                                "CLONE_NEWNET: Operation not permitted (without root, a container needs a user "
                                "namespace: add NEWUSER: true to namespaces)")


def test_rootless_cannot_map_other_host_ids(rootless_dir):
    _write(rootless_dir, {"namespaces": USERNS, "environment": ["PATH=/bin"],
                          "uid_mappings": [{"container_id": 0, "host_id": 0, "size": 1}]})
    r = _as_user(rootless_dir, "id")
    assert r.returncode == 125
    assert "writing uid_map '0 0 1': Operation not permitted (an unprivileged user can map only its own id" in r.stderr


def test_time_namespace_is_new_when_asked(container):
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("this kernel has no time namespaces")
    _, pid = _running(container, {**SAMPLE_NAMESPACES, "NEWTIME": True})
    assert _ns(pid, "time") != _ns("self", "time")


def test_joining_a_user_namespace_container_enters_user_namespace_first(mapped_container):
    container = mapped_container
    container.write_config(namespaces=USERNS, hostname="userjoin",
                           uid_mappings=[{"container_id": 0, "host_id": 100000, "size": 65536}],
                           gid_mappings=[{"container_id": 0, "host_id": 100000, "size": 65536}])
    container.popen("sleep", "30")
    pid = container.wait_running()
    r = container.exec("sh", "-c", "id -u; hostname; echo $$; readlink /proc/self/ns/user; readlink /proc/self/ns/pid")
    assert r.returncode == 0, r.stderr
    uid, host, mypid, userns, pidns = r.stdout.split()
    assert (uid, host) == ("0", "userjoin")
    assert mypid != "1"
    assert (userns, pidns) == (_ns(pid, "user"), _ns(pid, "pid"))
