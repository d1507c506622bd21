"""A real Flower simulation with the message-passing trunk (chemprop v2 modules, descriptors on).

Three partners, each with its own real Biogen rPPB structures prepared with one key, two
rounds, personalisation on, the default bit-privacy defence (``private_input``: each partner
keeps chemprop's input projection ``W_i``). Shared by: what travels (the trunk's arrays above
``W_i`` and nothing else: no descriptor statistics, no head), the round trip (every partner's
final model holds the same global trunk, its own ``W_i``, head and descriptor scaling), and inference with the federated
models through the one inference pipeline (predictions, atom attributions from the graph).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from fedqsar.federation.audit import read_records, wire_recorder
from fedqsar.federation.config import FederationConfig, SecAggConfig
from fedqsar.federation.defences import MPNN_INPUT_PROJECTION
from fedqsar.federation.server_app import initial_trunk
from fedqsar.federation.simulation import run_simulation
from fedqsar.inference import InferencePipeline
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.io import load_model
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.pipeline import prepare
from fedqsar.prepared import PreparedSet

KEY = ConsortiumKey(b"mpnn federation test key 0123456")
MODEL = ModelConfig(trunk="mpnn", descriptors=True, hidden_sizes=(16,), mpnn_hidden=16, mpnn_depth=2, dropout=0.0)
TRAIN = TrainConfig(epochs=25, batch_size=16, lr=3e-3, early_stopping_patience=5)
FED = FederationConfig(rounds=2, min_partners=3, secagg=SecAggConfig(enabled=False))
PARTNERS = ("A", "B", "C")
PER_PARTNER = 45


@pytest.fixture(scope="module")
def partners(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three PreparedSets of disjoint real compounds (descriptors and local structures kept)."""
    root = tmp_path_factory.mktemp("mpnn_partners")
    source = pd.read_csv(shared_data / "ci" / "biogen_adme" / "MPNN" / "ADME_rPPB_train.csv")
    cfg = dataclasses.replace(PrepConfig(), tasks=dataclasses.replace(PrepConfig().tasks, make_classification=False))
    folders = {}
    for i, name in enumerate(PARTNERS):
        part = source.iloc[i * PER_PARTNER : (i + 1) * PER_PARTNER]
        long_form = root / f"{name}.csv"
        pd.DataFrame(
            {"compound_id": [f"{name}{j}" for j in range(len(part))], "smiles": part["smiles"].to_numpy(),
             "assay_id": "rPPB", "value": part["activity"].to_numpy(), "unit": "log10(% unbound)", "qualifier": "="}
        ).to_csv(long_form, index=False)  # fmt: skip
        prepare(long_form, root / name, KEY, cfg)
        folders[name] = root / name
    return folders


@pytest.fixture(scope="module")
def mpnn_run(partners: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("mpnn_run")
    run = run_simulation(
        partners, MODEL, TRAIN, FED, root / "run", outer_mods=[wire_recorder(root / "wire")], num_cpus=2
    )
    return run, root


def test_only_the_message_passing_trunk_travels(mpnn_run) -> None:
    run, root = mpnn_run
    assert run.summary["participants"] == {"1": list(PARTNERS), "2": list(PARTNERS)}
    saved = load_model(run.partner_models["A"])
    whole = {k: list(v.shape) for k, v in saved.model.trunk_state().items()}
    trunk = {k: shape for k, shape in whole.items() if k != MPNN_INPUT_PROJECTION}
    assert MPNN_INPUT_PROJECTION in whole  # the partner's own input projection
    assert any(k.startswith("message_passing.") for k in trunk) and any(k.startswith("hidden.") for k in trunk)
    trains = [r for r in read_records(root / "wire") if r["incoming_type"] == "train" and not r["has_error"]]
    assert len(trains) == 2 * len(PARTNERS)
    for entry in trains:
        sent = entry["records"]["fitres.parameters"]["entries"]
        assert {k: v["shape"] for k, v in sent.items() if k in whole} == trunk  # W_i never sent
        assert not any("scaler" in k or "head" in k for k in sent)  # statistics and heads stay home


def test_round_trip_shares_the_trunk_and_keeps_scaling_and_heads_private(mpnn_run, partners) -> None:
    run, _ = mpnn_run
    models = {name: load_model(folder) for name, folder in run.partner_models.items()}
    states = [m.model.trunk_state() for m in models.values()]
    for state in states[1:]:
        for name, value in states[0].items():
            if name != MPNN_INPUT_PROJECTION:
                np.testing.assert_array_equal(state[name], value)
    own = [state[MPNN_INPUT_PROJECTION] for state in states]
    assert not np.array_equal(own[0], own[1]) and not np.array_equal(own[1], own[2])  # each trained its own W_i
    n_descriptors = models["A"].model.n_descriptors
    assert n_descriptors == len(PrepConfig().descriptors.names)
    start = initial_trunk(models["A"].model.n_bits, MODEL, n_descriptors)
    assert any(not np.allclose(start[k], states[0][k]) for k in start)  # federation moved the trunk
    logp = PrepConfig().descriptors.names.index("mol_logp")
    medians = {}
    for name, saved in models.items():
        prepared = PreparedSet.load(partners[name])
        train_rows = np.flatnonzero(~np.isin(prepared.folds, saved.train_cfg.held_out_folds))
        scaler = saved.model.scaler(name)
        medians[name] = float(scaler.median[logp])
        assert medians[name] == pytest.approx(float(np.nanmedian(prepared.descriptors[train_rows, logp])), rel=1e-5)
    assert len(set(medians.values())) == len(PARTNERS)  # each partner's own statistics


def test_federated_models_predict_and_explain_through_the_pipeline(mpnn_run, tmp_path: Path) -> None:
    run, _ = mpnn_run
    assert set(run.personalised_models) == set(PARTNERS)
    pipeline = InferencePipeline.load(run.partner_models["B"], KEY)
    smiles = ["CCOc1ccc(CC(=O)N2CCCC2)cc1", "not a smiles"]
    table = pipeline.predict(smiles)
    task = pipeline.task_names[0]
    assert table["status"].tolist() == ["ok", "rejected"]
    assert np.isfinite(table.loc[0, task]) and pd.isna(table.loc[1, task])
    result = pipeline.explain(smiles[0], task, tmp_path / "why")
    atoms = pd.read_csv(result.files["csv"])
    assert len(atoms) == Chem.MolFromSmiles(result.standardised_smiles).GetNumAtoms()
    assert np.isfinite(atoms.iloc[:, -1]).all() and atoms.iloc[:, -1].abs().sum() > 0
    assert result.prediction == pytest.approx(table.loc[0, task], abs=1e-5)
