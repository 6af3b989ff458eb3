"""The container side: what the setup process does, from fork to exec.

One entry point, :func:`setup_process`, runs in a freshly forked child that
never returns, for a container's first process and for a process joining a
running container alike.  What differs between the two is said by an
:class:`Entry` the host builds; the rest is shared and reads in order:

1. the prologue: entering existing namespaces, the process first scrubs its
   environment and turns non-dumpable; it keeps only its own fds, enters
   its namespaces (joined ones first, then a new user namespace, which the
   host maps, then the other new ones), forks when a pid or time namespace
   needs it, tells the host the pid that will run the command, and waits
   until the host has run its hooks for that pid (CONFIGURED);
2. the container: a first process builds it (its cgroup namespace,
   ``container_init``, the filesystem, the hostname), a joining one chroots
   into the running one's root;
3. the terminal and READY to the host; then the preparation (session
   keyring, the user switch between ``pre_user`` and ``post_user``, the
   working directory, the exec stub) and the wait for the start, in this
   order when the command came with the create or the join (done while the
   host records the container and the starter connects), the other way
   round for a warm pool's process, whose command, environment, directory
   and user come with the start.  A first process accepts the start on the
   start socket, from whatever process starts the container; a joining one
   gets it on its channel;
4. started: ``pre_exec``, and the exec, through the exec stub (execstub.py).

Each step runs under :class:`~libcontainer.hooks.Step`, which turns a
failure into an ERROR message carrying the step's name (channel.py).
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import struct
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from . import channel as msg
from . import syscalls as sc
from .channel import Channel
from .context import NAMESPACE_KINDS, NAMESPACE_ORDER
from .errors import ContainerError, SyscallError
from .hooks import Hooks, Step
from .hostimports import HostImports
from .records import field, record
from .rootpaths import DEFAULT_PATH

if TYPE_CHECKING:
    from .context import ContainerContext
    from .plugins import Plugins
    from .rootfs import RootfsBuilder


@record
class Entry:
    """How the setup process enters the container: what a first process and a join do differently."""

    # A join: PID 1 of the running container (host pid), a pidfd of it that
    # the host opened and checked, the namespaces of it that differ from
    # ours (setns(pidfd, flags) enters them at once), and an fd of its root.
    join_pid: int | None = None
    join_pidfd: int | None = None
    join_flags: int = 0
    join_root: int | None = None
    # A first process born as PID 1 of the pid namespace its creator made (host.py).
    pid_namespace_made: bool = False
    # A first process: the listening start socket it accepts the start on.
    listener: int | None = None
    # stdin, stdout, stderr for a first process, when the creator gives them (else 0-2 as inherited).
    stdio: list[int] = field(default_factory=list)

    @property
    def joining(self) -> bool:
        return self.join_pid is not None

    def fds(self) -> list[int]:
        """The fds the setup process keeps (besides 0-2 and its channel)."""
        return [fd for fd in (self.join_pidfd, self.join_root, self.listener, *self.stdio) if fd is not None]

    def enters_existing_namespaces(self, ctx: ContainerContext) -> bool:
        return self.joining or any(ns.path for ns in ctx.namespaces)


def needs_fork(ctx: ContainerContext, entry: Entry) -> bool:
    """Whether the setup process forks the process that runs the command.

    unshare and setns of a pid or time namespace apply to children only
    (pid_namespaces(7), time_namespaces(7)): a new or joined one needs a
    fork, unless the creator made the pid namespace and the setup process
    was born in it.  The host asks too: it adopts the forked process.
    """
    if entry.joining:
        return bool(entry.join_flags & (sc.CLONE_NEWPID | sc.CLONE_NEWTIME))
    for ns in ctx.namespaces:
        if ns.kind == "NEWTIME" or (ns.kind == "NEWPID" and (ns.path or not entry.pid_namespace_made)):
            return True
    return False


class _Reporter:
    """Where a failure goes: the channel to the host, then, once started, the starter's connection."""

    def __init__(self, chan: Channel) -> None:
        self.chan = chan


