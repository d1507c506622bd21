"""Consortium scenarios: public data dealt to partners as raw long-form tables.

``build_scenario(name, out)`` writes one CSV per partner (the input of ``fedqsar prepare``)
and returns ``{partner: path}``. Scenarios are registered in ``SCENARIOS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from fedqsar.datasets.scenarios import admet, potency
from fedqsar.datasets.scenarios.common import (
    RAW_COLUMNS,
    SCENARIO_SALT,
    finish,
    subsample_assays,
    subsample_compounds,
    write_partner_tables,
)
from fedqsar.errors import DatasetError

Sample = Callable[[pd.DataFrame], pd.DataFrame]
Builder = Callable[[Path | None, bytes, Sample], dict[str, pd.DataFrame]]
SCENARIOS: dict[str, Builder] = {"admet": admet.build, "potency": potency.build}


def scenario_tables(
    name: str,
    data_dir: Path | str | None = None,
    key: bytes | None = None,
    max_compounds: int | None = None,
    max_assays: int | None = None,
) -> dict[str, pd.DataFrame]:
    """In-memory partner tables of scenario ``name`` (see ``build_scenario``)."""
    if name not in SCENARIOS:
        raise DatasetError(f"unknown scenario {name!r}", f"choose one of {sorted(SCENARIOS)}")
    salt = key if key is not None else SCENARIO_SALT
    data = Path(data_dir) if data_dir is not None else None

    def sample(table: pd.DataFrame) -> pd.DataFrame:
        return subsample_compounds(subsample_assays(table, max_assays, salt), max_compounds, salt)

    tables = SCENARIOS[name](data, salt, sample)
    return {partner: finish(table, f"{name}/{partner}") for partner, table in tables.items()}


def build_scenario(
    name: str,
    out: Path,
    data_dir: Path | str | None = None,
    key: bytes | None = None,
    max_compounds: int | None = None,
    max_assays: int | None = None,
) -> dict[str, Path]:
    """Write scenario ``name``'s raw partner tables into ``out``.

    Parameters
    ----------
    name
        ``"admet"`` or ``"potency"``.
    out
        Folder receiving ``<partner>.csv`` (columns ``RAW_COLUMNS``).
    data_dir
        Mirror folder of the public files (else env ``FEDQSAR_DATA``, else download).
    key
        Salt of the keyed choices (assay -> partner, subsampling); default the fixed
        ``SCENARIO_SALT`` so that everyone gets the same scenario. Not the consortium key.
    max_compounds
        Keep at most this many distinct structures per partner (keyed choice), for
        quick runs; None keeps all.
    max_assays
        Keep at most this many assay ids per partner (keyed choice, identical ids kept by
        every partner), applied before ``max_compounds``; None keeps all.

    Returns
    -------
    dict[str, Path]
        Partner name -> CSV path.
    """
    return write_partner_tables(scenario_tables(name, data_dir, key, max_compounds, max_assays), Path(out))


__all__ = ["RAW_COLUMNS", "SCENARIOS", "build_scenario", "scenario_tables"]
