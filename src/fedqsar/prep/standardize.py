"""RDKit standardisation of structures, step by step, in a configurable order.

Each step is a function ``(mol, tools) -> mol`` in the ``STEPS`` registry; a
``StandardizeConfig.steps`` tuple names them in the order they run. The default order is
MELLODDY-TUNER's (see ``fedqsar.prep.config.TUNER_STEPS``):

``charge_parent``
    RDKit's ChargeParent: cleanup (RemoveHs, metal disconnection, normalisation,
    reionisation), keep the largest fragment (strips salts and solvents), neutralise, cleanup
    again (skipped for a neutral single fragment, where it changes nothing). Built here from
    cached RDKit objects; the result equals ``rdMolStandardize.ChargeParent`` (checked by
    the tests and the benchmark).
``remove_isotopes``
    every atom to its natural isotope; deuterium and tritium atoms become implicit hydrogen
    (TUNER leaves them as explicit H atoms until its later RemoveHs, so its tautomer step
    fails on deuterated tautomerisable molecules: the one place where results differ).
``remove_stereo``
    drop all tetrahedral and double-bond stereo.
``canonical_tautomer``
    RDKit's canonical tautomer, enumeration bounded by ``max_tautomers`` / ``max_transforms``.
``remove_hs``, ``metal_disconnect``, ``normalize``, ``reionize``
    the single RDKit operations of the same names.

After the steps the molecule is written to canonical SMILES and read back (as TUNER does),
so every accepted structure is guaranteed to parse again; its canonical SMILES is the result.
Molecules are rejected, never silently dropped, with one of the structure reason codes of
``prep.reasons``; a structure with no organic parent (cisplatin, NaCl, CuSO4) or with a
non-salt metal (carboplatin, ferrocene) is rejected, never replaced by a fragment (rules
and examples in ``prep.inorganic``). RDKit's own log is silenced only inside these calls.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from rdkit import Chem, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize

from fedqsar.errors import ConfigError
from fedqsar.prep import inorganic
from fedqsar.prep.config import StandardizeConfig
from fedqsar.prep.reasons import (  # noqa: F401 - the structure codes, re-exported here
    EMPTY_SMILES,
    METAL_COMPLEX,
    NO_ORGANIC_PARENT,
    STANDARDISATION_FAILED,
    STRUCTURE_REJECT_REASONS,
    TOO_FEW_HEAVY_ATOMS,
    TOO_MANY_HEAVY_ATOMS,
    UNPARSABLE_SMILES,
)


@dataclass(frozen=True)
class StandardizeTools:
    """RDKit objects that are expensive to build; made once per process and config."""

    metal_disconnector: Any
    normalizer: Any
    reionizer: Any
    fragment_chooser: Any
    uncharger: Any
    tautomer_enumerator: Any


@functools.lru_cache(maxsize=8)
def tools_for(cfg: StandardizeConfig) -> StandardizeTools:
    """The cached RDKit objects for ``cfg`` (built on first use in each process)."""
    enumerator = rdMolStandardize.TautomerEnumerator()
    enumerator.SetMaxTautomers(cfg.max_tautomers)
    enumerator.SetMaxTransforms(cfg.max_transforms)
    enumerator.SetRemoveSp3Stereo(cfg.tautomer_remove_sp3_stereo)
    return StandardizeTools(
        metal_disconnector=rdMolStandardize.MetalDisconnector(),
        normalizer=rdMolStandardize.Normalizer(),
        reionizer=rdMolStandardize.Reionizer(),
        fragment_chooser=rdMolStandardize.LargestFragmentChooser(),
        uncharger=rdMolStandardize.Uncharger(canonicalOrder=True),
        tautomer_enumerator=enumerator,
    )


# --- steps: (mol, tools) -> mol; a step may change the molecule it is given in place -----
StepFunction = Callable[[Chem.Mol, StandardizeTools], Chem.Mol]


def _remove_hs(mol: Chem.Mol, tools: StandardizeTools) -> Chem.Mol:
    return Chem.RemoveHs(mol)


def _metal_disconnect(mol: Chem.Mol, tools: StandardizeTools) -> Chem.Mol:
    return tools.metal_disconnector.Disconnect(mol)


def _normalize(mol: Chem.Mol, tools: StandardizeTools) -> Chem.Mol:
    return tools.normalizer.normalize(mol)


def _reionize(mol: Chem.Mol, tools: StandardizeTools) -> Chem.Mol:
    return tools.reionizer.reionize(mol)


def _cleanup(mol: Chem.Mol, tools: StandardizeTools) -> Chem.Mol:
    """RDKit's ``Cleanup`` with cached objects."""
    for step in (_remove_hs, _metal_disconnect, _normalize, _reionize):
        mol = step(mol, tools)
    Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
    return mol


_CHARGED_ATOM = Chem.MolFromSmarts("[!+0]")


