from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fedqsar.errors import ConfigError, IncompatiblePartnersError
from fedqsar.evaluation.config import EvalConfig, RandomForestConfig
from fedqsar.evaluation.protocol import run_protocol
from fedqsar.evaluation.uplift import UPLIFT_COLUMNS, UpliftConfig
from fedqsar.federation.config import FederationConfig
from fedqsar.ledger import verify
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.prep.manifest import Manifest

from .synthetic import synthetic_prepared

MODEL = ModelConfig(hidden_sizes=(32, 16), dropout=0.0)
TRAIN = TrainConfig(epochs=8, batch_size=64, lr=3e-3, early_stopping_patience=3, validation_fold=3, test_fold=4)
EVAL = EvalConfig(
    model_kinds=("local", "pooled", "rf"),
    compound_bootstrap=30,
    uplift=UpliftConfig(n_bootstrap=200),
    rf=RandomForestConfig(n_estimators=20),
)


def _partners(tmp_path: Path, n_partners: int = 3) -> dict[str, Path]:
    return {
        f"p{i}": synthetic_prepared(n=240, seed=i, shift=0.2 * i).save(tmp_path / "prepared" / f"p{i}")
        for i in range(n_partners)
    }


def test_protocol_writes_the_run_folder(tmp_path: Path) -> None:
    partners = _partners(tmp_path)
    result = run_protocol(partners, MODEL, TRAIN, FederationConfig(), EVAL, tmp_path / "run")
    folder = tmp_path / "run" / "evaluation"
    for name in ("metrics.csv", "uplift.csv", "endpoints.csv", "timings.csv", "config.toml"):
        assert (folder / name).is_file(), name
    metrics = pd.read_csv(folder / "metrics.csv")
    assert list(metrics.columns) == ["partner", "task", "endpoint", "model_kind", "fold", "metric", "value"]
    assert set(metrics["model_kind"]) == {"local", "pooled", "rf"}
    assert set(metrics["fold"]) == {4}
    assert set(metrics["partner"]) == {"p0", "p1", "p2"}
    uplift = pd.read_csv(folder / "uplift.csv")
    assert list(uplift.columns) == list(UPLIFT_COLUMNS)
    assert {"pooled_vs_local", "rf_vs_local"} <= set(uplift["comparison"])
    # one regression task per partner: the per-compound bootstrap supplies the interval
    rmse = uplift[(uplift.metric == "rmse") & (uplift.comparison == "pooled_vs_local") & (uplift.partner == "p0")].iloc[
        0
    ]
    assert rmse.n_tasks == 1 and rmse.ci_low <= rmse.delta_abs <= rmse.ci_high
    # the models learned something real on the held-out scaffold fold
    auc = metrics[(metrics.metric == "auc_pr") & (metrics.model_kind == "local")]["value"]
    assert (auc > 0.65).all()  # positives are ~58 %: a random ranking scores ~0.58
    timings = pd.read_csv(folder / "timings.csv")
    assert {"local", "pooled", "rf", "uplift"} <= set(timings["stage"])
    endpoints = pd.read_csv(folder / "endpoints.csv")
    assert set(endpoints["endpoint"]) == {"logD7.4"} and len(endpoints) > 500
    ledger = verify(tmp_path / "run" / "evaluation" / "ledger.sqlite")
    assert ledger.complete and ledger.kinds["partner"] == 3 and ledger.kinds["evaluation"] == 1
    assert "evaluation" in (folder / "config.toml").read_text()
    # reproducible from the seeds
    again = run_protocol(partners, MODEL, TRAIN, FederationConfig(), EVAL, tmp_path / "run2")
    pd.testing.assert_frame_equal(result.metrics, again.metrics)
    pd.testing.assert_frame_equal(result.uplift, again.uplift)
    with pytest.raises(ConfigError, match="already holds an evaluation"):
        run_protocol(partners, MODEL, TRAIN, FederationConfig(), EVAL, tmp_path / "run")


def test_protocol_refuses_without_test_fold(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="test_fold"):
        run_protocol(
            _partners(tmp_path, 2), MODEL, TrainConfig(test_fold=None), FederationConfig(), EVAL, tmp_path / "r"
        )


def test_protocol_refuses_mixed_preparations(tmp_path: Path) -> None:
    partners = _partners(tmp_path, 2)
    odd = synthetic_prepared(n=100, seed=9)
    odd.manifest = Manifest(prep_hash="other")
    partners["odd"] = odd.save(tmp_path / "prepared" / "odd")
    with pytest.raises(IncompatiblePartnersError, match="prep_hash"):
        run_protocol(partners, MODEL, TRAIN, FederationConfig(), EVAL, tmp_path / "r")


def test_protocol_refuses_a_partner_keyed_differently_with_the_same_prep_hash(tmp_path: Path) -> None:
    """The prep hash does not include the key: pooled training must not mix differently keyed bits."""
    partners = _partners(tmp_path, 2)
    odd = synthetic_prepared(n=100, seed=9)
    odd.manifest = Manifest(prep_hash="synthetic", key_id="ffffffffffffffff")
    partners["odd"] = odd.save(tmp_path / "prepared" / "odd")
    with pytest.raises(IncompatiblePartnersError, match="key_id") as info:
        run_protocol(partners, MODEL, TRAIN, FederationConfig(), EVAL, tmp_path / "r")
    assert "'odd'" in info.value.what and not (tmp_path / "r" / "evaluation").exists()
