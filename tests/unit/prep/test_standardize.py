from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize

from fedqsar.errors import ConfigError
from fedqsar.prep import standardize as st
from fedqsar.prep.config import TUNER_STEPS, StandardizeConfig
from fedqsar.prep.inorganic import COMPLEX_METALS
from fedqsar.prep.standardize import STEPS, standardize_smiles

DEFAULT = StandardizeConfig()


def only(*steps: str) -> StandardizeConfig:
    return StandardizeConfig(steps=steps)


def canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def test_default_order_is_tuners() -> None:
    # MELLODDY-TUNER utils/standardizer.py: ChargeParent, isotope parent, RemoveStereochemistry,
    # tautomer Canonicalize, then RemoveHs, MetalDisconnector, Normalizer, Reionizer.
    assert (
        DEFAULT.steps
        == TUNER_STEPS
        == (
            "charge_parent",
            "remove_isotopes",
            "remove_stereo",
            "canonical_tautomer",
            "remove_hs",
            "metal_disconnect",
            "normalize",
            "reionize",
        )
    )


@pytest.mark.parametrize(
    ("salt", "parent"),
    [("CCC(=O)[O-].[Na+]", "CCC(=O)O"), ("Cl.CCN", "CCN"), ("CC(=O)Nc1ccc(O)cc1.O.O", "CC(=O)Nc1ccc(O)cc1")],
)
def test_salts_and_solvents_are_stripped(salt: str, parent: str) -> None:
    assert standardize_smiles(salt, only("charge_parent")) == (canonical(parent), None)
    assert standardize_smiles(salt, DEFAULT) == (canonical(parent), None)


def test_charge_parent_step_equals_rdkit_charge_parent() -> None:
    tricky = [
        "CCC(=O)O[Na]",
        "C[N+](C)(C)CC(=O)[O-]",
        "[O-][N+](=O)c1ccccc1.[K+]",
        "NCC(=O)O",
        "c1cc[nH+]cc1.[Cl-]",
        "CN(=O)=O",
        "OC(=O)C[NH3+].[O-]S(=O)(=O)C",
        "[Mg+2].[O-]C(=O)CC.[O-]C(=O)CC",
    ]
    for smiles in tricky:
        expected = Chem.MolToSmiles(rdMolStandardize.ChargeParent(Chem.MolFromSmiles(smiles)))
        got = Chem.MolToSmiles(STEPS["charge_parent"](Chem.MolFromSmiles(smiles), st.tools_for(DEFAULT)))
        assert got == expected, smiles


def test_charge_parent_step_equals_rdkit_on_real_tox21_molecules(shared_data: Path) -> None:
    table = pd.read_csv(shared_data / "ci" / "chemprop_testdata" / "tests" / "data" / "classification.csv")
    tools = st.tools_for(DEFAULT)
    compared = 0
    with rdBase.BlockLogs():
        for smiles in table["smiles"].head(250):
            mol = Chem.MolFromSmiles(smiles)
            if mol is None:
                continue
            expected = Chem.MolToSmiles(rdMolStandardize.ChargeParent(mol))
            assert Chem.MolToSmiles(STEPS["charge_parent"](mol, tools)) == expected, smiles
            compared += 1
    assert compared > 200


def test_isotopes_are_removed() -> None:
    assert standardize_smiles("[13CH3]O", only("remove_isotopes")) == ("CO", None)
    assert standardize_smiles("[2H]C([2H])([2H])c1ccccc1", DEFAULT) == ("Cc1ccccc1", None)


def test_remove_hs_drops_explicit_hydrogens() -> None:
    mol = Chem.AddHs(Chem.MolFromSmiles("CO"))
    assert mol.GetNumAtoms() == 6
    assert STEPS["remove_hs"](mol, st.tools_for(DEFAULT)).GetNumAtoms() == 2


def test_deuterium_becomes_implicit_hydrogen_so_tautomers_still_work() -> None:
    mol = STEPS["remove_isotopes"](Chem.MolFromSmiles("[2H]OC"), st.tools_for(DEFAULT))
    assert mol.GetNumAtoms() == 2
    # TUNER's own recipe fails here (explicit H left for the tautomer step); we do not
    assert tuner_recipe_or_error("[2H]Oc1ccccn1") == "error"
    assert standardize_smiles("[2H]Oc1ccccn1", DEFAULT) == standardize_smiles("Oc1ccccn1", DEFAULT)


def tuner_recipe_or_error(smiles: str) -> str | None:
    try:
        with rdBase.BlockLogs():
            return tuner_recipe(smiles)
    except ValueError:
        return "error"


@pytest.mark.parametrize(("chiral", "flat"), [("C[C@H](N)C(=O)O", "CC(N)C(=O)O"), ("C/C=C/C(=O)O", "CC=CC(=O)O")])
def test_stereo_is_removed(chiral: str, flat: str) -> None:
    assert standardize_smiles(chiral, only("remove_stereo")) == (canonical(flat), None)
    assert standardize_smiles(chiral, DEFAULT)[0] == standardize_smiles(flat, DEFAULT)[0]


