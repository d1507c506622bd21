"""``prepare``: one partner's raw tables -> a PreparedSet folder.

Stages, each accounting for every input row it closes::

    read (schema)          -> rows already unusable (missing structure, malformed line ...)
    endpoints (resolve)    -> each assay's endpoint and unit, or stop with the questions
    structures             -> standardise, fingerprint, keyed scaffold fold (each unique SMILES once);
                              one compound id with two different structures -> conflicting_structure
    values                 -> parse, qualifiers -> censoring, units -> canonical scale
    folds (time / split)   -> rows without a usable time value (date or ordinal) or split label
    replicates             -> merged / duplicate_conflict
    tasks                  -> thresholds, quorums, weights; observations feeding no task
    matrices               -> X, Y, censor CSR; compounds and tasks tables; manifest

Every input row ends in exactly one bucket (used, merged, rejected with a reason); the
accounting is checked before anything is written. How every assay was read
(``assay_endpoints.csv``), custom endpoints, values censored at a limit of quantification,
linear-scale tasks and values outside their endpoint's plausible range go into the
manifest's ``semantics`` and the summary (``prep.consistency``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedqsar.errors import InputFileError
from fedqsar.prep import consistency, fold_sources, reasons, schema, tasks, values
from fedqsar.prep import resolve as resolution
from fedqsar.prep.accounting import Accounting
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.endpoint_map import EndpointMap, read_endpoint_map
from fedqsar.prep.fold_sources import RowSources
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.manifest import build_manifest
from fedqsar.prep.structures import StructureBatch, process_structures
from fedqsar.prepared import PreparedSet
from fedqsar.progress import Progress


@dataclass
class PrepareResult:
    """What ``prepare`` produced.

    Attributes
    ----------
    prepared
        The PreparedSet written to ``out``.
    rejected
        The rejected input rows with their reason (also ``out/rejected.csv``).
    n_unique_smiles
        Distinct input SMILES standardised (each once).
    seconds
        Wall time per stage.
    """

    out: Path
    prepared: PreparedSet
    rejected: pd.DataFrame
    n_unique_smiles: int
    seconds: dict[str, float] = field(default_factory=dict)
    semantics: dict[str, Any] = field(default_factory=dict)  # = manifest.semantics


@dataclass
class _Rows:
    """Working state shared by the stages: the activities table and the accounting."""

    activities: pd.DataFrame
    accounting: Accounting
    seconds: dict[str, float] = field(default_factory=dict)

    def open(self) -> pd.DataFrame:
        """Activities not yet assigned to a bucket."""
        return self.activities.iloc[self.accounting.open_rows]


def prepare(
    inputs: str | Path | Sequence[str | Path],
    out: Path,
    key: ConsortiumKey,
    config: PrepConfig = PrepConfig(),
    *,
    n_jobs: int = 1,
    thresholds: str | Path | None = None,
    rename: dict[str, str] | None = None,
    progress: Progress | None = None,
    endpoint_map: EndpointMap | str | Path | None = None,
    allow_custom: bool = False,
) -> PrepareResult:
    """Prepare one partner's data into a PreparedSet folder.

    Parameters
    ----------
    inputs
        A long-form file (CSV/Parquet/SDF) or a MELLODDY-TUNER folder / file list.
    out
        Output folder (created; existing PreparedSet files are overwritten).
    key
        The consortium key (fingerprint permutation and fold hashing).
    config
        Preparation settings; their hash goes into the manifest.
    n_jobs
        Processes for the structure stage (<= 0: all cores). Does not change the output.
    thresholds, rename
        Optional expert-threshold table and column renaming for long-form input.
    progress
        Optional ``fedqsar.progress.Progress`` (the CLI turns it into progress bars).
    endpoint_map
        The partner's ``--endpoint-map`` (file or :class:`EndpointMap`): assay -> endpoint [, unit, loq].
    allow_custom
        Keep assays that resolve to no single endpoint as custom endpoints instead of stopping.

    Returns
    -------
    PrepareResult

    Raises
    ------
    InputFileError, InputSchemaError
        For unreadable, empty or malformed input files (never for bad rows: those are
        rejected and counted).
    EndpointResolutionError
        When an assay resolves to no single endpoint (and not ``allow_custom``); the
        endpoint-map lines to write are also in ``out/endpoint_questions.toml``.
    """
    clock = time.perf_counter()
    if config.folds.scheme == "column":  # the partner's own split column travels as "split"
        rename = {**(rename or {}), str(config.folds.fold_column): "split"}
    raw = schema.read_partner_input(inputs, rename=rename, thresholds=thresholds)
    if raw.activities.empty:
        raise InputFileError(f"{inputs} holds no activity rows", "check that the file has data below its header")
    rows = _Rows(raw.activities.reset_index(drop=True), Accounting(len(raw.activities)))
    rows.accounting.reject_table(schema.pre_rejects(rows.activities))
    rows.seconds["read"] = time.perf_counter() - clock
    semantics = _run_resolution(rows, raw, out, endpoint_map, allow_custom)

    batch, std_of_row, mw_of_row = _run_structures(rows, config, key, n_jobs, progress)
    std_of_row = _run_identity(rows, std_of_row, batch.std_smiles)
    ok = _run_values(rows, config, mw_of_row, std_of_row, batch.std_smiles, semantics)
    ok, dates = _run_dates(rows, ok, config)
    aggregated, merged = _run_replicates(rows, ok, config)
    tasks_df, labels = _run_tasks(rows, ok, aggregated, merged, raw.assays, config)
    rows.accounting.check()

    clock = time.perf_counter()
    prepared = _assemble(rows, batch, std_of_row, tasks_df, labels, dates, config, key, raw.source_format)
    prepared.manifest = prepared.manifest.with_extra(
        semantics=semantics_report(semantics, ok, aggregated, tasks_df, labels)
    )
    rejected = rows.accounting.rejected_table(rows.activities).drop(columns=["reject_reason"], errors="ignore")
    prepared.save(out, rejected=rejected)
    semantics.assay_table().to_csv(Path(out) / ASSAY_ENDPOINTS_FILE, index=False)
    rows.seconds["assemble_and_write"] = time.perf_counter() - clock
    return PrepareResult(Path(out), prepared, rejected, batch.n_unique, rows.seconds, prepared.manifest.semantics)


ASSAY_ENDPOINTS_FILE = "assay_endpoints.csv"  # how each assay / column was read (stays with the partner)
QUESTIONS_FILE = "endpoint_questions.toml"  # written when prepare stops: the endpoint-map lines to fill in


# --- stages ---------------------------------------------------------------------------------
def _run_resolution(
    rows: _Rows, raw: schema.RawInput, out: Path, endpoint_map: EndpointMap | str | Path | None, allow_custom: bool
) -> resolution.Semantics:
    """Resolve every assay's endpoint before any chemistry; unresolved ones stop here (template written)."""
    clock = time.perf_counter()
    mapping = read_endpoint_map(endpoint_map) if isinstance(endpoint_map, (str, Path)) else endpoint_map
    semantics = resolution.resolve(
        rows.open(), raw.assays, mapping, allow_custom=allow_custom, tuner=raw.source_format != "long"
    )
    if len(semantics.questions):
        template = Path(out) / QUESTIONS_FILE
        template.parent.mkdir(parents=True, exist_ok=True)
        template.write_text(
            "# fedqsar prepare: say which endpoint each of these assays / columns is, then run again with\n"
            f"# --endpoint-map {template}  (registered endpoints: docs/partner-input.md)\n"
            + "\n".join(semantics.map_lines())
            + "\n",
            encoding="utf-8",
        )
        semantics.raise_for_questions(template)
    rows.seconds["endpoints"] = time.perf_counter() - clock
    return semantics


