"""Entry point of the ``nsinit`` command."""

import sys


def main() -> None:
    argv = sys.argv[1:]
    # The per-container path skips typer and the other commands entirely.
    if argv[:1] == ["exec"]:
        from .exec_cmd import main as exec_main

        sys.exit(exec_main(argv[1:]))
    from .cli import run

    sys.exit(run(argv))


if __name__ == "__main__":
    main()
