"""nsinit: the command line of libcontainer."""