def _charge_parent(mol: Chem.Mol, tools: StandardizeTools) -> Chem.Mol:
    """RDKit's ``ChargeParent``: cleanup, largest fragment, uncharge, cleanup.

    When the cleaned molecule is one fragment without charged atoms, choosing and uncharging
    change nothing, so the second cleanup would not either and is skipped.
    """
    mol = _cleanup(mol, tools)
    single_fragment = len(Chem.GetMolFrags(mol)) == 1
    if single_fragment and not mol.HasSubstructMatch(_CHARGED_ATOM):
        return mol
    mol = mol if single_fragment else tools.fragment_chooser.choose(mol)
    mol = tools.uncharger.uncharge(mol)
    return _cleanup(mol, tools)


def _remove_isotopes(mol: Chem.Mol, tools: StandardizeTools) -> Chem.Mol:
    rdMolStandardize.IsotopeParentInPlace(mol, skipStandardize=True)  # every isotope label to 0
    if mol.GetNumAtoms() != mol.GetNumHeavyAtoms():
        # former deuterium/tritium atoms are now plain explicit H: make them implicit, or the
        # tautomer step fails on them (TUNER's own recipe rejects e.g. [2H]Oc1ccccn1 this way)
        mol = Chem.RemoveHs(mol)
    return mol


def _remove_stereo(mol: Chem.Mol, tools: StandardizeTools) -> Chem.Mol:
    Chem.RemoveStereochemistry(mol)
    return mol


def _canonical_tautomer(mol: Chem.Mol, tools: StandardizeTools) -> Chem.Mol:
    return tools.tautomer_enumerator.Canonicalize(mol)


# Shortcuts that change no result (checked on real compounds against TUNER's plain recipe by
# the tests and the benchmark):
# - cleanup steps change nothing on a molecule that a complete cleanup produced, whatever its
#   stereo and isotope labels (explicit H left by isotope removal go in the final round trip);
# - so a run of them is skipped while the molecule is "clean": after a step that ends with a
#   complete cleanup, through label-only steps, and through a step that left its SMILES equal;
# - expensive steps are memoised per process on the SMILES of the molecule they receive.
CLEANUP_STEPS: frozenset[str] = frozenset({"remove_hs", "metal_disconnect", "normalize", "reionize"})
ENDS_CLEAN: frozenset[str] = frozenset({"charge_parent"})
LABEL_ONLY_STEPS: frozenset[str] = frozenset({"remove_isotopes", "remove_stereo"})
MEMOISED_STEPS: frozenset[str] = frozenset({"canonical_tautomer"})

STEPS: dict[str, StepFunction] = {
    "charge_parent": _charge_parent,
    "remove_isotopes": _remove_isotopes,
    "remove_stereo": _remove_stereo,
    "canonical_tautomer": _canonical_tautomer,
    "remove_hs": _remove_hs,
    "metal_disconnect": _metal_disconnect,
    "normalize": _normalize,
    "reionize": _reionize,
}


def check_config(cfg: StandardizeConfig) -> None:
    """Raise ``ConfigError`` naming the valid steps if ``cfg`` names an unknown one."""
    unknown = [name for name in cfg.steps if name not in STEPS]
    if unknown:
        raise ConfigError(
            f"unknown standardisation step(s) {unknown} in standardize.steps",
            f"valid steps are {sorted(STEPS)}",
        )
    if cfg.min_heavy_atoms < 0 or cfg.max_heavy_atoms <= cfg.min_heavy_atoms:
        raise ConfigError(
            f"standardize heavy-atom bounds are inconsistent: min {cfg.min_heavy_atoms}, max {cfg.max_heavy_atoms}",
            "use 0 <= min_heavy_atoms < max_heavy_atoms",
        )


class Standardized(NamedTuple):
    """Outcome of one structure.

    ``mol`` is the standardised molecule as parsed back from ``smiles`` (None if rejected);
    ``input_mol`` the parsed input (None if empty or unparsable).
    """

    smiles: str | None
    reason: str | None
    mol: Chem.Mol | None
    input_mol: Chem.Mol | None


def parse_input(smiles: object) -> tuple[Chem.Mol | None, str | None]:
    """Parse one input SMILES; ``(mol, None)`` or ``(None, reason)``. Call under BlockLogs."""
    if smiles is None or (isinstance(smiles, float) and math.isnan(smiles)):
        return None, EMPTY_SMILES
    text = str(smiles).strip()
    if not text:
        return None, EMPTY_SMILES
    mol = Chem.MolFromSmiles(text)
    return (None, UNPARSABLE_SMILES) if mol is None else (mol, None)


def _cleanup_run_end(steps: tuple[str, ...], start: int) -> int:
    end = start
    while end < len(steps) and steps[end] in CLEANUP_STEPS:
        end += 1
    return end


class StepsOutcome(NamedTuple):
    """What ``run_steps`` produced: a molecule (and its SMILES if already written), or a memo hit."""

    mol: Chem.Mol | None
    smiles: str | None
    memo_key: tuple[int, str] | None
    cached: Standardized | None