def _run_identity(rows: _Rows, position_of_row: pd.Series, batch_smiles: list[str | None]) -> pd.Series:
    """Reject every row of a compound id that comes with two different standardised structures."""
    ids = rows.activities["compound_id"].to_numpy(dtype=object)[position_of_row.index.to_numpy(np.int64)]
    frame = pd.DataFrame(
        {
            "input_row": position_of_row.index.to_numpy(np.int64),
            "id": ids,
            "structure": np.asarray(batch_smiles, dtype=object)[position_of_row.to_numpy(np.int64)],
        }
    ).dropna(subset=["id"])
    n_structures = frame.groupby("id")["structure"].transform("nunique")
    conflicting = frame.loc[n_structures > 1, "input_row"].to_numpy(np.int64)
    rows.accounting.reject(conflicting, reasons.CONFLICTING_STRUCTURE)
    return position_of_row.drop(index=conflicting)


def semantics_report(
    semantics: resolution.Semantics,
    ok: pd.DataFrame,
    aggregated: pd.DataFrame,
    tasks_df: pd.DataFrame,
    labels: pd.DataFrame,
) -> dict[str, Any]:
    """Manifest ``semantics``: resolution summary, LOQ censoring, linear-scale flags, range checks."""
    report = semantics.summary()
    below = ok.loc[ok["below_loq"].astype(bool)] if "below_loq" in ok.columns else ok.iloc[:0]
    report["censored_at_loq"] = {str(k): int(v) for k, v in below.groupby("endpoint").size().items()}
    flags = consistency.scale_flags(tasks_df, labels)
    report["linear_scale_tasks"] = [f.to_dict() for f in flags]
    checks = consistency.range_checks(aggregated) if len(aggregated) else []
    report["range_checks"] = [c.to_dict() for c in checks]
    report["warnings"] = (
        [
            f"custom endpoint {c['endpoint']!r} ({c['assays']} assays, {c['rows']} rows): kept with --allow-custom or "
            "a custom: map entry; it is shared with partners only under this exact name"
            for c in report["custom_endpoints"]
        ]
        + [f.message() for f in flags]
        + [c.message() for c in checks if c.warn]
        + [f"endpoint-map key {k!r} matched no assay" for k in report["unused_map_keys"]]
    )
    return report


