"""Personalisation: after federation a partner fine-tunes locally and keeps, per task, what wins.

Everything here runs on the partner's machine and sends nothing. Starting from the partner's
federated model (global trunk + its own head, the round it selected on its validation fold),

1. the head is fine-tuned with the trunk frozen (``head_epochs``, early stopping);
2. trunk and head are fine-tuned together (``full_epochs``, learning rate x ``full_lr_factor``,
   optionally pulled towards the federated trunk with ``proximal_mu``; early stopping).

Both stages use the one ``Trainer`` and count the model they start from as a candidate, so
neither stage can be worse than its start on the validation fold. Then, per task, the
partner keeps whichever candidate — ``local`` (its local-only model), ``federated`` or
``fine_tuned`` — has the lowest validation loss on that task (mean loss per observed entry:
binary cross-entropy of the probability, censored squared error in the task's unit) — and,
to resist the winner's curse, only when it beats local in at least ``min_confidence`` of
bootstrap resamples of the task's validation compounds. The choice reads the validation fold
only; the test fold is never touched here. Ties keep the earlier candidate in ``CANDIDATES``
order, i.e. local first.

The result is a :class:`TaskSelection`: the member models a partner's tasks use and which
member answers each task; saved as a folder of member model folders plus ``selection.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from fedqsar.errors import ModelFileError, TrainingError
from fedqsar.filemodes import private_folder, seal
from fedqsar.model.batching import target_batch
from fedqsar.model.config import CANDIDATES, PersonalisationConfig, TrainConfig
from fedqsar.model.inputs import ModelInputs
from fedqsar.model.io import load_model
from fedqsar.model.losses import entry_losses as model_entry_losses
from fedqsar.model.network import MultitaskModel
from fedqsar.model.predict import predict, raw_outputs
from fedqsar.model.regularisers import ProximalPull
from fedqsar.model.training import FitResult, Trainer, run_fit
from fedqsar.prepared import PreparedSet

SaveMember = Callable[[Path, MultitaskModel], object]  # writes one member model folder
SELECTION_FILE = "selection.json"
MEMBERS_DIR = "members"


@dataclass
class FineTuneResult:
    """The fine-tuned model and the two stages' early-stopping outcomes."""

    model: MultitaskModel
    head_stage: FitResult | None = None
    full_stage: FitResult | None = None


def fine_tune(
    model: MultitaskModel, partner: str, prepared: PreparedSet, train_cfg: TrainConfig, cfg: PersonalisationConfig
) -> FineTuneResult:
    """Fine-tune ``model`` (in place) on the partner's training folds; see module docstring.

    With ``head_epochs = full_epochs = 0`` the model is returned unchanged.
    """
    result = FineTuneResult(model=model)
    data = {partner: prepared}
    if cfg.head_epochs:
        head_cfg = replace(train_cfg, lr=train_cfg.lr * cfg.head_lr_factor, early_stopping_patience=cfg.patience)
        trainer = Trainer(model, data, head_cfg, trainable="head")
        result.head_stage = run_fit(trainer, epochs=cfg.head_epochs, include_start=True)
    if cfg.full_epochs:
        full_cfg = replace(train_cfg, lr=train_cfg.lr * cfg.full_lr_factor, early_stopping_patience=cfg.patience)
        hooks = [ProximalPull(cfg.proximal_mu, model.trunk_state())] if cfg.proximal_mu > 0 else []
        trainer = Trainer(model, data, full_cfg, hooks=hooks)
        result.full_stage = run_fit(trainer, epochs=cfg.full_epochs, include_start=True)
    return result


@torch.no_grad()
def entry_losses(model: MultitaskModel, partner: str, prepared: PreparedSet, rows: np.ndarray) -> np.ndarray:
    """Loss of every (row, task) entry in the task's unit, float64 (len(rows), n_tasks); NaN where unobserved.

    Classification: binary cross-entropy of the predicted probability; regression: censored
    squared error of the value in the task's unit (so models with other output scalings compare).
    """
    rows = np.asarray(rows, dtype=np.int64)
    head = model.head(partner)
    y = target_batch(prepared.Y, prepared.censor, rows)
    raw = torch.from_numpy(raw_outputs(model, partner, ModelInputs.of(prepared).rows(rows)))
    unit_scale = torch.where(head.is_regression, raw * head.regression_std + head.regression_mean, raw)
    losses = model_entry_losses(unit_scale, y.values, y.censor, head.is_regression).double().numpy()
    return np.where(y.observed.numpy(), losses, np.nan)


