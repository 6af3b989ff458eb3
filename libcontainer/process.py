"""The container side of the lifecycle: what the setup process does after fork.

Two entry points, both run in a freshly forked child that never returns:
:func:`setup_first_process` for the container's first process and
:func:`setup_joining_process` for a process entering a running container.
Each step runs under :class:`Step`, which turns any failure into an ERROR
message carrying the step's name (see :mod:`libcontainer.channel`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import struct
import sys
import termios
from typing import TYPE_CHECKING, Any, NoReturn

from . import channel as msg
from . import syscalls as sc
from .context import NAMESPACE_KINDS, NAMESPACE_ORDER
from .errors import ContainerError, SyscallError

# Imported here, not lazily: after pivot_root the host's filesystem, and the
# Python modules on it, are out of reach of the setup process.
from .rootfs import RootfsBuilder, set_working_dir
from .user import resolve_user

if TYPE_CHECKING:
    from .channel import Channel
    from .context import ContainerContext
    from .plugins import Plugins


class Step:
    """``with Step("mounts"):`` names the step in any error raised inside."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Step:
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, (ContainerError, EOFError)):
            return False
        if isinstance(exc, (SyscallError, OSError)):
            cause = str(exc) if isinstance(exc, SyscallError) else _oserror_text(exc)
            raise ContainerError(self.name, cause, errno=exc.errno) from None
        if isinstance(exc, Exception):
            raise ContainerError(self.name, f"{type(exc).__name__}: {exc}") from None
        return False


def _oserror_text(e: OSError) -> str:
    where = e.filename if e.filename is not None else ""
    return f"{where}: {e.strerror}" if where else (e.strerror or str(e))


class Hooks:
    """The active plugins' hooks, bound to one container."""

    def __init__(self, plugins: Plugins, active: set[str], ctx: ContainerContext) -> None:
        self.plugins = plugins
        self.active = active
        self.ctx = ctx

    def __call__(self, name: str, **kwargs: Any) -> list[Any]:
        return self.plugins.call(f"libcontainer_{name}", self.active, container=self.ctx, **kwargs)

    def cleanup(self) -> None:
        self.plugins.call("libcontainer_post_exit", self.active, collect_errors=True, container=self.ctx)


# ---------------------------------------------------------------------------
# Shared by both entry points
# ---------------------------------------------------------------------------


def _child_guard(chan: Channel, body: Any) -> NoReturn:
    """Run ``body``; report any failure to the parent; never return."""
    code = 125
    try:
        body()
    except ContainerError as e:
        chan.send_error(e.step, e.cause, e.exit_code, e.errno)
    except EOFError:
        code = 1  # nsinit is gone: nothing to report to, nothing to run
    except BaseException as e:  # noqa: BLE001 - the child must never unwind into the caller's code
        chan.send_error("setup", f"{type(e).__name__}: {e}")
    finally:
        os._exit(code)
    raise AssertionError("unreachable")


def scrub_environ() -> None:
    """Zero nsinit's environment strings in this process's memory, which /proc/PID/environ shows.

    fork copies the strings the kernel placed at nsinit's execve (env_start
    to env_end, fields 50-51 of /proc/PID/stat, proc(5)); until the setup
    process execs, the container can read them through /proc/PID/environ
    with CAP_SYS_PTRACE, set_dumpable(False) notwithstanding.  A process may
    write its own /proc/self/mem while it is dumpable (once not, the file
    belongs to root, and an unprivileged process is refused: call this
    first).  os.environ (a copy on the heap) is
    left: reading that takes ptrace-attach rights, which the non-dumpable
    flag refuses.
    """
    with open("/proc/self/stat", "rb") as f:
        data = f.read()
    fields = data[data.rindex(b")") + 2 :].split()  # fields[0] is field 3
    start, end = int(fields[47]), int(fields[48])
    if end > start:
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            mem.write(bytes(end - start))


def keep_only_fds(keep: list[int]) -> None:
    """Close every inherited fd except 0-2 and ``keep`` (the caller's files stay out)."""
    low = 3
    for fd in sorted(set(f for f in keep if f >= 3)):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _max_fd())


def _max_fd() -> int:
    try:
        return max(int(n) for n in os.listdir("/proc/self/fd")) + 1
    except (OSError, ValueError):
        return os.sysconf("SC_OPEN_MAX")


