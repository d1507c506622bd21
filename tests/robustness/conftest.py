"""Real artefacts for the robustness probes: two partners' PreparedSets written by the real
``prepare`` from Biogen's rat PPB data (CI subset), a model trained on one of them by the real
``fedqsar train`` (with trust artefacts), and helpers to run the CLI as a user does, in its
own process, and to damage files."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from fedqsar.prep.config import TUNER_STEPS, FingerprintConfig, PrepConfig, StandardizeConfig
from fedqsar.prep.keys import ConsortiumKey, save_key
from fedqsar.prep.pipeline import prepare

FAST_PREP = PrepConfig(  # no tautomer canonicalisation, 2,048 bits: the fixtures take seconds
    standardize=StandardizeConfig(steps=tuple(s for s in TUNER_STEPS if s != "canonical_tautomer")),
    fingerprint=FingerprintConfig(n_bits=2048),
)
KEY = ConsortiumKey(b"fedqsar-robustness-probes-012345")
OTHER_KEY = ConsortiumKey(b"fedqsar-robustness-another-key!!")


@dataclass(frozen=True)
class Consortium:
    """Files of the probes: PreparedSets A and B (same key), a differently keyed B, a trained model of A."""

    root: Path
    key_file: Path
    other_key_file: Path
    partners: dict[str, Path]
    other_keyed: Path
    model: Path
    raw: pd.DataFrame


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """``fedqsar ARGS`` in its own process, as a user runs it (output captured, never a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "fedqsar", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _long_form(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "compound_id": raw["compound_id"],
            "smiles": raw["smiles"],
            "assay_id": "rPPB",
            "value": raw["activity"],
            "unit": "log10(% unbound)",  # Biogen's LOG PLASMA PROTEIN BINDING (RAT) (% unbound)
            "qualifier": "=",
        }
    )


@pytest.fixture(scope="session")
def consortium(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Consortium:
    root = tmp_path_factory.mktemp("robustness")
    raw = pd.read_csv(shared_data / "ci" / "biogen_adme" / "MPNN" / "ADME_rPPB_train.csv").head(360)
    raw = raw.assign(compound_id=[f"biogen-{i:04d}" for i in range(len(raw))])
    key_file, other_key_file = root / "consortium.key", root / "other.key"
    save_key(KEY, key_file)
    save_key(OTHER_KEY, other_key_file)
    partners = {}
    for name, part in (("A", raw.iloc[::2]), ("B", raw.iloc[1::2])):
        source = root / "raw" / f"{name}.csv"
        source.parent.mkdir(parents=True, exist_ok=True)
        _long_form(part).to_csv(source, index=False)
        partners[name] = root / "prepared" / name
        prepare(source, partners[name], KEY, FAST_PREP, n_jobs=1)
    other = root / "prepared_other_key" / "B"
    prepare(root / "raw" / "B.csv", other, OTHER_KEY, FAST_PREP, n_jobs=1)
    model = root / "model"
    trained = run_cli("train", "--data", str(partners["A"]), "--out", str(model), "--epochs", "2", "--hidden", "32")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    return Consortium(root, key_file, other_key_file, partners, other, model, raw)


def no_traceback(result: subprocess.CompletedProcess) -> str:
    """The command's whole output, after checking that no Python traceback reached the user."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output and 'File "' not in output, output[-3000:]
    return output