def setup_process(ctx: ContainerContext, plugins: Plugins, active: set[str], chan: Channel,
                  entry: Entry) -> NoReturn:
    """In the forked child: the whole way from the host's namespaces to the container's command."""
    hooks = Hooks(plugins, active, ctx)
    reporter = _Reporter(chan)

    def body() -> None:
        imports = _prologue(ctx, hooks, chan, entry)
        if entry.joining:
            master = _enter_running_container(ctx, entry)
        else:
            master = _set_up_container(ctx, hooks, imports)
        _ready(chan, entry, master)
        if ctx.process.args:
            # The command came with the create (or the join): all but the
            # exec is done while the host records the container and the
            # starter connects, as runc's init does all but the exec before
            # it waits on its exec fifo.  A failure waits for the starter,
            # the one to tell.
            prepared: _Prepared | Exception
            try:
                prepared = _prepare(ctx, hooks)
            except Exception as e:  # noqa: BLE001 - told to the starter below
                prepared = e
            start, request, fds = _wait_for_start(chan, entry)
            reporter.chan = start
            _apply_start(ctx, request, fds, fixed=True)
            if isinstance(prepared, Exception):
                raise prepared
        else:
            # A warm pool's process: the start brings the command, and with it
            # the environment, directory and user to prepare for.
            start, request, fds = _wait_for_start(chan, entry)
            reporter.chan = start
            _apply_start(ctx, request, fds, fixed=False)
            prepared = _prepare(ctx, hooks)
        _exec(ctx, hooks, start, prepared)

    code = 125
    try:
        body()
    except ContainerError as e:
        reporter.chan.send_error(e.step, e.cause, e.exit_code, e.errno)
    except EOFError:
        code = 1  # the host (or the starter) is gone: nothing to report to, nothing to run
    except BaseException as e:  # noqa: BLE001 - the child must never unwind into the caller's code
        reporter.chan.send_error("setup", f"{type(e).__name__}: {e}")
    finally:
        os._exit(code)


# ---------------------------------------------------------------------------
# 1. The prologue, shared
# ---------------------------------------------------------------------------


def _prologue(ctx: ContainerContext, hooks: Hooks, chan: Channel, entry: Entry) -> HostImports:
    """Up to CONFIGURED; the host's imports, which a first process installs once it has pivoted."""
    sysc = ctx.syscalls
    if entry.enters_existing_namespaces(ctx):
        # Non-dumpable before the first setns: nothing in a namespace we join
        # may ptrace us, read our memory or open /proc/PID/exe to reach the
        # host's Python (CVE-2019-5736, CVE-2016-9962).  Scrubbed first: a
        # non-dumpable process's /proc files belong to root (proc(5)), and an
        # unprivileged nsinit could no longer write its own /proc/self/mem.
        # execve makes the command dumpable again.
        scrub_environ()
        sysc.set_dumpable(False)
    # The creator's fds 3..3+N-1 go on to the command (OCI --preserve-fds).
    keep_only_fds([chan.fileno(), *entry.fds(), *range(3, 3 + ctx.process.preserve_fds)])
    for target, fd in enumerate(entry.stdio):
        os.dup2(fd, target)
    # An fd of the host's root, for imports, before any namespace is entered.
    imports = HostImports(sysc)
    if ctx.config.init and not ctx.process.joining:
        # The reaper, only for a config that asks for it: imported here, by
        # path, while the host's filesystem is ours (not on every start).
        from . import reaper  # noqa: F401
    with Step("namespaces"):
        _enter_namespaces(ctx, chan, entry)
    if entry.join_flags & sc.CLONE_NEWNS or any(ns.kind == "NEWNS" and ns.path for ns in ctx.namespaces):
        imports.install()  # "/" is the joined mount namespace's from here
    _become_container_process(ctx, hooks, chan, entry)
    _import_the_builders()
    chan.recv(msg.CONFIGURED)
    if ctx.process.attached:
        # Set only now: the parent of this process changed when the
        # intermediate one (if any) exited, and the signal fires on that change (prctl(2)).
        sysc.set_pdeathsig(signal.SIGKILL)
    return imports


def _import_the_builders() -> None:
    """The modules that build the container and exec the command, which the host never needs.

    Imported here, between PID and CONFIGURED: the host runs post_clone
    meanwhile, so the imports cost the start nothing (docs/benchmarks.md),
    and the host's files, where they are, are still reachable (after
    pivot_root they are not).  Later steps import them from sys.modules.
    """
    from . import execstub, rootfs, user  # noqa: F401


