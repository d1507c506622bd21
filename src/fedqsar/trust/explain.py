"""Explain one compound's prediction for one task with a saved model.

The SMILES is standardised and fingerprinted exactly as ``prepare`` did (the model folder
records the prep config; the consortium key gives the bit permutation), the occlusion
sensitivities of its bits are mapped to atoms of the *standardised* molecule, and the
picture, the atom numbers, the bit numbers and a summary are written to ``out``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem

from fedqsar.config import from_dict
from fedqsar.errors import ConfigError, InputSchemaError
from fedqsar.model.io import SavedModel
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.fingerprints import bit_environments
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.structures import process_structures
from fedqsar.trust.annotate import annotate_predictions
from fedqsar.trust.attribution import atom_contributions, deletion_test, occlusion_sensitivity
from fedqsar.trust.depict import write_explanation
from fedqsar.trust.model_adapter import model_functions
from fedqsar.trust.store import has_trust, load_trust


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
    trust: dict
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


def explain_smiles(saved: SavedModel, smiles: str, task: str, key: ConsortiumKey, out: Path) -> Explanation:
    """Attribute ``saved``'s prediction for ``smiles`` and ``task`` to atoms; write files into ``out``.

    Raises
    ------
    InputSchemaError
        When the structure is rejected by standardisation (the reason code is given).
    """
    cfg = from_dict(PrepConfig, saved.prep_config, where="model prep_config")
    column = task_column(saved.tasks, task)
    tasks = saved.tasks.sort_values("task_id").reset_index(drop=True)
    name, kind = str(tasks.loc[column, "task_name"]), str(tasks.loc[column, "kind"])
    batch = process_structures([smiles], cfg, key)
    if batch.std_smiles[0] is None:
        raise InputSchemaError(f"structure {smiles!r} was rejected: {batch.reasons[0]}", "check the SMILES")
    std_smiles, x = batch.std_smiles[0], batch.X[0]
    mol = Chem.MolFromSmiles(std_smiles)
    environments = bit_environments(std_smiles, cfg.fingerprint, key.permutation(cfg.fingerprint.n_bits))
    predict, embed = model_functions(saved.model, saved.partner)
    bits, scores, base = occlusion_sensitivity(predict, x)
    contributions = atom_contributions(mol, bits, scores[:, column], environments)
    deletion = deletion_test(predict, x, column, mol, contributions, environments)
    stem = _safe_stem(name)
    files = write_explanation(out, stem, mol, contributions, legend=f"{name}: {base[column]:.3g}")
    bit_table = pd.DataFrame(
        {
            "bit": bits,
            "sensitivity": scores[:, column],
            "environments": [json.dumps(environments.get(int(b), [])) for b in bits],
        }
    )
    files["bits"] = Path(out) / f"{stem}_bits.csv"
    bit_table.to_csv(files["bits"], index=False)
    trust = _trust_columns(saved, base, x, embed, name)
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
    (Path(out) / f"{stem}.json").write_text(json.dumps(asdict(result), indent=2, default=_plain), encoding="utf-8")
    return result


def _trust_columns(saved: SavedModel, base: np.ndarray, x, embed, name: str) -> dict:  # noqa: ANN001
    """This compound's trust columns for the task (domain + uncertainty), {} without artefacts."""
    if not has_trust(saved.folder):
        return {}
    row = annotate_predictions(load_trust(saved.folder), base[None, :], x, embed=embed).iloc[0]
    keep = [
        c
        for c in row.index
        if c in ("domain_similarity", "nearest_similarity", "embedding_distance", "in_domain")
        or c.startswith(f"{name}:")
    ]
    return {c: _plain(row[c]) for c in keep}


def _plain(value):  # noqa: ANN001, ANN202
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


def _safe_stem(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "task"
