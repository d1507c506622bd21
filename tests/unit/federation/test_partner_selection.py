"""Partner-local model selection: the round with the lowest validation loss is kept, privately."""

from __future__ import annotations

from pathlib import Path

from fedqsar.federation.partner import BEST_DIR, MODEL_DIR, PartnerPaths, PartnerRuntime, selected_model
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.io import load_model

MODEL = ModelConfig(hidden_sizes=(16,), dropout=0.0)


def _runtime(folder: Path, state: Path, patience: int) -> PartnerRuntime:
    paths = PartnerPaths("A", folder, state)
    return PartnerRuntime(paths, MODEL, TrainConfig(batch_size=32, early_stopping_patience=patience))


def test_best_round_is_kept_and_selected(partners4: dict[str, Path], tmp_path: Path) -> None:
    runtime = _runtime(partners4["A"], tmp_path, patience=3)
    runtime._keep_if_best(1, 2.0)
    runtime._keep_if_best(2, 3.0)  # worse: round 1 stays
    assert runtime.best_round() == {"round": 1, "val_loss": 2.0}
    runtime.train(1, 3)
    runtime._keep_if_best(3, 1.5)
    assert runtime.best_round()["round"] == 3
    runtime.save_final_model()
    assert selected_model(tmp_path) == tmp_path / BEST_DIR
    best = load_model(tmp_path / BEST_DIR).model.trunk_state()
    current = runtime.model.trunk_state()
    assert all((best[k] == current[k]).all() for k in best)


def test_real_validation_feeds_selection(partners4: dict[str, Path], tmp_path: Path) -> None:
    runtime = _runtime(partners4["A"], tmp_path, patience=3)
    runtime.record_validation(1)
    assert runtime.best_round()["round"] == 1 and (tmp_path / BEST_DIR / "config.json").is_file()


def test_without_early_stopping_the_final_model_is_used(partners4: dict[str, Path], tmp_path: Path) -> None:
    runtime = _runtime(partners4["A"], tmp_path, patience=0)
    runtime.record_validation(1)
    runtime.save_final_model()
    assert runtime.best_round() is None and selected_model(tmp_path) == tmp_path / MODEL_DIR
