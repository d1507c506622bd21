"""The trunk registry: ECFP + descriptor block, and the chemprop message-passing trunk.

Shapes, determinism, a tiny model that overfits a tiny set, the trunk round trip that
federation performs (scalers and heads stay private), save/load, and predict / explain /
trust through the same paths ``fedqsar predict`` and ``fedqsar explain`` use.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from fedqsar.inference import InferencePipeline
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.inputs import ModelInputs
from fedqsar.model.io import load_model, save_model
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.predict import predict, trunk_embedding
from fedqsar.model.training import Trainer, run_fit
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.pipeline import prepare
from fedqsar.prepared import PreparedSet
from fedqsar.trust.model_adapter import fit_trust_for_saved_model

KEY = ConsortiumKey(b"trunk tests key 0123456789abcdef")
TINY = {"hidden_sizes": (32,), "mpnn_hidden": 32, "mpnn_depth": 2, "dropout": 0.0}
CONFIGS = {
    "ecfp": ModelConfig(hidden_sizes=(32,), dropout=0.0, descriptors=False),
    "ecfp+descriptors": ModelConfig(hidden_sizes=(32,), dropout=0.0, descriptors=True),
    "mpnn": ModelConfig(trunk="mpnn", descriptors=False, **TINY),
    "mpnn+descriptors": ModelConfig(trunk="mpnn", descriptors=True, **TINY),
}


@pytest.fixture(scope="module")
def prepared(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> PreparedSet:
    """80 Biogen rPPB compounds prepared for real (descriptors on, local structures kept)."""
    root = tmp_path_factory.mktemp("trunks")
    source = pd.read_csv(shared_data / "ci" / "biogen_adme" / "MPNN" / "ADME_rPPB_train.csv").head(80)
    long_form = root / "rppb.csv"
    pd.DataFrame(
        {"compound_id": [f"m{i}" for i in range(len(source))], "smiles": source["smiles"], "assay_id": "rPPB",
         "value": source["activity"], "unit": "log10(% unbound)", "qualifier": "="}
    ).to_csv(long_form, index=False)  # fmt: skip
    cfg = dataclasses.replace(PrepConfig(), tasks=dataclasses.replace(PrepConfig().tasks, make_classification=False))
    return prepare(long_form, root / "prepared", KEY, cfg).prepared


def _model(prepared: PreparedSet, cfg: ModelConfig) -> MultitaskModel:
    return MultitaskModel(
        prepared.n_bits, cfg, {"p": HeadSpec.from_tasks(prepared.tasks)}, len(prepared.descriptor_names)
    )


def _fit(prepared: PreparedSet, cfg: ModelConfig, epochs: int = 3, **train: object) -> MultitaskModel:
    model = _model(prepared, cfg)
    run_fit(Trainer(model, {"p": prepared}, TrainConfig(epochs=epochs, batch_size=32, test_fold=None, **train)))
    return model


def test_prepared_set_carries_descriptors_and_structures(prepared: PreparedSet) -> None:
    assert prepared.descriptors.shape == (prepared.n_compounds, len(PrepConfig().descriptors.names))
    assert prepared.descriptor_names == list(PrepConfig().descriptors.names)
    assert all(Chem.MolFromSmiles(s) is not None for s in prepared.structures)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_shapes_and_what_the_trunk_state_holds(prepared: PreparedSet, name: str) -> None:
    model = _model(prepared, CONFIGS[name])
    rows = np.arange(7)
    hidden = model.trunk(model.input_batch(prepared, rows, "p"))
    assert hidden.shape == (7, 32)
    assert predict(model, "p", prepared).shape == (prepared.n_compounds, prepared.n_tasks)
    assert trunk_embedding(model, ModelInputs.of(prepared).rows(rows)).shape == (7, 32)
    state = model.trunk_state()
    assert not any("scaler" in k or "head" in k for k in state)  # private parts never in the shared trunk
    reads_descriptors = CONFIGS[name].descriptors
    assert (model.n_descriptors > 0) == reads_descriptors
    if name == "ecfp+descriptors":
        assert state["descriptor_input.weight"].shape == (32, model.n_descriptors)
    if name.startswith("mpnn"):
        assert model.trunk.sparse_table is None and any(k.startswith("message_passing.") for k in state)
        first = next(layer for layer in model.trunk.hidden)
        assert first.in_features == 32 + model.n_descriptors


def test_descriptor_scaling_is_fitted_on_training_rows_only(prepared: PreparedSet) -> None:
    model = _model(prepared, CONFIGS["ecfp+descriptors"])
    cfg = TrainConfig(epochs=1, batch_size=32)  # folds 3 and 4 held out
    trainer = Trainer(model, {"p": prepared}, cfg)
    scaler = model.scalers["p"]
    train = prepared.descriptors[trainer.train_rows]
    logp = prepared.descriptor_names.index("mol_logp")
    assert bool(scaler.fitted) and float(scaler.median[logp]) == pytest.approx(np.nanmedian(train[:, logp]), rel=1e-5)
    scaled = scaler(train).numpy()
    assert np.isfinite(scaled).all() and abs(scaled[:, logp].mean()) < 0.05


@pytest.mark.parametrize("name", ["ecfp+descriptors", "mpnn+descriptors"])
def test_training_is_deterministic(prepared: PreparedSet, name: str) -> None:
    first = predict(_fit(prepared, CONFIGS[name], epochs=2), "p", prepared)
    second = predict(_fit(prepared, CONFIGS[name], epochs=2), "p", prepared)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", ["ecfp+descriptors", "mpnn"])
def test_a_tiny_model_overfits_a_tiny_set(prepared: PreparedSet, name: str) -> None:
    tiny = prepared.subset(np.arange(30))
    tiny.compounds["fold"] = 0  # every row is a training row
    model = _model(tiny, CONFIGS[name])
    Trainer(model, {"p": tiny}, TrainConfig(batch_size=10, lr=3e-3, test_fold=None)).train_epochs(300)
    train = np.arange(30)
    y = tiny.Y.toarray()[train, 0]
    error = predict(model, "p", ModelInputs.of(tiny).rows(train))[:, 0] - y
    assert np.sqrt(np.mean(error**2)) < 0.3 * y.std()


@pytest.mark.parametrize("name", ["ecfp+descriptors", "mpnn+descriptors"])
def test_trunk_round_trip_keeps_heads_and_scalers_private(prepared: PreparedSet, name: str) -> None:
    """What federation does: another partner's model takes the trunk arrays and nothing else."""
    trained = _fit(prepared, CONFIGS[name], epochs=2)
    other = _model(prepared, CONFIGS[name])
    Trainer(other, {"p": prepared}, TrainConfig(epochs=1, test_fold=None))  # fits its own scaler
    other.load_trunk_state(trained.trunk_state())
    other.heads["p"].load_state_dict(trained.heads["p"].state_dict())
    np.testing.assert_allclose(predict(other, "p", prepared), predict(trained, "p", prepared), atol=1e-5)
    assert other.trunk_version == 1


