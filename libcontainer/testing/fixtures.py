"""pytest fixtures for libcontainer and plugin authors (registered as the pytest11 plugin "libcontainer")."""
