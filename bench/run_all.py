"""Run every benchmark with its default settings, one after the other (``make bench``).

Each benchmark prints its own figures beside a baseline measured in the same run and
says which BENCHMARKS.md section it belongs to. The full set takes a few hours on
2 cores; pass names to run a subset, e.g. ``python bench/run_all.py model prep_values``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# name -> arguments; the order runs cheap benchmarks first
BENCHMARKS: dict[str, list[str]] = {
    "cli": [],
    "prep_values": [],
    "report": [],
    "model": ["speed"],
    "trust": ["knn"],
    "prep_structures": [],
    "federation": [],
    "deployment": ["--real"],
    "consortium": [],
    "privacy": [],
}


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = []
    for name in names or list(BENCHMARKS):
        command = [sys.executable, str(BENCH / f"bench_{name}.py"), *BENCHMARKS[name]]
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        if subprocess.call(command) != 0:
            failed.append(name)
        print(f"=== {name}: {time.perf_counter() - started:.0f} s", flush=True)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
