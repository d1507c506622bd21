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
    descriptors.npy    optional, float32 (n_compounds, n_descriptors): RDKit 2D descriptors of the
                       standardised parent, raw (unscaled; NaN where not computable); names in the
                       manifest's ``descriptors`` list (prep/descriptors.py)
    local_structures.parquet
                       optional, row, smiles: the standardised structures, for models that read
                       molecules rather than fingerprints (message passing). LOCAL ONLY: written
                       with mode 0600, never sent, never copied into anything that leaves a partner

Only this module writes or reads those files, so the format lives in one place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedqsar.errors import ConfigError, PreparedSetError
from fedqsar.filemodes import private_folder, seal
from fedqsar.integrity import load_json_object, read_artefact
from fedqsar.prep.manifest import Manifest

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
DESCRIPTORS_FILE, STRUCTURES_FILE = "descriptors.npy", "local_structures.parquet"


class TaskColumns:
    """Task-table accessors of an object whose ``tasks`` table maps task ids to columns.

    Shared by ``PreparedSet`` (columns of ``Y``) and ``model.io.SavedModel`` (model outputs).
    """

    tasks: pd.DataFrame
    TASKS_OWNER: ClassVar[str] = "the model"

    @property
    def tasks_sorted(self) -> pd.DataFrame:
        """The task table in column order (sorted by ``task_id``, index 0..n_tasks-1)."""
        return in_column_order(self.tasks)

    @property
    def task_names(self) -> list[str]:
        """Task names in column order."""
        return self.tasks_sorted["task_name"].astype(str).tolist()

    def column_of(self, task: str) -> int:
        """Column holding ``task`` (a task name, or a column number); see :func:`column_of`."""
        return column_of(self.tasks, task, self.TASKS_OWNER)


