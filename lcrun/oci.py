"""An OCI bundle's config.json as the engine's config, and what lcrun keeps for itself.

::

    from lcrun.oci import load_bundle

    config, extras = load_bundle("/run/bundle")   # libcontainer.config.Config, Extras
    box = Container(extras.bundle, config=config, id="c1", state_root="/run/lcrun")
    proc = box.create(extras.process.args, detach=True, keeper=False)

The translation reads the document in three passes, and stops after the
first that finds a problem, with every problem of that pass at once (one
line each, a JSON path of config.json and what is wrong, as the engine's own
config validation reports them):

1. the types and required fields (``OCI_SCHEMA``, checked by the engine's
   validator);
2. every property against ``FIELDS``, the one table of what lcrun knows of
   the runtime spec: a supported field is translated, a refused one that is
   set (not empty: ``"apparmorProfile": ""`` is absent) is an error naming
   it, and a property the spec does not define is ignored with a warning
   (config.md, "Extensibility");
3. the translation into container.json's keys (the core's and the plugins':
   namespaces, cgroups, capabilities, seccomp, rlimits, sysctl, oom,
   network), validated by the installed plugins; their problems are
   reported at the config.json path the value came from.

``features.py`` builds ``lcrun features`` from the same tables, so what is
advertised is what is translated.
"""

from __future__ import annotations

import os
import re
from typing import Any

from libcontainer import mountopts
from libcontainer.core_plugin import MOUNT_TYPES
from libcontainer.errors import ConfigError, ConfigProblem
from libcontainer.records import field, record
from libcontainer.validate import join_path, validate

# The runtime spec versions lcrun reads: any 1.x (the spec keeps compatibility within a major
# version, and properties a later 1.x adds are ignored with a warning); written by `lcrun spec`.
OCI_VERSION = "1.3.0"
OCI_VERSION_MIN = "1.0.0"
_VERSION = re.compile(r"^1\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")

# The hooks of config.md, in the order of the lifecycle.
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

# linux.namespaces[].type -> the namespaces plugin's name.
NAMESPACE_TYPES = {"pid": "NEWPID", "network": "NEWNET", "mount": "NEWNS", "ipc": "NEWIPC", "uts": "NEWUTS",
                   "user": "NEWUSER", "cgroup": "NEWCGROUP", "time": "NEWTIME"}

# mounts[].type -> the engine's mount type (a bind is told by its options, whatever its type).
OCI_MOUNT_TYPES = {t: t for t in MOUNT_TYPES if t != "bind"} | {"cgroup2": "cgroup"}

# linux.seccomp actions and operators -> the seccomp plugin's names.
SECCOMP_ACTIONS = {"SCMP_ACT_KILL": "kill", "SCMP_ACT_KILL_THREAD": "kill", "SCMP_ACT_KILL_PROCESS": "kill_process",
                   "SCMP_ACT_TRAP": "trap", "SCMP_ACT_ERRNO": "errno", "SCMP_ACT_TRACE": "trace",
                   "SCMP_ACT_ALLOW": "allow", "SCMP_ACT_LOG": "log"}
SECCOMP_OPERATORS = {"SCMP_CMP_NE": "ne", "SCMP_CMP_LT": "lt", "SCMP_CMP_LE": "le", "SCMP_CMP_EQ": "eq",
                     "SCMP_CMP_GE": "ge", "SCMP_CMP_GT": "gt", "SCMP_CMP_MASKED_EQ": "masked_eq"}

# The option strings of mounts[].options with a meaning of their own (others are filesystem data).
MOUNT_OPTIONS = sorted(mountopts.KNOWN_OPTIONS)

# The devices every container gets (config-linux.md, "Default Devices"), made by the engine, and the
# device cgroup rules runc adds after a config's own so that they can be used: mknod of any node, the
# default devices, /dev/console, /dev/ptmx and the ptys.
DEFAULT_DEVICES = [("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8),
                   ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)]
DEFAULT_DEVICE_RULES = [("c", -1, -1, "m"), ("b", -1, -1, "m"), ("c", 1, 3, "rwm"), ("c", 1, 5, "rwm"),
                        ("c", 1, 7, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 9, "rwm"), ("c", 5, 0, "rwm"),
                        ("c", 5, 1, "rwm"), ("c", 5, 2, "rwm"), ("c", 136, -1, "rwm")]

# rlim_t's infinity (RLIM_INFINITY), as config.json writes it.
RLIM_INFINITY = 2**64 - 1


@record(frozen=True)
class Field:
    """What lcrun does with one property of config.json."""

    to: str | None = None  # where it goes: a container.json key (or "lcrun" for what the runtime keeps)
    refused: str | None = None  # why it is not supported; set and not empty, it is an error
    map: bool = False  # an object whose keys are data (annotations, sysctl): not walked


def _refuse(why: str) -> Field:
    return Field(refused=why)