@pytest.mark.parametrize("name", ["ecfp+descriptors", "mpnn+descriptors"])
def test_save_load_predict_explain_and_trust(prepared: PreparedSet, name: str, tmp_path: Path) -> None:
    model = _fit(prepared, CONFIGS[name], epochs=2)
    folder = save_model(
        tmp_path / "m", model, CONFIGS[name], TrainConfig(test_fold=None), prepared.tasks, prepared.manifest
    )
    saved = load_model(folder)
    np.testing.assert_array_equal(predict(saved.model, "p", prepared), predict(model, "p", prepared))
    assert not any(p.suffix in (".pkl", ".pt") for p in folder.iterdir())
    fit_trust_for_saved_model(folder, prepared)
    pipeline = InferencePipeline.load(folder, KEY)  # the one inference path: predict, trust, explain
    smiles = [prepared.structures[0], "not a smiles", "CCOc1ccc(CC(=O)N2CCCC2)cc1"]
    table = pipeline.predict(smiles)
    task = pipeline.task_names[0]
    assert table["status"].tolist() == ["ok", "rejected", "ok"]
    assert table.loc[0, task] == pytest.approx(
        float(predict(model, "p", ModelInputs.of(prepared).rows([0]))[0, 0]), abs=1e-5
    )
    assert np.isfinite(table.loc[[0, 2], "embedding_distance"]).all()
    assert pd.isna(table.loc[1, task]) and pd.isna(table.loc[1, "embedding_distance"])
    result = pipeline.explain(str(smiles[2]), task, tmp_path / "why")
    atoms = pd.read_csv(result.files["csv"])
    assert len(atoms) == Chem.MolFromSmiles(result.standardised_smiles).GetNumAtoms()
    assert np.isfinite(atoms.iloc[:, -1]).all() and atoms.iloc[:, -1].abs().sum() > 0
    assert result.prediction == pytest.approx(table.loc[2, task], abs=1e-5)
