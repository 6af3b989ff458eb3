"""The seccomp plugin: a system-call filter, built with libseccomp and installed just before exec.

Owns the ``seccomp`` key: a default action, rules per system call (errno,
kill, kill_process, trap, log, allow) with argument conditions, and the
architectures the filter covers.  See README.md for the profile's fields.

The order, fixed by the engine's hooks:

1. ``libcontainer_pre_clone`` (``libcontainer_pre_join`` for a join), host
   side in nsinit's process: load libseccomp.so.2 and build the filter once
   to report a bad profile before the container exists.  The fork inherits
   the loaded library; after pivot_root the dynamic loader could not find it.
   The engine forks the setup process from the process that ran pre_clone
   on every path (a threaded caller's containers are made by a keeper).
2. ``libcontainer_pre_exec``, inside, the last plugin step (``trylast``):
   build the filter and load it.  Capabilities are final by then (post_user),
   so the filter restricts only the engine's last steps (marking fds
   close-on-exec, the ready message, waiting for start, execve) and the
   command; the system calls those steps need are listed in README.md.
   Loading needs no_new_privs or CAP_SYS_ADMIN (seccomp(2)): see
   :func:`libcontainer_seccomp.filter.install`.
"""

from __future__ import annotations

from libcontainer.errors import ConfigProblem, ContainerError
from libcontainer.plugins import hookimpl

# Pure Python and cheap (ctypes is the engine's already; the library itself is
# loaded by the hooks): imported now so that no inside hook imports a module
# after the process has entered the container.
from . import config as _config
from . import filter as _filter
from . import libseccomp

KEY = _config.KEY


def _profile(container):
    return _config.SeccompConfig.from_section(container.config.sections[KEY])


def _syscall_number():
    """libseccomp's name lookup, or None when the library cannot be loaded here."""
    try:
        libseccomp.load()
    except libseccomp.LibseccompUnavailable:
        return None
    return libseccomp.syscall_number


def _fail(cause: BaseException | str) -> ContainerError:
    return ContainerError(KEY, str(cause))


def _prepare(container) -> None:
    """Load the library and build the filter once (not loaded): a bad profile fails here, on the host."""
    try:
        libseccomp.load()
        _filter.build(_profile(container)).release()
    except (libseccomp.LibseccompUnavailable, *_filter.BUILD_ERRORS) as e:
        raise _fail(e) from None


@hookimpl
def libcontainer_config_schema():
    return _config.schema()


@hookimpl
def libcontainer_config_formats():
    return _config.formats()


@hookimpl
def libcontainer_validate_config(config):
    section = config.sections.get(KEY)
    if section is None:
        return None
    found = _config.problems(section, _syscall_number())
    return [ConfigProblem(path, message) for path, message in found]


@hookimpl
def libcontainer_pre_clone(container):
    _prepare(container)


@hookimpl
def libcontainer_pre_join(container):
    _prepare(container)


@hookimpl(trylast=True)
def libcontainer_pre_exec(container):
    if not libseccomp.is_loaded():
        raise _fail(f"{libseccomp.LIBRARY} was not loaded before the process entered the container "
                    "(it is loaded in pre_clone and pre_join)")
    try:
        filt = _filter.build(_profile(container))
        try:
            _filter.install(filt, container.syscalls)
        finally:
            filt.release()
    except _filter.BUILD_ERRORS as e:
        raise _fail(e) from None