def _attach_tty(slave: int | None) -> None:
    if slave is None:
        return
    os.setsid()
    # The pty becomes the controlling terminal of the new session (tty_ioctl(4)).
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


# asm-generic/ioctls.h: lock/unlock a pty, and get its number (termios lacks them).
_TIOCSPTLCK = 0x40045431
_TIOCGPTN = 0x80045430


def _open_console() -> tuple[int, int]:
    """A new pty pair from the devpts instance of the current root (the container's)."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    # unlockpt(3) and ptsname(3), as ioctls: libc's would look at the host's /dev/pts.
    fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
    number = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0" * 4))[0]
    slave = os.open(f"/dev/pts/{number}", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    return master, slave


def _setup_console(ctx: ContainerContext, fs: RootfsBuilder | None) -> int | None:
    """With a tty: a new pty as stdio and controlling terminal (and as /dev/console); our master end."""
    if not ctx.process.tty:
        # Pipe mode: a session of its own, without a controlling terminal, so
        # that a terminal among the caller's stdio is not the container's:
        # /dev/tty fails, and TIOCSTI on it needs CAP_SYS_ADMIN (tty_ioctl(4);
        # bubblewrap's CVE-2017-5226).  Never a group leader here: a fork.
        with Step("tty"):
            os.setsid()
        return None
    with Step("tty"):
        master, slave = _open_console()
        if fs is not None:
            fs.mount_console(os.readlink(f"/proc/self/fd/{slave}"))
        _attach_tty(slave)
    return master


class HostImports:
    """Imports that still work after pivot_root or setns, read through an fd of the host's root.

    A plugin's inside hook may import a module lazily (or the standard
    library may, on an error path).  After pivot_root (or setns into the
    container's mount namespace) every path the setup process looks up is
    the container's, which the container controls, and the host's files are
    out of reach by path.  From :meth:`install` on, this finder is the only
    one that reads files: it opens module sources under an fd of the host's
    root, taken before any namespace was entered, with openat2
    RESOLVE_IN_ROOT: never by a path in the container's tree, and never
    through /proc, whose name a co-tenant of the rootfs can swap for its own
    directory.  What it does not find there is not found.  Pure-Python
    modules only: a C extension's libraries would be looked up by the
    dynamic loader, in the container (hookspecs: import those earlier).
    """

    def __init__(self, sysc: Any) -> None:
        # importlib.machinery is small and already loaded (site imports it);
        # importlib.util would cost every container start ~0.5 ms of module
        # code run in a freshly forked process.
        from importlib.machinery import ModuleSpec

        self.sysc = sysc
        self.spec_type = ModuleSpec  # bound now: find_spec runs when nothing can be imported any more
        self.fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        tail = name.rpartition(".")[2]
        for entry in sys.path if path is None else path:
            if not (isinstance(entry, str) and entry.startswith("/")):
                continue
            for rel, package in ((os.path.join(tail, "__init__.py"), True), (tail + ".py", False)):
                origin = os.path.join(entry, rel)
                source = self._read(origin)
                if source is None:
                    continue
                spec = self.spec_type(name, _SourceLoader(source), origin=origin, is_package=package)
                spec.has_location = True  # __file__ is set from origin
                if package:
                    spec.submodule_search_locations = [os.path.join(entry, tail)]
                return spec
        return None

    def _read(self, path: str) -> bytes | None:
        try:
            fd = self.sysc.openat2(self.fd, path.lstrip("/"), os.O_RDONLY,
                                   resolve=sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as f:
                return f.read()
        except OSError:  # a directory named like a module, say
            return None

    def install(self) -> None:
        from importlib.machinery import BuiltinImporter, FrozenImporter

        sys.meta_path[:] = [BuiltinImporter, FrozenImporter, self]
        sys.path_importer_cache.clear()


class _SourceLoader:
    """Executes a module from source read by :class:`HostImports`."""

    def __init__(self, source: bytes) -> None:
        self.source = source

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        exec(compile(self.source, module.__spec__.origin, "exec", dont_inherit=True), module.__dict__)


def _reset_signals() -> None:
    # Python ignores SIGPIPE and SIGXFSZ, and ignored signals stay ignored
    # across execve(2): give the command the defaults it expects.
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _switch_user(ctx: ContainerContext, hooks: Hooks) -> None:
    sysc = ctx.syscalls
    with Step("user"):
        user = resolve_user(ctx.process.user)
        # Nothing of the caller's inheritable or ambient sets passes into the
        # container: a plugin's post_user raises what the config asks for
        # (CVE-2022-29162; capabilities(7), "Thread capability sets").
        sysc.cap_ambient_clear_all()
        sysc.clear_inheritable()
    with Step("pre_user"):
        hooks("pre_user")
    with Step("user"):
        # Keep the permitted capabilities across setuid so that post_user
        # decides the final sets (capabilities(7), "Effect of user ID changes").
        sysc.set_keepcaps(True)
        try:
            sysc.setgroups(user.groups)
        except SyscallError as e:
            # setgroups is denied in a user namespace whose setgroups file
            # says "deny" (user_namespaces(7)); only fatal when groups are wanted.
            if e.errno != errno.EPERM or user.groups:
                raise
        sysc.setresgid(user.gid)
        sysc.setresuid(user.uid)
        sysc.set_keepcaps(False)
        # The parent-death signal is cleared when credentials change (prctl(2)).
        sysc.set_pdeathsig(signal.SIGKILL)
    with Step("post_user"):
        hooks("post_user")


def _become_user_and_exec(ctx: ContainerContext, hooks: Hooks, chan: Channel, master: int | None) -> None:
    """The steps every process of the container ends with, first or joining."""
    with Step("keyring"):
        _new_session_keyring(ctx)
    _switch_user(ctx, hooks)
    _finish_and_exec(ctx, hooks, chan, master)


def _finish_and_exec(ctx: ContainerContext, hooks: Hooks, chan: Channel, master: int | None) -> None:
    proc = ctx.process
    with Step("working_dir"):
        set_working_dir(proc.cwd)
    with Step("pre_exec"):
        hooks("pre_exec")
    path = _find_executable(proc.args[0], proc.env)
    _reset_signals()
    # Every fd but 0-2 closes at exec, the channel included: its EOF tells the
    # parent that exec succeeded (CVE-2024-21626: no host fd reaches the command).
    ctx.syscalls.close_fds_from(3)
    # The pty's master end goes to nsinit, which relays it.
    chan.send(msg.READY, fds=[master] if master is not None else None)
    if master is not None:
        os.close(master)
    chan.recv(msg.START)
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in proc.env)
    try:
        os.execve(path, proc.args, env)
    except OSError as e:
        code = 127 if e.errno in (errno.ENOENT, errno.ENOTDIR) else 126
        raise ContainerError("exec", f"{proc.args[0]}: {e.strerror}", code, e.errno) from None


def _find_executable(name: str, env: list[str]) -> str:
    if "/" in name:
        return name
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for e in env:
        if e.startswith("PATH="):
            path = e[5:]
    for d in path.split(":"):
        candidate = os.path.join(d or ".", name)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            raise ContainerError("exec", f"{name}: Permission denied", 126, errno.EACCES)
    raise ContainerError("exec", f"{name}: executable file not found in $PATH", 127, errno.ENOENT)


# ---------------------------------------------------------------------------
# The container's first process
# ---------------------------------------------------------------------------


def setup_first_process(ctx: ContainerContext, plugins: Plugins, active: set[str], chan: Channel, *,
                        pid_namespace_made: bool = False) -> NoReturn:
    """In the forked child: namespaces, then (in PID 1) the whole setup, then exec.

    ``pid_namespace_made``: nsinit created the new pid namespace and this
    process was born in it, as its PID 1 (container._pid_namespace_made_here).
    """
    hooks = Hooks(plugins, active, ctx)

    def body() -> None:
        sysc = ctx.syscalls
        scrub_environ()  # a joined pid namespace may hold processes that can read it
        keep_only_fds([chan.fileno()])
        with Step("namespaces"):
            fork_pid1 = _enter_namespaces(ctx, chan, pid_namespace_made)
        _become_container_process(chan, fork_pid1, hooks)
        chan.recv(msg.CONFIGURED)
        # Set only now: the parent of this process changed when the
        # intermediate one (if any) exited, and the signal fires on that change (prctl(2)).
        sysc.set_pdeathsig(signal.SIGKILL)
        if ctx.new_namespace("NEWCGROUP"):
            # After post_clone put us in our cgroups, so that they are the
            # root of the new cgroup namespace (cgroup_namespaces(7)).
            with Step("namespaces"):
                sysc.unshare(sc.CLONE_NEWCGROUP)
        with Step("container_init"):
            hooks("container_init")
        master = _build_filesystem(ctx, hooks)
        if ctx.config.hostname:
            with Step("hostname"):
                sysc.sethostname(ctx.config.hostname)
        _become_user_and_exec(ctx, hooks, chan, master)

    _child_guard(chan, body)


def _become_container_process(chan: Channel, fork: bool, hooks: Hooks | None = None) -> None:
    """Fork when a new or joined pid namespace needs it, and tell nsinit the pid that runs the command.

    unshare and setns of a pid (or time) namespace apply to children only
    (pid_namespaces(7)); the intermediate process then exits, and nsinit, the
    child subreaper, inherits its child.  For a first process (``hooks``
    given), the process runs ``libcontainer_process_created`` on itself
    before nsinit hears its pid, so that post_clone finds what it did.
    """
    if not fork:
        if hooks is not None:
            _process_created(hooks)
        # 0: "the process you forked".  Our own pid may be namespace-local
        # (born in a new pid namespace, we are 1); nsinit knows the host one.
        chan.send(msg.PID, pid=0)
        return
    sys.stdout.flush()
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child:
        os.close(done_w)
        os.read(done_r, 1)  # EOF: the child has run the hook (or died, and said why on the channel)
        chan.send(msg.PID, pid=child)
        os._exit(0)
    os.close(done_r)
    if hooks is not None:
        _process_created(hooks)
    os.close(done_w)


def _process_created(hooks: Hooks) -> None:
    with Step("process_created"):
        hooks("process_created")


def _enter_namespaces(ctx: ContainerContext, chan: Channel, pid_namespace_made: bool = False) -> bool:
    """Join namespaces by path, create the new ones, user namespace first.

    Returns True when a fork is needed for the new pid namespace to apply.
    ``pid_namespace_made``: we were born in the new pid namespace, which is
    not created again.
    """
    sysc = ctx.syscalls
    order = {k: i for i, k in enumerate(NAMESPACE_ORDER)}
    spaces = sorted(ctx.namespaces, key=lambda n: order[n.kind])
    # Join by path before creating a user namespace: joining needs
    # CAP_SYS_ADMIN over the namespace's owner, which we lose in a new one.
    for ns in spaces:
        if ns.path:
            fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                sysc.setns(fd, ns.flag, what=f"{ns.kind} {ns.path}")
            finally:
                os.close(fd)
    new = 0
    for ns in spaces:
        if ns.path is None:
            new |= ns.flag
    if new & sc.CLONE_NEWUSER:
        sysc.unshare(sc.CLONE_NEWUSER)
        chan.send(msg.USERNS)
        chan.recv(msg.IDS_MAPPED)
        # Become the namespace's root now that it is mapped, so that files and
        # mounts made from here are owned by it.
        try:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        except OSError:
            pass
    if pid_namespace_made:
        new &= ~sc.CLONE_NEWPID
    rest = new & ~(sc.CLONE_NEWUSER | sc.CLONE_NEWCGROUP)
    if rest:
        try:
            sysc.unshare(rest)
        except SyscallError as e:
            if e.errno == errno.EPERM and os.geteuid() != 0 and not new & sc.CLONE_NEWUSER:
                raise ContainerError("namespaces", f"{e} (without root, a container needs a user namespace: "
                                     "add NEWUSER: true to namespaces)", errno=e.errno) from None
            raise
    return bool(new & (sc.CLONE_NEWPID | sc.CLONE_NEWTIME)) or any(
        ns.path and ns.kind in ("NEWPID", "NEWTIME") for ns in spaces
    )


def _build_filesystem(ctx: ContainerContext, hooks: Hooks) -> int | None:
    """The container's mounts and root, in order; returns the tty master when there is one."""
    fs = RootfsBuilder(ctx)
    if ctx.new_namespace("NEWNS"):
        with Step("rootfs"):
            fs.make_root_private()
            fs.bind_rootfs()
            fs.check_special_dirs()
        with Step("mounts"):
            fs.mount_proc()
            fs.mount_sys()
            fs.mount_dev()
            fs.mount_binds()
        imports = HostImports(ctx.syscalls)
        with Step("pivot_root"):
            fs.pivot()
        imports.install()
    elif os.path.realpath(str(ctx.rootfs)) != "/":
        # No mount namespace: nothing may be mounted (it would be the
        # host's), so the rootfs is only chroot'ed into.
        HostImports(ctx.syscalls).install()
        with Step("rootfs"):
            os.chdir(str(ctx.rootfs))
            ctx.syscalls.chroot(".")
            os.chdir("/")
    master = _setup_console(ctx, fs if ctx.new_namespace("NEWNS") else None)
    with Step("post_mount"):
        hooks("post_mount")
    if ctx.new_namespace("NEWNS"):
        if ctx.config.restricted:
            with Step("restrictions"):
                fs.apply_restrictions()
        if ctx.config.readonly_fs:
            with Step("readonly_fs"):
                fs.readonly_root()
    return master


def _new_session_keyring(ctx: ContainerContext) -> None:
    # A session keyring of its own, so the container cannot read the host's
    # keys through the inherited one (as runc does).
    try:
        ctx.syscalls.join_session_keyring(f"_ses.{ctx.id}"[:64])
    except SyscallError as e:
        if e.errno not in (errno.ENOSYS, errno.EACCES, errno.EDQUOT, errno.EPERM):
            raise


# ---------------------------------------------------------------------------
# A process joining a running container
# ---------------------------------------------------------------------------


def setup_joining_process(ctx: ContainerContext, plugins: Plugins, active: set[str], chan: Channel,
                          target: int) -> NoReturn:
    """In the forked child: enter PID 1's namespaces and root, then exec."""
    hooks = Hooks(plugins, active, ctx)

    def body() -> None:
        sysc = ctx.syscalls
        # Non-dumpable before touching the container: nothing inside may
        # ptrace us or open /proc/PID/exe to reach the host's Python
        # (CVE-2019-5736, CVE-2016-9962).  execve makes the command dumpable again.
        # Scrubbed first: a non-dumpable process's /proc files belong to
        # root (proc(5)), so an unprivileged nsinit could no longer open its
        # own /proc/self/mem.  Nothing of the container reaches us before
        # setns, and the joining nsinit itself was dumpable all along.
        scrub_environ()
        sysc.set_dumpable(False)
        keep_only_fds([chan.fileno()])
        chan.recv(msg.CONFIGURED)
        with Step("namespaces"):
            fork_needed = _join_namespaces(sysc, target)
        _become_container_process(chan, fork_needed)
        chan.recv(msg.ADOPTED)
        # Only now: the signal fires when the parent changes (prctl(2)).
        sysc.set_pdeathsig(signal.SIGKILL)
        master = _setup_console(ctx, None)
        _become_user_and_exec(ctx, hooks, chan, master)

    _child_guard(chan, body)


def _join_namespaces(sysc: Any, target: int) -> bool:
    """setns into every namespace of ``target`` that differs from ours; chroot to its root."""
    fds: list[tuple[str, int, int]] = []
    # The host's root, for imports, before setns into the mount namespace
    # makes "/" the container's (setns(2)).
    imports = HostImports(sysc)
    root = os.open(f"/proc/{target}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # Open every namespace file first: after entering the mount
        # namespace, /proc is the container's and the target's path changes.
        for kind in NAMESPACE_ORDER:
            name, flag = NAMESPACE_KINDS[kind]
            try:
                theirs = os.readlink(f"/proc/{target}/ns/{name}")
                ours = os.readlink(f"/proc/self/ns/{name}")
            except FileNotFoundError:
                continue  # the kernel lacks this namespace type
            if theirs != ours:
                fds.append((kind, flag, os.open(f"/proc/{target}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)))
        fork_needed = False
        for kind, flag, fd in fds:
            sysc.setns(fd, flag, what=f"{kind} of pid {target}")
            if kind in ("NEWPID", "NEWTIME"):
                fork_needed = True
        imports.install()
        os.fchdir(root)
        sysc.chroot(".")
        os.chdir("/")
        return fork_needed
    finally:
        os.close(root)
        for _, _, fd in fds:
            os.close(fd)
