"""2D depictions coloured by atom contributions, and their numbers as a table.

Colours: a diverging scale, red for atoms that raise the task's output (higher probability
of the positive class, higher value), blue for atoms that lower it, white for none; the
intensity is ``|contribution| / max |contribution|`` over the molecule, so the scale is
relative to the compound (the absolute numbers are in the table).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem
from rdkit.Chem.Draw import rdMolDraw2D

POSITIVE_RGB = (0.84, 0.19, 0.15)
NEGATIVE_RGB = (0.17, 0.40, 0.74)


def atom_colours(contributions: np.ndarray) -> dict[int, tuple[float, float, float]]:
    """Atom index -> RGB in [0, 1], blended from white by relative magnitude.

    Parameters
    ----------
    contributions
        float (n_atoms,).
    """
    values = np.asarray(contributions, dtype=np.float64)
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    colours: dict[int, tuple[float, float, float]] = {}
    for atom, value in enumerate(values.tolist()):
        weight = abs(value) / scale if scale > 0 else 0.0
        target = POSITIVE_RGB if value >= 0 else NEGATIVE_RGB
        red, green, blue = (1.0 - weight * (1.0 - t) for t in target)
        colours[atom] = (red, green, blue)
    return colours


def _draw(drawer: rdMolDraw2D.MolDraw2D, mol: Chem.Mol, contributions: np.ndarray, legend: str) -> None:
    colours = atom_colours(contributions)
    bond_colours = {
        bond.GetIdx(): tuple(
            (a + b) / 2 for a, b in zip(colours[bond.GetBeginAtomIdx()], colours[bond.GetEndAtomIdx()], strict=True)
        )
        for bond in mol.GetBonds()
    }
    options = drawer.drawOptions()
    options.fillHighlights = True
    options.continuousHighlight = True
    rdMolDraw2D.PrepareAndDrawMolecule(
        drawer,
        mol,
        legend=legend,
        highlightAtoms=list(colours),
        highlightAtomColors=colours,
        highlightBonds=list(bond_colours),
        highlightBondColors=bond_colours,
        highlightAtomRadii={atom: 0.45 for atom in colours},
    )
    drawer.FinishDrawing()


def depiction_svg(
    mol: Chem.Mol, contributions: np.ndarray, legend: str = "", size: tuple[int, int] = (450, 350)
) -> str:
    """SVG text of ``mol`` with atoms coloured by ``contributions`` (n_atoms,)."""
    drawer = rdMolDraw2D.MolDraw2DSVG(*size)
    _draw(drawer, mol, contributions, legend)
    return drawer.GetDrawingText()


def depiction_png(
    mol: Chem.Mol, contributions: np.ndarray, legend: str = "", size: tuple[int, int] = (450, 350)
) -> bytes:
    """PNG bytes of the same picture as :func:`depiction_svg`."""
    drawer = rdMolDraw2D.MolDraw2DCairo(*size)
    _draw(drawer, mol, contributions, legend)
    return drawer.GetDrawingText()


def contributions_table(mol: Chem.Mol, contributions: np.ndarray) -> pd.DataFrame:
    """One row per atom: ``atom_index, element, contribution`` (float)."""
    return pd.DataFrame(
        {
            "atom_index": np.arange(mol.GetNumAtoms(), dtype=np.int64),
            "element": [atom.GetSymbol() for atom in mol.GetAtoms()],
            "contribution": np.asarray(contributions, dtype=np.float64),
        }
    )


def write_explanation(
    out: Path, stem: str, mol: Chem.Mol, contributions: np.ndarray, legend: str = ""
) -> dict[str, Path]:
    """Write ``<stem>.svg``, ``<stem>.png`` and ``<stem>_atoms.csv`` into ``out``; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"svg": out / f"{stem}.svg", "png": out / f"{stem}.png", "csv": out / f"{stem}_atoms.csv"}
    paths["svg"].write_text(depiction_svg(mol, contributions, legend), encoding="utf-8")
    paths["png"].write_bytes(depiction_png(mol, contributions, legend))
    contributions_table(mol, contributions).to_csv(paths["csv"], index=False)
    return paths
