from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from fedqsar.errors import ConfigError
from fedqsar.prep import parallel, structures
from fedqsar.prep import standardize as st
from fedqsar.prep.config import PrepConfig, StandardizeConfig
from fedqsar.prep.fingerprints import fingerprint_bits
from fedqsar.prep.folds import generic_scaffold, scaffold_fold
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.structures import process_structures
from fedqsar.progress import STRUCTURES_STAGE, Progress

KEY = ConsortiumKey(b"structures test key 0123456789ab")
CFG = PrepConfig()

INPUTS = [
    "CC(=O)Nc1ccc(O)cc1",  # 0 paracetamol
    "CCC(=O)[O-].[Na+]",  # 1 salt form of 2
    "CCC(=O)O",  # 2
    "CC(=O)Nc1ccc(O)cc1",  # 3 duplicate of 0
    "",  # 4
    None,  # 5
    "C1CC",  # 6
    "C" * 120,  # 7
    "OC(=O)CC",  # 8 another spelling of 2
    "Oc1ccccn1",  # 9 tautomer of 10
    "O=c1cccc[nH]1",  # 10
]


@pytest.fixture(scope="module")
def batch():
    seen: list[tuple[str, int, int | None, str]] = []
    result = process_structures(INPUTS, CFG, KEY, n_jobs=1, progress=_recorder(seen))
    return result, seen


def _recorder(seen: list) -> Progress:
    def record(stage: str, done: int, total: int | None = None, detail: str = "") -> None:
        seen.append((stage, done, total, detail))

    return record


def test_reasons_and_smiles_per_input_position(batch) -> None:
    result, _ = batch
    assert result.reasons == [
        None,
        None,
        None,
        None,
        st.EMPTY_SMILES,
        st.EMPTY_SMILES,
        st.UNPARSABLE_SMILES,
        st.TOO_MANY_HEAVY_ATOMS,
        None,
        None,
        None,
    ]
    assert result.std_smiles[1] == result.std_smiles[2] == result.std_smiles[8] == "CCC(=O)O"
    assert result.std_smiles[9] == result.std_smiles[10]
    assert result.n_unique == 9  # 11 inputs: "" and None are one missing value, one exact duplicate


def test_rows_match_the_single_molecule_functions(batch) -> None:
    result, _ = batch
    assert result.X.shape == (len(INPUTS), CFG.fingerprint.n_bits) and result.X.dtype == np.float32
    perm = KEY.permutation(CFG.fingerprint.n_bits)
    for i, smiles in enumerate(result.std_smiles):
        row = result.X[i]
        if smiles is None:
            assert row.nnz == 0 and result.scaffold_folds[i] == -1 and np.isnan(result.mol_weight[i])
            continue
        bits, values = fingerprint_bits(smiles, CFG.fingerprint, perm)
        assert np.array_equal(row.indices, bits) and np.array_equal(row.data, values)
        assert result.scaffold_folds[i] == scaffold_fold(generic_scaffold(smiles), KEY, CFG.folds.n_folds)
        mol = Chem.MolFromSmiles(smiles)
        assert result.heavy_atoms[i] == mol.GetNumHeavyAtoms()
        assert result.mol_weight[i] == pytest.approx(Descriptors.MolWt(mol))


def test_same_structure_gets_equal_rows_and_folds(batch) -> None:
    result, _ = batch
    for a, b in [(0, 3), (1, 2), (2, 8), (9, 10)]:
        assert (result.X[a] != result.X[b]).nnz == 0
        assert result.scaffold_folds[a] == result.scaffold_folds[b]


def test_weights_heavy_atoms_and_progress(batch) -> None:
    result, seen = batch
    assert result.input_mol_weight[1] > result.mol_weight[1]  # the sodium salt weighs more
    assert result.heavy_atoms[7] == 120 and result.heavy_atoms[6] == -1
    assert seen[-1] == (STRUCTURES_STAGE, len(INPUTS), len(INPUTS), "")  # done counts input positions
    assert [done for _, done, _, _ in seen] == sorted(done for _, done, _, _ in seen)
    assert result.unique_index.tolist()[:4] == [0, 1, 2, 0]


def test_parallel_run_equals_in_process_run(shared_data: Path) -> None:
    table = pd.read_csv(shared_data / "ci" / "chemprop_testdata" / "tests" / "data" / "regression.csv")
    smiles = table.iloc[:, 0].head(300).tolist() + ["C1CC", ""]
    assert len(set(smiles)) >= structures.IN_PROCESS_BELOW  # else n_jobs=2 would run in-process
    fast = PrepConfig(standardize=StandardizeConfig(steps=tuple(s for s in st.STEPS if s != "canonical_tautomer")))
    serial = process_structures(smiles, fast, KEY, n_jobs=1)
    seen: list[tuple[str, int, int | None, str]] = []
    spread = process_structures(smiles, fast, KEY, n_jobs=2, progress=_recorder(seen))
    assert spread.std_smiles == serial.std_smiles and spread.reasons == serial.reasons
    assert (spread.X != serial.X).nnz == 0
    assert np.array_equal(spread.scaffold_folds, serial.scaffold_folds)
    assert seen[-1][1:3] == (len(smiles), len(smiles))
    assert sum(r is None for r in serial.reasons) >= 290


def test_empty_input_and_bad_config() -> None:
    empty = process_structures([], CFG, KEY)
    assert empty.X.shape == (0, CFG.fingerprint.n_bits) and empty.n_unique == 0
    with pytest.raises(ConfigError):
        process_structures(["CCO"], PrepConfig(standardize=StandardizeConfig(steps=("wash",))), KEY)


def test_each_structure_is_canonicalised_and_fingerprinted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"tautomer": 0, "fingerprint": 0}
    tautomer_step = st.STEPS["canonical_tautomer"]
    fingerprint = structures.fingerprints.fingerprint_bits

    def counted_tautomer(mol, tools):  # noqa: ANN001, ANN202
        calls["tautomer"] += 1
        return tautomer_step(mol, tools)

    def counted_fingerprint(*args):  # noqa: ANN002, ANN202
        calls["fingerprint"] += 1
        return fingerprint(*args)

    monkeypatch.setitem(st.STEPS, "canonical_tautomer", counted_tautomer)
    monkeypatch.setattr(structures.fingerprints, "fingerprint_bits", counted_fingerprint)
    forms = ["Oc1ccccn1", "Oc1ccccn1.Cl", "[Na+].[Cl-].Oc1ccccn1", "Oc1ccccn1", "[2H]Oc1ccccn1", "O=c1cccc[nH]1"]
    batch = process_structures(forms, CFG, KEY, n_jobs=1)
    assert len(set(batch.std_smiles)) == 1 and batch.n_unique == 5
    assert calls["tautomer"] == 2  # the hydroxy form (salts, isotopes stripped first) and the oxo form
    assert calls["fingerprint"] == 1


def test_job_counts_and_chunks() -> None:
    assert parallel.resolve_n_jobs(-1) == parallel.available_cores() >= 1
    assert parallel.resolve_n_jobs(3) == 3
    assert parallel.split(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert 1 <= parallel.chunk_size(50_000, 2) <= 100 and parallel.chunk_size(5, 2) == 1
