"""Censored regression loss and masked hybrid loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fedqsar.model.losses import censored_squared_error, multitask_loss


def test_exact_values_give_plain_squared_error():
    pred, target = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 2.5]])
    assert torch.allclose(
        censored_squared_error(pred, target, torch.zeros(1, 2, dtype=torch.int8)), torch.tensor([[4.0, 0.25]])
    )


def test_less_than_penalises_only_predictions_above():
    target = torch.tensor([[5.0, 5.0]])
    censor = torch.full((1, 2), -1, dtype=torch.int8)  # '< 5': truth below 5
    loss = censored_squared_error(torch.tensor([[4.0, 6.0]]), target, censor)
    assert loss[0, 0] == 0.0  # 4 respects '< 5'
    assert loss[0, 1] == 1.0  # 6 is on the wrong side by 1


def test_greater_than_penalises_only_predictions_below():
    target = torch.tensor([[5.0, 5.0]])
    censor = torch.full((1, 2), 1, dtype=torch.int8)
    loss = censored_squared_error(torch.tensor([[7.0, 3.0]]), target, censor)
    assert loss[0, 0] == 0.0
    assert loss[0, 1] == 4.0


def test_censored_gradient_is_zero_on_the_right_side_and_pushes_back_on_the_wrong_side():
    pred = torch.tensor([[4.0, 6.0]], requires_grad=True)
    censored_squared_error(pred, torch.tensor([[5.0, 5.0]]), torch.full((1, 2), -1, dtype=torch.int8)).sum().backward()
    assert pred.grad[0, 0] == 0.0 and pred.grad[0, 1] > 0.0


def test_hybrid_loss_masks_unobserved_and_weights_tasks():
    raw = torch.tensor([[0.3, 1.0], [-2.0, 4.0]])
    target = torch.tensor([[1.0, 2.0], [0.0, 100.0]])
    observed = torch.tensor([[True, True], [True, False]])  # row 1's regression value is missing
    censor = torch.zeros(2, 2, dtype=torch.int8)
    is_regression = torch.tensor([False, True])
    weights = torch.tensor([2.0, 0.5])
    loss = multitask_loss(raw, target, observed, censor, is_regression, weights, regression_weight=3.0)
    bce = F.binary_cross_entropy_with_logits(torch.tensor([0.3, -2.0]), torch.tensor([1.0, 0.0]), reduction="sum")
    expected = (2.0 * bce + 0.5 * 3.0 * (1.0 - 2.0) ** 2) / 2
    assert torch.isclose(loss, expected)


def test_explicit_zero_label_counts_as_a_negative():
    raw = torch.tensor([[3.0]])
    loss = multitask_loss(
        raw,
        torch.zeros(1, 1),
        torch.ones(1, 1, dtype=torch.bool),
        torch.zeros(1, 1, dtype=torch.int8),
        torch.tensor([False]),
        torch.ones(1),
    )
    assert loss > 3.0  # a confident positive logit on an observed 0 label is heavily penalised
