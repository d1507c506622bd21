"""Masked multitask losses: BCE for classification columns, censored MSE for regression.

All losses take raw outputs and targets of shape (n_rows, n_tasks) with an ``observed`` mask;
unobserved entries contribute nothing. Each entry's loss is multiplied by its task's
training weight; the sum is divided by the number of rows in the batch (SparseChem's
normalisation), so a task's pull does not depend on how many other tasks a row carries.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def censored_squared_error(prediction: torch.Tensor, target: torch.Tensor, censor: torch.Tensor) -> torch.Tensor:
    """Elementwise squared error where censored targets only penalise the wrong side.

    Parameters
    ----------
    prediction, target
        float (n_rows, n_tasks), same scale.
    censor
        int (n_rows, n_tasks): 0 exact; -1 '<' (true value below target: only
        prediction > target is penalised); +1 '>' (only prediction < target is penalised).

    Returns
    -------
    torch.Tensor
        float (n_rows, n_tasks), >= 0.
    """
    difference = prediction - target
    difference = torch.where(censor < 0, torch.clamp(difference, min=0.0), difference)
    difference = torch.where(censor > 0, torch.clamp(difference, max=0.0), difference)
    return difference * difference


def entry_losses(
    raw: torch.Tensor,
    target: torch.Tensor,
    censor: torch.Tensor,
    is_regression: torch.Tensor,
    regression_weight: float = 1.0,
) -> torch.Tensor:
    """Per-entry loss (n_rows, n_tasks): BCE on logits, ``regression_weight`` x censored squared error."""
    bce = F.binary_cross_entropy_with_logits(raw, torch.where(is_regression, 0.0, target), reduction="none")
    squared = censored_squared_error(raw, target, censor)
    return torch.where(is_regression, regression_weight * squared, bce)


def multitask_loss(
    raw: torch.Tensor,
    target: torch.Tensor,
    observed: torch.Tensor,
    censor: torch.Tensor,
    is_regression: torch.Tensor,
    task_weights: torch.Tensor,
    regression_weight: float = 1.0,
) -> torch.Tensor:
    """Scalar hybrid loss of a batch.

    Parameters
    ----------
    raw
        (n_rows, n_tasks) head outputs: logits for classification, standardised values for regression.
    target
        (n_rows, n_tasks) labels 0/1 or standardised values (anything where unobserved).
    observed
        bool (n_rows, n_tasks).
    censor
        int (n_rows, n_tasks).
    is_regression
        bool (n_tasks,).
    task_weights
        float (n_tasks,) training weights.
    regression_weight
        Extra factor on regression entries.
    """
    per_entry = entry_losses(raw, target, censor, is_regression, regression_weight)
    weights = torch.where(observed, task_weights, 0.0)
    return (per_entry * weights).sum() / max(raw.shape[0], 1)
