"""``python -m bench``: measure nsinit beside runc, bubblewrap and unshare; print markdown, write JSON and a PNG."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    p.add_argument("--rounds", type=int, default=40, help="measured rounds (each runtime once per round)")
    p.add_argument("--warmup", type=int, default=3, help="unmeasured rounds first")
    p.add_argument("--burst", type=int, default=5, help="containers the Python API runs back to back per round")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory of the .md, .json and .png")
    p.add_argument("--chart", type=Path, help="write the PNG here instead of OUT/bench-STAMP.png")
    p.add_argument("--skip", action="append", default=[], choices=["runc", "bwrap", "unshare"],
                   help="leave a peer out, as if it were not installed (repeatable)")
    p.add_argument("--compare", action="append", default=[], metavar="NAME=NSINIT",
                   help="also measure another install's nsinit script (an A/B in one run; repeatable)")
    args = p.parse_args(argv)
    if min(args.rounds, args.burst) < 1 or args.warmup < 0:
        p.error("--rounds and --burst must be at least 1, --warmup at least 0")
    compare = []
    for item in args.compare:
        name, sep, script = item.partition("=")
        if not sep or not name or not os.access(script, os.X_OK):
            p.error(f"--compare {item!r}: expected NAME=PATH of an executable nsinit script")
        compare.append((name, script))
    args.compare = compare
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    from .timing import is_root, progress_printer

    if not is_root("bench"):
        return 2
    from . import chart, report
    from .harness import run
    from .machine import describe
    from .workloads import Tools

    tools = Tools().without(args.skip)
    machine = describe(tools)
    settings = (f"{args.rounds} measured rounds after {args.warmup} warm-up rounds, runtimes alternated "
                f"(rotating order); the Python API runs {args.burst} containers back to back per round.")
    started = time.strftime("%Y%m%d-%H%M%S")
    results = run(tools, args.warmup, args.rounds, args.burst, progress_printer("bench"),
                  compare=args.compare)
    text = report.markdown(results, machine, settings)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"bench-{started}.md").write_text(text)
    (args.out / f"bench-{started}.json").write_text(json.dumps(report.as_json(results, machine), indent=1))
    title = f"nsinit vs runc, bwrap, unshare: {machine['nproc']} CPUs, kernel {machine['kernel']}, Python {machine['python']}"
    png = chart.draw(results, title, args.chart or args.out / f"bench-{started}.png")
    if png:
        print(f"bench: chart written to {png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
