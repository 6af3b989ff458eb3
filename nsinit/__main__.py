"""Entry point of the ``nsinit`` command."""

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

        sys.exit(exec_main(argv[1:]))
    from .cli import run

    sys.exit(run(argv))


if __name__ == "__main__":
    main()
