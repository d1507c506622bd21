"""Matplotlib figures of the report, rendered off-screen to SVG text.

No pyplot: each function builds its own :class:`matplotlib.figure.Figure`, so nothing global
changes and no display is needed. Every function takes validated tables (see
:mod:`fedqsar.report.files` for their columns) and returns a :class:`Plot`.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
BETTER, WORSE, UNCLEAR = "#2e7d32", "#c62828", "#757575"
PANEL_WIDTH, PANEL_HEIGHT = 4.2, 3.4
SVG_SETTINGS: dict[RcKeyType, str] = {"svg.hashsalt": "fedqsar-report", "svg.fonttype": "none"}
"""Stable element ids (same figure, same SVG) and text kept as text (smaller, selectable)."""


@dataclass(frozen=True)
class Plot:
    """A rendered figure.

    Attributes
    ----------
    svg
        Complete standalone SVG document.
    alt
        Text alternative describing what the figure shows.
    """

    svg: str
    alt: str

    @property
    def data_uri(self) -> str:
        """``data:image/svg+xml;base64,...`` for an ``<img src>``: isolated, needs no network."""
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class PartnerStyle:
    """Colour and marker of each partner, the same in every figure."""

    colours: dict[str, str]
    markers: dict[str, str]

    @classmethod
    def for_partners(cls, names: tuple[str, ...] | list[str]) -> PartnerStyle:
        """Assign colours and markers in the order of ``names``."""
        return cls(
            {n: COLOURS[i % len(COLOURS)] for i, n in enumerate(names)},
            {n: MARKERS[i % len(MARKERS)] for i, n in enumerate(names)},
        )

    def colour(self, name: str) -> str:
        """Colour of partner ``name`` (grey for a partner not in consortium.json)."""
        return self.colours.get(name, "#7f7f7f")

    def marker(self, name: str) -> str:
        """Marker of partner ``name``."""
        return self.markers.get(name, "o")


def new_figure(n_panels: int, max_columns: int = 3, height: float = PANEL_HEIGHT) -> tuple[Figure, list[Axes]]:
    """A figure with ``n_panels`` axes on a grid of at most ``max_columns`` columns.

    Returns
    -------
    (Figure, list of Axes)
        The axes in reading order; unused grid cells are hidden.
    """
    n_columns = max(1, min(n_panels, max_columns))
    n_rows = int(np.ceil(n_panels / n_columns))
    fig = Figure(figsize=(PANEL_WIDTH * n_columns, height * n_rows), layout="constrained")
    axes = list(np.atleast_1d(fig.subplots(n_rows, n_columns, squeeze=False)).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    for ax in axes:
        ax.grid(True, color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig, axes[:n_panels]


def to_plot(fig: Figure, alt: str) -> Plot:
    """Render ``fig`` to SVG (text kept as text, no creation date, so output is stable)."""
    buffer = io.StringIO()
    with rc_context(SVG_SETTINGS):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return Plot(svg=buffer.getvalue(), alt=alt)


def present_partners(style: PartnerStyle, column: pd.Series) -> list[str]:
    """Partners that occur in ``column``: consortium order first, then any others by name."""
    seen = set(column.astype(str))
    return [n for n in style.colours if n in seen] + sorted(seen - set(style.colours))


def partner_legend(fig: Figure, style: PartnerStyle, names: list[str], line: bool = False) -> None:
    """One legend for the whole figure, below the panels, one entry per partner."""
    if not names:
        return
    handles = [
        fig.axes[0].plot(
            [], [], marker=style.marker(n), color=style.colour(n), linestyle="-" if line else "none", label=n
        )[0]
        for n in names
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(names), 6), frameon=False)
