"""The layer plugin: a copy-on-write layer over the rootfs, so that many containers share one image directory.

Owns ``layer``: ``{"size": "64M", "inodes": 16384}``, both optional.  Inside
the container's new mount namespace, before the engine's first mount
(``libcontainer_container_init``), a tmpfs of that size is mounted on the
rootfs path and an overlay on top of it: the image directory as its lower
layer, upper and work directories in the tmpfs.  The container reads the
image and writes to the tmpfs; the host, in another mount namespace, sees
the image untouched, and both mounts go with the container's mount
namespace (see layer.py).
"""

from __future__ import annotations

import os

from libcontainer.plugins import hookimpl

from . import layer as _layer  # imported while the host's files are reachable


@hookimpl
def libcontainer_config_schema():
    return {
        _layer.KEY: {
            "title": "a copy-on-write layer over the rootfs (the layer plugin): overlayfs on a tmpfs",
            "description": "The container writes to a tmpfs of its own over the image directory, which is never "
                           "written; the layer goes with the container.",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "size": {"type": ["integer", "string"], "format": "bytes", "minimum": _layer.PAGE,
                         "default": "64M",
                         "description": "bytes the container may write (tmpfs size): 67108864, \"64M\", "
                                        "\"1.5G\"; beyond it, writes fail with ENOSPC"},
                "inodes": {"type": "integer", "minimum": 16,
                           "description": "files, directories and deletions of the image's files it may make "
                                          "(tmpfs nr_inodes); default one per 4 KiB of size, at least 1024"},
            },
        }
    }


@hookimpl
def libcontainer_validate_config(config):
    from libcontainer.errors import ConfigProblem

    if config.section(_layer.KEY) is None:
        return None
    return [ConfigProblem(path, message) for path, message in _layer.problems(config.section("namespaces"))]


# container_init: every namespace is in place and nothing is mounted yet, so
# the engine's bind of the rootfs, /proc, /dev and pivot_root land on the layer.
@hookimpl
def libcontainer_container_init(container):
    _layer.mount_layer(container.syscalls, os.path.realpath(str(container.rootfs)),
                       _layer.layer_of(container.config.section(_layer.KEY)))
