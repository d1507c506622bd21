"""Benchmark of ``fedqsar report``: time to read a run folder, draw the figures and write the HTML.

Usage::

    .venv/bin/python bench/bench_report.py [--repeats 3]

Run folders are synthetic (``tests/report/synthetic_run.py``, ``write_synthetic_run``: 3 partners, real
uplift statistics and ledger), in two sizes:

* ``small``: 16 tasks per partner, ~100-700 endpoint values per partner and endpoint;
* ``large``: 400 tasks per partner, 20,000 endpoint values per partner and endpoint
  (180,000 rows in endpoints.csv), 12,000 trust rows.

Per size it prints the median over ``--repeats`` of: ``gather`` (read and validate every file,
verify the ledger), ``sections`` (all figures and tables), the total of ``write_report`` and
the HTML size. Baseline, measured in the same run: one bare one-panel matplotlib line plot
saved as SVG (the unit cost of a figure); the report is expressed as a multiple of it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fedqsar.report import gather, write_report
from fedqsar.report.render import build_sections

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report"))
from synthetic_run import write_synthetic_run  # noqa: E402 - a test fixture, not part of the package

SIZES = {"small": {"n_tasks": 16}, "large": {"n_tasks": 400, "endpoint_values": 20_000}}


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``work()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bare_figure() -> None:
    """Baseline: one panel, one 50-point line, saved to SVG in memory."""
    import io

    fig = Figure(figsize=(4.2, 3.4))
    fig.subplots().plot(np.arange(50), np.sin(np.arange(50) / 5))
    fig.savefig(io.StringIO(), format="svg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    baseline = median_seconds(bare_figure, max(5, args.repeats))
    print(f"baseline: bare one-panel matplotlib SVG figure {baseline * 1000:.1f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in SIZES.items():
            run = write_synthetic_run(Path(tmp) / name, **options)
            data = gather(run)
            rows = {key: len(table) for key, table in data.tables.items()}
            t_gather = median_seconds(lambda run=run: gather(run), args.repeats)
            t_sections = median_seconds(lambda data=data: build_sections(data), args.repeats)
            t_total = median_seconds(
                lambda run=run, name=name: write_report(run, Path(tmp) / f"{name}.html"), args.repeats
            )
            size = (Path(tmp) / f"{name}.html").stat().st_size
            print(f"{name}: rows {rows}")
            print(
                f"  gather {t_gather:.2f} s, sections (figures + tables) {t_sections:.2f} s, "
                f"write_report total {t_total:.2f} s = {t_total / baseline:.0f} bare figures; "
                f"HTML {size / 1e6:.2f} MB"
            )


if __name__ == "__main__":
    main()
