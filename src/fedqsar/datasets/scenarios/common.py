"""Pieces shared by the scenario builders: the raw long-form table, keyed assignment,
deterministic subsampling and bounding the number of tasks.

A scenario partner table is the *input* of ``fedqsar prepare`` (long form)::

    compound_id, smiles, assay_id, value, unit, qualifier, endpoint, date

Values are written exactly as the source reports them, in the source's own unit; the
prepare stage harmonises units and qualifiers. Nothing here standardises chemistry.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.errors import InternalError

RAW_COLUMNS = ("compound_id", "smiles", "assay_id", "value", "unit", "qualifier", "endpoint", "date")
#: fixed salt of the keyed assignment of assays to partners (not the consortium key:
#: scenarios must be identical for every user so that published figures can be reproduced).
SCENARIO_SALT = b"fedqsar-scenario-v1"


def keyed_bucket(text: str, n_buckets: int, salt: bytes = SCENARIO_SALT) -> int:
    """Bucket in ``range(n_buckets)`` of ``text`` from HMAC-SHA256(salt, text)."""
    digest = hmac.new(salt, text.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % n_buckets


def keyed_rank(texts: pd.Series, salt: bytes = SCENARIO_SALT) -> pd.Series:
    """A keyed pseudo-random number in [0, 1) per text (same text -> same number)."""
    unique = pd.unique(texts.astype(str))
    scores = {
        t: int.from_bytes(hmac.new(salt, t.encode("utf-8"), hashlib.sha256).digest()[:8], "big") / 2.0**64
        for t in unique
    }
    return texts.astype(str).map(scores)


def subsample_compounds(table: pd.DataFrame, max_compounds: int | None, salt: bytes = SCENARIO_SALT) -> pd.DataFrame:
    """Keep at most ``max_compounds`` distinct SMILES, chosen by a keyed rank of the SMILES.

    The same structure gets the same rank in every partner's table, so overlaps between
    partners survive subsampling in proportion.
    """
    if max_compounds is None:
        return table
    rank = keyed_rank(table["smiles"], salt)
    unique = pd.DataFrame({"smiles": table["smiles"], "rank": rank}).drop_duplicates("smiles")
    keep = set(unique.nsmallest(max_compounds, "rank")["smiles"])
    return table[table["smiles"].isin(keep)]


def subsample_assays(table: pd.DataFrame, max_assays: int | None, salt: bytes = SCENARIO_SALT) -> pd.DataFrame:
    """Keep the rows of at most ``max_assays`` assay ids, chosen by a keyed rank of the id.

    An assay id shared by several partners (e.g. a target's task in the potency scenario)
    gets the same rank everywhere, so all partners keep the same targets.
    """
    if max_assays is None:
        return table
    ids = pd.Series(pd.unique(table["assay_id"].astype(str)))
    keep = set(ids[keyed_rank(ids, salt).sort_values().index[:max_assays]])
    return table[table["assay_id"].astype(str).isin(keep)]


def group_small_assays(
    table: pd.DataFrame, min_values: int, max_assays_per_endpoint: int, grouped_prefix: str, by: str = "endpoint"
) -> pd.DataFrame:
    """Bound the number of tasks: small assays are merged into one assay per group.

    An assay keeps its own id (its own task) if it has at least ``min_values`` rows and is
    among the ``max_assays_per_endpoint`` largest of its group (column ``by``: what the
    assays measure); every other row gets ``assay_id = f"{grouped_prefix}{group}"`` (that
    quantity measured by assorted assays).
    """
    counts = table.groupby([by, "assay_id"]).size().rename("n").reset_index()
    counts = counts[counts["n"] >= min_values].sort_values([by, "n", "assay_id"], ascending=[True, False, True])
    kept = counts.groupby(by).head(max_assays_per_endpoint)
    keep = set(zip(kept[by], kept["assay_id"], strict=True))
    own = [(e, a) in keep for e, a in zip(table[by], table["assay_id"], strict=True)]
    out = table.copy()
    out["assay_id"] = np.where(own, out["assay_id"], grouped_prefix + out[by].astype(str))
    return out


def finish(table: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check and order a partner table: all ``RAW_COLUMNS``, finite values, no empty SMILES."""
    missing = [c for c in RAW_COLUMNS if c not in table.columns]
    if missing:
        raise InternalError(f"scenario table {where} lacks columns {missing}", "this is a bug in the scenario builder")
    out = table.loc[:, list(RAW_COLUMNS)].copy()
    out = out[out["smiles"].astype(str).str.len() > 0]
    out = out[np.isfinite(pd.to_numeric(out["value"], errors="coerce"))]
    return out.reset_index(drop=True)


def write_partner_tables(tables: dict[str, pd.DataFrame], out: Path) -> dict[str, Path]:
    """Write ``{partner: table}`` as ``out/<partner>.csv``; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for partner, table in tables.items():
        path = out / f"{partner}.csv"
        table.to_csv(path, index=False)
        paths[partner] = path
    return paths