def task_losses(model: MultitaskModel, partner: str, prepared: PreparedSet, rows: np.ndarray) -> np.ndarray:
    """Mean validation loss per task (see :func:`entry_losses`), float64 (n_tasks,); NaN where no entry."""
    losses = entry_losses(model, partner, prepared, rows)
    counts = np.isfinite(losses).sum(axis=0)
    return np.where(counts > 0, np.nansum(losses, axis=0) / np.maximum(counts, 1), np.nan)


def win_confidence(challenger: np.ndarray, reference: np.ndarray, n_bootstrap: int, seed: int) -> float:
    """Share of bootstrap resamples of the paired entries where ``challenger``'s mean loss is lower.

    ``challenger`` and ``reference`` are (n,) losses of the same entries (NaN = unobserved).
    Returns 0.0 without a paired entry.
    """
    paired = np.isfinite(challenger) & np.isfinite(reference)
    differences = challenger[paired] - reference[paired]
    if differences.size == 0:
        return 0.0
    draws = np.random.default_rng(seed).integers(0, differences.size, size=(n_bootstrap, differences.size))
    return float((differences[draws].mean(axis=1) < 0).mean())


@dataclass
class TaskSelection:
    """A partner's personalised model: member models and, per task, the member that answers it.

    Attributes
    ----------
    members
        Candidate name -> model (a ``MultitaskModel`` with the partner's head).
    choice
        One candidate name per task column (tasks in ``task_id`` order).
    validation_losses
        Long table (task, candidate, loss) the choice was made on.
    """

    partner: str
    members: dict[str, MultitaskModel]
    choice: tuple[str, ...]
    validation_losses: pd.DataFrame = field(default_factory=pd.DataFrame)

    def predict(self, X: sp.csr_matrix) -> np.ndarray:
        """float32 (n, n_tasks): each task's column from the member chosen for it."""
        out = np.zeros((X.shape[0], len(self.choice)), dtype=np.float32)
        for name in sorted(set(self.choice)):
            columns = np.flatnonzero(np.asarray(self.choice) == name)
            out[:, columns] = predict(self.members[name], self.partner, X)[:, columns]
        return out

    def counts(self) -> dict[str, int]:
        """How many tasks each candidate answers."""
        return {name: int(sum(c == name for c in self.choice)) for name in CANDIDATES if name in self.members}


CONFIDENCE_GRID = (0.0, 0.5, 0.8, 0.95)


