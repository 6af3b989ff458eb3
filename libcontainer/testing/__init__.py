"""Helpers for testing libcontainer and its plugins: a rootfs builder and a container runner."""
