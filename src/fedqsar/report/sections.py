"""What each section of the report shows, as plain data the template lays out.

A :class:`Section` holds sentences, figures and tables; the functions that build them live
in :mod:`fedqsar.report.sections_results` and :mod:`fedqsar.report.sections_data`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fedqsar.report.plots import Plot


@dataclass(frozen=True)
class Figure:
    """A plot and the sentence under it saying what to look for."""

    plot: Plot
    caption: str


@dataclass(frozen=True)
class Table:
    """A table of already formatted cells.

    ``flags`` marks rows to highlight; ``text_columns`` are the left-aligned (non-numeric)
    columns; a table with a ``title`` is shown collapsed under that title.
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    flags: tuple[bool, ...] = ()
    caption: str = ""
    text_columns: tuple[int, ...] = (0,)
    title: str = ""


@dataclass(frozen=True)
class Section:
    """One section of the report.

    Attributes
    ----------
    id
        HTML id (stable: tests and links use it).
    title
        Heading.
    paragraphs
        Sentences before the figures.
    figures, tables
        Content in order.
    missing
        Sentences naming files that are missing and the command that writes them.
    warnings
        Sentences the reader must not overlook (shown highlighted).
    blocks
        Collapsible preformatted texts as (label, text), e.g. the full configuration.
    """

    id: str
    title: str
    paragraphs: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()
    tables: tuple[Table, ...] = ()
    missing: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)
    blocks: tuple[tuple[str, str], ...] = ()


def fmt(value: float | int | None, digits: int = 3, signed: bool = False) -> str:
    """Format a number for a table: ``—`` for missing or non-finite values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def fmt_share(value: float) -> str:
    """A share as a percentage, ``—`` when missing."""
    return "—" if not math.isfinite(value) else f"{100 * value:.0f}%"
