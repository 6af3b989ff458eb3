"""Entry point of the ``nsinit`` command."""

import os
import sys


def main() -> None:
    argv = sys.argv[1:]
    # The per-container path skips typer and the other commands entirely.
    if argv[:1] == ["exec"]:
        import gc

        # The start allocates much and frees little, and makes no cycles
        # worth collecting: the collector's passes cost ~4 ms per start.
        # exec_cmd turns it back on once the command runs.
        gc.disable()
        from .exec_cmd import main as exec_main

        status = exec_main(argv[1:])
        # The container has ended and is torn down: skip the interpreter's own
        # teardown (finalising every module and object, ~5 ms); only stdio
        # may still hold output.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)
    from .cli import run

    sys.exit(run(argv))


if __name__ == "__main__":
    main()