@dataclass
class PreparedSet(TaskColumns):
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
        ``prep.manifest.Manifest`` (prep hash, key id, prep config, versions, counts, ``extra``);
        with descriptors, ``manifest.descriptors`` lists their names. A plain mapping given here is
        turned into a Manifest.
    descriptors
        float32 (n_compounds, n_descriptors) raw descriptor block, or None.
    structures
        object (n_compounds,) standardised SMILES (partner-local), or None.
    """

    TASKS_OWNER: ClassVar[str] = "the PreparedSet"

    X: sp.csr_matrix
    Y: sp.csr_matrix
    censor: sp.csr_matrix
    compounds: pd.DataFrame
    tasks: pd.DataFrame
    accounting: dict[str, Any] = field(default_factory=dict)
    manifest: Manifest = field(default_factory=Manifest)
    descriptors: np.ndarray | None = None
    structures: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.manifest, Manifest):
            self.manifest = Manifest.from_dict(self.manifest)

    @property
    def descriptor_names(self) -> list[str]:
        """Names of the descriptor columns ([] without descriptors)."""
        return list(self.manifest.descriptors) if self.descriptors is not None else []

    @property
    def task_kinds(self) -> np.ndarray:
        """Kind of each column of ``Y`` (object array of "classification" / "regression")."""
        return self.tasks_sorted["kind"].astype(str).to_numpy()

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

    def rows_in(self, folds: Sequence[int] | np.ndarray) -> np.ndarray:
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
            descriptors=None if self.descriptors is None else self.descriptors[rows],
            structures=None if self.structures is None else self.structures[rows],
        )

    def select_tasks(self, task_ids: np.ndarray | list[int]) -> PreparedSet:
        """Only the tasks ``task_ids`` (renumbered 0..k-1 in the given order); compounds without
        a label in them are dropped. Fold assignment, descriptors and structures follow the rows.

        Raises
        ------
        PreparedSetError
            If an id is unknown or repeated, or no compound has a label in the selection.
        """
        ids = np.asarray(task_ids, dtype=np.int64)
        known = set(self.tasks["task_id"].astype(int))
        if len(ids) == 0 or len(set(ids.tolist())) != len(ids) or not set(ids.tolist()) <= known:
            raise PreparedSetError(
                f"cannot select tasks {ids.tolist()}", f"give distinct task ids among {sorted(known)[:10]}"
            )
        Y, censor = self.Y.tocsc()[:, ids].tocsr(), self.censor.tocsc()[:, ids].tocsr()
        rows = np.flatnonzero(np.diff(Y.indptr) > 0)
        if len(rows) == 0:
            raise PreparedSetError("no compound has a label in the selected tasks", "select other tasks")
        tasks = self.tasks.set_index("task_id").loc[ids].reset_index()
        tasks["task_id"] = np.arange(len(ids), dtype=np.int64)
        selected = self.subset(rows)
        selected.Y, selected.censor, selected.tasks = (
            _keep_explicit(Y[rows], np.float32),
            _keep_explicit(censor[rows], np.int8),
            tasks[self.tasks.columns],
        )
        return selected

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
        self._validate_task_order()
        self._validate_folds()
        self._validate_optional()

    def _validate_task_order(self) -> None:
        ids = np.sort(self.tasks["task_id"].to_numpy(dtype=np.int64))
        if not np.array_equal(ids, np.arange(self.n_tasks)):
            raise PreparedSetError(
                f"tasks.parquet's task ids {ids[:10].tolist()} are not the columns 0..{self.n_tasks - 1} of Y, "
                "each once",
                "re-run `fedqsar prepare`; do not edit tasks.parquet by hand",
            )
        names = self.tasks["task_name"].astype(str)
        if names.duplicated().any():
            raise PreparedSetError(
                f"tasks.parquet names tasks {sorted(set(names[names.duplicated()]))[:5]} more than once",
                "re-run `fedqsar prepare`; do not edit tasks.parquet by hand",
            )

    def _validate_folds(self) -> None:
        if "fold" not in self.compounds.columns:
            raise PreparedSetError("compounds.parquet lacks the column 'fold'", "re-run `fedqsar prepare`")
        folds, n_folds = self.folds, self.manifest.n_folds
        low, high = (int(folds.min()), int(folds.max())) if len(folds) else (0, 0)
        if low < 0 or (n_folds is not None and high >= n_folds):
            limit = f"0..{n_folds - 1}" if n_folds is not None else "0 or more"
            raise PreparedSetError(
                f"compounds.parquet has folds {low}..{high}, outside {limit} (prep_config.folds.n_folds)",
                "re-run `fedqsar prepare`; do not edit compounds.parquet by hand",
            )

    def _validate_optional(self) -> None:
        n = self.n_compounds
        if self.descriptors is not None:
            names = self.manifest.descriptors
            if self.descriptors.ndim != 2 or self.descriptors.shape != (n, len(names)):
                raise PreparedSetError(
                    f"descriptors have shape {self.descriptors.shape}, expected ({n}, {len(names)}) "
                    "(compounds x names listed in the manifest)",
                    "re-run `fedqsar prepare`",
                )
        if self.structures is not None and len(self.structures) != n:
            raise PreparedSetError(
                f"{len(self.structures)} local structures for {n} compounds", "re-run `fedqsar prepare`"
            )

    def save(self, folder: Path, rejected: pd.DataFrame | None = None) -> Path:
        """Write the PreparedSet into ``folder`` (created); returns ``folder``."""
        self.validate()
        folder = private_folder(Path(folder))  # structures, ids and values: 0700 / 0600 (filemodes)
        sp.save_npz(folder / "X.npz", sp.csr_matrix(self.X, dtype=np.float32), compressed=True)
        sp.save_npz(folder / "Y.npz", _keep_explicit(self.Y, np.float32), compressed=True)
        sp.save_npz(folder / "censor.npz", _keep_explicit(self.censor, np.int8), compressed=True)
        self.compounds.to_parquet(folder / "compounds.parquet", index=False)
        self.tasks.loc[:, list(TASK_COLUMNS)].to_parquet(folder / "tasks.parquet", index=False)
        _write_json(folder / "accounting.json", self.accounting)
        _write_json(folder / "manifest.json", self.manifest.saved(FORMAT_VERSION).to_dict())
        if rejected is not None:
            rejected.to_csv(folder / "rejected.csv", index=False)
        if self.descriptors is not None:
            np.save(folder / DESCRIPTORS_FILE, np.asarray(self.descriptors, dtype=np.float32), allow_pickle=False)
        if self.structures is not None:
            _write_private_structures(folder / STRUCTURES_FILE, self.structures)
        return seal(folder)

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

        def read_optional(name: str, reader: Callable[[Path], Any]) -> Any:
            return read(name, reader) if (folder / name).is_file() else None

        prepared = cls(
            X=read("X.npz", _load_csr),
            Y=read("Y.npz", _load_csr),
            censor=read("censor.npz", _load_csr),
            compounds=read("compounds.parquet", pd.read_parquet),
            tasks=read("tasks.parquet", pd.read_parquet),
            accounting=read("accounting.json", load_json_object),
            manifest=Manifest.parse(read("manifest.json", load_json_object), str(folder / "manifest.json")),
            descriptors=read_optional(DESCRIPTORS_FILE, _load_descriptors),
            structures=read_optional(STRUCTURES_FILE, _load_structures),
        )
        prepared.validate()
        return prepared


def in_column_order(tasks: pd.DataFrame) -> pd.DataFrame:
    """A task table sorted by ``task_id`` (the column order of Y and of a model's outputs), index 0..n-1.

    The one place tasks are ordered: ``PreparedSet.tasks_sorted`` and ``SavedModel.tasks_sorted`` use it.
    """
    return tasks.sort_values("task_id").reset_index(drop=True) if "task_id" in tasks.columns else tasks


def column_of(tasks: pd.DataFrame, task: str, where: str = "the model") -> int:
    """Column (in task-id order) of ``task``: a task name, or else a column number.

    Raises
    ------
    ConfigError
        When no task matches, listing the first task names.
    """
    names = in_column_order(tasks)["task_name"].astype(str).tolist()
    if task in names:
        return names.index(task)
    if str(task).isdigit() and int(task) < len(names):
        return int(task)
    raise ConfigError(f"{where} has no task {task!r}", f"use a task name, e.g. one of {names[:8]}")


def match_tasks(tasks: pd.DataFrame, names: list[str] | tuple[str, ...] = (), kind: str | None = None) -> np.ndarray:
    """Task ids (sorted) whose task name, assay id or endpoint is one of ``names`` (case-insensitive;
    all tasks when ``names`` is empty), restricted to ``kind`` when given.

    Raises
    ------
    PreparedSetError
        When a name matches nothing, ``kind`` is unknown, or nothing is left.
    """
    if kind is not None and kind not in KINDS:
        raise PreparedSetError(f"unknown task kind {kind!r}", f"use one of {KINDS}")
    keys = {c: tasks[c].astype(str).str.lower() for c in ("task_name", "assay_id", "endpoint")}
    selected = np.ones(len(tasks), dtype=bool) if not names else np.zeros(len(tasks), dtype=bool)
    for name in names:
        hit = np.zeros(len(tasks), dtype=bool)
        for column in keys.values():
            hit |= (column == name.strip().lower()).to_numpy()
        if not hit.any():
            raise PreparedSetError(
                f"no task is named {name!r} (task name, assay id or endpoint)",
                f"choose among {sorted(tasks['task_name'].astype(str))[:12]}",
            )
        selected |= hit
    if kind is not None:
        selected &= (tasks["kind"] == kind).to_numpy()
    if not selected.any():
        raise PreparedSetError(f"no {kind or ''} task matches {list(names)}", "check --tasks / --task-kind")
    return np.sort(tasks.loc[selected, "task_id"].to_numpy(dtype=np.int64))


def read_manifest(folder: Path) -> Manifest:
    """Only the manifest of a PreparedSet folder (cheap; used by federation guards).

    Raises
    ------
    PreparedSetError
        If there is no manifest, or it lacks a required field.
    CorruptArtefactError
        If it is not a JSON object.
    """
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise PreparedSetError(f"{path} does not exist", "point at a folder written by `fedqsar prepare`")
    data = read_artefact(path, load_json_object, "PreparedSet manifest", "re-run `fedqsar prepare` for this partner")
    return Manifest.parse(data, str(path))


def _load_csr(path: Path) -> sp.csr_matrix:
    return sp.load_npz(path).tocsr()


def _write_private_structures(path: Path, structures: np.ndarray) -> None:
    """Write standardised SMILES readable by the owner only (mode 0600 from creation on)."""
    if path.exists():
        path.unlink()
    table = pd.DataFrame(
        {"row": np.arange(len(structures), dtype=np.int64), "smiles": np.asarray(structures, dtype=str)}
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        table.to_parquet(handle, index=False)


def _load_descriptors(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False).astype(np.float32, copy=False)


def _load_structures(path: Path) -> np.ndarray:
    return pd.read_parquet(path).sort_values("row")["smiles"].to_numpy(dtype=object)


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
