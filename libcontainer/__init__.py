"""libcontainer for Python: run a process in a container made from a directory.

The public API::

    from libcontainer import load_config, Container
    config = load_config("/srv/box/container.json")
    container = Container.create("/srv/box", ["/bin/echo", "hi"])
    container.start()
    status = container.wait()
"""

__version__ = "0.1.0"

__all__ = ["load_config", "Container", "__version__"]


def __getattr__(name: str):
    # Lazy: importing libcontainer must cost nothing a caller does not use.
    if name == "load_config":
        from .configfile import load_config

        return load_config
    if name == "Container":
        from .container import Container

        return Container
    raise AttributeError(name)
