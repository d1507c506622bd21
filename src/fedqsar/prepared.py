"""The PreparedSet: the folder ``prepare`` writes and every later stage reads.

Layout (see DESIGN.md)::

    X.npz              scipy CSR float32, (n_compounds, n_bits), keyed folded fingerprints
    Y.npz              scipy CSR float32, (n_compounds, n_tasks); an entry is observed iff stored
                       (explicit zeros are labels/values, never "missing")
    censor.npz         scipy CSR int8, same sparsity pattern as Y: -1 '<', 0 exact, +1 '>'
    compounds.parquet  row, compound_id, fold           (no SMILES, no scaffold)
    tasks.parquet      one row per task column of Y, columns TASK_COLUMNS
    accounting.json    input_rows, used, merged, rejected{reason: count}
    rejected.csv       rejected input rows with their reason code
    manifest.json      prep config, its hash, key id, library versions, counts

Only this module writes or reads those files, so the format lives in one place.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedqsar.errors import PreparedSetError
from fedqsar.integrity import load_json_object, read_artefact

FORMAT_VERSION = 1
TASK_COLUMNS = (
    "task_id",  # int, column index in Y
    "task_name",  # str, unique, e.g. "CHEMBL235" or "CHEMBL235@6.5" for a thresholded task
    "assay_id",  # str, partner's assay id
    "endpoint",  # str, shared endpoint name, e.g. "logD7.4", "pXC50", "" when unknown
    "kind",  # "classification" | "regression"
    "unit",  # canonical unit of the values (regression) or of the threshold
    "threshold",  # float, NaN for regression
    "training_weight",  # float >= 0
    "aggregation_weight",  # float >= 0
    "n_observed",  # int
    "n_positive",  # int, classification only (0 for regression)
    "n_negative",  # int, classification only (0 for regression)
    "n_censored",  # int, regression only (0 for classification)
    "passes_quorum",  # bool: counts in evaluation
)
KINDS = ("classification", "regression")
FILES = ("X.npz", "Y.npz", "censor.npz", "compounds.parquet", "tasks.parquet", "accounting.json", "manifest.json")


@dataclass
class PreparedSet:
    """In-memory PreparedSet.

    Attributes
    ----------
    X
        CSR float32, shape (n_compounds, n_bits).
    Y
        CSR float32, shape (n_compounds, n_tasks); stored entries are observations.
    censor
        CSR int8, shape (n_compounds, n_tasks), same indptr/indices as ``Y``.
    compounds
        DataFrame with columns ``row``, ``compound_id``, ``fold`` (int, 0-based).
    tasks
        DataFrame with columns ``TASK_COLUMNS``, one row per column of ``Y``.
    accounting
        Mapping with ``input_rows``, ``used``, ``merged``, ``rejected`` (reason -> count).
    manifest
        Mapping with at least ``prep_hash``, ``prep_config``, ``key_id``, ``versions``.
    """

    X: sp.csr_matrix
    Y: sp.csr_matrix
    censor: sp.csr_matrix
    compounds: pd.DataFrame
    tasks: pd.DataFrame
    accounting: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def n_compounds(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_bits(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_tasks(self) -> int:
        return int(self.Y.shape[1])

    @property
    def folds(self) -> np.ndarray:
        """Fold of each row, int array of shape (n_compounds,)."""
        return self.compounds["fold"].to_numpy(dtype=np.int64)

    def rows_in_folds(self, folds: list[int] | tuple[int, ...]) -> np.ndarray:
        """Row indices (sorted) whose fold is in ``folds``."""
        return np.flatnonzero(np.isin(self.folds, np.asarray(folds)))

    def subset(self, rows: np.ndarray) -> PreparedSet:
        """Rows ``rows`` of this set (tasks unchanged; counts in ``tasks`` not recomputed)."""
        rows = np.asarray(rows, dtype=np.int64)
        compounds = self.compounds.iloc[rows].reset_index(drop=True).copy()
        compounds["row"] = np.arange(len(rows))
        return PreparedSet(
            X=self.X[rows],
            Y=self.Y[rows],
            censor=self.censor[rows],
            compounds=compounds,
            tasks=self.tasks,
            accounting=self.accounting,
            manifest=self.manifest,
        )

    def validate(self) -> None:
        """Check shapes, sparsity patterns and columns agree.

        Raises
        ------
        PreparedSetError
            Naming the first inconsistency found.
        """
        n = self.n_compounds
        if self.Y.shape[0] != n or self.censor.shape != self.Y.shape:
            raise PreparedSetError(
                f"shapes disagree: X {self.X.shape}, Y {self.Y.shape}, censor {self.censor.shape}",
                "re-run `fedqsar prepare`; do not edit PreparedSet files by hand",
            )
        if not (
            np.array_equal(self.Y.indptr, self.censor.indptr) and np.array_equal(self.Y.indices, self.censor.indices)
        ):
            raise PreparedSetError("censor.npz does not share Y.npz's sparsity pattern", "re-run `fedqsar prepare`")
        if len(self.compounds) != n or len(self.tasks) != self.n_tasks:
            raise PreparedSetError(
                f"{len(self.compounds)} compounds / {len(self.tasks)} tasks listed for Y of shape {self.Y.shape}",
                "re-run `fedqsar prepare`",
            )
        missing = [c for c in TASK_COLUMNS if c not in self.tasks.columns]
        if missing:
            raise PreparedSetError(
                f"tasks.parquet lacks columns {missing}", "re-run `fedqsar prepare` with this version"
            )
        bad_kinds = sorted(set(self.tasks["kind"]) - set(KINDS))
        if bad_kinds:
            raise PreparedSetError(f"unknown task kinds {bad_kinds}", f"kinds must be one of {KINDS}")

    def save(self, folder: Path, rejected: pd.DataFrame | None = None) -> Path:
        """Write the PreparedSet into ``folder`` (created); returns ``folder``."""
        self.validate()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        sp.save_npz(folder / "X.npz", sp.csr_matrix(self.X, dtype=np.float32), compressed=True)
        sp.save_npz(folder / "Y.npz", _keep_explicit(self.Y, np.float32), compressed=True)
        sp.save_npz(folder / "censor.npz", _keep_explicit(self.censor, np.int8), compressed=True)
        self.compounds.to_parquet(folder / "compounds.parquet", index=False)
        self.tasks.loc[:, list(TASK_COLUMNS)].to_parquet(folder / "tasks.parquet", index=False)
        _write_json(folder / "accounting.json", self.accounting)
        _write_json(folder / "manifest.json", {"format_version": FORMAT_VERSION, **self.manifest})
        if rejected is not None:
            rejected.to_csv(folder / "rejected.csv", index=False)
        return folder

    @classmethod
    def load(cls, folder: Path) -> PreparedSet:
        """Read a PreparedSet folder.

        Raises
        ------
        PreparedSetError
            If the folder or one of its files is missing or the files disagree.
        CorruptArtefactError
            If a file is truncated or not in its format (names the file).
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise PreparedSetError(
                f"{folder} is not a PreparedSet folder", "run `fedqsar prepare ... --out FOLDER` first"
            )
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise PreparedSetError(f"{folder} lacks {missing}", "re-run `fedqsar prepare` into an empty folder")
        fix = f"re-run `fedqsar prepare` for this partner into a new folder (do not edit {folder} by hand)"

        def read(name: str, reader: Callable[[Path], Any]) -> Any:
            return read_artefact(folder / name, reader, "PreparedSet file", fix)

        prepared = cls(
            X=read("X.npz", _load_csr),
            Y=read("Y.npz", _load_csr),
            censor=read("censor.npz", _load_csr),
            compounds=read("compounds.parquet", pd.read_parquet),
            tasks=read("tasks.parquet", pd.read_parquet),
            accounting=read("accounting.json", load_json_object),
            manifest=read("manifest.json", load_json_object),
        )
        prepared.validate()
        return prepared


def read_manifest(folder: Path) -> dict[str, Any]:
    """Only the manifest of a PreparedSet folder (cheap; used by federation guards).

    Raises
    ------
    PreparedSetError
        If there is no manifest.
    CorruptArtefactError
        If it is not a JSON object.
    """
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise PreparedSetError(f"{path} does not exist", "point at a folder written by `fedqsar prepare`")
    return read_artefact(path, load_json_object, "PreparedSet manifest", "re-run `fedqsar prepare` for this partner")


def _load_csr(path: Path) -> sp.csr_matrix:
    return sp.load_npz(path).tocsr()


def _keep_explicit(matrix: sp.spmatrix, dtype: type) -> sp.csr_matrix:
    """CSR copy that keeps explicitly stored zeros (they are observations)."""
    csr = matrix.tocsr()
    return sp.csr_matrix((csr.data.astype(dtype), csr.indices.copy(), csr.indptr.copy()), shape=csr.shape)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default), encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