# Every property of config.json (runtime spec 1.3.0, Linux) by JSON path, "[]" standing for any
# item of a list: the one table of what lcrun supports.  Objects are walked; a property the spec
# does not define is ignored with a warning.
FIELDS: dict[str, Field] = {
    "$.ociVersion": Field("lcrun (1.x)"),
    "$.root.path": Field("rootfs"),
    "$.root.readonly": Field("readonly_fs"),
    "$.mounts[].destination": Field("mounts[].destination"),
    "$.mounts[].source": Field("mounts[].source"),
    "$.mounts[].type": Field("mounts[].type"),
    "$.mounts[].options": Field("mounts[].options"),
    "$.mounts[].uidMappings": _refuse("id-mapped mounts"),
    "$.mounts[].gidMappings": _refuse("id-mapped mounts"),
    "$.process.terminal": Field("tty"),
    "$.process.consoleSize.height": Field("lcrun"),
    "$.process.consoleSize.width": Field("lcrun"),
    "$.process.cwd": Field("working_dir"),
    "$.process.env": Field("environment"),
    "$.process.args": Field("lcrun"),
    "$.process.commandLine": _refuse("a Windows field"),
    "$.process.rlimits[].type": Field("rlimits"),
    "$.process.rlimits[].soft": Field("rlimits"),
    "$.process.rlimits[].hard": Field("rlimits"),
    "$.process.apparmorProfile": _refuse("AppArmor"),
    "$.process.capabilities.bounding": Field("capability_sets.bounding"),
    "$.process.capabilities.effective": Field("capability_sets.effective"),
    "$.process.capabilities.inheritable": Field("capability_sets.inheritable"),
    "$.process.capabilities.permitted": Field("capability_sets.permitted"),
    "$.process.capabilities.ambient": Field("capability_sets.ambient"),
    "$.process.noNewPrivileges": Field("no_new_privileges"),
    "$.process.oomScoreAdj": Field("oom_score_adj"),
    "$.process.scheduler": _refuse("scheduling policies"),
    "$.process.selinuxLabel": _refuse("SELinux"),
    "$.process.ioPriority": _refuse("I/O priorities"),
    "$.process.execCPUAffinity": _refuse("CPU affinity"),
    "$.process.user.uid": Field("user"),
    "$.process.user.gid": Field("user"),
    "$.process.user.umask": Field("umask"),
    "$.process.user.additionalGids": Field("additional_gids"),
    "$.process.user.username": _refuse("a Windows field"),
    "$.hostname": Field("hostname"),
    "$.domainname": Field("domainname"),
    **{f"$.hooks.{name}[].{key}": Field("lcrun") for name in HOOK_NAMES for key in ("path", "args", "env", "timeout")},
    "$.annotations": Field("lcrun", map=True),
    "$.linux.namespaces[].type": Field("namespaces"),
    "$.linux.namespaces[].path": Field("namespaces"),
    "$.linux.uidMappings[].containerID": Field("uid_mappings"),
    "$.linux.uidMappings[].hostID": Field("uid_mappings"),
    "$.linux.uidMappings[].size": Field("uid_mappings"),
    "$.linux.gidMappings[].containerID": Field("gid_mappings"),
    "$.linux.gidMappings[].hostID": Field("gid_mappings"),
    "$.linux.gidMappings[].size": Field("gid_mappings"),
    "$.linux.timeOffsets": _refuse("time namespace offsets"),
    **{f"$.linux.devices[].{key}": Field("device_nodes")
       for key in ("type", "path", "major", "minor", "fileMode", "uid", "gid")},
    "$.linux.netDevices": _refuse("moving network devices into the container"),
    "$.linux.cgroupsPath": Field("cgroups.parent, cgroups.name"),
    **{f"$.linux.resources.devices[].{key}": Field("cgroups.devices")
       for key in ("allow", "type", "major", "minor", "access")},
    "$.linux.resources.memory.limit": Field("cgroups.memory"),
    "$.linux.resources.memory.reservation": Field("cgroups.memory_reservation"),
    "$.linux.resources.memory.swap": Field("cgroups.memory_swap"),
    "$.linux.resources.memory.kernel": _refuse("kernel memory limits (gone from Linux 6.1)"),
    "$.linux.resources.memory.kernelTCP": _refuse("kernel TCP memory limits"),
    "$.linux.resources.memory.swappiness": Field("cgroups.memory_swappiness"),
    "$.linux.resources.memory.disableOOMKiller": Field("cgroups.oom_kill_disable"),
    "$.linux.resources.memory.useHierarchy": _refuse("memory.use_hierarchy"),
    "$.linux.resources.memory.checkBeforeUpdate": _refuse("checkBeforeUpdate"),
    "$.linux.resources.cpu.shares": Field("cgroups.cpu_shares"),
    "$.linux.resources.cpu.quota": Field("cgroups.cpu_quota"),
    "$.linux.resources.cpu.burst": _refuse("CPU burst"),
    "$.linux.resources.cpu.period": Field("cgroups.cpu_period"),
    "$.linux.resources.cpu.realtimeRuntime": _refuse("real-time CPU limits"),
    "$.linux.resources.cpu.realtimePeriod": _refuse("real-time CPU limits"),
    "$.linux.resources.cpu.cpus": Field("cgroups.cpuset_cpus"),
    "$.linux.resources.cpu.mems": Field("cgroups.cpuset_mems"),
    "$.linux.resources.cpu.idle": _refuse("SCHED_IDLE cgroups"),
    "$.linux.resources.pids.limit": Field("cgroups.pids_limit"),
    "$.linux.resources.blockIO.weight": Field("cgroups.blkio_weight"),
    "$.linux.resources.blockIO.leafWeight": _refuse("blkio leaf weights"),
    "$.linux.resources.blockIO.weightDevice": _refuse("per-device blkio weights"),
    **{f"$.linux.resources.blockIO.{key}[].{part}": Field(f"cgroups.blkio_throttle_{cfg}_device")
       for key, cfg in (("throttleReadBpsDevice", "read_bps"), ("throttleWriteBpsDevice", "write_bps"),
                        ("throttleReadIOPSDevice", "read_iops"), ("throttleWriteIOPSDevice", "write_iops"))
       for part in ("major", "minor", "rate")},
    "$.linux.resources.hugepageLimits": _refuse("the hugetlb controller"),
    "$.linux.resources.network": _refuse("the net_cls and net_prio controllers"),
    "$.linux.resources.rdma": _refuse("the rdma controller"),
    "$.linux.resources.unified": _refuse("raw cgroup v2 files"),
    "$.linux.intelRdt": _refuse("Intel RDT"),
    "$.linux.memoryPolicy": _refuse("NUMA memory policies"),
    "$.linux.sysctl": Field("sysctl", map=True),
    "$.linux.seccomp.defaultAction": Field("seccomp.default_action"),
    "$.linux.seccomp.defaultErrnoRet": Field("seccomp.default_errno"),
    "$.linux.seccomp.architectures": Field("seccomp.architectures"),
    "$.linux.seccomp.flags": _refuse("seccomp filter flags"),
    "$.linux.seccomp.listenerPath": _refuse("seccomp agents (SCMP_ACT_NOTIFY)"),
    "$.linux.seccomp.listenerMetadata": _refuse("seccomp agents (SCMP_ACT_NOTIFY)"),
    "$.linux.seccomp.syscalls[].names": Field("seccomp.syscalls[].names"),
    "$.linux.seccomp.syscalls[].action": Field("seccomp.syscalls[].action"),
    "$.linux.seccomp.syscalls[].errnoRet": Field("seccomp.syscalls[].errno"),
    **{f"$.linux.seccomp.syscalls[].args[].{key}": Field("seccomp.syscalls[].args")
       for key in ("index", "value", "valueTwo", "op")},
    "$.linux.rootfsPropagation": Field("rootfs_propagation"),
    "$.linux.maskedPaths": Field("masked_paths"),
    "$.linux.readonlyPaths": Field("readonly_paths"),
    "$.linux.mountLabel": _refuse("SELinux"),
    "$.linux.personality": _refuse("execution domains (personality)"),
    "$.solaris": _refuse("a Solaris config"),
    "$.windows": _refuse("a Windows config"),
    "$.vm": _refuse("virtual-machine containers"),
    "$.zos": _refuse("a z/OS config"),
    "$.freebsd": _refuse("a FreeBSD config"),
}


