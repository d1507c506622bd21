"""Benchmark of the command line's start-up: ``fedqsar --help``, every ``fedqsar VERB --help``, ``--version``.

Usage::

    .venv/bin/python bench/bench_cli.py [--repeats 5]

Each command runs in a fresh process (``python -m fedqsar ...``, as the ``fedqsar`` script
does), output discarded; the figure is the median wall time over ``--repeats`` runs after one
warm-up run (the first, cold run - files not yet in the page cache - is printed separately).
Baselines measured in the same run: ``python -c pass`` (the interpreter alone) and
``python -c "import typer, rich"`` (the CLI framework). Aims (issue 10): ``fedqsar --help``
<= 1 s, every verb's ``--help`` <= 1.5 s on the 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

VERBS = (
    "keygen",
    "prepare",
    "manifest-diff",
    "train",
    "predict",
    "explain",
    "federate",
    "deploy",
    "ledger",
    "report",
    "demo",
)


def seconds(command: list[str]) -> float:
    """Wall time of one run of ``command`` (stdout and stderr discarded; must exit 0)."""
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def measure(command: list[str], repeats: int) -> tuple[float, float]:
    """(first run, median of ``repeats`` later runs) in seconds."""
    first = seconds(command)
    return first, statistics.median(seconds(command) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  ({os.cpu_count()} cores)")
    rows = [
        ("baseline: python -c pass", [python, "-c", "pass"], None),
        ("baseline: import typer, rich", [python, "-c", "import typer, rich.console"], None),
        ("fedqsar --version", [python, "-m", "fedqsar", "--version"], None),
        ("fedqsar --help", [python, "-m", "fedqsar", "--help"], 1.0),
        *((f"fedqsar {verb} --help", [python, "-m", "fedqsar", verb, "--help"], 1.5) for verb in VERBS),
    ]
    print(f"| command | first run | median of {args.repeats} | x python -c pass | aim | met |")
    print("|---|---|---|---|---|---|")
    baseline = None
    for label, command, aim in rows:
        first, median = measure(command, args.repeats)
        baseline = baseline or median
        met = "" if aim is None else ("yes" if median <= aim else "NO")
        aim_text = "" if aim is None else f"<= {aim:g} s"
        print(f"| `{label}` | {first:.2f} s | {median:.2f} s | {median / baseline:.1f} | {aim_text} | {met} |")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
