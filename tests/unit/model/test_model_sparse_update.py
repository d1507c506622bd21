"""The row-sparse first-layer update against the dense computation it replaces."""

from __future__ import annotations

import numpy as np
import torch

from fedqsar.model.batching import sparse_batch
from fedqsar.model.config import ModelConfig
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.sparse_adam import RowSparseAdam

from .conftest import make_prepared


def _model(prepared, hidden=(16, 8)):
    return MultitaskModel(
        prepared.n_bits, ModelConfig(hidden_sizes=hidden, dropout=0.0), {"p": HeadSpec.from_tasks(prepared.tasks)}
    )


def _gathered_grad(model, x):
    """The trainer's path: gradient of the first layer's output leaf, turned into table-row gradients."""
    from fedqsar.model.sparse_adam import row_gradient

    passed = model.trunk.training_pass(x)
    model.heads["p"](passed.hidden).pow(2).sum().backward()
    lengths = torch.diff(x.offsets, append=torch.tensor([x.indices.shape[0]]))
    entry_rows = torch.repeat_interleave(torch.arange(x.n_rows), lengths)
    return row_gradient(x.indices, entry_rows, x.values, passed.sparse_leaf.grad)


def test_training_pass_row_gradient_equals_dense_gradient_and_untouched_rows_have_zero_gradient():
    prepared = make_prepared(n_rows=40, n_bits=128)
    model = _model(prepared)
    x = sparse_batch(prepared.X, np.arange(20))
    model(x, "p").pow(2).sum().backward()
    dense = model.trunk.input.weight.grad.clone()
    model.zero_grad()
    unique, grad = _gathered_grad(model, x)
    assert torch.allclose(grad, dense[unique], atol=1e-6)
    untouched = torch.ones(prepared.n_bits, dtype=torch.bool)
    untouched[unique] = False
    assert untouched.any() and torch.all(dense[untouched] == 0)


def test_sgd_update_on_gathered_rows_equals_dense_sgd():
    prepared = make_prepared(n_rows=40, n_bits=128)
    dense_model, sparse_model = _model(prepared), _model(prepared)
    x = sparse_batch(prepared.X, np.arange(25))
    dense_model(x, "p").pow(2).sum().backward()
    with torch.no_grad():
        dense_model.trunk.input.weight -= 0.1 * dense_model.trunk.input.weight.grad
    unique, grad = _gathered_grad(sparse_model, x)
    with torch.no_grad():
        sparse_model.trunk.input.weight.index_add_(0, unique, -0.1 * grad)
    assert torch.allclose(sparse_model.trunk.input.weight, dense_model.trunk.input.weight, atol=1e-6)


def test_row_sparse_adam_equals_torch_adam_when_every_row_is_touched_every_step():
    torch.manual_seed(0)
    start = torch.randn(30, 7)
    dense_param = torch.nn.Parameter(start.clone())
    sparse_param = torch.nn.Parameter(start.clone())
    dense_opt = torch.optim.Adam([dense_param], lr=0.01)
    sparse_opt = RowSparseAdam(sparse_param, lr=0.01)
    everything = torch.arange(30)
    for _ in range(25):
        grad = torch.randn(30, 7)
        dense_param.grad = grad.clone()
        dense_opt.step()
        sparse_opt.step(everything, grad.clone())
    assert torch.allclose(sparse_param, dense_param, atol=1e-5)


def test_row_sparse_adam_with_weight_decay_equals_adamw():
    torch.manual_seed(1)
    start = torch.randn(10, 3)
    dense_param, sparse_param = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    dense_opt = torch.optim.AdamW([dense_param], lr=0.05, weight_decay=0.1)
    sparse_opt = RowSparseAdam(sparse_param, lr=0.05, weight_decay=0.1)
    for _ in range(10):
        grad = torch.randn(10, 3)
        dense_param.grad = grad.clone()
        dense_opt.step()
        sparse_opt.step(torch.arange(10), grad)
    assert torch.allclose(sparse_param, dense_param, atol=1e-5)


def test_rows_absent_from_a_step_are_untouched_and_keep_their_own_step_count():
    torch.manual_seed(2)
    param = torch.nn.Parameter(torch.randn(6, 4))
    opt = RowSparseAdam(param, lr=0.1)
    opt.step(torch.tensor([0, 1, 2]), torch.randn(3, 4))
    before = param.detach().clone()
    moments_before = opt.exp_avg.clone()
    opt.step(torch.tensor([1, 4]), torch.randn(2, 4))
    for row in (0, 2, 3, 5):
        assert torch.equal(param[row], before[row])
        assert torch.equal(opt.exp_avg[row], moments_before[row])
    assert opt.row_steps.tolist() == [1, 2, 1, 0, 1, 0]