def _enter_namespaces(ctx: ContainerContext, chan: Channel, entry: Entry) -> None:
    """Join what exists, then create what is new, user namespace first.

    Joining comes before a new user namespace: it needs CAP_SYS_ADMIN over
    the joined namespace's owner, which a process loses in a new one.  Every
    file is opened before the first setns: after the mount namespace, the
    paths under /proc are the container's.
    """
    sysc = ctx.syscalls
    if entry.joining and entry.join_flags:
        # setns(2) with a pidfd enters all of them at once, the user namespace
        # first, and cannot meet another process that reused the pid.
        sysc.setns(entry.join_pidfd, entry.join_flags, what=f"the namespaces of pid {entry.join_pid}")
    order = {k: i for i, k in enumerate(NAMESPACE_ORDER)}
    spaces = sorted(ctx.namespaces, key=lambda n: order[n.kind])
    joined = []
    try:
        for ns in spaces:
            if ns.path:
                joined.append((ns, os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)))
        for ns, fd in joined:
            sysc.setns(fd, ns.flag, what=f"{ns.kind} {ns.path}")
    finally:
        for _, fd in joined:
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
    if entry.pid_namespace_made:
        new &= ~sc.CLONE_NEWPID
    # A new cgroup namespace waits until the process is in its cgroups (_set_up_container).
    rest = new & ~(sc.CLONE_NEWUSER | sc.CLONE_NEWCGROUP)
    if rest:
        try:
            sysc.unshare(rest)
        except SyscallError as e:
            if e.errno == errno.EPERM and os.geteuid() != 0 and not new & sc.CLONE_NEWUSER:
                raise ContainerError("namespaces", f"{e} (without root, a container needs a user namespace: "
                                     "add NEWUSER: true to namespaces)", errno=e.errno) from None
            raise


def _become_container_process(ctx: ContainerContext, hooks: Hooks, chan: Channel, entry: Entry) -> None:
    """Fork when a pid or time namespace needs it; tell the host the pid that runs the command.

    The intermediate process then exits and the host adopts its child.  A
    first process runs ``libcontainer_process_created`` on itself before the
    host hears its pid, so that post_clone finds what it did.
    """
    if needs_fork(ctx, entry):
        sys.stdout.flush()
        done_r, done_w = os.pipe2(os.O_CLOEXEC)
        child = os.fork()
        if child:
            os.close(done_w)
            os.read(done_r, 1)  # EOF: the child has run the hook (or died, and said why on the channel)
            chan.send(msg.PID, pid=child)
            os._exit(0)
        os.close(done_r)
        if not entry.joining:
            _process_created(hooks)
        os.close(done_w)
        return
    if not entry.joining:
        _process_created(hooks)
    # 0: "the process you forked".  Our own pid may be namespace-local
    # (born in a new pid namespace, we are 1); the host knows the host one.
    chan.send(msg.PID, pid=0)


def _process_created(hooks: Hooks) -> None:
    with Step("process_created"):
        hooks("process_created")


# ---------------------------------------------------------------------------
# 2. The container: built by a first process, entered by a joining one
# ---------------------------------------------------------------------------


def _set_up_container(ctx: ContainerContext, hooks: Hooks, imports: HostImports) -> int | None:
    """The first process: cgroup namespace, container_init, filesystem, hostname; the tty master if any."""
    sysc = ctx.syscalls
    if ctx.new_namespace("NEWCGROUP"):
        # After post_clone put us in our cgroups, so that they are the
        # root of the new cgroup namespace (cgroup_namespaces(7)).
        with Step("namespaces"):
            sysc.unshare(sc.CLONE_NEWCGROUP)
    with Step("container_init"):
        hooks("container_init")
    master = _build_filesystem(ctx, hooks, imports)
    if ctx.config.hostname:
        with Step("hostname"):
            sysc.sethostname(ctx.config.hostname)
    if ctx.config.domainname:
        with Step("domainname"):
            sysc.setdomainname(ctx.config.domainname)
    return master