def fields_markdown() -> str:
    """FIELDS as a Markdown table (for docs/oci.md): every property, where it goes or why it is refused."""
    rows = ["| config.json | lcrun |", "|---|---|"]
    for path, entry in FIELDS.items():
        what = f"`{entry.to}`" if entry.refused is None else f"refused: {entry.refused}"
        rows.append(f"| `{path}` | {what} |")
    return "\n".join(rows) + "\n"


def supported(path: str) -> bool:
    """True when lcrun translates the field at ``path`` (a FIELDS key, or an object holding some)."""
    if path in FIELDS:
        return FIELDS[path].refused is None
    return any(p.startswith((path + ".", path + "[")) and f.refused is None for p, f in FIELDS.items())


# -- what lcrun keeps for itself -----------------------------------------------------------------


@record(frozen=True)
class ConsoleSize:
    """process.consoleSize: the terminal's size in characters (ignored without a terminal)."""

    height: int
    width: int


@record(frozen=True)
class OciUser:
    """process.user, numeric as OCI gives it (also in the config as user, umask, additional_gids)."""

    uid: int
    gid: int
    umask: int | None = None  # None: the runtime's umask stays
    additional_gids: tuple[int, ...] = ()


@record
class OciProcess:
    """The process of config.json: what ``Container.create`` runs, and how lcrun presents it."""

    args: list[str]  # argv; args[0] looked up in the container's PATH
    env: list[str]  # exactly its environment ("KEY=value"); also the config's environment
    cwd: str  # its working directory (absolute); also the config's working_dir
    user: OciUser
    terminal: bool = False  # a pty, whose master lcrun sends over --console-socket
    console_size: ConsoleSize | None = None  # the pty's size, when terminal


@record(frozen=True)
class Hook:
    """One entry of a hooks list: run by lcrun (with the state on stdin) where runtime.md says."""

    path: str  # absolute, in the runtime's mount namespace
    args: tuple[str, ...] = ()  # argv, args[0] included (execv(3)); empty: just path
    env: tuple[str, ...] = ()  # its whole environment
    timeout: int | None = None  # seconds before it is killed and counted as failed


@record
class Extras:
    """What the engine does not consume but lcrun needs."""

    bundle: str  # the bundle directory, absolute
    rootfs: str  # the root filesystem, absolute (also config.rootfs)
    oci_version: str  # config.json's ociVersion
    process: OciProcess  # the container's process
    annotations: dict[str, str] = field(default_factory=dict)  # for `lcrun state`
    hooks: dict[str, list[Hook]] = field(default_factory=dict)  # by HOOK_NAMES name; absent lists are empty
    warnings: list[str] = field(default_factory=list)  # properties ignored, one line each, for the log


# -- pass 1: types and required fields --------------------------------------------------------------

_STR = {"type": "string"}
_STRS = {"type": "array", "items": _STR}
_BOOL = {"type": "boolean"}
_INT = {"type": "integer"}
_U32 = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
_U64 = {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}
_I64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
_ABS = {"type": "string", "pattern": "^/"}


