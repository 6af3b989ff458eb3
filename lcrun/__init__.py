"""lcrun: an OCI runtime (runc's command line) on libcontainer's engine.

This package holds what lcrun needs besides its command line: the
translation of an OCI bundle's config.json into the engine's config
(oci.py), the features document of what is supported (features.py), and
the default config.json of ``lcrun spec`` (spec.py).  Nothing is imported
here: ``lcrun state`` and ``lcrun kill`` must start fast.
"""
