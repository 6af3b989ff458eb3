"""libcontainer for Python: run a process in a container made from a directory.

The public API (docs/api.md)::

    from libcontainer import Container, Pool
    result = Container("/srv/box").run(["/bin/echo", "hi"], capture_output=True)   # subprocess.run's
    with Pool("/srv/image", size=4) as pool:                                   # containers made ahead
        pool.run(["/bin/true"])
"""

__version__ = "0.1.0"

__all__ = ["load_config", "Container", "Pool", "__version__"]


def __getattr__(name: str):
    # Lazy: importing libcontainer must cost nothing a caller does not use.
    if name == "load_config":
        from .configfile import load_config

        return load_config
    if name == "Container":
        from .container import Container

        return Container
    if name == "Pool":
        from .pool import Pool

        return Pool
    raise AttributeError(name)