def _obj(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


def _list(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


_ID_MAP = _list(_obj({"containerID": _U32, "hostID": _U32, "size": _U32}, "containerID", "hostID", "size"))
_HOOK = _obj({"path": {**_ABS, "title": "an absolute path"}, "args": _STRS, "env": _STRS,
              "timeout": {"type": "integer", "minimum": 1}}, "path")
_THROTTLE = _list(_obj({"major": _I64, "minor": _I64, "rate": _U64}, "major", "minor", "rate"))

OCI_SCHEMA: dict[str, Any] = _obj({
    "ociVersion": _STR,
    "root": _obj({"path": {"type": "string", "minLength": 1}, "readonly": _BOOL}, "path"),
    "mounts": _list(_obj({"destination": {"type": "string", "minLength": 1}, "source": _STR, "type": _STR,
                          "options": _STRS}, "destination")),
    "process": _obj({
        "terminal": _BOOL,
        "consoleSize": _obj({"height": _U32, "width": _U32}, "height", "width"),
        "cwd": {**_ABS, "title": "an absolute path"},
        "env": _STRS,
        "args": {"type": "array", "items": _STR, "minItems": 1},
        "rlimits": _list(_obj({"type": _STR, "soft": _U64, "hard": _U64}, "type", "soft", "hard")),
        "capabilities": _obj({name: _STRS for name in ("bounding", "effective", "inheritable", "permitted",
                                                       "ambient")}),
        "noNewPrivileges": _BOOL,
        "oomScoreAdj": _INT,
        "user": _obj({"uid": _U32, "gid": _U32, "umask": _U32, "additionalGids": _list(_U32)}, "uid", "gid"),
    }, "cwd", "args"),
    "hostname": _STR,
    "domainname": _STR,
    "hooks": _obj({name: _list(_HOOK) for name in HOOK_NAMES}),
    "annotations": {"type": "object", "additionalProperties": _STR,
                    "propertyNames": {"type": "string", "minLength": 1}},
    "linux": _obj({
        "namespaces": _list(_obj({"type": _STR, "path": _STR}, "type")),
        "uidMappings": _ID_MAP,
        "gidMappings": _ID_MAP,
        "devices": _list(_obj({"type": _STR, "path": {**_ABS, "title": "an absolute path"}, "major": _I64,
                               "minor": _I64, "fileMode": _U32, "uid": _U32, "gid": _U32}, "type", "path")),
        "cgroupsPath": _STR,
        "resources": _obj({
            "devices": _list(_obj({"allow": _BOOL, "type": {"enum": ["a", "b", "c"]}, "major": _I64,
                                   "minor": _I64, "access": {"type": "string", "pattern": "^[rwm]{0,3}$"}},
                                  "allow")),
            "memory": _obj({"limit": _I64, "reservation": _I64, "swap": _I64, "swappiness": _U64,
                            "disableOOMKiller": _BOOL}),
            "cpu": _obj({"shares": _U64, "quota": _I64, "period": _U64, "cpus": _STR, "mems": _STR}),
            "pids": _obj({"limit": _I64}),
            "blockIO": _obj({"weight": {"type": "integer", "minimum": 0, "maximum": 65535},
                             **{k: _THROTTLE for k in ("throttleReadBpsDevice", "throttleWriteBpsDevice",
                                                       "throttleReadIOPSDevice", "throttleWriteIOPSDevice")}}),
        }),
        "sysctl": {"type": "object", "additionalProperties": _STR},
        "seccomp": _obj({
            "defaultAction": _STR, "defaultErrnoRet": _U32, "architectures": _STRS,
            "syscalls": _list(_obj({"names": {"type": "array", "items": _STR, "minItems": 1}, "action": _STR,
                                    "errnoRet": _U32,
                                    "args": _list(_obj({"index": _U32, "value": _U64, "valueTwo": _U64,
                                                        "op": _STR}, "index", "value", "op"))},
                                   "names", "action")),
        }, "defaultAction"),
        "rootfsPropagation": _STR,
        "maskedPaths": _list({**_ABS, "title": "an absolute path"}),
        "readonlyPaths": _list({**_ABS, "title": "an absolute path"}),
    }),
}, "ociVersion", "root")


# -- pass 2: every property against FIELDS -----------------------------------------------------------


def _empty(value: Any) -> bool:
    """Absent in effect: null, "", [], {}, false or 0 (podman and runc write defaults such as "apparmorProfile": "")."""
    return value is None or value is False or value == 0 or value in ("", [], {})


def _drop_nulls(value: Any) -> Any:
    """null properties are absent (Go's encoders write some)."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _pattern_key(pattern: str, key: str) -> str:
    return join_path(pattern, key)


def _has_children(pattern: str) -> bool:
    return any(p.startswith((pattern + ".", pattern + "[")) for p in FIELDS)


def check_fields(doc: dict[str, Any]) -> tuple[list[ConfigProblem], list[str]]:
    """(problems: refused fields that are set, warnings: properties the spec does not define)."""
    problems: list[ConfigProblem] = []
    warnings: list[str] = []

    def walk(value: Any, pattern: str, path: str) -> None:
        entry = FIELDS.get(pattern)
        if entry is not None and entry.refused is not None:
            if not _empty(value):
                problems.append(ConfigProblem(path, f"not supported by lcrun ({entry.refused})"))
            return
        if entry is not None and (entry.map or not _has_children(pattern)):
            return
        if isinstance(value, dict):
            for key, item in value.items():
                child = _pattern_key(pattern, key)
                if child in FIELDS or _has_children(child):
                    walk(item, child, join_path(path, key))
                else:
                    warnings.append(f"{join_path(path, key)}: not a property of the runtime spec lcrun knows "
                                    f"({OCI_VERSION}); ignored")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, pattern + "[]", join_path(path, i))

    walk(doc, "$", "$")
    return problems, warnings


# -- pass 3: the translation -----------------------------------------------------------------------


# A JSON path inside a message ("is already set by $.rlimits[0]").
_PATH_IN_TEXT = re.compile(r"\$(?:\.[A-Za-z_]\w*|\[\d+\]|\['[^']*'\])+")


class _Translation:
    """The container.json document being built, and where each of its values came from in config.json."""

    def __init__(self, bundle: str) -> None:
        self.bundle = bundle
        self.doc: dict[str, Any] = {}
        self.origin: dict[str, str] = {}  # container.json path -> config.json path
        self.problems: list[ConfigProblem] = []
        self.warnings: list[str] = []

    def put(self, key: str, value: Any, source: str) -> None:
        self.doc[key] = value
        self.came(f"$.{key}", source)

    def came(self, path: str, source: str) -> None:
        self.origin[path] = source

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def oci_problem(self, problem: ConfigProblem) -> ConfigProblem:
        """An engine's problem in config.json's terms: its path, and the paths its message names."""
        message = _PATH_IN_TEXT.sub(lambda m: self.oci_path(m.group(0)), problem.message)
        return ConfigProblem(self.oci_path(problem.path), message)

    def oci_path(self, path: str) -> str:
        """The config.json path of a container.json path: its longest recorded prefix, rewritten."""
        best = ""
        for known in self.origin:
            if (path == known or path.startswith((known + ".", known + "["))) and len(known) > len(best):
                best = known
        return self.origin[best] + path[len(best):] if best else path


def _bundle_path(bundle: str, path: str) -> str:
    return os.path.normpath(path if path.startswith("/") else os.path.join(bundle, path))


def _root(t: _Translation, doc: dict[str, Any]) -> str:
    root = doc["root"]
    rootfs = _bundle_path(t.bundle, root["path"])
    if not os.path.isdir(rootfs):
        what = "is not a directory" if os.path.exists(rootfs) else "no such directory"
        t.problem("$.root.path", f"{rootfs}: {what}")
    t.put("rootfs", rootfs, "$.root.path")
    if root.get("readonly"):
        t.put("readonly_fs", True, "$.root.readonly")
    return rootfs


def _mounts(t: _Translation, doc: dict[str, Any], new_mount_namespace: bool) -> None:
    mounts = doc.get("mounts") or []
    if not mounts:
        return
    if not new_mount_namespace:
        t.problem("$.mounts", "mounting needs a mount namespace of the container's: add {\"type\": \"mount\"} to "
                              "linux.namespaces")
        return
    out = []
    for i, m in enumerate(mounts):
        at = f"$.mounts[{i}]"
        options = list(m.get("options") or [])
        kind = m.get("type") or ""
        dest = m["destination"]
        if not dest.startswith("/"):
            dest = "/" + dest  # relative: to "/" (deprecated, config.md)
        entry: dict[str, Any] = {"destination": dest}
        if kind == "bind" or "bind" in options or "rbind" in options:
            source = m.get("source")
            if not source:
                t.problem(at, f"a bind mount needs a source (the host path to mount at {dest})")
                continue
            entry.update(type="bind", source=_bundle_path(t.bundle, source))
        elif kind in OCI_MOUNT_TYPES:
            entry["type"] = OCI_MOUNT_TYPES[kind]
            if m.get("source"):
                entry["source"] = m["source"]
        elif not kind:
            t.problem(at, "a mount needs a type, or bind or rbind among its options")
            continue
        else:
            t.problem(f"{at}.type", f"mount type {kind!r} is not supported by lcrun (supported: "
                                    f"{', '.join(OCI_MOUNT_TYPES)}, and bind mounts)")
            continue
        for j, option in enumerate(options):
            refused = mountopts.option_problem(option)
            if refused:
                t.problem(f"{at}.options[{j}]", f"not supported by lcrun: {refused}")
        entry["options"] = options
        t.came(f"$.mounts[{len(out)}]", at)
        out.append(entry)
    t.put("default_mounts", False, "$.mounts")
    t.doc["mounts"] = out


def _process(t: _Translation, doc: dict[str, Any]) -> OciProcess:
    proc = doc["process"]
    user = proc.get("user") or {"uid": 0, "gid": 0}
    oci_user = OciUser(uid=user["uid"], gid=user["gid"], umask=user.get("umask"),
                       additional_gids=tuple(user.get("additionalGids") or ()))
    t.put("user", f"{oci_user.uid}:{oci_user.gid}", "$.process.user")
    if oci_user.umask is not None:
        t.put("umask", oci_user.umask, "$.process.user.umask")
    if oci_user.additional_gids:
        t.put("additional_gids", list(oci_user.additional_gids), "$.process.user.additionalGids")
    env = list(proc.get("env") or [])
    for i, entry in enumerate(env):
        if "=" not in entry:
            t.problem(f"$.process.env[{i}]", f'expected "KEY=value", got {entry!r}')
    t.put("environment", env, "$.process.env")
    t.put("working_dir", proc["cwd"], "$.process.cwd")
    terminal = bool(proc.get("terminal"))
    if terminal:
        t.put("tty", True, "$.process.terminal")
    size = proc.get("consoleSize")
    caps = proc.get("capabilities")
    if caps is not None:
        t.put("capability_sets", {name: list(caps.get(name) or []) for name in
                                  ("bounding", "effective", "permitted", "inheritable", "ambient")},
              "$.process.capabilities")
    if proc.get("noNewPrivileges"):
        t.put("no_new_privileges", True, "$.process.noNewPrivileges")
    if "oomScoreAdj" in proc:
        t.put("oom_score_adj", proc["oomScoreAdj"], "$.process.oomScoreAdj")
    if proc.get("rlimits"):
        t.put("rlimits", [{"type": r["type"], "soft": _rlimit(r["soft"]), "hard": _rlimit(r["hard"])}
                          for r in proc["rlimits"]], "$.process.rlimits")
    return OciProcess(args=list(proc["args"]), env=env, cwd=proc["cwd"], user=oci_user, terminal=terminal,
                      console_size=ConsoleSize(size["height"], size["width"]) if size and terminal else None)


def _rlimit(value: int) -> int | str:
    return "unlimited" if value == RLIM_INFINITY else value


def _namespaces(t: _Translation, linux: dict[str, Any]) -> dict[str, Any]:
    spaces: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for i, ns in enumerate(linux.get("namespaces") or []):
        at = f"$.linux.namespaces[{i}]"
        kind = ns["type"]
        if kind not in NAMESPACE_TYPES:
            t.problem(f"{at}.type", f"namespace type {kind!r} is not supported by lcrun (supported: "
                                    f"{', '.join(NAMESPACE_TYPES)})")
            continue
        if kind in seen:
            t.problem(f"{at}.type", f"{kind} is already at $.linux.namespaces[{seen[kind]}]")
            continue
        seen[kind] = i
        path = ns.get("path") or ""
        if path and not path.startswith("/"):
            t.problem(f"{at}.path", f"expected an absolute path, got {path!r}")
        spaces[NAMESPACE_TYPES[kind]] = path or True
        t.came(f"$.namespaces.{NAMESPACE_TYPES[kind]}", at)
    if spaces:
        t.put("namespaces", spaces, "$.linux.namespaces")
    if spaces.get("NEWNET") is True:
        # A new network namespace has a loopback interface to bring up, as runc does; nothing else.
        t.put("networks", [{"type": "loopback"}], f"$.linux.namespaces[{seen['network']}]")
    for oci, ours in (("uidMappings", "uid_mappings"), ("gidMappings", "gid_mappings")):
        maps = linux.get(oci)
        if maps:
            t.put(ours, [{"container_id": m["containerID"], "host_id": m["hostID"], "size": m["size"]}
                         for m in maps], f"$.linux.{oci}")
            for i in range(len(maps)):
                for a, b in (("container_id", "containerID"), ("host_id", "hostID"), ("size", "size")):
                    t.came(f"$.{ours}[{i}].{a}", f"$.linux.{oci}[{i}].{b}")
    return spaces


def _devices(t: _Translation, linux: dict[str, Any]) -> None:
    given = linux.get("devices") or []
    nodes: list[dict[str, Any]] = []
    sources: list[str | None] = []
    paths = {d["path"] for d in given}
    for path, major, minor in DEFAULT_DEVICES:
        if path not in paths:
            nodes.append({"path": path, "type": "c", "major_number": major, "minor_number": minor,
                          "file_mode": 0o666, "uid": 0, "gid": 0})
            sources.append(None)
    for i, d in enumerate(given):
        at = f"$.linux.devices[{i}]"
        kind = {"u": "c"}.get(d["type"], d["type"])
        if kind not in ("c", "b"):
            why = "FIFO devices" if kind == "p" else f"device type {d['type']!r}"
            t.problem(f"{at}.type", f"not supported by lcrun ({why}; supported: c, u, b)")
            continue
        if "major" not in d or "minor" not in d:
            t.problem(at, "a c, u or b device needs major and minor")
            continue
        node = {"path": d["path"], "type": kind, "major_number": d["major"], "minor_number": d["minor"]}
        if "fileMode" in d:
            node["file_mode"] = d["fileMode"] & 0o7777  # podman writes the type bits too (S_IFCHR)
        for key in ("uid", "gid"):
            if key in d:
                node[key] = d[key]
        nodes.append(node)
        sources.append(at)
    if not given:
        return  # the engine's own default set is the same
    t.doc["device_nodes"] = nodes
    for i, at in enumerate(sources):
        if at is not None:
            t.came(f"$.device_nodes[{i}]", at)
            for a, b in (("major_number", "major"), ("minor_number", "minor"), ("file_mode", "fileMode")):
                t.came(f"$.device_nodes[{i}].{a}", f"{at}.{b}")


def _cgroups(t: _Translation, linux: dict[str, Any], container_id: str | None) -> None:
    section: dict[str, Any] = {}
    path = linux.get("cgroupsPath") or ""
    if ":" in path:
        t.problem("$.linux.cgroupsPath", f"{path!r} is a systemd unit (slice:prefix:name), which needs the systemd "
                                         "cgroup driver lcrun does not have; give a path such as /parent/name")
    elif path:
        parent, _, name = path.strip("/").rpartition("/")
        if not name or ".." in path.split("/"):
            t.problem("$.linux.cgroupsPath", f"expected a path such as /parent/name, got {path!r}")
        else:
            # Absolute: from the hierarchy's root; relative: under the plugin's default parent.
            section["name"] = name
            section["parent"] = ("/" + parent if path.startswith("/") else f"libcontainer/{parent}".rstrip("/"))
            t.came("$.cgroups.name", "$.linux.cgroupsPath")
            t.came("$.cgroups.parent", "$.linux.cgroupsPath")
    res = linux.get("resources") or {}
    src = "$.linux.resources"

    def put(key: str, value: Any, source: str) -> None:
        section[key] = value
        t.came(f"$.cgroups.{key}", f"{src}.{source}")

    memory, cpu = res.get("memory") or {}, res.get("cpu") or {}
    for key, ours in (("limit", "memory"), ("reservation", "memory_reservation")):
        if memory.get(key, 0) > 0:  # 0 and -1: no limit
            put(ours, memory[key], f"memory.{key}")
    if memory.get("swap", 0) != 0:
        put("memory_swap", max(memory["swap"], -1), "memory.swap")
    if "swappiness" in memory:
        put("memory_swappiness", memory["swappiness"], "memory.swappiness")
    if memory.get("disableOOMKiller"):
        put("oom_kill_disable", True, "memory.disableOOMKiller")
    for key, ours in (("shares", "cpu_shares"), ("quota", "cpu_quota"), ("period", "cpu_period")):
        if cpu.get(key):
            put(ours, max(cpu[key], -1), f"cpu.{key}")
    for key, ours in (("cpus", "cpuset_cpus"), ("mems", "cpuset_mems")):
        if cpu.get(key):
            put(ours, cpu[key], f"cpu.{key}")
    pids = (res.get("pids") or {}).get("limit", 0)
    if pids:
        put("pids_limit", max(pids, -1), "pids.limit")
    blkio = res.get("blockIO") or {}
    if blkio.get("weight"):
        put("blkio_weight", blkio["weight"], "blockIO.weight")
    for key, ours in (("throttleReadBpsDevice", "read_bps"), ("throttleWriteBpsDevice", "write_bps"),
                      ("throttleReadIOPSDevice", "read_iops"), ("throttleWriteIOPSDevice", "write_iops")):
        if blkio.get(key):
            put(f"blkio_throttle_{ours}_device", [{"major": d["major"], "minor": d["minor"], "rate": d["rate"]}
                                                  for d in blkio[key]], f"blockIO.{key}")
    rules = []
    for i, d in enumerate(res.get("devices") or []):
        rule = {"allow": d["allow"], "type": d.get("type") or "a"}
        for key in ("major", "minor"):
            if key in d:
                rule[key] = max(d[key], -1)
        rule["access"] = d.get("access") or "rwm"
        rules.append(rule)
        t.came(f"$.cgroups.devices[{i}]", f"{src}.devices[{i}]")
    if rules:
        # runc's: the default devices stay usable whatever the config's rules said before.
        rules += [{"allow": True, "type": k, "major": a, "minor": b, "access": acc}
                  for k, a, b, acc in DEFAULT_DEVICE_RULES]
        section["devices"] = rules
    if "cgroupsPath" not in linux and "resources" not in linux:
        return  # neither a place nor limits: no cgroup of its own (what a rootless spec asks)
    if not section.get("name") and container_id:
        section["name"] = container_id
    t.put("cgroups", section, "$.linux.resources")
    for key in ("name", "parent"):
        if key in section:
            t.came(f"$.cgroups.{key}", "$.linux.cgroupsPath")


def _seccomp(t: _Translation, linux: dict[str, Any]) -> None:
    profile = linux.get("seccomp")
    if profile is None:
        return
    src = "$.linux.seccomp"
    number = _syscall_number()
    out: dict[str, Any] = {"default_action": _action(t, profile["defaultAction"], f"{src}.defaultAction")}
    t.came("$.seccomp.default_action", f"{src}.defaultAction")
    if "defaultErrnoRet" in profile:
        out["default_errno"] = profile["defaultErrnoRet"]
        t.came("$.seccomp.default_errno", f"{src}.defaultErrnoRet")
    if profile.get("architectures"):
        out["architectures"] = list(profile["architectures"])
        t.came("$.seccomp.architectures", f"{src}.architectures")
    rules: list[dict[str, Any]] = []
    unconditional: dict[str, str] = {}  # name -> where its first rule without conditions is
    for i, rule in enumerate(profile.get("syscalls") or []):
        at = f"{src}.syscalls[{i}]"
        action = _action(t, rule["action"], f"{at}.action")
        names, kept = [], []
        for j, name in enumerate(rule["names"]):
            if number is not None and number(name) is None:
                # As runc does: a profile is written for many libseccomp versions.
                t.warnings.append(f"{at}.names[{j}]: {name} is unknown to this libseccomp; left out of the filter")
                continue
            if not rule.get("args"):
                if name in unconditional:
                    # libseccomp keeps the first such rule and ignores the later ones (runc's result).
                    t.warnings.append(f"{at}.names[{j}]: {name} already has a rule without conditions at "
                                      f"{unconditional[name]}; the first one applies")
                    continue
                unconditional[name] = at
            names.append(name)
            kept.append(j)
        if not names:
            continue
        ours: dict[str, Any] = {"names": names, "action": action}
        n = len(rules)
        t.came(f"$.seccomp.syscalls[{n}]", at)
        t.came(f"$.seccomp.syscalls[{n}].errno", f"{at}.errnoRet")
        for k, j in enumerate(kept):
            t.came(f"$.seccomp.syscalls[{n}].names[{k}]", f"{at}.names[{j}]")
        if "errnoRet" in rule:
            ours["errno"] = rule["errnoRet"]
        if rule.get("args"):
            ours["args"] = []
            for k, arg in enumerate(rule["args"]):
                cond = {"index": arg["index"], "value": arg["value"],
                        "op": SECCOMP_OPERATORS.get(arg["op"], arg["op"])}
                if "valueTwo" in arg and cond["op"] == "masked_eq":
                    cond["value_two"] = arg["valueTwo"]
                ours["args"].append(cond)
                t.came(f"$.seccomp.syscalls[{n}].args[{k}].value_two", f"{at}.args[{k}].valueTwo")
        rules.append(ours)
    if rules:
        out["syscalls"] = rules
    t.put("seccomp", out, src)
    t.came("$.seccomp.default_action", f"{src}.defaultAction")
    t.came("$.seccomp.default_errno", f"{src}.defaultErrnoRet")


def _action(t: _Translation, name: str, at: str) -> str:
    if name == "SCMP_ACT_NOTIFY":
        t.problem(at, "not supported by lcrun (SCMP_ACT_NOTIFY needs a seccomp agent, listenerPath)")
        return "allow"
    if name not in SECCOMP_ACTIONS:
        t.problem(at, f"unknown seccomp action {name!r} (supported: {', '.join(SECCOMP_ACTIONS)})")
        return "allow"
    return SECCOMP_ACTIONS[name]


def _syscall_number() -> Any:
    """libseccomp's name lookup when the seccomp plugin and the library are here; None otherwise."""
    try:
        from libcontainer_seccomp import libseccomp
    except ImportError:
        return None
    try:
        libseccomp.load()
    except libseccomp.LibseccompUnavailable:
        return None
    return libseccomp.syscall_number


def _hooks(doc: dict[str, Any]) -> dict[str, list[Hook]]:
    hooks = doc.get("hooks") or {}
    return {name: [Hook(path=h["path"], args=tuple(h.get("args") or ()), env=tuple(h.get("env") or ()),
                        timeout=h.get("timeout")) for h in hooks.get(name) or []] for name in HOOK_NAMES}


def translate(doc: Any, bundle: str, plugins: Any = None, container_id: str | None = None,
              source: str | None = None) -> tuple[Any, Extras]:
    """config.json's document (parsed) as the engine's Config, and the Extras; ConfigError listing every problem.

    ``bundle`` resolves relative paths (root.path, bind sources); ``container_id``
    names the cgroup when cgroupsPath does not; ``source`` is the name the
    errors start with (default: BUNDLE/config.json).
    """
    from libcontainer.configfile import parse_config

    bundle = os.path.abspath(bundle)
    source = source or os.path.join(bundle, "config.json")
    if not isinstance(doc, dict):
        raise ConfigError(source, "the top level must be an object (a config.json)")
    doc = _drop_nulls(doc)
    _, found = validate(doc, OCI_SCHEMA)
    version = doc.get("ociVersion")
    if isinstance(version, str) and not _VERSION.match(version):
        found.append(ConfigProblem("$.ociVersion", f"lcrun reads runtime spec 1.x ({OCI_VERSION_MIN} to "
                                                   f"{OCI_VERSION} and later 1.x), got {version!r}"))
    if "process" not in doc:
        found.append(ConfigProblem("$", "missing required key 'process' (the container's process, which lcrun "
                                        "needs to create it)"))
    if found:
        raise ConfigError(source, found)
    refused, warnings = check_fields(doc)
    if refused:
        raise ConfigError(source, refused)

    t = _Translation(bundle)
    t.warnings = warnings
    rootfs = _root(t, doc)
    linux = doc.get("linux") or {}
    spaces = _namespaces(t, linux)
    process = _process(t, doc)
    for key in ("hostname", "domainname"):
        if doc.get(key):
            t.put(key, doc[key], f"$.{key}")
    _mounts(t, doc, spaces.get("NEWNS") is True)
    _devices(t, linux)
    _cgroups(t, linux, container_id)
    if linux.get("sysctl"):
        t.put("sysctl", dict(linux["sysctl"]), "$.linux.sysctl")
    for oci, ours in (("maskedPaths", "masked_paths"), ("readonlyPaths", "readonly_paths")):
        if oci in linux:
            t.put(ours, list(linux[oci]), f"$.linux.{oci}")
    if linux.get("rootfsPropagation"):
        t.put("rootfs_propagation", linux["rootfsPropagation"], "$.linux.rootfsPropagation")
    elif spaces.get("NEWNS") is True:
        # runc's default: the root slave of the host's, so that shared bind sources stay peers.
        t.put("rootfs_propagation", "rslave", "$.linux.rootfsPropagation")
    _seccomp(t, linux)
    if t.problems:
        raise ConfigError(source, t.problems)
    if plugins is None:
        from libcontainer.container import default_plugins

        plugins = default_plugins()
    try:
        config = parse_config(t.doc, source, plugins)
    except ConfigError as e:
        raise ConfigError(source, [t.oci_problem(p) for p in e.problems]) from None
    extras = Extras(bundle=bundle, rootfs=rootfs, oci_version=doc["ociVersion"], process=process,
                    annotations=dict(doc.get("annotations") or {}), hooks=_hooks(doc), warnings=t.warnings)
    return config, extras


def load_bundle(bundle_dir: str | os.PathLike[str], plugins: Any = None,
                container_id: str | None = None) -> tuple[Any, Extras]:
    """Read BUNDLE/config.json and translate it: ``(Config, Extras)``.

    A missing bundle or config.json, a file that is not JSON, and every
    problem of the document are a :class:`~libcontainer.errors.ConfigError`,
    one line per problem naming its JSON path.
    """
    from libcontainer.configfile import ConfigFileError, load_document

    bundle = os.path.abspath(bundle_dir)
    if not os.path.isdir(bundle):
        raise ConfigFileError(bundle, "no such bundle directory" if not os.path.exists(bundle)
                              else "is not a directory (a bundle is a directory holding config.json)")
    path = os.path.join(bundle, "config.json")
    doc = load_document(path)
    return translate(doc, bundle, plugins, container_id, source=path)


def load_process(path: str | os.PathLike[str]) -> tuple[OciProcess, dict[str, Any]]:
    """A process.json (``lcrun exec --process FILE``: config.json's process object alone), checked and translated.

    Returns the process and the container.json keys it sets (user, environment,
    working_dir, tty, umask, additional_gids, capability_sets, rlimits,
    no_new_privileges, oom_score_adj), for a process joining the container;
    the plugins have not checked those yet (capability names, limits): merge
    them into the container's config document and parse that.  Problems are a
    ConfigError naming ``$.args`` ... as in the file.
    """
    from libcontainer.configfile import load_document

    source = str(path)
    doc = _drop_nulls(load_document(path))
    _, found = validate(doc, OCI_SCHEMA["properties"]["process"])
    if not found:
        refused, _ = check_fields({"process": doc})
        found = [ConfigProblem("$" + p.path.removeprefix("$.process"), p.message) for p in refused]
    if found:
        raise ConfigError(source, found)
    t = _Translation(os.path.dirname(os.path.abspath(source)))
    process = _process(t, {"process": doc})
    if t.problems:
        raise ConfigError(source, [ConfigProblem("$" + p.path.removeprefix("$.process"), p.message)
                                   for p in t.problems])
    return process, dict(t.doc)