def _run_structures(
    rows: _Rows, config: PrepConfig, key: ConsortiumKey, n_jobs: int, progress: Progress | None
) -> tuple[StructureBatch, pd.Series, pd.Series]:
    """Standardise the distinct SMILES of open rows; reject rows whose structure fails.

    Returns the batch (one entry per distinct SMILES) and, indexed by ``input_row``, each
    open row's position in it and its parent molecular weight.
    """
    clock = time.perf_counter()
    open_rows = rows.open()
    distinct = pd.unique(open_rows["smiles"].astype(object))
    batch = process_structures(list(distinct), config, key, n_jobs=n_jobs, progress=progress)
    position = pd.Series(np.arange(len(distinct)), index=pd.Index(distinct, dtype=object))
    position_of_row = pd.Series(
        position.reindex(open_rows["smiles"].astype(object)).to_numpy(), index=open_rows["input_row"]
    )
    failed = np.array([batch.reasons[p] for p in position_of_row.to_numpy()], dtype=object)
    bad = pd.notna(failed)  # reason codes; None where the structure was fine
    rows.accounting.reject(position_of_row.index.to_numpy()[bad], failed[bad].tolist())
    position_of_row = position_of_row[~bad]
    mol_weight = pd.Series(batch.mol_weight[position_of_row.to_numpy()], index=position_of_row.index)
    rows.seconds["structures"] = time.perf_counter() - clock
    return batch, position_of_row, mol_weight


def _run_values(
    rows: _Rows,
    config: PrepConfig,
    mol_weight: pd.Series,
    position_of_row: pd.Series,
    batch_smiles: list[str | None],
    semantics: resolution.Semantics | None = None,
) -> pd.DataFrame:
    """Harmonise values of open rows; rejects are counted; adds ``structure_key``/``position``."""
    clock = time.perf_counter()
    ok, rejected = values.harmonise(rows.open(), config.values, mol_weight=mol_weight, semantics=semantics)
    rows.accounting.reject_table(rejected)
    ok["position"] = position_of_row.reindex(ok["input_row"]).to_numpy(np.int64)
    ok["structure_key"] = np.asarray(batch_smiles, dtype=object)[ok["position"].to_numpy()] if len(ok) else []
    rows.seconds["values"] = time.perf_counter() - clock
    return ok


def _run_dates(rows: _Rows, ok: pd.DataFrame, config: PrepConfig) -> tuple[pd.DataFrame, RowSources | None]:
    """Fold sources (``prep.fold_sources``): reject rows without a usable time value or split label.

    ``scheme = "time"`` always uses the time values (dates or ordinals); ``"auto"`` uses them only
    when every open row has one (else scaffold folds, rejecting nothing); ``"column"`` /
    ``"split_file"`` use the partner's own split; ``"scaffold"`` needs nothing here.
    """
    sources, rejected = fold_sources.row_sources(ok, config.folds)
    rows.accounting.reject_table(rejected)
    kept = ok.loc[~ok["input_row"].isin(rejected["input_row"])].reset_index(drop=True)
    return kept, sources