def _build_filesystem(ctx: ContainerContext, hooks: Hooks, imports: HostImports) -> int | None:
    """The container's mounts and root, in order; returns the tty master when there is one."""
    from .rootfs import RootfsBuilder  # imported in the prologue

    fs = RootfsBuilder(ctx)
    if ctx.new_namespace("NEWNS"):
        with Step("rootfs"):
            fs.make_root_private()
            fs.bind_rootfs()
            fs.check_special_dirs()
        with Step("mounts"):
            fs.mount_all()
        with Step("pre_pivot"):
            hooks("pre_pivot")
        with Step("pivot_root"):
            fs.pivot()
        imports.install()
    elif os.path.realpath(str(ctx.rootfs)) != "/":
        # No mount namespace: nothing may be mounted (it would be the
        # host's), so the rootfs is only chroot'ed into.
        imports.install()
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


def _enter_running_container(ctx: ContainerContext, entry: Entry) -> int | None:
    """A joining process: the running container's root (its mount namespace entered already); the tty master."""
    with Step("namespaces"):
        os.fchdir(entry.join_root)
        ctx.syscalls.chroot(".")
        os.chdir("/")
    return _setup_console(ctx, None)


# ---------------------------------------------------------------------------
# 3. The terminal, READY, the preparation and the wait for the start
# ---------------------------------------------------------------------------


def _attach_tty(slave: int | None) -> None:
    if slave is None:
        return
    os.setsid()
    # The pty becomes the controlling terminal of the new session (tty_ioctl(4)).
    fcntl.ioctl(slave, _TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


# asm-generic/ioctls.h: make a tty the controlling one (termios has it, but
# its import costs every start 0.2 ms); lock/unlock a pty, and get its
# number (termios lacks them).
_TIOCSCTTY = 0x540E
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


# While created, a catchable signal ends the waiting process, as it would a
# command that has not set a handler: a PID 1 of a pid namespace gets only
# the signals it handles (pid_namespaces(7)), so without these, kill(2) of a
# created container would do nothing.
_END_WHILE_CREATED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")


def _end_on_signal(sig: int, _frame: Any) -> None:
    os._exit(128 + sig)


def _ready(chan: Channel, entry: Entry, master: int | None) -> None:
    """READY (with the tty master) to the host; a first process is done with the host's channel then."""
    chan.send(msg.READY, fds=[master] if master is not None else None)
    if master is not None:
        os.close(master)
    if entry.listener is not None:
        chan.close()  # whoever starts us connects to the start socket
        for name in _END_WHILE_CREATED:
            signal.signal(getattr(signal, name), _end_on_signal)


def _wait_for_start(chan: Channel, entry: Entry) -> tuple[Channel, dict[str, Any], list[int]]:
    """The START: the channel it came on (a join's own; a first process's starter's), the request, its fds."""
    if entry.listener is None:
        return chan, chan.recv(msg.START), []
    return _accept_start(entry.listener)


def _accept_start(listener: int) -> tuple[Channel, dict[str, Any], list[int]]:
    """The first START that arrives on the start socket; a stray connection is closed and the next one awaited.

    The socket is in the container's state directory, which only its user
    can enter (state.py): every connection comes from that user.
    """
    import _socket

    sock = _socket.socket(fileno=listener)
    while True:
        fd, _ = sock._accept()
        conn = Channel(_socket.socket(fileno=fd), "the starter")
        try:
            request, fds = conn.recv_with_fds(msg.START)
        except (ContainerError, EOFError, ValueError):
            conn.close()
            continue
        sock.close()
        return conn, request, fds


def _apply_start(ctx: ContainerContext, request: dict[str, Any], fds: list[int], fixed: bool) -> None:
    """What the starter chose: stdin, stdout and stderr; for a process created without its command, that
    command, and the environment, directory and user it runs with."""
    proc = ctx.process
    chosen = msg.start_choices(request)
    if fixed and chosen:
        # Its user, directory and environment are in place already (_prepare).
        raise ContainerError("start", f"the process was created with its command: the start cannot change its "
                                      f"{', '.join(chosen)}")
    if request.get("args"):
        proc.args = [str(a) for a in request["args"]]
    for key in ("env", "cwd", "user"):
        if request.get(key) is not None:
            setattr(proc, key, request[key])
    if fds:
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in set(fds):
            if fd > 2:
                os.close(fd)


# ---------------------------------------------------------------------------
# 3-4. The preparation (user, directory, exec stub); started: filters, exec
# ---------------------------------------------------------------------------


@record
class _Prepared:
    """What the exec needs, made ready before the start (or, for a pool's process, after it)."""

    stub: int  # the exec stub's fd (execstub.py)
    path: str  # the command's executable, found in the container
    env: dict[str, str]  # its environment


def _prepare(ctx: ContainerContext, hooks: Hooks) -> _Prepared:
    """Keyring, user (between pre_user and post_user), working directory, the exec stub, the executable."""
    from .execstub import open_stub  # these three imported in the prologue
    from .rootfs import set_working_dir

    with Step("keyring"):
        _new_session_keyring(ctx)
    _switch_user(ctx, hooks)
    proc = ctx.process
    with Step("working_dir"):
        set_working_dir(proc.cwd)
    with Step("exec"):
        stub = open_stub()  # before pre_exec: a filter may refuse memfd_create
    path = _find_executable(proc.args[0], proc.env)
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in proc.env)
    return _Prepared(stub=stub, path=path, env=env)


