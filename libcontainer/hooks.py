"""The active plugins' hooks bound to one container, and the steps that name what failed.

Used on both sides of the fork: the host runs its hooks through
:class:`Hooks`, and so does the setup process inside the container.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ContainerError, SyscallError

if TYPE_CHECKING:
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
            cause = str(exc) if isinstance(exc, SyscallError) else oserror_text(exc)
            raise ContainerError(self.name, cause, errno=exc.errno) from None
        if isinstance(exc, Exception):
            raise ContainerError(self.name, f"{type(exc).__name__}: {exc}") from None
        return False


def oserror_text(e: OSError) -> str:
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
        """post_exit on every active plugin, even when one raises (the first error is raised at the end)."""
        self.plugins.call("libcontainer_post_exit", self.active, collect_errors=True, container=self.ctx)