def _run_replicates(rows: _Rows, ok: pd.DataFrame, config: PrepConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """Fold replicates per (structure, assay, endpoint); conflicting rows rejected.

    Merged rows are returned, not yet counted: they are counted once tasks show whether
    their group feeds any task.
    """
    clock = time.perf_counter()
    aggregated, merged, conflicts = values.aggregate_replicates(ok, config.values)
    rows.accounting.reject(conflicts, reasons.DUPLICATE_CONFLICT)
    rows.seconds["replicates"] = time.perf_counter() - clock
    return aggregated, merged


def _run_tasks(
    rows: _Rows,
    ok: pd.DataFrame,
    aggregated: pd.DataFrame,
    merged: np.ndarray,
    assays: pd.DataFrame,
    config: PrepConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build tasks; observations feeding no task (and their merged replicates) are rejected."""
    clock = time.perf_counter()
    tasks_df, labels = tasks.build_tasks(aggregated, assays, config.tasks)
    orphan = tasks.rows_without_task(aggregated, labels)
    orphan_groups = aggregated.loc[aggregated["input_row"].isin(orphan), list(values.GROUP_KEYS)]
    in_orphan_group = ok.merge(orphan_groups, on=list(values.GROUP_KEYS), how="inner")["input_row"].to_numpy(np.int64)
    orphans = np.union1d(orphan, np.intersect1d(in_orphan_group, merged))
    rows.accounting.reject(orphans, tasks.NO_TASK)
    rows.accounting.merge(np.setdiff1d(merged, orphans))
    used = np.setdiff1d(aggregated["input_row"].to_numpy(np.int64), orphan)
    rows.accounting.use(used)
    rows.seconds["tasks"] = time.perf_counter() - clock
    return tasks_df, labels


# --- assembly -------------------------------------------------------------------------------
def _assemble(
    rows: _Rows,
    batch: StructureBatch,
    position_of_row: pd.Series,
    tasks_df: pd.DataFrame,
    labels: pd.DataFrame,
    dates: RowSources | None,
    config: PrepConfig,
    key: ConsortiumKey,
    source_format: str,
) -> PreparedSet:
    """Matrices, compound and task tables, manifest; compounds ordered by first input row."""
    first_row = labels.groupby("structure_key", sort=False)["input_row"].min().sort_values()
    structure_keys = first_row.index.to_numpy()
    positions = position_of_row.reindex(first_row.to_numpy()).to_numpy(np.int64)
    row_of_key = pd.Series(np.arange(len(structure_keys)), index=structure_keys)
    X = batch.X[positions].astype(np.float32)
    Y, censor = _label_matrices(labels, row_of_key, len(structure_keys), len(tasks_df))
    scaffold_folds = batch.scaffold_folds[positions].astype(np.int64)
    folds, fold_record, time_fold = fold_sources.compound_folds(labels, row_of_key, scaffold_folds, dates, config.folds)
    compounds = pd.DataFrame(
        {
            "row": np.arange(len(structure_keys), dtype=np.int64),
            "compound_id": rows.activities["compound_id"].to_numpy()[first_row.to_numpy()].astype(str),
            "fold": folds,
            "scaffold_fold": scaffold_folds,  # kept so an evaluation can switch to keyed scaffold folds
        }
    )
    if time_fold is not None:
        compounds["time_fold"] = time_fold
    counts = {
        "compounds": len(compounds),
        "tasks": len(tasks_df),
        "input_rows": rows.accounting.n_rows,
        "observations": int(Y.nnz),
        "unique_input_smiles": batch.n_unique,
    }
    descriptors = batch.descriptors[positions] if config.descriptors.enabled else None
    named = {"descriptors": list(config.descriptors.names)} if descriptors is not None else {}
    manifest = build_manifest(
        config, key.key_id, counts, source_format, fold_scheme=fold_record["scheme"], folds=fold_record, **named
    )
    return PreparedSet(
        X.tocsr(),
        Y,
        censor,
        compounds,
        tasks_df.reset_index(drop=True),
        rows.accounting.to_dict(),
        manifest,
        descriptors=descriptors,
        structures=np.asarray(structure_keys, dtype=object),  # standardised SMILES, local only
    )


def _label_matrices(
    labels: pd.DataFrame, row_of_key: pd.Series, n_rows: int, n_tasks: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Y (float32) and censor (int8) CSR with identical patterns; every label is stored."""
    row = row_of_key.reindex(labels["structure_key"].to_numpy()).to_numpy(np.int64)
    col = labels["task_id"].to_numpy(np.int64)
    order = np.lexsort((col, row))
    row, col = row[order], col[order]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.add.at(indptr, row + 1, 1)
    indptr = np.cumsum(indptr)
    y = labels["y"].to_numpy(np.float32)[order]
    c = labels["censor"].to_numpy(np.int8)[order]
    Y = sp.csr_matrix((y, col.astype(np.int32), indptr), shape=(n_rows, n_tasks))
    censor = sp.csr_matrix((c, col.astype(np.int32).copy(), indptr.copy()), shape=(n_rows, n_tasks))
    return Y, censor
