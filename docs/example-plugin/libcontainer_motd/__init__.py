"""The motd plugin: writes the config's ``motd`` string to /etc/motd inside the container."""

from __future__ import annotations

import os

from libcontainer.errors import ConfigProblem, ContainerError
from libcontainer.plugins import hookimpl

KEY = "motd"  # the top-level key of container.json this plugin owns
MAX_LENGTH = 4096  # a message of the day, not a file system
PATH = "/etc/motd"  # as seen inside the container, once its rootfs is "/"
ALLOWED_CONTROLS = "\n\t"  # any other control character could drive the reader's terminal (ESC sequences)


def problems(text: str) -> list[ConfigProblem]:
    """What the schema cannot say about ``text``: the first control character that is not a newline or tab."""
    for offset, char in enumerate(text):
        if (char < " " or char == "\x7f") and char not in ALLOWED_CONTROLS:
            return [ConfigProblem(f"$.{KEY}", f"control character U+{ord(char):04X} at offset {offset}; "
                                              "only newlines and tabs are allowed")]
    return []


def write_motd(text: str, path: str = PATH) -> None:
    """Write ``text`` to ``path``, creating its directory (a minimal rootfs may have no /etc)."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    os.chmod(path, 0o644)


@hookimpl
def libcontainer_config_schema():
    return {KEY: {"type": "string", "maxLength": MAX_LENGTH}}


@hookimpl
def libcontainer_validate_config(config):
    text = config.sections.get(KEY)
    return problems(text) if text is not None else None


# post_mount, not container_init: only now is the rootfs "/", and it is not
# yet read-only (readonly_fs is applied after this hook), so the file lands in
# the container, whatever its rootfs is bind-mounted from.
@hookimpl
def libcontainer_post_mount(container):
    try:
        write_motd(container.config.sections[KEY])
    except OSError as e:
        raise ContainerError(KEY, f"cannot write {PATH}: {e.strerror}") from None