def _exec(ctx: ContainerContext, hooks: Hooks, start: Channel, prepared: _Prepared) -> None:
    """Started: pre_exec, then the exec of the command through the stub (through an init, when asked)."""
    proc = ctx.process
    # After the start, never before: a security filter (seccomp) in pre_exec
    # would otherwise have to allow every call of the wait for the start.
    with Step("pre_exec"):
        hooks("pre_exec")
    _reset_signals()
    # Every fd but 0-2 closes at exec (CVE-2024-21626: no host fd reaches the
    # command); the start channel is closed by the stub at the command's
    # exec, and its EOF tells the starter that the exec succeeded.
    ctx.syscalls.close_fds_from(3 + proc.preserve_fds)
    start.send(msg.EXEC)
    if ctx.config.init and not proc.joining:
        with Step("init"):
            # PID 1 stays, as the container's reaper (reaper.py); its child goes on here.
            from .reaper import fork_command  # imported in the prologue

            fork_command(ctx.syscalls, proc.tty)
    exec_command(prepared.stub, start, prepared.path, proc.args, prepared.env)


def exec_command(stub: int, start: Channel, path: str, args: list[str], env: dict[str, str]) -> None:
    """execve ``path`` through the exec stub, which closes ``start`` at the command's exec (execstub.py).

    Never the command directly: its ``#!/proc/self/exe`` would be this
    process's image, the host's interpreter (CVE-2019-5736).
    """
    from .execstub import stub_argv  # imported in the prologue

    os.set_inheritable(start.fileno(), True)
    try:
        os.execve(stub, stub_argv(start.fileno(), path, args), env)
    except OSError as e:
        raise ContainerError("exec", f"the exec stub: {e.strerror}", 126, e.errno) from None


def _new_session_keyring(ctx: ContainerContext) -> None:
    # A session keyring of its own, so the container cannot read the host's
    # keys through the inherited one (as runc does), unless the config keeps it.
    if ctx.config.no_new_keyring:
        return
    try:
        ctx.syscalls.join_session_keyring(f"_ses.{ctx.id}"[:64])
    except SyscallError as e:
        if e.errno not in (errno.ENOSYS, errno.EACCES, errno.EDQUOT, errno.EPERM):
            raise


def _switch_user(ctx: ContainerContext, hooks: Hooks) -> None:
    from .user import resolve_user, set_umask  # imported in the prologue

    sysc = ctx.syscalls
    with Step("user"):
        extra = ctx.process.additional_gids
        user = resolve_user(ctx.process.user,
                            additional_gids=ctx.config.additional_gids if extra is None else extra)
        if not any(e.startswith("HOME=") for e in ctx.process.env):
            # The user's home from passwd when the environment names none, as
            # runc and login(1) do: many programs need HOME and fail without it.
            ctx.process.env.append(f"HOME={user.home}")
        set_umask(ctx.config.umask)
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
        if ctx.process.attached:
            # The parent-death signal is cleared when credentials change (prctl(2)).
            sysc.set_pdeathsig(signal.SIGKILL)
    with Step("post_user"):
        hooks("post_user")


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


def _find_executable(name: str, env: list[str]) -> str:
    if "/" in name:
        return name
    path = DEFAULT_PATH
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
# Helpers of the prologue
# ---------------------------------------------------------------------------


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
