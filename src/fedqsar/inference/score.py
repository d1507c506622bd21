"""Score a saved model on an external labelled set (``fedqsar score``), through the inference pipeline.

The labelled file is prepared exactly as the model's training data were: the model folder's
prep config and the consortium key (standardisation, fingerprints, descriptors, units,
qualifiers, replicates, thresholds), into a separate PreparedSet that never mixes with the
training data. Its tasks are matched to the model's by task name (the assay id, plus
``@threshold`` for thresholded classification tasks); tasks on one side only are listed.
Predictions come from the model's ``InferencePipeline`` (its key check, prep config and
featuriser: the PreparedSet's rows are that featuriser's output). Metrics per task come from ``model.metrics`` on the canonical scale, and for regression
tasks also in the unit the input file used (``prep.inverse_units``): a solubility model
predicts logS, a user compares with the µg/mL that the file holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors

from fedqsar.errors import InputSchemaError
from fedqsar.inference.pipeline import InferencePipeline
from fedqsar.model.inputs import ModelInputs
from fedqsar.model.io import SavedModel
from fedqsar.model.metrics import regression_metrics, task_metrics
from fedqsar.prep import schema, units
from fedqsar.prep.endpoint_map import EndpointMap
from fedqsar.prep.inverse_units import to_input_unit
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.pipeline import prepare
from fedqsar.prepared import PreparedSet
from fedqsar.progress import Progress

SCALE_CANONICAL, SCALE_INPUT = "canonical", "input"
METRIC_COLUMNS = ("task", "endpoint", "kind", "scale", "unit", "metric", "value")
PREDICTION_COLUMNS = (
    "compound_id",
    "std_smiles",
    "task",
    "kind",
    "canonical_unit",
    "observed",
    "censor",
    "predicted",
    "input_unit",
    "observed_input",
    "predicted_input",
)


@dataclass
class ScoreResult:
    """What :func:`score_labelled` measured.

    Attributes
    ----------
    metrics
        Long table ``METRIC_COLUMNS``: per matched task, canonical-scale metrics and, for
        regression tasks whose input unit is known, the same metrics in the input's unit.
    predictions
        One row per observed (compound, matched task), ``PREDICTION_COLUMNS``.
    prepared
        The external set's PreparedSet (``work_dir``).
    model_tasks_without_labels, input_tasks_not_in_model
        Task names found on one side only.
    """

    metrics: pd.DataFrame
    predictions: pd.DataFrame
    prepared: PreparedSet
    rejected: pd.DataFrame
    model_tasks_without_labels: list[str] = field(default_factory=list)
    input_tasks_not_in_model: list[str] = field(default_factory=list)


def score_labelled(
    saved: SavedModel,
    inputs: str | Path | Sequence[str | Path],
    key: ConsortiumKey,
    work_dir: Path,
    *,
    n_jobs: int = 1,
    thresholds: str | Path | None = None,
    rename: dict[str, str] | None = None,
    progress: Progress | None = None,
    endpoint_map: EndpointMap | str | Path | None = None,
    allow_custom: bool = False,
) -> ScoreResult:
    """Prepare ``inputs`` with the model's prep config into ``work_dir`` and score the model on them.

    ``endpoint_map`` and ``allow_custom`` resolve the input's assays to endpoints as in
    :func:`fedqsar.prep.pipeline.prepare` (give the ones the training data was prepared with).

    Raises
    ------
    ModelFileError, KeyMismatchError
        When the model carries no prep config or ``key`` is not its training key
        (``inference.InferencePipeline`` checks both).
    InputSchemaError
        When no task of the input matches a task of the model.
    """
    pipeline = InferencePipeline(saved, key)
    prepared_result = prepare(
        inputs,
        work_dir,
        key,
        pipeline.prep_config,
        n_jobs=n_jobs,
        thresholds=thresholds,
        progress=progress,
        endpoint_map=endpoint_map,
        allow_custom=allow_custom,
    )
    external = prepared_result.prepared
    model_tasks, external_tasks = saved.tasks_sorted, external.tasks_sorted
    column_of = {str(n): int(i) for n, i in zip(external_tasks["task_name"], external_tasks["task_id"], strict=True)}
    matched = [(j, column_of[str(n)]) for j, n in enumerate(model_tasks["task_name"]) if str(n) in column_of]
    if not matched:
        raise InputSchemaError(
            f"no task of {inputs} matches the model's tasks {model_tasks['task_name'].astype(str).tolist()[:5]}",
            "the input's assay column / assay_id must be named as in the training data",
        )
    prediction = pipeline.values_of(ModelInputs.of(external))
    input_units = _input_units(inputs, rename, thresholds)
    frame = _observations(saved, external, model_tasks, matched, prediction, input_units)
    model_only = sorted(set(model_tasks["task_name"].astype(str)) - set(column_of))
    input_only = sorted(set(column_of) - set(model_tasks["task_name"].astype(str)))
    return ScoreResult(
        metrics=_metrics(external, model_tasks, matched, prediction, frame),
        predictions=frame,
        prepared=external,
        rejected=prepared_result.rejected,
        model_tasks_without_labels=model_only,
        input_tasks_not_in_model=input_only,
    )


def _input_units(
    inputs: str | Path | Sequence[str | Path], rename: dict[str, str] | None, thresholds: str | Path | None
) -> dict[str, str]:
    """Most common unit spelling per assay id in the raw input ("" where none was written)."""
    activities = schema.read_partner_input(inputs, rename=rename, thresholds=thresholds).activities
    units_of = activities.assign(unit=activities["unit"].fillna("").astype(str))
    return {str(a): str(g.mode().iloc[0]) for a, g in units_of.groupby("assay_id")["unit"]}


def _mol_weights(prepared: PreparedSet) -> np.ndarray:
    if prepared.structures is None:
        return np.full(prepared.n_compounds, np.nan)
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(str(s)) for s in prepared.structures]
    return np.array([Descriptors.MolWt(m) if m is not None else np.nan for m in mols], dtype=np.float64)


def _observations(
    saved: SavedModel,
    external: PreparedSet,
    model_tasks: pd.DataFrame,
    matched: list[tuple[int, int]],
    prediction: np.ndarray,
    input_units: dict[str, str],
) -> pd.DataFrame:
    """Long table of every observed (compound, matched task) with canonical and input-unit values."""
    Yc, Cc = external.Y.tocsc(), external.censor.tocsc()
    weights = _mol_weights(external)
    smiles = external.structures if external.structures is not None else np.full(external.n_compounds, "")
    parts = []
    for model_column, column in matched:
        task = model_tasks.iloc[model_column]
        rows = Yc.indices[Yc.indptr[column] : Yc.indptr[column + 1]]
        observed = Yc.data[Yc.indptr[column] : Yc.indptr[column + 1]].astype(np.float64)
        censor = Cc.data[Cc.indptr[column] : Cc.indptr[column + 1]].astype(np.int64)
        predicted = prediction[rows, model_column]
        unit = input_units.get(str(task["assay_id"]), "") if task["kind"] == "regression" else ""
        observed_input, predicted_input, unit = _in_input_unit(
            str(task["unit"]), unit, observed, predicted, weights[rows]
        )
        parts.append(
            pd.DataFrame(
                {
                    "compound_id": external.compounds["compound_id"].to_numpy()[rows],
                    "std_smiles": np.asarray(smiles, dtype=object)[rows],
                    "task": str(task["task_name"]),
                    "kind": str(task["kind"]),
                    "canonical_unit": str(task["unit"]),
                    "observed": observed,
                    "censor": censor,  # canonical censoring (-1 '<', +1 '>'), the meaning of "observed"
                    "predicted": predicted,
                    "input_unit": unit,
                    "observed_input": observed_input,
                    "predicted_input": predicted_input,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame["censor"] = frame["censor"].astype(np.int64)
    return frame.loc[:, list(PREDICTION_COLUMNS)]


def _in_input_unit(
    canonical_unit: str, input_unit: str, observed: np.ndarray, predicted: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, str]:
    """Observed and predicted values in ``input_unit`` (NaN and unit "" where it cannot be expressed)."""
    if not input_unit:
        return np.full(len(observed), np.nan), np.full(len(observed), np.nan), ""
    try:
        return (
            to_input_unit(observed, canonical_unit, input_unit, weights),
            to_input_unit(predicted, canonical_unit, input_unit, weights),
            input_unit,
        )
    except ValueError:
        return np.full(len(observed), np.nan), np.full(len(observed), np.nan), ""


def _input_censor(canonical_unit: str, input_unit: str, censor: pd.Series) -> pd.Series:
    """Censoring in the input unit: flipped when the conversion reverses the order (% bound, nM)."""
    raw, canonical = units.lookup_unit(input_unit), units.lookup_unit(canonical_unit)
    flip = raw is not None and canonical is not None and raw.sign * canonical.sign < 0
    return -censor if flip else censor


def _metrics(
    external: PreparedSet,
    model_tasks: pd.DataFrame,
    matched: list[tuple[int, int]],
    prediction: np.ndarray,
    frame: pd.DataFrame,
) -> pd.DataFrame:
    model_columns = [j for j, _ in matched]
    external_columns = [k for _, k in matched]
    Y = external.Y.tocsc()[:, external_columns].tocsr()
    censor = external.censor.tocsc()[:, external_columns].tocsr()
    tasks = model_tasks.iloc[model_columns].reset_index(drop=True)
    canonical = task_metrics(Y, censor, prediction[:, model_columns], tasks.drop(columns=["task_id"]))
    meta = tasks.set_index(tasks["task_name"].astype(str))
    canonical = canonical.assign(
        endpoint=canonical["task"].map(meta["endpoint"]).astype(str),
        kind=canonical["task"].map(meta["kind"]).astype(str),
        scale=SCALE_CANONICAL,
        unit=canonical["task"].map(meta["unit"]).astype(str),
    )
    records = []
    for name, group in frame[(frame["kind"] == "regression") & (frame["input_unit"] != "")].groupby("task", sort=False):
        ok = group["observed_input"].notna() & group["predicted_input"].notna()
        censor_in = _input_censor(
            str(group["canonical_unit"].iloc[0]), str(group["input_unit"].iloc[0]), group["censor"]
        )
        values = regression_metrics(group["observed_input"][ok], group["predicted_input"][ok], censor_in[ok])
        for metric, value in values.items():
            records.append(
                (
                    name,
                    str(meta.at[name, "endpoint"]),
                    "regression",
                    SCALE_INPUT,
                    group["input_unit"].iloc[0],
                    metric,
                    value,
                )
            )
    in_input = pd.DataFrame.from_records(records, columns=list(METRIC_COLUMNS))
    return pd.concat([canonical.loc[:, list(METRIC_COLUMNS)], in_input], ignore_index=True)
