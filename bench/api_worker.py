"""The Python API side of the benchmark: one process running containers back to back on request.

``python bench/api_worker.py DIR``: for each line ``N`` read on stdin, runs N
containers in DIR one after the other with
``Container(DIR).run(["/bin/true"])`` and answers one JSON line: the
per-container latencies in seconds.  Its own stdout is kept for the answers;
the containers' stdout goes to /dev/null.
"""

from __future__ import annotations

import json
import os
import sys
import time


def run_burst(root: str, count: int) -> list[float]:
    """Latencies of ``count`` containers run back to back, as a program embedding libcontainer would."""
    from libcontainer.container import Container

    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        result = Container(root).run(["/bin/true"])
        status = getattr(result, "returncode", result)  # a CompletedProcess (an int before the API was subprocess's)
        latencies.append(time.perf_counter() - start)
        if status != 0:
            raise SystemExit(f"api_worker: /bin/true exited {status} in {root}")
    return latencies


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python bench/api_worker.py DIR", file=sys.stderr)
        return 2
    # The containers inherit fds 0-2: keep them off our request and answer pipes
    # (dup'd fds are close-on-exec).
    requests = os.fdopen(os.dup(0), "r")
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    for line in requests:
        answers.write(json.dumps(run_burst(argv[0], int(line))) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
