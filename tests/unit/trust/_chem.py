"""Tiny RDKit fingerprints with bit environments for trust unit tests (no key permutation)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

N_BITS = 2048


def fingerprint_with_environments(
    smiles: str, radius: int = 2
) -> tuple[Chem.Mol, sp.csr_matrix, dict[int, list[tuple[int, int]]]]:
    """Molecule, its (1, N_BITS) Morgan bit row and bit -> [(centre, radius)]."""
    mol = Chem.MolFromSmiles(smiles)
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=N_BITS)
    output = rdFingerprintGenerator.AdditionalOutput()
    output.AllocateBitInfoMap()
    fp = generator.GetFingerprint(mol, additionalOutput=output)
    bits = np.array(sorted(fp.GetOnBits()), dtype=np.int64)
    row = sp.csr_matrix((np.ones(bits.size, np.float32), bits, [0, bits.size]), shape=(1, N_BITS))
    environments = {int(b): [(int(c), int(r)) for c, r in envs] for b, envs in output.GetBitInfoMap().items()}
    return mol, row, environments