def test_tautomers_become_one_canonical_form() -> None:
    forms = ["Oc1ccccn1", "O=c1cccc[nH]1"]
    results = {standardize_smiles(s, only("canonical_tautomer")) for s in forms}
    assert len(results) == 1
    expected = Chem.MolToSmiles(rdMolStandardize.TautomerEnumerator().Canonicalize(Chem.MolFromSmiles(forms[0])))
    assert results == {(expected, None)}
    # without the step the two forms stay different
    assert len({standardize_smiles(s, only()) for s in forms}) == 2


def test_tautomer_bounds_come_from_the_config() -> None:
    enumerator = st.tools_for(StandardizeConfig(max_tautomers=17, max_transforms=33)).tautomer_enumerator
    assert enumerator.GetMaxTautomers() == 17 and enumerator.GetMaxTransforms() == 33


def test_metal_disconnection_normalisation_and_reionisation() -> None:
    assert standardize_smiles("CCC(=O)O[Na]", only("metal_disconnect")) == (canonical("CCC(=O)[O-].[Na+]"), None)
    assert standardize_smiles("CN(=O)=O", only("normalize")) == (canonical("C[N+](=O)[O-]"), None)
    # the stronger acid (carboxylic) keeps the charge, the phenol is re-protonated
    assert standardize_smiles("[O-]c1ccc(C(=O)O)cc1", only("reionize")) == (canonical("O=C([O-])c1ccc(O)cc1"), None)


def test_no_steps_only_canonicalises() -> None:
    assert standardize_smiles("OCC.[Na+].[Cl-]", only()) == (canonical("CCO.[Na+].[Cl-]"), None)


@pytest.mark.parametrize("empty", ["", "   ", None, float("nan")])
def test_empty_smiles_is_rejected(empty: object) -> None:
    assert standardize_smiles(empty, DEFAULT) == (None, st.EMPTY_SMILES)


@pytest.mark.parametrize("bad", ["C1CC", "c1cccc1", "CC(C)(C)(C)(C)C", "not a smiles"])
def test_unparsable_smiles_is_rejected(bad: str) -> None:
    assert standardize_smiles(bad, DEFAULT) == (None, st.UNPARSABLE_SMILES)


def test_heavy_atom_limits() -> None:
    assert standardize_smiles("C" * 100, DEFAULT) == (None, st.TOO_MANY_HEAVY_ATOMS)
    assert standardize_smiles("C" * 99, DEFAULT) == ("C" * 99, None)
    assert standardize_smiles("[H][H]", DEFAULT) == (None, st.TOO_FEW_HEAVY_ATOMS)
    assert standardize_smiles("CCO", StandardizeConfig(min_heavy_atoms=4)) == (None, st.TOO_FEW_HEAVY_ATOMS)


def test_a_failing_step_rejects_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(mol: Chem.Mol, tools: object) -> Chem.Mol:
        raise RuntimeError("RDKit could not do it")

    monkeypatch.setitem(STEPS, "explode", explode)
    assert standardize_smiles("CCO", only("explode")) == (None, st.STANDARDISATION_FAILED)


def test_every_reason_code_is_documented() -> None:
    codes = {
        st.EMPTY_SMILES,
        st.UNPARSABLE_SMILES,
        st.TOO_MANY_HEAVY_ATOMS,
        st.TOO_FEW_HEAVY_ATOMS,
        st.STANDARDISATION_FAILED,
        st.NO_ORGANIC_PARENT,
        st.METAL_COMPLEX,
    }
    assert codes == set(st.STRUCTURE_REJECT_REASONS)
    assert all(code.islower() and " " not in code for code in codes)


def test_unknown_step_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        standardize_smiles("CCO", only("charge_parent", "make_it_nice"))
    assert "make_it_nice" in info.value.what and "canonical_tautomer" in info.value.fix


def test_rdkit_log_is_silenced_only_inside_the_call(capfd: pytest.CaptureFixture[str]) -> None:
    standardize_smiles("c1cccc1", DEFAULT)
    assert "kekulize" not in capfd.readouterr().err
    Chem.MolFromSmiles("c1cccc1")
    assert "kekulize" in capfd.readouterr().err


