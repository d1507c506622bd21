"""The privacy audit's measures, the membership hold-out and predictions fit to share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fedqsar.evaluation.privacy_bits import bit_recovery_summary, bit_recovery_table
from fedqsar.evaluation.privacy_membership import compound_losses, loss_attack, membership_auc
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.predict import predict
from fedqsar.model.training import Trainer, fit, membership_holdout_rows, training_rows
from fedqsar.trust.calibrate import TrustConfig, fit_trust
from fedqsar.trust.share import SIMILARITY_TOP, binned_similarity, shareable, shared_domain_columns

from .synthetic import synthetic_prepared

TRAIN = TrainConfig(epochs=30, batch_size=32, lr=3e-3, early_stopping_patience=0, membership_holdout=0.2)


def test_membership_holdout_rows_come_from_the_training_folds_and_are_never_trained_on() -> None:
    prepared = synthetic_prepared(n=400)
    held = membership_holdout_rows(prepared.folds, TRAIN)
    assert 0.1 < len(held) / len(training_rows(prepared.folds, TrainConfig())) < 0.3
    assert not np.isin(prepared.folds[held], TRAIN.held_out_folds).any()
    trainer = Trainer(
        MultitaskModel(prepared.n_bits, ModelConfig(), {"p": HeadSpec.from_tasks(prepared.tasks)}),
        {"p": prepared},
        TRAIN,
    )
    assert np.intersect1d(trainer.train_rows, held).size == 0
    assert np.array_equal(membership_holdout_rows(prepared.folds, TRAIN), held)  # the same rows every time
    assert len(membership_holdout_rows(prepared.folds, TrainConfig())) == 0


def test_compound_loss_is_the_mean_over_observed_labels() -> None:
    prepared = synthetic_prepared(n=20)
    rows = np.arange(8)
    perfect = prepared.Y[rows].toarray()  # classification always observed; regression for ~80 % of rows
    assert np.allclose(compound_losses(perfect, prepared, rows, np.ones(2)), 0.0, atol=1e-5)
    off = perfect.copy()
    off[:, 1] += 2.0  # regression off by two task scales, classification perfect
    n_labels = np.diff(prepared.Y[rows].indptr)
    assert set(n_labels) == {1, 2}
    expected = np.where(n_labels == 2, (0.0 + 2.0**2) / 2, 0.0)
    assert np.allclose(compound_losses(off, prepared, rows, np.ones(2)), expected, atol=1e-4)


def test_membership_auc_orders_members_above_non_members() -> None:
    assert membership_auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert membership_auc(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.5
    assert np.isnan(membership_auc(np.array([1.0]), np.array([np.nan])))


def test_an_overfit_model_reveals_membership_and_the_audit_sees_it() -> None:
    prepared = synthetic_prepared(n=400, seed=3)
    model = MultitaskModel(
        prepared.n_bits, ModelConfig(hidden_sizes=(256,), dropout=0.0), {"p": HeadSpec.from_tasks(prepared.tasks)}
    )
    fit(model, "p", prepared, TRAIN)
    untrained = MultitaskModel(
        prepared.n_bits, ModelConfig(hidden_sizes=(256,), init_seed=5), {"p": HeadSpec.from_tasks(prepared.tasks)}
    )
    table = loss_attack(
        {"overfit": lambda X: predict(model, "p", X), "untrained": lambda X: predict(untrained, "p", X)},
        prepared,
        TRAIN,
        "p",
    )
    auc = table.set_index(["model_kind", "reference"])["auc"]
    assert auc[("overfit", "holdout")] > 0.7  # 30 epochs without early stopping memorise
    assert abs(auc[("untrained", "holdout")] - 0.5) < 0.15
    assert set(table["reference"]) == {"holdout", "test_fold"}


def test_bit_recovery_is_half_when_no_per_bit_tensor_is_federated() -> None:
    trunks = [{"hidden.0.weight": np.full((4, 4), float(t), np.float32)} for t in range(3)]
    used = {"A": np.array([True, False, True, False]), "B": np.array([True, True, False, False])}
    table = bit_recovery_table(trunks, used)
    assert (table.loc[table["target"] == "union", "auc"] == 0.5).all()
    assert bit_recovery_summary(table)["bit_auc"] == 0.5


def test_bit_recovery_finds_rows_that_moved() -> None:
    rng = np.random.default_rng(0)
    first = rng.normal(size=(100, 8)).astype(np.float32)
    used = {"A": np.zeros(100, bool), "B": np.zeros(100, bool)}
    used["A"][:30], used["B"][20:50] = True, True
    second = first.copy()
    second[:50] += 0.01
    summary = bit_recovery_summary(bit_recovery_table([{"input.weight": first}, {"input.weight": second}], used))
    assert summary["bit_auc_first_pair"] == 1.0 and summary["bit_auc_others"] == 1.0


def test_binned_similarity_is_never_one() -> None:
    values = np.array([1.0, 0.95, 0.9, 0.899, 0.35, 0.0, np.nan])
    binned = binned_similarity(values)
    assert np.allclose(binned[:6], [0.9, 0.9, 0.9, 0.8, 0.3, 0.0]) and np.isnan(binned[6])
    assert np.nanmax(binned) == SIMILARITY_TOP


@pytest.fixture(scope="module")
def trust_of_a_model():
    prepared = synthetic_prepared(n=300, seed=4)
    model = MultitaskModel(prepared.n_bits, ModelConfig(), {"p": HeadSpec.from_tasks(prepared.tasks)})
    cfg = TrainConfig(epochs=3, batch_size=32)
    fit(model, "p", prepared, cfg)
    reference = training_rows(prepared.folds, cfg)
    artefacts = fit_trust(
        lambda X: predict(model, "p", X), prepared, prepared.rows_in([3]), reference, config=TrustConfig()
    )
    return prepared, artefacts, reference


def test_shared_similarities_treat_a_training_compound_like_a_new_one(trust_of_a_model) -> None:
    prepared, artefacts, reference = trust_of_a_model
    members = prepared.X[reference[:40]]
    shared = shared_domain_columns(artefacts, members)
    assert shared["nearest_similarity"].max() < 1.0
    # a member's shared similarity is its nearest *other* training compound's
    others = sp.vstack([prepared.X[reference[40:]]]).tocsr()
    from fedqsar.trust.domain import tanimoto_knn

    nearest_other, _ = tanimoto_knn(members, others, k=1)
    assert np.allclose(shared["nearest_similarity"], binned_similarity(nearest_other[:, 0]), atol=0.1 + 1e-9)


def test_shareable_drops_the_embedding_distance_and_bins_similarities() -> None:
    table = pd.DataFrame(
        {
            "input_row": [0, 1],
            "status": ["ok", "rejected"],
            "t1": [0.8, np.nan],
            "nearest_similarity": [1.0, np.nan],
            "domain_similarity": [0.72, np.nan],
            "embedding_distance": [0.0, np.nan],
            "in_domain": [True, False],
        }
    )
    out = shareable(table)
    assert "embedding_distance" not in out.columns and list(out["t1"].fillna(-1)) == [0.8, -1]
    assert out.loc[0, "nearest_similarity"] == 0.9 and out.loc[0, "domain_similarity"] == 0.7
    assert out[["nearest_similarity", "domain_similarity"]].iloc[1].isna().all()  # rejected rows stay empty
    assert table.loc[0, "nearest_similarity"] == 1.0  # the partner's own table is untouched