def run_steps(
    mol: Chem.Mol, cfg: StandardizeConfig, memo: dict[tuple[int, str], Standardized] | None = None
) -> StepsOutcome:
    """Apply ``cfg.steps`` to a copy of ``mol``, with the result-preserving shortcuts above."""
    tools = tools_for(cfg)
    steps = cfg.steps
    out, smiles, clean, memo_key = Chem.Mol(mol), None, False, None
    position = 0
    while position < len(steps):
        name = steps[position]
        if name in CLEANUP_STEPS:
            end = _cleanup_run_end(steps, position)
            if not clean:
                for cleanup_name in steps[position:end]:
                    out = STEPS[cleanup_name](out, tools)
                smiles = None
            position = end
            continue
        before = Chem.MolToSmiles(out) if name in MEMOISED_STEPS else None
        if before is not None and memo is not None and memo_key is None:
            memo_key = (position, before)
            if memo_key in memo:
                return StepsOutcome(None, None, None, memo[memo_key])
        out = STEPS[name](out, tools)
        smiles = Chem.MolToSmiles(out) if before is not None else None
        clean = name in ENDS_CLEAN or (
            clean and (name in LABEL_ONLY_STEPS or (before is not None and smiles == before))
        )
        position += 1
    return StepsOutcome(out, smiles, memo_key, None)


def standardize_parsed(
    mol: Chem.Mol, cfg: StandardizeConfig, memo: dict[tuple[int, str], Standardized] | None = None
) -> Standardized:
    """Apply ``cfg.steps`` to an already parsed molecule (not modified). Call under BlockLogs.

    ``memo`` (optional, per process) maps a molecule entering an expensive step to its
    outcome, so that structures differing only before that step (salt forms, stereoisomers)
    are canonicalised once.
    """
    if mol.GetNumHeavyAtoms() >= cfg.max_heavy_atoms:
        return Standardized(None, TOO_MANY_HEAVY_ATOMS, None, mol)
    try:
        outcome = run_steps(mol, cfg, memo)
    except Exception:  # noqa: BLE001 - RDKit raises many unrelated types; each is a reject
        return Standardized(None, STANDARDISATION_FAILED, None, mol)
    if outcome.cached is not None:
        return _metal_rule(outcome.cached._replace(input_mol=mol))
    result = Standardized(None, STANDARDISATION_FAILED, None, mol)
    if outcome.mol is not None:
        try:
            result = _finish(outcome.mol, outcome.smiles, cfg, mol)
        except Exception:  # noqa: BLE001 - RDKit raises many unrelated types; each is a reject
            pass
    if memo is not None and outcome.memo_key is not None:
        memo[outcome.memo_key] = result._replace(input_mol=None)
    return _metal_rule(result)


def _metal_rule(result: Standardized) -> Standardized:
    """Reject an accepted structure whose input holds a non-salt metal (``prep.inorganic``).

    Applied outside the memo: it depends on the input, not on the parent the memo keys.
    """
    if result.smiles is not None and result.input_mol is not None and inorganic.has_complex_metal(result.input_mol):
        return Standardized(None, METAL_COMPLEX, None, result.input_mol)
    return result


def _finish(out: Chem.Mol, smiles: str | None, cfg: StandardizeConfig, input_mol: Chem.Mol) -> Standardized:
    """Write canonical SMILES (unless ``smiles`` already is) and read it back, as TUNER does."""
    parsed_back = Chem.MolFromSmiles(smiles if smiles is not None else Chem.MolToSmiles(out))
    if parsed_back is None:
        return Standardized(None, STANDARDISATION_FAILED, None, input_mol)
    if parsed_back.GetNumHeavyAtoms() < cfg.min_heavy_atoms:
        return Standardized(None, TOO_FEW_HEAVY_ATOMS, None, input_mol)
    canonical = Chem.MolToSmiles(parsed_back)
    if not inorganic.has_organic_parent(parsed_back, canonical):
        return Standardized(None, NO_ORGANIC_PARENT, None, input_mol)
    return Standardized(canonical, None, parsed_back, input_mol)


def standardize(smiles: object, cfg: StandardizeConfig) -> Standardized:
    """Parse and standardise one SMILES; RDKit logging is silenced inside."""
    with rdBase.BlockLogs():
        mol, reason = parse_input(smiles)
        if mol is None:
            return Standardized(None, reason, None, None)
        return standardize_parsed(mol, cfg)


def standardize_smiles(smiles: object, cfg: StandardizeConfig) -> tuple[str | None, str | None]:
    """Standardised canonical SMILES of ``smiles``.

    Returns
    -------
    tuple
        ``(canonical_smiles, None)`` if accepted, ``(None, reason_code)`` if rejected; the
        codes are the keys of ``STRUCTURE_REJECT_REASONS``.

    Raises
    ------
    ConfigError
        If ``cfg.steps`` names an unknown step.
    """
    check_config(cfg)
    result = standardize(smiles, cfg)
    return result.smiles, result.reason
