"""The commands that need the engine: create, start, run, exec, delete, ps, pause, resume, events, update, features, spec.

Each reads its arguments (cli.py parsed them), loads the bundle or the
container, and calls libcontainer's API: ``Container(bundle, config=...,
id=ID, state_root=ROOT).create(..., detach=True, keeper=False)`` so that the
container outlives lcrun and its process goes to the caller's child
subreaper (conmon, containerd-shim), ``Container.load(ID, ROOT)`` for the
rest.  The OCI hooks run in the engine, through the oci_hooks plugin
(ocihooks.py), which the bundle's translation activates.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from libcontainer import state as st
from libcontainer.container import Container

from . import log
from .cli import Failure, Globals, UsageError
from .lightcmd import HOOKS_KEY, RECORDED_HOOKS, oci_status, read, state_dir

# -- the bundle --------------------------------------------------------------------------


def load_bundle(bundle: str, id: str) -> tuple[Any, Any]:
    """config.json translated (lcrun/oci.py), with its hooks under the oci_hooks key (ocihooks.py)."""
    from .oci import load_bundle as translate

    config, extras = translate(bundle, container_id=id)
    if any(extras.hooks.values()):
        from libcontainer.configfile import parse_config
        from libcontainer.container import default_plugins

        from .ocihooks import KEY, section

        doc = config.to_dict()
        doc[KEY] = section(extras)
        config = parse_config(doc, os.path.join(extras.bundle, "config.json"), default_plugins())
    for warning in extras.warnings:
        log.warning(warning)
    return config, extras


def check_executable(rootfs: str, command: str, env: list[str], mount_points: list[str]) -> None:
    """runc refuses at create a command that is there but cannot be executed; podman reads "permission denied"."""
    from libcontainer.rootpaths import command_candidates, secure_join, under_any

    for candidate in command_candidates(command, env):
        if under_any(candidate, mount_points):
            return
        try:
            found = os.stat(secure_join(rootfs, candidate))
        except (OSError, ValueError):
            continue
        except Exception:  # noqa: BLE001 - a symlink loop: the setup process will say so
            return
        import stat

        if stat.S_ISREG(found.st_mode) and found.st_mode & 0o111:
            return
        if "/" in command:
            raise Failure(f"exec: {command}: permission denied (not an executable file in the root filesystem)")
    return


def write_pid_file(path: str, pid: int) -> None:
    """The pid, without a newline (go-runc reads it with Atoi), through a temporary name: never seen half-written."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, str(pid).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _int(opts: dict[str, Any], key: str, flag: str) -> int:
    value = opts.get(key)
    if value is None:
        return 0
    try:
        number = int(str(value))
    except ValueError:
        raise UsageError(f"{flag}: expected a number, got {value!r}") from None
    if number < 0:
        raise UsageError(f"{flag}: expected a number >= 0, got {number}")
    return number


# -- create, start, run ------------------------------------------------------------------


def create_container(g: Globals, opts: dict[str, Any], id: str, foreground: bool = False) -> tuple[Any, Any, Any]:
    """``create``: the container made and its process waiting; (Container, ContainerProcess, Extras)."""
    directory = state_dir(g, id)
    preserve = _int(opts, "preserve_fds", "--preserve-fds")
    bundle = os.path.abspath(str(opts.get("bundle") or "."))
    socket_path = opts.get("console_socket")
    sock = None
    if socket_path:
        from .console import connect

        sock = connect(str(socket_path))  # first: a bad socket is an error before anything is made
    try:
        if st.read_state(directory) is not None:
            raise Failure(f"container {id} already exists")
        config, extras = load_bundle(bundle, id)
        if opts.get("no_pivot"):
            config.no_pivot_root = True
        if opts.get("no_new_keyring"):
            config.no_new_keyring = True
        process = extras.process
        if process.terminal and sock is None and not foreground:
            raise Failure("process.terminal is true: its terminal needs --console-socket (or a foreground run)")
        check_executable(extras.rootfs, process.args[0], process.env,
                         [m.destination for m in config.mounts or []])
        os.makedirs(g.root, 0o711, exist_ok=True)
        box = Container(bundle, config=config, id=id, state_root=g.root)
        proc = box.create(process.args, detach=True, keeper=False, preserve_fds=preserve,
                          annotations=extras.annotations)
        try:
            record_hooks(box, directory)
            if proc.tty_master is not None:
                from .console import send_master, set_size

                size = process.console_size
                if size is not None:
                    set_size(proc.tty_master, size.height, size.width)
                if sock is not None:
                    send_master(sock, proc.tty_master)
                    sock = None
                    os.close(proc.tty_master)
                    proc.tty_master = None
            if opts.get("pid_file"):
                write_pid_file(str(opts["pid_file"]), proc.pid)
        except BaseException:
            proc.close()  # never started: killed, and the container torn down
            raise
    finally:
        if sock is not None:
            sock.close()
    return box, proc, extras


