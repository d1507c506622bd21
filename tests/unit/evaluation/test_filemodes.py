"""Everything that holds a partner's structures, ids or values is readable by its owner only."""

from __future__ import annotations

import stat
from pathlib import Path

import pandas as pd

from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.io import save_model
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.predict import predict
from fedqsar.trust.calibrate import TrustConfig, fit_trust
from fedqsar.trust.store import save_trust

from .synthetic import synthetic_prepared


def _modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")]}


def _assert_private(folder: Path) -> None:
    modes = _modes(folder)
    assert len(modes) > 3
    for name, mode in modes.items():
        path = folder / name
        assert mode == (0o700 if path.is_dir() else 0o600), (name, oct(mode))


def test_a_prepared_set_is_private_rejected_rows_included(tmp_path: Path) -> None:
    prepared = synthetic_prepared()
    rejected = pd.DataFrame({"input_row": [7], "smiles": ["C1CC"], "value": ["3.2"], "reason": ["unparsable_smiles"]})
    folder = prepared.save(tmp_path / "prepared" / "A", rejected=rejected)
    assert (folder / "rejected.csv").is_file() and (folder / "compounds.parquet").is_file()
    _assert_private(folder)


def test_an_existing_open_folder_is_made_private_before_writing(tmp_path: Path) -> None:
    folder = tmp_path / "A"
    folder.mkdir(mode=0o755)
    (folder / "old.txt").write_text("left by hand")
    synthetic_prepared().save(folder)
    _assert_private(folder)


def test_a_model_folder_and_its_trust_artefacts_are_private(tmp_path: Path) -> None:
    prepared = synthetic_prepared()
    model = MultitaskModel(prepared.n_bits, ModelConfig(), {"p": HeadSpec.from_tasks(prepared.tasks)})
    folder = save_model(tmp_path / "model", model, ModelConfig(), TrainConfig(), prepared.tasks, prepared.manifest)
    artefacts = fit_trust(
        lambda X: predict(model, "p", X),
        prepared,
        prepared.rows_in([3]),
        prepared.rows_in([0, 1, 2]),
        config=TrustConfig(),
    )
    save_trust(artefacts, folder)
    assert (folder / "trust" / "reference.npz").is_file()
    _assert_private(folder)