def _mean_losses(entries: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """(n_candidates, n_tasks) mean loss over the observed entries of ``rows`` (NaN where none)."""
    out = []
    for losses in entries:
        part = losses[rows]
        counts = np.isfinite(part).sum(axis=0)
        out.append(np.where(counts > 0, np.nansum(part, axis=0) / np.maximum(counts, 1), np.nan))
    return np.stack(out)


def _choose(
    entries: list[np.ndarray], rows: np.ndarray, min_confidence: float, n_bootstrap: int, seed: int
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Per task the chosen candidate index (0 = reference), the mean losses and the win confidences."""
    losses = _mean_losses(entries, rows)
    n_tasks = losses.shape[1]
    confidence = np.ones_like(losses)
    choice = []
    for j in range(n_tasks):
        for i in range(1, len(entries)):
            confidence[i, j] = win_confidence(entries[i][rows, j], entries[0][rows, j], n_bootstrap, seed + j)
        allowed = [i for i in range(len(entries)) if (i == 0 or confidence[i, j] >= min_confidence)]
        finite = [i for i in allowed if np.isfinite(losses[i, j])]
        choice.append(min(finite, key=lambda i: (losses[i, j], i)) if finite else 0)
    return choice, losses, confidence


def cross_fitted_confidence(
    entries: list[np.ndarray], grid: tuple[float, ...] = CONFIDENCE_GRID, n_bootstrap: int = 500, seed: int = 0
) -> float:
    """The ``min_confidence`` of ``grid`` whose choices generalise best within the validation fold.

    The validation rows are split in two halves; with each threshold the choice is made on one
    half and its loss measured on the other (both ways), as the mean over tasks of the chosen
    candidate's loss relative to the reference's. Ties go to the larger (more careful) threshold.
    Validation rows only: nothing here sees the test fold.
    """
    n_rows = entries[0].shape[0]
    order = np.random.default_rng(seed).permutation(n_rows)
    halves = (order[: n_rows // 2], order[n_rows // 2 :])
    if min(len(h) for h in halves) < 2 or len(entries) < 2:
        return max(grid)
    scores = []
    for threshold in grid:
        changes = []
        for chosen_on, scored_on in (halves, halves[::-1]):
            choice, _, _ = _choose(entries, chosen_on, threshold, n_bootstrap, seed)
            held_out = _mean_losses(entries, scored_on)
            for j, i in enumerate(choice):
                reference = held_out[0, j]
                if np.isfinite(reference) and np.isfinite(held_out[i, j]) and reference > 0:
                    changes.append((held_out[i, j] - reference) / reference)
        scores.append(float(np.mean(changes)) if changes else 0.0)
    best = min(range(len(grid)), key=lambda k: (round(scores[k], 12), -grid[k]))
    return float(grid[best])


def select_per_task(
    candidates: Mapping[str, MultitaskModel],
    partner: str,
    prepared: PreparedSet,
    validation_rows: np.ndarray,
    min_confidence: float | None = 0.0,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> TaskSelection:
    """Per task, the candidate with the lowest validation loss among those allowed to replace the reference.

    The reference is the first candidate present in ``CANDIDATES`` order (local when given).
    Another candidate may replace it on a task only if it has the lower mean loss in at least
    ``min_confidence`` of ``n_bootstrap`` resamples of the task's validation entries
    (:func:`win_confidence`); 0 allows any candidate, i.e. the plain lowest validation loss;
    None chooses the threshold by :func:`cross_fitted_confidence` on the validation rows.
    Ties keep the earlier candidate; a task without validation entries keeps the reference.
    """
    order = [name for name in CANDIDATES if name in candidates]
    if not order:
        raise TrainingError("no candidate model to select from", f"give at least one of {CANDIDATES}")
    entries = [entry_losses(candidates[name], partner, prepared, validation_rows) for name in order]
    threshold = cross_fitted_confidence(entries, seed=seed) if min_confidence is None else float(min_confidence)
    all_rows = np.arange(entries[0].shape[0])
    choice, losses, confidence = _choose(entries, all_rows, threshold, n_bootstrap, seed)
    tasks = np.asarray(prepared.task_names, dtype=object)
    table = pd.DataFrame(
        [
            (task, name, float(losses[i, j]), float(confidence[i, j]), threshold)
            for j, task in enumerate(tasks)
            for i, name in enumerate(order)
        ],
        columns=["task", "candidate", "loss", "win_confidence", "min_confidence"],
    )
    return TaskSelection(partner, dict(candidates), tuple(order[i] for i in choice), table)


def save_selection(folder: Path, selection: TaskSelection, save_member: SaveMember) -> Path:
    """Write the chosen members (``members/<name>/``) and ``selection.json`` into ``folder``."""
    folder = private_folder(Path(folder))
    used = sorted(set(selection.choice))
    for name in used:
        save_member(folder / MEMBERS_DIR / name, selection.members[name])
    record = {
        "partner": selection.partner,
        "choice": list(selection.choice),
        "members": used,
        "validation_losses": selection.validation_losses.to_dict(orient="records"),
    }
    (folder / SELECTION_FILE).write_text(json.dumps(record, indent=2, default=float), encoding="utf-8")
    return seal(folder)


def is_selection_folder(folder: Path) -> bool:
    """True when ``folder`` holds a personalised (per-task selection) model."""
    return (Path(folder) / SELECTION_FILE).is_file()


def load_selection(folder: Path) -> TaskSelection:
    """Read a folder written by :func:`save_selection` (members through ``model.io.load_model``).

    Raises
    ------
    ModelFileError
        If ``selection.json`` or a member folder is missing or unreadable.
    """
    folder = Path(folder)
    try:
        record = json.loads((folder / SELECTION_FILE).read_text(encoding="utf-8"))
        choice = tuple(str(c) for c in record["choice"])
        partner = str(record["partner"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(
            f"cannot read {folder / SELECTION_FILE}: {exc}", "point at a personalised/ folder written by fedqsar"
        ) from exc
    members = {name: load_model(folder / MEMBERS_DIR / name).model for name in sorted(set(choice))}
    losses = pd.DataFrame(record.get("validation_losses", []))
    return TaskSelection(partner, members, choice, losses)