def record_hooks(box: Container, directory: str) -> None:
    """Record which active plugins of the container implement post_start and post_exit, and what each
    says those will do, as data (Container.hook_plans): lightcmd.HOOKS_KEY.

    What lets ``start`` and ``delete`` go without the plugin manager when
    every plan allows it (lightcmd.py).
    """
    with st.Lock(directory):
        found = st.read_state(directory)
        if found is None:
            return
        found.resources[HOOKS_KEY] = box.hook_plans(RECORDED_HOOKS)
        st.write_state(directory, found)


def cmd_create(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    create_container(g, opts, pos[0])
    return 0  # the container's process waits for the start; it outlives us (no close())


def cmd_start(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    load(g, pos[0]).start()
    return 0


def load(g: Globals, id: str) -> Container:
    state_dir(g, id)  # the id checked
    try:
        return Container.load(id, g.root)
    except st.NoSuchContainer:
        raise Failure(f"container {id} does not exist") from None


def cmd_run(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    detach = bool(opts.get("detach"))
    box, proc, extras = create_container(g, opts, pos[0], foreground=not detach)
    try:
        proc.start()
    except BaseException:
        _delete_quietly(box)
        raise
    if detach:
        return 0
    status = wait_in_foreground(proc)
    if not opts.get("keep"):
        box.delete(force=True)
    return status


def _delete_quietly(box: Container) -> None:
    from libcontainer.errors import LibcontainerError

    try:
        box.delete(force=True)
    except LibcontainerError:
        pass


def wait_in_foreground(proc: Any) -> int:
    """Relay the terminal (when lcrun holds its master) and the signals we get, until the process ends; its status."""
    forwarded = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2]

    def forward(sig: int, frame: Any) -> None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass

    for sig in forwarded:
        signal.signal(sig, forward)
    if proc.tty_master is not None:
        from libcontainer.tty import prepare_terminal, relay

        def resize(sig: int, frame: Any) -> None:
            from libcontainer.tty import copy_window_size

            copy_window_size(0, proc.tty_master)

        signal.signal(signal.SIGWINCH, resize)
        prepare_terminal(0, proc.tty_master)
        relay(proc.tty_master, proc.pid)
    return proc.wait()


# -- exec ----------------------------------------------------------------------------------


def _merged_env(base: list[str], extra: list[str]) -> list[str]:
    """``base`` with each KEY=VALUE of ``extra`` replacing the same KEY, or added."""
    out = {e.partition("=")[0]: e for e in base}
    for entry in extra:
        if "=" not in entry:
            raise UsageError(f"--env: expected KEY=VALUE, got {entry!r}")
        out[entry.partition("=")[0]] = entry
    return list(out.values())


def cmd_exec(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    id = pos[0]
    for key, flag in (("ignore_paused", "--ignore-paused"), ("process_label", "--process-label"),
                      ("apparmor", "--apparmor")):
        if opts.get(key):
            raise Failure(f"{flag}: not supported by lcrun")
    box = load(g, id)
    config = box.config
    detach = bool(opts.get("detach"))
    size = None
    if opts.get("process"):
        if tail:
            raise UsageError("exec: a command and --process were both given; give one")
        from .oci import load_process

        process, keys = load_process(str(opts["process"]))
        args, env, cwd, tty = list(process.args), list(process.env), process.cwd, process.terminal
        user_spec = f"{process.user.uid}:{process.user.gid}"
        size = process.console_size
        _check_privileges(config, keys.get("capability_sets"), bool(keys.get("no_new_privileges")))
        gids = list(process.user.additional_gids)
    else:
        if not tail:
            raise UsageError("exec needs a command after the id (or --process FILE)")
        args = tail
        env = _merged_env(config.env, list(opts.get("env") or []))  # type: ignore[arg-type]
        cwd = str(opts.get("cwd") or config.cwd)
        user_spec = str(opts["user"]) if opts.get("user") else None
        gids = None
        tty = bool(opts.get("tty"))
        _check_privileges(config, {"bounding": [c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper()
                                                for c in opts.get("cap") or []]},  # type: ignore[union-attr]
                          bool(opts.get("no_new_privs")))
    socket_path = opts.get("console_socket")
    if tty and not socket_path and detach:
        raise Failure("exec --tty --detach: its terminal needs --console-socket")
    sock = None
    if socket_path and tty:
        from .console import connect

        sock = connect(str(socket_path))
    status = box.status()
    if status == "running" and st.paused(box.state()):
        raise Failure(f"container {id} is paused: resume it first")
    try:
        proc = box.join(args, tty=tty, detach=detach, env=env, cwd=cwd, user=user_spec,
                        preserve_fds=_int(opts, "preserve_fds", "--preserve-fds"), additional_gids=gids)
        try:
            if proc.tty_master is not None:
                from .console import send_master, set_size

                if size is not None:
                    set_size(proc.tty_master, size.height, size.width)
                if sock is not None:
                    send_master(sock, proc.tty_master)
                    sock = None
                    os.close(proc.tty_master)
                    proc.tty_master = None
            proc.start()
        except BaseException:
            proc.close()
            raise
    finally:
        if sock is not None:
            sock.close()
    if opts.get("pid_file"):
        write_pid_file(str(opts["pid_file"]), proc.pid)
    if detach:
        return 0  # it runs on; our child until we exit, then the caller's subreaper's
    return wait_in_foreground(proc)


def _check_privileges(config: Any, caps: Any, no_new_privs: bool) -> None:
    """An exec gets the container's capabilities and no_new_privs: refuse asking for more (or other)."""
    if no_new_privs and not config.section("no_new_privileges"):
        raise Failure("exec: no_new_privs for one process is not supported by lcrun (the container's setting "
                      "applies to every process)")
    if not isinstance(caps, dict):
        return
    sets = config.section("capability_sets") or {}
    listed = config.section("capabilities")
    for name, wanted in caps.items():
        have = sets.get(name) if sets else listed
        if have is None or not wanted:
            continue
        known = {c.upper().removeprefix("CAP_") for c in have}
        extra = sorted(c for c in wanted if c.upper().removeprefix("CAP_") not in known)
        if extra:
            raise Failure(f"exec: capabilities.{name}: {', '.join(extra)} beyond the container's: not supported by "
                          "lcrun (a joined process gets the container's capabilities)")


# -- delete, pause, resume, ps -----------------------------------------------------------------


def delete_container(g: Globals, id: str, force: bool) -> int:
    box = load(g, id)
    if force:
        found = box.state()
        if found is not None and found.status in (st.CREATED, st.RUNNING) and st.paused(found):
            box.resume()  # a frozen process cannot die of SIGKILL until it is thawed
    box.delete(force=force)
    return 0


def cmd_pause(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    _running(g, pos[0]).pause()
    return 0


def cmd_resume(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    box = _running(g, pos[0])
    if oci_status(read(g, pos[0])) != "paused":
        raise Failure(f"container {pos[0]} is not paused")
    box.resume()
    return 0


def _running(g: Globals, id: str) -> Container:
    box = load(g, id)
    now = oci_status(read(g, id))
    if now not in ("running", "created", "paused"):
        raise Failure(f"container {id} is {now}: container not running")
    return box


def cmd_ps(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    fmt = opts.get("format") or "table"
    if fmt not in ("table", "json"):
        raise Failure(f"--format: expected table or json, got {fmt!r}")
    box = load(g, pos[0])
    pids = box.processes()
    if fmt == "json":
        sys.stdout.write(json.dumps(pids) + "\n")
        return 0
    import subprocess

    try:
        out = subprocess.run(["ps", *(tail or ["-ef"])], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise Failure(f"ps: {getattr(e, 'stderr', '') or e}".strip()) from None
    lines = out.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise Failure("ps: its output has no PID column")
    column = header.index("PID")
    wanted = set(pids)
    sys.stdout.write(lines[0] + "\n")
    for line in lines[1:]:
        fields = line.split(None, column + 1)
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            sys.stdout.write(line + "\n")
    return 0


# -- events, update ------------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Go's durations as runc takes them: 5s, 500ms, 1m, 1.5s; seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit):
            try:
                value = float(text[: -len(unit)]) * units[unit]
            except ValueError:
                break
            if value > 0:
                return value
            break
    raise UsageError(f"--interval: expected a duration such as 5s or 500ms, got {text!r}")


def stats_event(box: Container) -> dict[str, Any]:
    """runc's stats event: {"type": "stats", "id", "data"} with the cgroups' statistics."""
    stats = box.stats()
    data = {k: v for k, v in stats.items() if k not in ("id", "pid")}
    return {"type": "stats", "id": box.id, "data": data}


def _oom_kills(box: Container) -> int | None:
    """How many processes the memory limit's OOM killer took in the container so far (None: not known)."""
    try:
        memory = (box.stats() or {}).get("memory") or {}
    except Exception:  # noqa: BLE001 - stopped meanwhile, or no cgroups: no count
        return None
    return memory.get("oom_kill")


def cmd_events(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    """runc's events: a stats event every interval (once with --stats), and an oom event, as runc
    prints it, each time the memory cgroup's OOM killer takes a process (polled every 0.2 s)."""
    import time

    interval = parse_duration(str(opts.get("interval") or "5s"))
    box = _running(g, pos[0])
    oom_seen = _oom_kills(box) or 0
    while True:
        try:
            event = stats_event(box)
        except st.NoSuchContainer:
            return 0
        except Exception as e:  # noqa: BLE001
            from libcontainer.errors import NotRunning

            if isinstance(e, NotRunning):
                return 0
            raise
        _emit(event)
        if opts.get("stats"):
            return 0
        deadline = time.monotonic() + interval
        while time.monotonic() < deadline:
            found = st.read_state(Path(g.root) / box.id)
            if found is None or st.status(found) not in (st.CREATED, st.RUNNING):
                return 0
            kills = _oom_kills(box)
            if kills is not None and kills > oom_seen:
                oom_seen = kills
                _emit({"type": "oom", "id": box.id})
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


# runc update's flags -> the cgroups plugin's keys.
UPDATE_FLAGS = {"memory": "memory", "memory_reservation": "memory_reservation", "memory_swap": "memory_swap",
                "pids_limit": "pids_limit", "cpu_quota": "cpu_quota", "cpu_period": "cpu_period",
                "cpu_shares": "cpu_shares", "cpuset_cpus": "cpuset_cpus", "cpuset_mems": "cpuset_mems",
                "blkio_weight": "blkio_weight"}
_NUMERIC = {"memory", "memory_reservation", "memory_swap", "pids_limit", "cpu_quota", "cpu_period", "cpu_shares",
            "blkio_weight"}


def resources_changes(doc: Any, source: str) -> dict[str, Any]:
    """linux.resources (runc update -r's JSON) as the cgroups plugin's keys; what lcrun cannot change is refused."""
    if not isinstance(doc, dict):
        raise Failure(f"{source}: expected an object (linux.resources)")
    out: dict[str, Any] = {}
    allowed = {"memory": {"limit": "memory", "reservation": "memory_reservation", "swap": "memory_swap"},
               "cpu": {"shares": "cpu_shares", "quota": "cpu_quota", "period": "cpu_period", "cpus": "cpuset_cpus",
                       "mems": "cpuset_mems"},
               "pids": {"limit": "pids_limit"},
               "blockIO": {"weight": "blkio_weight", "blkioWeight": "blkio_weight"}}
    for section, values in doc.items():
        if values in (None, {}, []):
            continue
        if section not in allowed or not isinstance(values, dict):
            raise Failure(f"{source}: $.{section}: not supported by lcrun update")
        for key, value in values.items():
            if value in (None, 0, ""):
                continue  # runc's zero values: unchanged
            if key not in allowed[section]:
                raise Failure(f"{source}: $.{section}.{key}: not supported by lcrun update")
            ours = allowed[section][key]
            if ours in _NUMERIC and (not isinstance(value, int) or isinstance(value, bool)):
                raise Failure(f"{source}: $.{section}.{key}: expected an integer, got {value!r}")
            out[ours] = max(value, -1) if ours in _NUMERIC else value
    return out


def cmd_update(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    from libcontainer.update import update_config

    if opts.get("resources"):
        source = str(opts["resources"])
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
            doc = json.loads(text)
        except OSError as e:
            raise Failure(f"--resources {source}: {e.strerror}") from None
        except ValueError as e:
            raise Failure(f"--resources {source}: not JSON: {e}") from None
        changes = resources_changes(doc, source)
    else:
        changes = {}
        for key, ours in UPDATE_FLAGS.items():
            value = opts.get(key)
            if value is None:
                continue
            if ours in _NUMERIC:
                try:
                    number = int(str(value))
                except ValueError:
                    raise UsageError(f"--{key.replace('_', '-')}: expected a number, got {value!r}") from None
                changes[ours] = max(number, -1)
            else:
                changes[ours] = str(value)
    if not changes:
        raise UsageError("update: nothing to change (lcrun update --help)")
    box = _running(g, pos[0])
    if box.config.section("cgroups") is None:
        raise Failure(f"container {pos[0]} has no cgroups of its own (no linux.resources nor cgroupsPath): "
                      "its limits cannot be changed")
    update_config(box, {"cgroups": changes})
    return 0


# -- features, spec ----------------------------------------------------------------------------


def cmd_features(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    from .features import features_json

    sys.stdout.write(features_json())
    return 0


def cmd_spec(g: Globals, opts: dict[str, Any], pos: list[str], tail: list[str]) -> int:
    from .spec import write_spec

    write_spec(str(opts.get("bundle") or "."), rootless=bool(opts.get("rootless")))
    return 0
