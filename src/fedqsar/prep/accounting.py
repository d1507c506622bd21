"""Row accounting: every input row ends in exactly one bucket.

Buckets: ``used`` (the row, or the replicate group it represents, feeds the PreparedSet),
``merged`` (a replicate folded into another row's aggregated value) or ``rejected`` with a
reason code. ``accounting.json`` is :meth:`Accounting.to_dict`; ``rejected.csv`` is
:meth:`Accounting.rejected_table`. The invariant ``used + merged + sum(rejected) ==
input_rows`` is checked by :meth:`Accounting.check`.

Reason codes and their meanings live in ``prep.reasons`` (``REASONS``: code -> meaning),
the one registry every stage imports from; they are re-exported here. Any non-empty string
is accepted as a reason.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from fedqsar.errors import AccountingError
from fedqsar.prep.reasons import (  # noqa: F401 - the codes, defined there, re-exported here
    AMBIGUOUS_STRUCTURE,
    CONFLICTING_STRUCTURE,
    DUPLICATE_CONFLICT,
    EMPTY_SMILES,
    INVALID_LABEL,
    MALFORMED_ROW,
    METAL_COMPLEX,
    MISSING_ASSAY,
    MISSING_DATE,
    MISSING_MOL_WEIGHT,
    MISSING_STRUCTURE,
    MISSING_VALUE,
    NO_ORGANIC_PARENT,
    NO_TASK,
    NON_FINITE_VALUE,
    NON_NUMERIC_VALUE,
    NON_POSITIVE_VALUE,
    REASONS,
    STANDARDISATION_FAILED,
    STRUCTURE_REJECT_REASONS,
    TOO_FEW_HEAVY_ATOMS,
    TOO_MANY_HEAVY_ATOMS,
    UNIT_ENDPOINT_MISMATCH,
    UNKNOWN_QUALIFIER,
    UNKNOWN_TASK,
    UNKNOWN_UNIT,
    UNPARSABLE_MOLBLOCK,
    UNPARSABLE_SMILES,
    VALUE_OUT_OF_RANGE,
)

_FREE, _USED, _MERGED, _REJECTED = 0, 1, 2, 3
_BUCKET_NAMES = {_FREE: "none", _USED: "used", _MERGED: "merged", _REJECTED: "rejected"}


class Accounting:
    """Per-input-row bucket bookkeeping.

    Parameters
    ----------
    n_rows
        Number of input rows; rows are identified by ``input_row`` in ``0..n_rows-1``.

    Notes
    -----
    Assigning a row twice raises :class:`~fedqsar.errors.AccountingError` immediately,
    so a stage that double-counts is caught where it happens.
    """

    def __init__(self, n_rows: int) -> None:
        if n_rows < 0:
            raise AccountingError(f"negative number of input rows: {n_rows}", "pass len(activities)")
        self.n_rows = int(n_rows)
        self._bucket = np.zeros(self.n_rows, dtype=np.int8)
        self._reason = np.full(self.n_rows, "", dtype=object)

    # --- assignment -----------------------------------------------------------------------
    def use(self, rows: Iterable[int] | np.ndarray) -> None:
        """Mark ``rows`` as used."""
        self._assign(rows, _USED)

    def merge(self, rows: Iterable[int] | np.ndarray) -> None:
        """Mark ``rows`` as merged into another row's replicate aggregate."""
        self._assign(rows, _MERGED)

    def reject(self, rows: Iterable[int] | np.ndarray, reason: str | Iterable[str]) -> None:
        """Mark ``rows`` as rejected with ``reason`` (one code, or one code per row)."""
        idx = self._index(rows)
        reasons = (
            np.full(len(idx), reason, dtype=object)
            if isinstance(reason, str)
            else np.asarray(list(reason), dtype=object)
        )
        if len(reasons) != len(idx):
            raise AccountingError(f"{len(idx)} rows but {len(reasons)} reasons", "give one reason per row")
        if any(not isinstance(r, str) or not r for r in reasons):
            raise AccountingError("a reject reason is empty", "give a reason code from prep.accounting.REASONS")
        self._assign(idx, _REJECTED)
        self._reason[idx] = reasons

    def reject_table(self, rejected: pd.DataFrame) -> None:
        """Reject the rows of a table with columns ``input_row`` and ``reason``."""
        if len(rejected):
            self.reject(rejected["input_row"].to_numpy(np.int64), rejected["reason"].astype(str).tolist())

    def _index(self, rows: Iterable[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_rows):
            raise AccountingError(
                f"input_row out of range 0..{self.n_rows - 1}: {int(idx.min())}..{int(idx.max())}",
                "use the input_row column written by schema.read_partner_input",
            )
        if len(np.unique(idx)) != len(idx):
            raise AccountingError("the same input_row is listed twice in one call", "deduplicate before assigning")
        return idx

    def _assign(self, rows: Iterable[int] | np.ndarray, bucket: int) -> None:
        idx = self._index(rows)
        taken = idx[self._bucket[idx] != _FREE]
        if taken.size:
            row = int(taken[0])
            raise AccountingError(
                f"{taken.size} input row(s) assigned twice; e.g. row {row} is already "
                f"'{_BUCKET_NAMES[int(self._bucket[row])]}' and would become '{_BUCKET_NAMES[bucket]}'",
                "a stage must only handle rows that earlier stages left open (bug in the pipeline)",
            )
        self._bucket[idx] = bucket

    # --- queries --------------------------------------------------------------------------
    @property
    def open_rows(self) -> np.ndarray:
        """Rows not yet in any bucket, int64 array."""
        return np.flatnonzero(self._bucket == _FREE)

    @property
    def rejected_rows(self) -> np.ndarray:
        return np.flatnonzero(self._bucket == _REJECTED)

    def reasons(self) -> dict[str, int]:
        """Reject reason -> count, sorted by reason."""
        values, counts = np.unique(self._reason[self._bucket == _REJECTED].astype(str), return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts, strict=True)}

    def to_dict(self) -> dict[str, object]:
        """``{"input_rows", "used", "merged", "rejected": {reason: count}}``."""
        return {
            "input_rows": self.n_rows,
            "used": int(np.sum(self._bucket == _USED)),
            "merged": int(np.sum(self._bucket == _MERGED)),
            "rejected": self.reasons(),
        }

    def check(self) -> None:
        """Raise :class:`AccountingError` unless every row is in exactly one bucket."""
        open_rows = self.open_rows
        if open_rows.size:
            raise AccountingError(
                f"{open_rows.size} input row(s) are in no bucket (first: {open_rows[:5].tolist()})",
                "every row must be used, merged or rejected; this is a pipeline bug",
            )
        used, merged = int(np.sum(self._bucket == _USED)), int(np.sum(self._bucket == _MERGED))
        total = used + merged + sum(self.reasons().values())
        if total != self.n_rows:
            raise AccountingError(f"buckets hold {total} rows, input has {self.n_rows}", "pipeline bug")

    def rejected_table(self, activities: pd.DataFrame) -> pd.DataFrame:
        """The rejected input rows with their original fields and a ``reason`` column.

        Parameters
        ----------
        activities
            The canonical long table of ``schema.read_partner_input`` (has ``input_row``).

        Returns
        -------
        DataFrame, one row per rejected input row, sorted by ``input_row``; the columns of
        ``activities`` plus ``reason``.
        """
        rows = self.rejected_rows
        table = activities.set_index("input_row", drop=False).reindex(rows).reset_index(drop=True)
        table["input_row"] = rows
        table["reason"] = self._reason[rows].astype(str)
        return table
