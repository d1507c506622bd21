"""Depictions: coloured SVG/PNG and the numbers behind them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.trust.depict import atom_colours, depiction_svg, write_explanation

from ._chem import fingerprint_with_environments


def test_colours_are_white_for_zero_and_saturated_for_the_largest() -> None:
    colours = atom_colours(np.array([0.0, 2.0, -1.0, -2.0]))
    assert colours[0] == (1.0, 1.0, 1.0)
    assert colours[1][0] > colours[1][2]  # red
    assert colours[3][2] > colours[3][0]  # blue
    assert colours[2][0] > colours[3][0]  # half-strength blue is paler


def test_svg_shows_the_strongest_colour(tmp_path: Path) -> None:
    mol, _, _ = fingerprint_with_environments("CC(=O)Nc1ccc(O)cc1")
    contributions = np.zeros(mol.GetNumAtoms())
    contributions[3] = 1.0
    svg = depiction_svg(mol, contributions, legend="task x")
    assert svg.startswith("<?xml") and "#D6302600"[:7].lower() in svg.lower()
    paths = write_explanation(tmp_path, "compound", mol, contributions, legend="task x")
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(paths["csv"])
    assert list(table.columns) == ["atom_index", "element", "contribution"]
    assert table["contribution"].tolist() == contributions.tolist()
    assert table.loc[3, "element"] == "N"
