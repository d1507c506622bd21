"""The one progress callback of fedqsar's library functions.

Every long-running library function (``prepare``, ``process_structures``, ``run_fit`` / ``fit``,
``run_simulation``, ``run_protocol``, ``tune_kinds``, ``run_probe``, ``score_labelled``,
``run_demo``, ``evaluate_consortium``) takes ``progress: Progress | None`` and calls it as::

    progress(stage, done, total=None, detail="")

``stage`` names the step ("standardise + fingerprint", "epoch", "federated rounds", "local", ...),
``done`` is how many of its units are finished so far (cumulative, not an increment), ``total``
how many there are when known, ``detail`` a short human note (a partner's name, losses). The
library never prints; the CLI turns the calls into progress bars (``cli.common.StageProgress``)
or lines (:func:`printing`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

# stage names reported by more than one module (the CLI starts their bars before the first call)
STRUCTURES_STAGE = "standardise + fingerprint"  # prep.structures.process_structures: input positions
EPOCH_STAGE = "epoch"  # model.training.run_fit: epochs
ROUNDS_STAGE = "federated rounds"  # federation.simulation.run_simulation: rounds


class Progress(Protocol):
    """A progress callback: ``progress(stage, done, total=None, detail="")``."""

    def __call__(self, stage: str, done: int, total: int | None = None, detail: str = "") -> None:
        """Report that ``done`` of ``total`` units of ``stage`` are finished (``detail``: a note)."""


def no_progress(stage: str, done: int, total: int | None = None, detail: str = "") -> None:
    """The progress callback that reports nothing (what ``progress=None`` means)."""


def describe(stage: str, done: int, total: int | None = None, detail: str = "") -> str:
    """One line for a progress call: ``stage: detail``, else ``stage: done/total``."""
    counted = f"{done}/{total}" if total is not None else str(done)
    return f"{stage}: {detail or counted}"


def printing(say: Callable[[str], None] = print, prefix: str = "  ") -> Progress:
    """A progress callback writing one line per call through ``say`` (``prefix`` + :func:`describe`)."""

    def report(stage: str, done: int, total: int | None = None, detail: str = "") -> None:
        say(prefix + describe(stage, done, total, detail))

    return report


def or_silent(progress: Progress | None) -> Progress:
    """``progress``, or :func:`no_progress` when None."""
    return no_progress if progress is None else progress
