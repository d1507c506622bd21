"""End to end: the real evaluation protocol writes a run folder, the report renders it.

No consortium.json or top-level config.toml here (``fedqsar evaluate`` alone does not write
them): the report reads the PreparedSets under ``RUN/prepared/`` and ``evaluation/config.toml``.
Federation is left out to keep the test short (Flower's start-up alone takes ~12 s), so the
report must say there is no federated comparison and no training history.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fedqsar.evaluation.config import EvalConfig, RandomForestConfig
from fedqsar.evaluation.protocol import run_protocol
from fedqsar.evaluation.uplift import UpliftConfig
from fedqsar.federation.config import FederationConfig
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.prepared import TASK_COLUMNS, PreparedSet
from fedqsar.report import SECTION_IDS, gather, write_report
from fedqsar.report.render import build_sections
from fedqsar.versions import library_versions


def learnable_prepared_set(n: int, seed: int, offset: float, n_bits: int = 128) -> PreparedSet:
    """``n`` compounds with a classification task (bit 0 or bit 1 set) and a logD-like regression task."""
    rng = np.random.default_rng(seed)
    X = (rng.random((n, n_bits)) < 0.1).astype(np.float32)
    X[:, :4] = rng.random((n, 4)) < 0.4
    label = ((X[:, 0] + X[:, 1]) > 0).astype(np.float32)
    logd = (X[:, :4] @ np.array([1.2, -0.8, 0.6, 1.0]) + rng.normal(0, 0.2, n) + offset).astype(np.float32)
    # every entry observed: stored explicitly, zeros (negative labels) included
    Y = sp.csr_matrix(
        (np.column_stack([label, logd]).ravel(), (np.repeat(np.arange(n), 2), np.tile([0, 1], n))), shape=(n, 2)
    )
    censor = sp.csr_matrix((np.zeros(Y.nnz, np.int8), Y.indices.copy(), Y.indptr.copy()), shape=Y.shape)
    tasks = pd.DataFrame(
        {
            "task_id": [0, 1],
            "task_name": ["active", "logD"],
            "assay_id": ["A1", "A2"],
            "endpoint": ["pXC50", "logD7.4"],
            "kind": ["classification", "regression"],
            "unit": ["", "log units"],
            "threshold": [6.0, np.nan],
            "training_weight": 1.0,
            "aggregation_weight": 1.0,
            "n_observed": n,
            "n_positive": [int(label.sum()), 0],
            "n_negative": [int(n - label.sum()), 0],
            "n_censored": 0,
            "passes_quorum": True,
        }
    )[list(TASK_COLUMNS)]
    compounds = pd.DataFrame(
        {"row": np.arange(n), "compound_id": [f"m{i}" for i in range(n)], "fold": np.arange(n) % 5}
    )
    accounting = {"input_rows": 2 * n + 7, "used": 2 * n, "merged": 4, "rejected": {"invalid_smiles": 3}}
    return PreparedSet(sp.csr_matrix(X), Y, censor, compounds, tasks, accounting, {"prep_hash": "e2e"})


@pytest.fixture(scope="module")
def protocol_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("protocol") / "RUN"
    partners = {
        name: learnable_prepared_set(200, seed, offset).save(run / "prepared" / name)
        for name, seed, offset in (("alpha", 1, 0.0), ("beta", 2, 0.1), ("gamma", 3, 1.5))
    }
    run_protocol(
        partners,
        ModelConfig(hidden_sizes=(32, 16), dropout=0.0),
        TrainConfig(epochs=6, batch_size=64, lr=3e-3, early_stopping_patience=3, validation_fold=3, test_fold=4),
        FederationConfig(),
        EvalConfig(
            model_kinds=("local", "pooled", "rf"),
            compound_bootstrap=20,
            uplift=UpliftConfig(n_bootstrap=100),
            rf=RandomForestConfig(n_estimators=10),
        ),
        run,
    )
    return run


def test_report_of_a_real_evaluation_run(protocol_run: Path) -> None:
    data = gather(protocol_run)
    assert data.sources == {
        "config": "evaluation/config.toml",
        "partners": "prepared/",
        "versions": "evaluation/versions.json",
    }
    assert data.versions == library_versions()  # recorded by the evaluation (same installation here)
    assert data.partner_names == ("alpha", "beta", "gamma")
    assert [p.accounting_balances for p in data.partners] == [True, True, True]
    federation, evaluation = data.ledgers
    assert federation.state == "missing" and evaluation.state == "verified"
    assert "The 8 result files match" in evaluation.detail  # 6 tables (folds.csv too), predictions, versions.json

    sections = {s.id: s for s in build_sections(data)}
    assert tuple(sections) == SECTION_IDS
    summary = " ".join(sections["summary"].paragraphs)
    assert "no federated-vs-local comparison" in summary and "The pooled model (compared with local)" in summary
    assert len(sections["uplift"].figures) == 1  # no recovered-share figure without federation
    assert sections["curves"].missing and "federation/history.csv" in sections["curves"].missing[0]
    assert sections["scatter"].warnings  # nothing evaluated both locally and federated
    consistency = sections["consistency"]
    assert [w for w in consistency.warnings if "gamma's logD7.4" in w]  # the partner with a +1.5 offset

    html = write_report(protocol_run).read_text(encoding="utf-8")
    assert html.count("<img ") == 2  # forest plot + endpoint distributions
