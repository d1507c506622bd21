"""Federation runs until no partner's validation loss improved for ``patience`` rounds (with a cap).

Each partner sends one bit per round (masked under SecAgg+); the server stops when no
partner is still improving, records the rounds it ran, and every partner still keeps its
best validation round.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from fedqsar.federation.config import FederationConfig, SecAggConfig
from fedqsar.federation.partner import BEST_FILE
from fedqsar.federation.simulation import run_simulation
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.personalise import PersonalisationConfig

MODEL = ModelConfig(hidden_sizes=(32, 16), dropout=0.0)
TRAIN = TrainConfig(batch_size=32, lr=3e-2, early_stopping_patience=2)  # fast: over-fits within a few rounds
CAP = 40


def test_federation_stops_once_no_partner_improves(partners4: dict[str, Path], tmp_path: Path) -> None:
    fed = FederationConfig(
        rounds=CAP,
        patience=2,
        min_partners=4,
        secagg=SecAggConfig(enabled=False),
        personalisation=PersonalisationConfig(enabled=False),
    )
    run = run_simulation(partners4, MODEL, TRAIN, fed, tmp_path / "run", num_cpus=2)
    rounds = int(run.summary["rounds"])
    assert run.summary["converged"] and 3 <= rounds < CAP
    assert run.summary["improving"][str(rounds)] == 0.0  # the stopping round: nobody improving
    assert any(value > 0 for value in run.summary["improving"].values())
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    for partner in partners4:
        losses = history[(history.partner == partner) & (history.metric == "val_loss")].set_index("round")["value"]
        best = json.loads((tmp_path / "run" / "partners" / partner / BEST_FILE).read_text())
        assert losses.idxmin() == best["round"]  # the partner keeps its best round
        # when the server stopped after round R, nobody had improved on aggregates R-1-patience+1 .. R-1;
        # only the final aggregate R, validated on delivery, may still have become a partner's best
        assert best["round"] <= rounds - 1 - fed.patience or best["round"] == rounds