def tuner_recipe(smiles: str) -> str | None:
    """MELLODDY-TUNER's standardisation written out with plain RDKit calls (no shortcuts)."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumHeavyAtoms() >= 100:
        return None
    mol = rdMolStandardize.ChargeParent(mol)
    for atom in mol.GetAtoms():
        atom.SetIsotope(0)
    Chem.RemoveStereochemistry(mol)
    enumerator = rdMolStandardize.TautomerEnumerator()
    enumerator.SetMaxTautomers(256)
    enumerator.SetRemoveSp3Stereo(False)
    mol = enumerator.Canonicalize(mol)
    Chem.SanitizeMol(mol)
    mol = Chem.RemoveHs(mol)
    mol = rdMolStandardize.MetalDisconnector().Disconnect(mol)
    mol = rdMolStandardize.Normalizer().normalize(mol)
    mol = rdMolStandardize.Reionizer().reionize(mol)
    Chem.AssignStereochemistry(mol, force=True, cleanIt=True)
    return Chem.MolToSmiles(Chem.MolFromSmiles(Chem.MolToSmiles(mol)))


def test_default_standardisation_equals_tuners_recipe_on_real_molecules(shared_data: Path) -> None:
    table = pd.read_csv(shared_data / "ci" / "chemprop_testdata" / "tests" / "data" / "classification.csv")
    smiles = table["smiles"].iloc[250:370].tolist() + ["[2H]C([2H])([2H])Oc1ccccc1.Cl", "O=c1cccc[nH]1.[Na+].[Cl-]"]
    memo: dict = {}
    metal_rejects = 0
    with rdBase.BlockLogs():
        for s in smiles:
            expected = tuner_recipe(s)
            ours, reason = standardize_smiles(s, DEFAULT)
            if reason == st.METAL_COMPLEX:  # TUNER keeps e.g. C[Hg]Cl; we reject it (prep.inorganic)
                metal_rejects += 1
                assert any(a.GetAtomicNum() in COMPLEX_METALS for a in Chem.MolFromSmiles(s).GetAtoms()), s
                continue
            if reason == st.NO_ORGANIC_PARENT:  # TUNER keeps the inorganic fragment, e.g. [Hg+2]
                metal_rejects += 1
                assert all(a.GetAtomicNum() != 6 for a in Chem.MolFromSmiles(expected).GetAtoms()), s
                continue
            assert ours == expected, s
            mol = Chem.MolFromSmiles(s)
            if mol is not None:  # the per-process memo changes nothing either
                assert st.standardize_parsed(mol, DEFAULT, memo).smiles == expected, s
    assert memo and metal_rejects <= 6  # tox21 holds a few metal salts and inorganics


def test_memo_reuses_the_tautomer_outcome_of_a_salt_form() -> None:
    memo: dict = {}
    with rdBase.BlockLogs():
        first = st.standardize_parsed(Chem.MolFromSmiles("Oc1ccccn1"), DEFAULT, memo)
        second = st.standardize_parsed(Chem.MolFromSmiles("Oc1ccccn1.Cl"), DEFAULT, memo)
    assert len(memo) == 1
    assert second.smiles == first.smiles and second.mol is first.mol
    assert Chem.MolToSmiles(second.input_mol) == "Cl.Oc1ccccn1"


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("N.N.Cl[Pt]Cl", st.NO_ORGANIC_PARENT),  # cisplatin: TUNER's recipe gives ammonia "N"
        ("[Na+].[Cl-]", st.NO_ORGANIC_PARENT),  # NaCl: would become "Cl"
        ("[Cu+2].[O-]S(=O)(=O)[O-]", st.NO_ORGANIC_PARENT),  # CuSO4: would become sulfuric acid
        ("O", st.NO_ORGANIC_PARENT),
        ("[Li+].[Li+].[O-]C([O-])=O", st.NO_ORGANIC_PARENT),  # carbonate: carbonic acid is inorganic
        ("[K+].[C-]#N", st.NO_ORGANIC_PARENT),
        ("N.N.O=C1O[Pt]OC(=O)C12CCC2", st.METAL_COMPLEX),  # carboplatin: not its cyclobutanedicarboxylic acid
        ("[Fe+2].c1cc[cH-]c1.c1cc[cH-]c1", st.METAL_COMPLEX),  # ferrocene
        ("CCCC[Sn](Cl)(CCCC)CCCC", st.METAL_COMPLEX),  # tributyltin chloride
    ],
)
def test_inorganic_and_metal_inputs_are_rejected_never_replaced_by_a_fragment(smiles: str, reason: str) -> None:
    assert standardize_smiles(smiles, DEFAULT) == (None, reason)
    assert tuner_recipe_or_error(smiles) not in (None, "error")  # the plain recipe would have kept a fragment


@pytest.mark.parametrize(
    ("salt", "parent"),
    [
        ("CC(=O)[O-].[Na+]", "CC(=O)O"),  # sodium salts are stripped as before
        ("CCN.Cl", "CCN"),
        ("CC(C)CC(NC(=O)C(Cc1ccccc1)NC(=O)c1cnccn1)B(O)O", None),  # bortezomib: boron is no metal
        ("NC(N)=O", "NC(N)=O"),  # urea is organic
    ],
)
def test_salts_and_small_organics_keep_their_parent(salt: str, parent: str | None) -> None:
    smiles, reason = standardize_smiles(salt, DEFAULT)
    assert reason is None and (parent is None or smiles == canonical(parent))
