"""RDKit 2D descriptors of the standardised parent: a dense block beside the fingerprint.

The block is the cheap physics a hashed fingerprint encodes poorly: lipophilicity, polarity,
size, flexibility, aromaticity and the charge state at pH 7.4, which drive distribution
endpoints (plasma protein binding, efflux, solubility). ``prepare`` computes it in the
structure stage from the same standardised parent as the fingerprint and stores it as
``descriptors.npy`` (float32, n_compounds x n_descriptors; the names are in the manifest).

Descriptors (``DESCRIPTORS``; a config lists names from it, or ``rdkit:<Name>`` for any
descriptor of RDKit's ``Descriptors.descList``):

===================== ==================================================================
name                  meaning
===================== ==================================================================
mol_logp              Crippen logP (Wildman & Crippen 1999)
mol_mr                Crippen molar refractivity
tpsa                  topological polar surface area (Ertl 2000), N and O only, A^2
labute_asa            Labute approximate surface area, A^2
mol_weight            average molecular weight, g/mol
heavy_atoms           heavy atoms
hbd, hba              Lipinski-style H-bond donors / acceptors (rdMolDescriptors)
rotatable_bonds       rotatable bonds (strict definition)
fraction_sp3          fraction of sp3 carbons
aromatic_proportion   aromatic heavy atoms / heavy atoms
rings                 rings (SSSR)
aromatic_rings        aromatic rings
aliphatic_rings       aliphatic rings
heteroatoms           atoms other than C and H
halogens              F, Cl, Br, I atoms
amide_bonds           amide bonds
formal_charge         net formal charge of the standardised parent (permanent charges)
acidic_groups         ionisable acidic groups with a class pKa below 7.4 (mostly ionised)
basic_groups          ionisable basic groups with a class pKa above 7.4 (mostly ionised)
charge_ph74           expected net charge at ``ph`` (default 7.4), see below
log_fraction_neutral  log10 of the fraction of the fully neutral species at ``ph``
logd_estimate         mol_logp + log_fraction_neutral (only neutral species partition)
zwitterion            1.0 when an acid and a base are both mostly ionised, else 0.0
===================== ==================================================================

Charge at pH 7.4 (an approximation, stated as such)
---------------------------------------------------
RDKit has no pKa predictor. Ionisable groups are found by SMARTS (``IONISABLE_GROUPS``:
carboxylic, sulfonic and phosphonic acids, tetrazoles, acyl sulfonamides, N-heteroaryl
sulfonamides, thiazolidinediones; guanidines, amidines, morpholines, aliphatic amines with
a carbonyl / nitrile / sulfonyl on the alpha carbon, with O or F on the beta carbon, and
plain, aminopyridines, imidazoles), each class with a typical literature pKa. A group atom is claimed by the first class that
matches it. A second group of the same sign within three bonds of a stronger one has its
pKa shifted by 3 units away from ionisation (piperazine: 10.0 and 7.0), a crude Coulomb
correction. Each group is then treated independently by Henderson-Hasselbalch:
fraction ionised = 1 / (1 + 10^(pKa - pH)) for acids and 1 / (1 + 10^(pH - pKa)) for
bases; ``charge_ph74`` = formal charge + sum(base fractions) - sum(acid fractions).
Phenols, anilines, pyridines, amides and sulfonamides of aryl amines (pKa far from 7.4) are
not counted. It is a class-level estimate, not a per-molecule pKa.

A value RDKit cannot compute is NaN; the model imputes and scales with statistics each
partner computes on its own training rows (they never leave the partner).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors, rdMolDescriptors

from fedqsar.errors import ConfigError
from fedqsar.prep.config import DescriptorConfig

RDKIT_PREFIX = "rdkit:"
NEIGHBOUR_BONDS = 3  # groups of the same sign this close interact
COULOMB_SHIFT = 3.0  # pKa units a second nearby group of the same sign is shifted by


@dataclass(frozen=True)
class IonisableGroup:
    """A class of ionisable group: SMARTS whose first atom carries the charge, sign, typical pKa."""

    name: str
    smarts: str
    sign: int  # -1 acid (loses a proton), +1 base (gains one)
    pka: float


_NOT_ACYL = "!$(N-C=O);!$(N-S=O);!$(N-C#N);!$(N-[N+](=O)[O-])"
_AMINE_CONDITIONS = "NX3;!$(N-[!#6;!#1]);!$(N-[#6]=[#7,#8,#16]);!$(N-a);!$(N-[#6]#[#7]);!$(N-C=C)"
# a carbonyl, nitrile, sulfonyl or CF2 on the alpha carbon lowers an amine's pKa by ~2 (lidocaine 7.9);
# O or F on the beta carbon by ~1 (ethanolamine 9.5, propranolol 9.5)
_ALPHA_EWG = "$(N-[CX4]-[#6]=[#8]),$(N-[CX4]-[#6]#[#7]),$(N-[CX4]-[#16](=O)=O),$(N-[CX4]-[CX4](F)F)"
_BETA_HETERO = "$(N-[CX4]-[CX4]-[OX2,F]),$(N-[CX4]-[CX4]-[CX4](F)(F)F)"
IONISABLE_GROUPS: tuple[IonisableGroup, ...] = (
    IonisableGroup("sulfonic_acid", "[OX2H1,OX1-]-[SX4](=O)=O", -1, -1.0),
    IonisableGroup("phosphonic_acid", "[OX2H1,OX1-]-[PX4]=O", -1, 2.0),
    IonisableGroup("carboxylic_acid", "[OX2H1,OX1-]-[CX3](=O)[#6,#1]", -1, 4.2),
    IonisableGroup("tetrazole", "[nH1,n-]1nnnc1", -1, 4.9),
    IonisableGroup("tetrazole_2h", "[nH1,n-]1nncn1", -1, 4.9),
    IonisableGroup("acyl_sulfonamide", "[NX3H1,NX2-](C=O)S(=O)(=O)", -1, 4.5),
    IonisableGroup("heteroaryl_sulfonamide", "[NX3H1,NX2-](S(=O)(=O))c:n", -1, 6.5),
    IonisableGroup("thiazolidinedione", "[NX3H1,NX2-]1C(=O)SCC1=O", -1, 6.5),
    IonisableGroup("guanidine", f"[NX2;{_NOT_ACYL}]=C([NX3;{_NOT_ACYL}])[NX3;{_NOT_ACYL}]", +1, 12.5),
    IonisableGroup("amidine", f"[NX2;{_NOT_ACYL};!$(N-a)]=[CX3]([#6,#1])[NX3;{_NOT_ACYL}]", +1, 11.5),
    IonisableGroup("morpholine", f"[{_AMINE_CONDITIONS};R]1CCOCC1", +1, 7.4),
    IonisableGroup("amine_alpha_ewg", f"[{_AMINE_CONDITIONS};{_ALPHA_EWG}]", +1, 7.8),
    IonisableGroup("amine_beta_heteroatom", f"[{_AMINE_CONDITIONS};{_BETA_HETERO}]", +1, 8.8),
    IonisableGroup("amine", f"[{_AMINE_CONDITIONS}]", +1, 10.0),
    IonisableGroup("aminopyridine_4", f"[nX2]1ccc([NX3;{_NOT_ACYL}])cc1", +1, 9.1),
    IonisableGroup("aminopyridine_2", f"[nX2]1c([NX3;{_NOT_ACYL}])cccc1", +1, 6.9),
    IonisableGroup("imidazole", "[nX2;r5;$(n1[c;!R2][c;!R2][nX3;H1,$(n-[CX4])]c1)]", +1, 6.8),
)


@dataclass(frozen=True)
class Descriptor:
    """A named descriptor: ``compute(mol, context) -> float`` and a one-line description."""

    name: str
    compute: Callable[[Chem.Mol, _Context], float]
    doc: str


class _Context:
    """Per-molecule cache shared by descriptors (the ionisable groups are found once)."""

    def __init__(self, ph: float) -> None:
        self.ph = ph
        self._groups: list[tuple[float, int]] | None = None

    def groups(self, mol: Chem.Mol) -> list[tuple[float, int]]:
        if self._groups is None:
            self._groups = ionisable_groups(mol)
        return self._groups


def _heavy(mol: Chem.Mol) -> int:
    return mol.GetNumHeavyAtoms()


def _aromatic_proportion(mol: Chem.Mol, _: _Context) -> float:
    heavy = _heavy(mol)
    return sum(atom.GetIsAromatic() for atom in mol.GetAtoms()) / heavy if heavy else 0.0


def _count_atoms(symbols: frozenset[int]) -> Callable[[Chem.Mol, _Context], float]:
    return lambda mol, _: float(sum(atom.GetAtomicNum() in symbols for atom in mol.GetAtoms()))


def _fraction_ionised(pka: float, sign: int, ph: float) -> float:
    exponent = (pka - ph) if sign < 0 else (ph - pka)
    return 1.0 / (1.0 + 10.0 ** max(min(exponent, 30.0), -30.0))


def _charge(mol: Chem.Mol, ctx: _Context) -> float:
    formal = float(Chem.GetFormalCharge(mol))
    return formal + sum(sign * _fraction_ionised(pka, sign, ctx.ph) for pka, sign in ctx.groups(mol))


def _log_fraction_neutral(mol: Chem.Mol, ctx: _Context) -> float:
    total = 0.0
    for pka, sign in ctx.groups(mol):
        total += math.log10(max(1.0 - _fraction_ionised(pka, sign, ctx.ph), 1e-30))
    return max(total, -30.0)


def _mostly_ionised(sign: int) -> Callable[[Chem.Mol, _Context], float]:
    return lambda mol, ctx: float(sum(s == sign and _fraction_ionised(p, s, ctx.ph) > 0.5 for p, s in ctx.groups(mol)))


def _zwitterion(mol: Chem.Mol, ctx: _Context) -> float:
    return float(_mostly_ionised(-1)(mol, ctx) > 0 and _mostly_ionised(+1)(mol, ctx) > 0)


def _crippen_logp(mol: Chem.Mol) -> float:
    return float(rdMolDescriptors.CalcCrippenDescriptors(mol)[0])  # what Crippen.MolLogP returns


def _crippen_mr(mol: Chem.Mol) -> float:
    return float(rdMolDescriptors.CalcCrippenDescriptors(mol)[1])  # what Crippen.MolMR returns


def _plain(function: Callable[[Chem.Mol], float]) -> Callable[[Chem.Mol, _Context], float]:
    return lambda mol, _: float(function(mol))


_BUILT_IN = (
    Descriptor("mol_logp", _plain(_crippen_logp), "Crippen logP"),
    Descriptor("mol_mr", _plain(_crippen_mr), "Crippen molar refractivity"),
    Descriptor("tpsa", _plain(rdMolDescriptors.CalcTPSA), "topological polar surface area (N, O), A^2"),
    Descriptor("labute_asa", _plain(rdMolDescriptors.CalcLabuteASA), "Labute approximate surface area, A^2"),
    Descriptor("mol_weight", _plain(Descriptors.MolWt), "average molecular weight, g/mol"),
    Descriptor("heavy_atoms", _plain(_heavy), "heavy atoms"),
    Descriptor("hbd", _plain(rdMolDescriptors.CalcNumHBD), "H-bond donors"),
    Descriptor("hba", _plain(rdMolDescriptors.CalcNumHBA), "H-bond acceptors"),
    Descriptor("rotatable_bonds", _plain(rdMolDescriptors.CalcNumRotatableBonds), "rotatable bonds"),
    Descriptor("fraction_sp3", _plain(rdMolDescriptors.CalcFractionCSP3), "fraction of sp3 carbons"),
    Descriptor("aromatic_proportion", _aromatic_proportion, "aromatic heavy atoms / heavy atoms"),
    Descriptor("rings", _plain(rdMolDescriptors.CalcNumRings), "rings"),
    Descriptor("aromatic_rings", _plain(rdMolDescriptors.CalcNumAromaticRings), "aromatic rings"),
    Descriptor("aliphatic_rings", _plain(rdMolDescriptors.CalcNumAliphaticRings), "aliphatic rings"),
    Descriptor("heteroatoms", _plain(rdMolDescriptors.CalcNumHeteroatoms), "atoms other than C and H"),
    Descriptor("halogens", _count_atoms(frozenset({9, 17, 35, 53})), "F, Cl, Br, I atoms"),
    Descriptor("amide_bonds", _plain(rdMolDescriptors.CalcNumAmideBonds), "amide bonds"),
    Descriptor("formal_charge", _plain(Chem.GetFormalCharge), "net formal charge of the standardised parent"),
    Descriptor("acidic_groups", _mostly_ionised(-1), "acidic groups mostly ionised at pH"),
    Descriptor("basic_groups", _mostly_ionised(+1), "basic groups mostly ionised at pH"),
    Descriptor("charge_ph74", _charge, "expected net charge at pH (class pKa, Henderson-Hasselbalch)"),
    Descriptor("log_fraction_neutral", _log_fraction_neutral, "log10 fraction of the neutral species at pH"),
    Descriptor("logd_estimate", lambda m, c: _crippen_logp(m) + _log_fraction_neutral(m, c), "logP + log f_neutral"),
    Descriptor("zwitterion", _zwitterion, "1 when an acid and a base are both mostly ionised"),
)
DESCRIPTORS: dict[str, Descriptor] = {d.name: d for d in _BUILT_IN}


def rdkit_descriptor_names() -> tuple[str, ...]:
    """Every RDKit ``Descriptors.descList`` name, prefixed ``rdkit:`` (depends on the RDKit version)."""
    return tuple(f"{RDKIT_PREFIX}{name}" for name, _ in Descriptors.descList)


@functools.lru_cache(maxsize=1)
def _rdkit_functions() -> dict[str, Callable[[Chem.Mol], float]]:
    return dict(Descriptors.descList)


def _resolve(name: str) -> Descriptor:
    if name in DESCRIPTORS:
        return DESCRIPTORS[name]
    if name.startswith(RDKIT_PREFIX) and name[len(RDKIT_PREFIX) :] in _rdkit_functions():
        function = _rdkit_functions()[name[len(RDKIT_PREFIX) :]]
        return Descriptor(name, _plain(function), f"RDKit Descriptors.{name[len(RDKIT_PREFIX) :]}")
    raise ConfigError(
        f"unknown descriptor {name!r}",
        f"use names from fedqsar.prep.descriptors.DESCRIPTORS ({sorted(DESCRIPTORS)[:6]}, ...) "
        f"or '{RDKIT_PREFIX}<Name>' for an RDKit Descriptors.descList entry",
    )


def check_config(cfg: DescriptorConfig) -> None:
    """Raise ``ConfigError`` for unknown or repeated names or an impossible pH."""
    if len(set(cfg.names)) != len(cfg.names):
        raise ConfigError(f"descriptor names repeat: {list(cfg.names)}", "list each descriptor once")
    if cfg.enabled and not cfg.names:
        raise ConfigError("descriptors are enabled but no names are listed", "list names or set enabled = false")
    if not 0.0 <= cfg.ph <= 14.0:
        raise ConfigError(f"descriptor pH {cfg.ph} is outside 0..14", "use e.g. ph = 7.4")
    for name in cfg.names:
        _resolve(name)


@functools.lru_cache(maxsize=8)
def _descriptors_for(names: tuple[str, ...]) -> tuple[Descriptor, ...]:
    return tuple(_resolve(name) for name in names)


@functools.lru_cache(maxsize=1)
def _group_patterns() -> tuple[tuple[IonisableGroup, Chem.Mol], ...]:
    patterns = []
    for group in IONISABLE_GROUPS:
        pattern = Chem.MolFromSmarts(group.smarts)
        if pattern is None:  # a programming error, caught by the unit tests
            raise ValueError(f"invalid SMARTS for {group.name}: {group.smarts}")
        patterns.append((group, pattern))
    return tuple(patterns)


def ionisable_groups(mol: Chem.Mol) -> list[tuple[float, int]]:
    """Ionisable groups of ``mol``: (effective pKa, sign) per group, strongest first per sign.

    The first atom of a class's SMARTS is the group's ionisable atom; an atom is claimed by
    the first class matching it. Nearby groups of the same sign are shifted (see module doc).
    """
    claimed: dict[int, tuple[float, int]] = {}
    for group, pattern in _group_patterns():
        for match in mol.GetSubstructMatches(pattern):
            claimed.setdefault(match[0], (group.pka, group.sign))
    if len(claimed) < 2:
        return list(claimed.values())
    distances = Chem.GetDistanceMatrix(mol)
    shifted: list[tuple[float, int]] = []
    for sign in (-1, +1):
        atoms = [a for a, (_, s) in claimed.items() if s == sign]
        atoms.sort(key=lambda a: claimed[a][0] if sign < 0 else -claimed[a][0])  # most ionised first
        placed: list[int] = []
        for atom in atoms:
            pka = claimed[atom][0]
            if any(distances[atom, other] <= NEIGHBOUR_BONDS for other in placed):
                pka = pka + COULOMB_SHIFT if sign < 0 else pka - COULOMB_SHIFT
            placed.append(atom)
            shifted.append((pka, sign))
    return shifted


def descriptor_vector(mol: Chem.Mol, cfg: DescriptorConfig) -> np.ndarray:
    """Descriptors of one standardised molecule, float32 (len(cfg.names),); NaN where not computable."""
    context = _Context(cfg.ph)
    out = np.full(len(cfg.names), np.nan, dtype=np.float32)
    with rdBase.BlockLogs():
        for position, descriptor in enumerate(_descriptors_for(tuple(cfg.names))):
            try:
                value = float(descriptor.compute(mol, context))
            except (RuntimeError, ValueError, ZeroDivisionError, OverflowError):
                continue
            if math.isfinite(value) and abs(value) < 3.0e38:
                out[position] = value
    return out


def descriptor_matrix(smiles: list[str | None], cfg: DescriptorConfig) -> np.ndarray:
    """Descriptors of standardised SMILES, float32 (n, len(cfg.names)); rows of None/unparsable are NaN."""
    out = np.full((len(smiles), len(cfg.names)), np.nan, dtype=np.float32)
    for row, text in enumerate(smiles):
        if not text:
            continue
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(text)
        if mol is not None:
            out[row] = descriptor_vector(mol, cfg)
    return out
