"""``python -m lcrun``: the lcrun command (cli.py)."""

from lcrun.cli import main

main()
