"""Inorganic and metal-containing inputs: rejected with a reason, never replaced by a fragment.

Salt stripping and metal disconnection (``charge_parent``) keep the largest organic
fragment, which is right for a drug's sodium salt or hydrochloride, and wrong when there
is no organic drug to keep: cisplatin ``N.N.Cl[Pt]Cl`` would become ammonia ``N``, NaCl
``Cl``, CuSO4 sulfuric acid — each modelled with the original compound's value. Two rules
(``prep.reasons``):

``no_organic_parent``
    The standardised parent has no carbon atom (water, ammonia, hydrazine, a halide, a
    metal, an inorganic acid such as H2SO4, H3PO4, HNO3), or is one of the small inorganic
    carbon species in :data:`INORGANIC_CARBON_SMILES` (carbonic acid from carbonates, CO2,
    CO, HCN from cyanides, (thio)cyanic acid, CS2, COS). Examples: cisplatin, NaCl, CuSO4,
    Li2CO3, KCN, water.
``metal_complex``
    The input contains a metal other than the salt-forming alkali and alkaline-earth
    metals (Li, Na, K, Rb, Cs, Be, Mg, Ca, Sr, Ba): transition metals, lanthanides, Al, Ga,
    In, Tl, Sn, Pb, Bi ... (carboplatin, ferrocene, auranofin, tributyltin, gadolinium
    contrast agents). Their properties depend on the metal, so the ligand left by metal
    disconnection must not stand in for them. Metalloids (B, Si, Ge, As, Se, Sb, Te) are
    not metals: bortezomib and organosilicon compounds are kept.

``no_organic_parent`` is checked first (cisplatin has no organic parent at all).
"""

from __future__ import annotations

from rdkit import Chem

SALT_METALS: frozenset[int] = frozenset({3, 11, 19, 37, 55, 87, 4, 12, 20, 38, 56, 88})
"""Alkali and alkaline-earth metals: counter-ions of salts, stripped as usual."""

METALS: frozenset[int] = frozenset(
    {3, 4, 11, 12, 13, 19, 20, 31, 37, 38, 49, 50, 55, 56, 81, 82, 83, 84, 87, 88}
    | set(range(21, 31))
    | set(range(39, 49))
    | set(range(57, 81))
    | set(range(89, 119))
)
"""Atomic numbers of the metals (alkali, alkaline earth, transition, lanthanides, actinides, post-transition)."""

COMPLEX_METALS: frozenset[int] = METALS - SALT_METALS

INORGANIC_CARBON_SMILES: tuple[str, ...] = ("O=C(O)O", "O=C=O", "[C-]#[O+]", "C#N", "N#CO", "N#CS", "S=C=S", "O=C=S")
"""Carbon-containing species that are inorganic (as written here; compared canonically)."""

_INORGANIC_CARBON: frozenset[str] = frozenset(
    Chem.MolToSmiles(Chem.MolFromSmiles(smiles)) for smiles in INORGANIC_CARBON_SMILES
)


def has_complex_metal(mol: Chem.Mol) -> bool:
    """True if ``mol`` contains a metal atom that is not an alkali or alkaline-earth metal."""
    return any(atom.GetAtomicNum() in COMPLEX_METALS for atom in mol.GetAtoms())


def has_organic_parent(parent: Chem.Mol, parent_smiles: str) -> bool:
    """True unless the standardised ``parent`` has no carbon or is a small inorganic carbon species."""
    if not any(atom.GetAtomicNum() == 6 for atom in parent.GetAtoms()):
        return False
    return parent.GetNumHeavyAtoms() > 4 or parent_smiles not in _INORGANIC_CARBON