def test_first_update_of_a_rare_row_has_full_bias_corrected_size():
    """Per-row bias correction: a row first seen at step 50 moves by ~lr, like a fresh Adam."""
    param = torch.nn.Parameter(torch.zeros(2, 1))
    opt = RowSparseAdam(param, lr=0.01)
    for _ in range(50):
        opt.step(torch.tensor([0]), torch.ones(1, 1))
    opt.step(torch.tensor([1]), torch.full((1, 1), 3.0))
    assert torch.isclose(param[1, 0], torch.tensor(-0.01), atol=1e-6)


def test_row_gradient_from_output_gradient_equals_dense_table_gradient():
    from fedqsar.model.sparse_adam import row_gradient

    prepared = make_prepared(n_rows=30, n_bits=64)
    model = _model(prepared)
    x = sparse_batch(prepared.X, np.arange(30))
    pre = model.trunk.input(x)
    pre.retain_grad()
    model.heads["p"](model.trunk.from_first_layer(pre)).pow(2).sum().backward()
    entry_rows = torch.repeat_interleave(torch.arange(30), torch.diff(x.offsets, append=torch.tensor([len(x.indices)])))
    rows, grad = row_gradient(x.indices, entry_rows, x.values, pre.grad)
    assert torch.allclose(grad, model.trunk.input.weight.grad[rows], atol=1e-6)


def test_fused_kernel_equals_torch_row_sparse_adam():
    from fedqsar.model.sparse_adam import row_gradient

    torch.manual_seed(3)
    n_bits, width, batch = 40, 9, 6
    start = torch.randn(n_bits, width)
    fused_table, torch_table = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    fused = RowSparseAdam(fused_table, lr=0.02, weight_decay=0.05)
    reference = RowSparseAdam(torch_table, lr=0.02, weight_decay=0.05)
    for _ in range(8):
        bits = torch.cat([torch.randperm(n_bits)[:5] for _ in range(batch)])  # bits repeat across rows
        entry_rows = torch.repeat_interleave(torch.arange(batch), 5)
        values = torch.rand(len(bits))
        grad_out = torch.randn(batch, width)
        fused.step_from_output_grad(bits, entry_rows, values, grad_out)
        reference.step(*row_gradient(bits, entry_rows, values, grad_out))
    assert torch.allclose(fused_table, torch_table, atol=1e-5)
    assert torch.allclose(fused.exp_avg_sq, reference.exp_avg_sq, atol=1e-6)
    assert torch.equal(fused.row_steps, reference.row_steps)


def test_local_trainer_equals_dense_adam_when_every_bit_is_in_every_batch():
    """End to end: the trainer's updates equal torch.optim.Adam on the whole network when no row is skipped."""
    from fedqsar.model.batching import target_batch
    from fedqsar.model.config import TrainConfig
    from fedqsar.model.losses import multitask_loss
    from fedqsar.model.training import Trainer

    prepared = make_prepared(n_rows=24, n_bits=16, bits_per_row=12, n_classification=2, n_regression=0)
    rows = np.arange(24)
    assert len(np.unique(prepared.X.indices)) == 16  # the single full batch touches every bit
    sparse_model, dense_model = _model(prepared), _model(prepared)
    trainer = Trainer(
        sparse_model, {"p": prepared}, TrainConfig(batch_size=24, lr=0.01, test_fold=None, validation_fold=99)
    )
    optimiser = torch.optim.Adam(dense_model.parameters(), lr=0.01)
    head = dense_model.heads["p"]
    for _ in range(5):
        trainer.train_step(rows)
        x = sparse_batch(prepared.X, rows, dense_model.model_cfg.input_transform)  # as the trainer reads them
        y = target_batch(prepared.Y, prepared.censor, rows)
        loss = multitask_loss(dense_model(x, "p"), y.values, y.observed, y.censor, head.is_regression, torch.ones(2))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    sparse_params = dict(sparse_model.named_parameters())
    for name, value in dense_model.named_parameters():
        assert torch.allclose(sparse_params[name], value, atol=1e-5), name
