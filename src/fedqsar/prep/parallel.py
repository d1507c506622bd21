"""Run a chunked job in worker processes, or in this process when one job is asked for.

Workers are started by a fork server where the platform has one (else ``spawn``): both are safe
next to threads of torch or Flower in the parent, and the fork server imports the worker's
module once per parent process, so later pools start in milliseconds. Workers build their
expensive state once in an initialiser. Results come back per chunk, in any order, together
with the chunk's position.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_n_jobs(n_jobs: int) -> int:
    """``n_jobs`` as a process count: values <= 0 mean all available cores (-1 = all)."""
    return available_cores() if n_jobs <= 0 else int(n_jobs)


def chunk_size(n_items: int, n_jobs: int, target_chunks_per_job: int = 20, largest: int = 100) -> int:
    """A chunk size giving each job many small chunks, so slow molecules balance out."""
    return max(1, min(largest, math.ceil(n_items / max(1, n_jobs * target_chunks_per_job))))


def split(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """Consecutive chunks of at most ``size`` items."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def _context(preload: Sequence[str]) -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload))
        return context
    return multiprocessing.get_context("spawn")


def map_chunks(
    work: Callable[[tuple[int, Sequence[T]]], tuple[int, R]],
    chunks: Sequence[Sequence[T]],
    n_jobs: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
) -> Iterator[tuple[int, R]]:
    """Yield ``(chunk position, result)`` as chunks finish, in ``n_jobs`` worker processes.

    ``work`` and ``initializer`` must be module-level functions (they are pickled by name);
    their module is preloaded by the fork server.
    """
    context = _context([work.__module__])
    with context.Pool(processes=n_jobs, initializer=initializer, initargs=initargs) as pool:
        yield from pool.imap_unordered(work, list(enumerate(chunks)), chunksize=1)
