"""One compound's explanation for one task: atoms coloured by how much they push the prediction.

The attribution method is the model trunk's (``ATTRIBUTIONS``): for fingerprint trunks the
occlusion sensitivities of the compound's fingerprint features (``trust.attribution``, the
descriptor block held fixed) are mapped to atoms of the *standardised* molecule through the
featuriser's atom environments; the message-passing trunk occludes the graph's atoms
directly (``model.mpnn.atom_occlusion``). The picture, the atom numbers, the feature numbers
and a summary are written to ``out``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from rdkit import Chem

from fedqsar.inference.featurisers import AtomEnvironments, Featuriser
from fedqsar.model.inputs import ModelInputs
from fedqsar.model.network import MultitaskModel
from fedqsar.prepared import column_of, in_column_order
from fedqsar.trust.attribution import DeletionResult, atom_contributions, deletion_test, occlusion_sensitivity
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
    return column_of(tasks, task, "the model")


@dataclass(frozen=True)
class Attribution:
    """How one compound's atoms (and fingerprint features) move its prediction for one task.

    Attributes
    ----------
    base
        (n_tasks,) prediction of the intact compound (task scale).
    contributions
        (n_atoms,) per-atom contribution to the task's prediction, atoms numbered as in the
        standardised SMILES; positive when the atom raises it.
    bits, bit_scores
        (k,) fingerprint features present and their occlusion sensitivity for the task
        (empty for trunks that do not read fingerprints).
    environments
        Fingerprint feature -> atom environments (empty without fingerprint features).
    deletion
        ``trust.attribution.deletion_test`` of the top atoms' bits, or None where not applicable.
    """

    base: np.ndarray
    contributions: np.ndarray
    bits: np.ndarray
    bit_scores: np.ndarray
    environments: AtomEnvironments
    deletion: DeletionResult | None


Attribute = Callable[[ModelInputs, Chem.Mol, str, int], Attribution]  # (one row, molecule, std SMILES, column)


def _bit_occlusion(model: MultitaskModel, partner: str, predict: PredictFn, featuriser: Featuriser) -> Attribute:
    """Fingerprint trunks: occlude each present bit (the descriptor block held fixed), map bits to atoms."""

    def attribute(inputs: ModelInputs, mol: Chem.Mol, std_smiles: str, column: int) -> Attribution:
        environments = featuriser.atom_environments(std_smiles)
        over_bits = _holding_other_inputs(predict, inputs)
        x = inputs.X[0]
        bits, scores, base = occlusion_sensitivity(over_bits, x)
        contributions = atom_contributions(mol, bits, scores[:, column], environments)
        deletion = deletion_test(over_bits, x, column, mol, contributions, environments)
        return Attribution(base, contributions, bits, scores[:, column], environments, deletion)

    return attribute


def _atom_occlusion(model: MultitaskModel, partner: str, predict: PredictFn, featuriser: Featuriser) -> Attribute:
    """Message-passing trunks: occlude each atom of the graph itself (``model.mpnn.atom_occlusion``)."""

    def attribute(inputs: ModelInputs, mol: Chem.Mol, std_smiles: str, column: int) -> Attribution:
        from fedqsar.model.mpnn import atom_occlusion

        base, by_atom = atom_occlusion(model, partner, inputs)
        return Attribution(base, by_atom[:, column], np.zeros(0, dtype=np.int64), np.zeros(0), {}, None)

    return attribute


ATTRIBUTIONS: dict[str, Callable[[MultitaskModel, str, PredictFn, Featuriser], Attribute]] = {
    "ecfp": _bit_occlusion,
    "mpnn": _atom_occlusion,
}


def attribution_for(model: MultitaskModel, partner: str, predict: PredictFn, featuriser: Featuriser) -> Attribute:
    """The attribution method of the model's trunk (``ATTRIBUTIONS``)."""
    return ATTRIBUTIONS[model.model_cfg.trunk](model, partner, predict, featuriser)


def _holding_other_inputs(predict: PredictFn, inputs: ModelInputs) -> PredictFn:
    """``predict`` over fingerprint rows of one compound (bits occluded), each with its other inputs."""

    def over_rows(X: Any) -> np.ndarray:
        n = X.shape[0]
        block = None if inputs.descriptors is None else np.repeat(inputs.descriptors[:1], n, axis=0)
        structures = None if inputs.structures is None else np.repeat(inputs.structures[:1], n)
        return predict(ModelInputs(sp.csr_matrix(X, dtype=np.float32), block, structures))

    return over_rows


def explain_row(
    attribute: Attribute,
    inputs: ModelInputs,
    smiles: str,
    std_smiles: str,
    tasks: pd.DataFrame,
    task: str,
    trust_row: pd.Series | None,
    out: Path,
) -> Explanation:
    """Attribute the prediction of one featurised compound (``inputs``: one row) for ``task``; write files into ``out``."""
    column = task_column(tasks, task)
    ordered = in_column_order(tasks)
    name, kind = str(ordered.loc[column, "task_name"]), str(ordered.loc[column, "kind"])
    mol = Chem.MolFromSmiles(std_smiles)
    found = attribute(inputs, mol, std_smiles, column)
    base, contributions, deletion = found.base, found.contributions, found.deletion
    stem = _safe_stem(name)
    out = Path(out)
    files = write_explanation(out, stem, mol, contributions, legend=f"{name}: {base[column]:.3g}")
    files["bits"] = out / f"{stem}_bits.csv"
    pd.DataFrame(
        {
            "bit": found.bits,
            "sensitivity": found.bit_scores,
            "environments": [json.dumps(found.environments.get(int(b), [])) for b in found.bits],
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
