"""One compound's explanation for one task: atoms coloured by how much they push the prediction.

The occlusion sensitivities of the compound's input features (``trust.attribution``) are
mapped to atoms of the *standardised* molecule through the featuriser's atom environments;
the picture, the atom numbers, the feature numbers and a summary are written to ``out``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from rdkit import Chem

from fedqsar.errors import ConfigError
from fedqsar.inference.featurisers import AtomEnvironments
from fedqsar.trust.attribution import atom_contributions, deletion_test, occlusion_sensitivity
from fedqsar.trust.calibrate import PredictFn
from fedqsar.trust.depict import write_explanation

TRUST_FIELDS = ("domain_similarity", "nearest_similarity", "embedding_distance", "in_domain")


@dataclass(frozen=True)
class Explanation:
    """Summary of one explanation (also written as ``<stem>.json``)."""

    smiles: str
    standardised_smiles: str
    task: str
    kind: str
    prediction: float
    top_atoms: list[int]
    deletion_top_change: float | None
    deletion_random_change: float | None
    trust: dict[str, Any]
    files: dict[str, str]


def task_column(tasks: pd.DataFrame, task: str) -> int:
    """Column of ``task`` (a task name, or a column number) in the model's tasks table.

    Raises
    ------
    ConfigError
        When no task matches, listing the first task names.
    """
    names = [str(n) for n in tasks.sort_values("task_id")["task_name"]]
    if task in names:
        return names.index(task)
    if task.isdigit() and int(task) < len(names):
        return int(task)
    raise ConfigError(f"the model has no task {task!r}", f"use a task name, e.g. one of {names[:8]}")


def explain_row(
    predict: PredictFn,
    x: sp.csr_matrix,
    smiles: str,
    std_smiles: str,
    environments: AtomEnvironments,
    tasks: pd.DataFrame,
    task: str,
    trust_row: pd.Series | None,
    out: Path,
) -> Explanation:
    """Attribute the prediction of featurised row ``x`` (1, n_features) for ``task``; write files into ``out``."""
    column = task_column(tasks, task)
    ordered = tasks.sort_values("task_id").reset_index(drop=True)
    name, kind = str(ordered.loc[column, "task_name"]), str(ordered.loc[column, "kind"])
    mol = Chem.MolFromSmiles(std_smiles)
    bits, scores, base = occlusion_sensitivity(predict, x)
    contributions = atom_contributions(mol, bits, scores[:, column], environments)
    deletion = deletion_test(predict, x, column, mol, contributions, environments)
    stem = _safe_stem(name)
    out = Path(out)
    files = write_explanation(out, stem, mol, contributions, legend=f"{name}: {base[column]:.3g}")
    files["bits"] = out / f"{stem}_bits.csv"
    pd.DataFrame(
        {
            "bit": bits,
            "sensitivity": scores[:, column],
            "environments": [json.dumps(environments.get(int(b), [])) for b in bits],
        }
    ).to_csv(files["bits"], index=False)
    trust = {} if trust_row is None else _task_trust(trust_row, name)
    result = Explanation(
        smiles=smiles,
        standardised_smiles=std_smiles,
        task=name,
        kind=kind,
        prediction=float(base[column]),
        top_atoms=[int(a) for a in np.argsort(-np.abs(contributions), kind="stable")[:5]],
        deletion_top_change=None if deletion is None else deletion.top_change,
        deletion_random_change=None if deletion is None else deletion.random_change,
        trust=trust,
        files={k: str(v) for k, v in files.items()},
    )
    (out / f"{stem}.json").write_text(json.dumps(asdict(result), indent=2, default=_plain), encoding="utf-8")
    return result


def _task_trust(row: pd.Series, name: str) -> dict[str, Any]:
    """The compound's domain columns and this task's uncertainty columns."""
    keep = [c for c in row.index if c in TRUST_FIELDS or str(c).startswith(f"{name}:")]
    return {str(c): _plain(row[c]) for c in keep}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _safe_stem(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "task"
