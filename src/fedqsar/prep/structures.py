"""The fast path from input SMILES to keyed fingerprints and folds (used by prepare and predict).

Each distinct input SMILES is processed once, in one pass per molecule: parse, standardise
(``prep.standardize``), keyed fingerprint (``prep.fingerprints``), RDKit 2D descriptors when
enabled (``prep.descriptors``), generic scaffold and its keyed fold (``prep.folds``), heavy
atoms and molecular weight. Inside a process, inputs that
become the same molecule before tautomer canonicalisation (salt forms, stereoisomers,
other spellings) are canonicalised once (``standardize.standardize_parsed``'s memo). Work is
spread over processes in small chunks; each worker builds its RDKit objects and the key's
permutation once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors

from fedqsar.prep import descriptors, fingerprints, folds, parallel, standardize
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.progress import STRUCTURES_STAGE, Progress

IN_PROCESS_BELOW = 256  # fewer distinct SMILES: a pool (~1.5-5 s to start) is not worth it
MEMO_LIMIT = 200_000  # per-process memo entries (molecule entering the tautomer step -> outcome)


class MoleculeResult(NamedTuple):
    """Outcome for one unique input SMILES (picklable, compact)."""

    std_smiles: str | None
    reason: str | None
    bits: np.ndarray  # int64 (k,) permuted, sorted; empty if rejected
    values: np.ndarray  # float32 (k,)
    scaffold_fold: int  # -1 if rejected
    heavy_atoms: int  # standardised molecule; input if rejected after parsing; -1 if unparsable
    mol_weight: float  # standardised molecule, g/mol; NaN if rejected
    input_mol_weight: float  # parsed input incl. counter-ions, g/mol; NaN if unparsable
    descriptors: np.ndarray  # float32 (n_descriptors,) of the standardised molecule; NaN if rejected


@dataclass(frozen=True)
class StructureBatch:
    """Per *input position* results of ``process_structures`` (n = number of inputs).

    Attributes
    ----------
    std_smiles, reasons
        list (n,): standardised canonical SMILES or None; reject reason code or None.
    X
        CSR float32 (n, n_bits): keyed fingerprint rows; empty rows for rejected inputs.
    scaffold_folds
        int64 (n,): keyed generic-scaffold fold, -1 if rejected.
    heavy_atoms
        int64 (n,): heavy atoms of the standardised molecule (of the input if rejected after
        parsing, -1 if unparsable or empty).
    mol_weight, input_mol_weight
        float64 (n,): average molecular weight of the standardised parent / of the whole
        input (salt form), g/mol; NaN where unavailable.
    descriptors
        float32 (n, n_descriptors): RDKit 2D descriptors of the standardised parent
        (``cfg.descriptors``; n_descriptors = 0 when disabled); NaN rows for rejected inputs.
    unique_index
        int64 (n,): which distinct input SMILES each position is (0 .. n_unique - 1).
    n_unique
        number of distinct input SMILES, each processed once.
    """

    std_smiles: list[str | None]
    reasons: list[str | None]
    X: sp.csr_matrix
    scaffold_folds: np.ndarray
    heavy_atoms: np.ndarray
    mol_weight: np.ndarray
    input_mol_weight: np.ndarray
    unique_index: np.ndarray
    n_unique: int
    descriptors: np.ndarray


_EMPTY_BITS = np.zeros(0, dtype=np.int64)
_EMPTY_VALUES = np.zeros(0, dtype=np.float32)


class StructureWorker:
    """Per-process state: configs, the key's permutation and memos of finished structures."""

    def __init__(self, cfg: PrepConfig, key: ConsortiumKey) -> None:
        standardize.check_config(cfg.standardize)
        fingerprints.check_config(cfg.fingerprint)
        descriptors.check_config(cfg.descriptors)
        self.cfg = cfg
        self.n_descriptors = n_descriptors(cfg)
        self.key = key
        self.permutation = key.permutation(cfg.fingerprint.n_bits)
        self.memo: dict[tuple[int, str], standardize.Standardized] = {}
        # std SMILES -> bits, values, fold, descriptors
        self.by_structure: dict[str, tuple[np.ndarray, np.ndarray, int, np.ndarray]] = {}
        standardize.tools_for(cfg.standardize)
        fingerprints.generator_for(cfg.fingerprint)

    def process(self, smiles_chunk: Sequence[str | None]) -> list[MoleculeResult]:
        """Process a chunk of distinct input SMILES; RDKit logging silenced meanwhile."""
        with rdBase.BlockLogs():
            return [self.process_one(smiles) for smiles in smiles_chunk]

    def process_one(self, smiles: str | None) -> MoleculeResult:
        """Parse, standardise, fingerprint and fold one SMILES (call under BlockLogs)."""
        input_mol, reason = standardize.parse_input(smiles)
        if input_mol is None:
            return MoleculeResult(
                None, reason, _EMPTY_BITS, _EMPTY_VALUES, -1, -1, float("nan"), float("nan"), self._no_descriptors()
            )
        if len(self.memo) >= MEMO_LIMIT or len(self.by_structure) >= MEMO_LIMIT:
            self.memo.clear()
            self.by_structure.clear()
        return self._standardised(input_mol)

    def _standardised(self, input_mol: Chem.Mol) -> MoleculeResult:
        outcome = standardize.standardize_parsed(input_mol, self.cfg.standardize, self.memo)
        input_weight = Descriptors.MolWt(input_mol)
        if outcome.mol is None:
            heavy = input_mol.GetNumHeavyAtoms()
            return MoleculeResult(
                None,
                outcome.reason,
                _EMPTY_BITS,
                _EMPTY_VALUES,
                -1,
                heavy,
                float("nan"),
                input_weight,
                self._no_descriptors(),
            )
        mol = outcome.mol
        assert outcome.smiles is not None  # a standardised molecule always comes with its SMILES
        bits, values, fold, block = self._per_structure(outcome.smiles, mol)
        return MoleculeResult(
            outcome.smiles,
            None,
            bits,
            values,
            fold,
            mol.GetNumHeavyAtoms(),
            Descriptors.MolWt(mol),
            input_weight,
            block,
        )

    def _no_descriptors(self) -> np.ndarray:
        return np.full(self.n_descriptors, np.nan, dtype=np.float32)

    def _per_structure(self, smiles: str, mol: Chem.Mol) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
        """Keyed fingerprint, scaffold fold and descriptors, once per standardised structure and process."""
        known = self.by_structure.get(smiles)
        if known is None:
            bits, values = fingerprints.fingerprint_bits(mol, self.cfg.fingerprint, self.permutation)
            fold = folds.scaffold_fold(folds.generic_scaffold(mol), self.key, self.cfg.folds.n_folds)
            block = (
                descriptors.descriptor_vector(mol, self.cfg.descriptors)
                if self.n_descriptors
                else self._no_descriptors()
            )
            known = self.by_structure[smiles] = (bits, values, fold, block)
        return known


def n_descriptors(cfg: PrepConfig) -> int:
    """Columns of the descriptor block ``cfg`` produces (0 when descriptors are disabled)."""
    return len(cfg.descriptors.names) if cfg.descriptors.enabled else 0


# --- worker-process entry points (module level so that spawn can pickle them) -----------
_WORKER: StructureWorker | None = None


def _init_worker(cfg: PrepConfig, secret: bytes) -> None:
    global _WORKER
    _WORKER = StructureWorker(cfg, ConsortiumKey(secret))


def _run_chunk(job: tuple[int, Sequence[str | None]]) -> tuple[int, list[MoleculeResult]]:
    position, chunk = job
    assert _WORKER is not None, "worker initialiser did not run"
    return position, _WORKER.process(chunk)


# --- the public entry point --------------------------------------------------------------
def _unique_inputs(smiles: Sequence[str | None]) -> tuple[list[str | None], np.ndarray]:
    """Distinct inputs (stripped; missing values collapse to None) and each position's index."""
    index_of: dict[str | None, int] = {}
    unique_index = np.empty(len(smiles), dtype=np.int64)
    for position, value in enumerate(smiles):
        text = value.strip() if isinstance(value, str) else None
        unique_index[position] = index_of.setdefault(text or None, len(index_of))
    return list(index_of), unique_index


def process_structures(
    smiles: Sequence[str | None],
    cfg: PrepConfig,
    key: ConsortiumKey,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> StructureBatch:
    """Standardise, fingerprint and fold every input SMILES, each distinct one once.

    Parameters
    ----------
    smiles
        n input SMILES (None/NaN/empty allowed: rejected as ``empty_smiles``).
    n_jobs
        processes; 1 runs in this process, <= 0 uses every available core.
    progress
        ``Progress`` called as ``progress(STRUCTURES_STAGE, done, n)``: ``done`` input positions finished so far.

    Returns
    -------
    StructureBatch
        results per input position.

    Raises
    ------
    ConfigError
        If the standardisation steps or fingerprint settings are invalid.
    """
    unique, unique_index = _unique_inputs(smiles)
    positions_per_unique = np.bincount(unique_index, minlength=len(unique))
    results = _process_unique(unique, cfg, key, parallel.resolve_n_jobs(n_jobs), positions_per_unique, progress)
    return _per_input(results, unique_index, cfg.fingerprint.n_bits, n_descriptors(cfg))


def _process_unique(
    unique: list[str | None],
    cfg: PrepConfig,
    key: ConsortiumKey,
    n_jobs: int,
    positions_per_unique: np.ndarray,
    progress: Progress | None,
) -> list[MoleculeResult]:
    size = parallel.chunk_size(len(unique), n_jobs)
    chunks = parallel.split(unique, size)
    done: list[list[MoleculeResult] | None] = [None] * len(chunks)
    finished: Iterable[tuple[int, list[MoleculeResult]]]
    if n_jobs == 1 or len(unique) < IN_PROCESS_BELOW:
        worker = StructureWorker(cfg, key)
        finished = ((position, worker.process(chunk)) for position, chunk in enumerate(chunks))
    else:
        StructureWorker(cfg, key)  # validate the config here, before starting processes
        finished = parallel.map_chunks(_run_chunk, chunks, n_jobs, _init_worker, (cfg, key.secret))
    total, finished_positions = int(positions_per_unique.sum()), 0
    for position, chunk_results in finished:
        done[position] = chunk_results
        if progress is not None:
            start = position * size
            finished_positions += int(positions_per_unique[start : start + len(chunk_results)].sum())
            progress(STRUCTURES_STAGE, finished_positions, total)
    results: list[MoleculeResult] = []
    for reported in done:
        assert reported is not None  # every chunk reported back
        results.extend(reported)
    return results


def _per_input(results: list[MoleculeResult], unique_index: np.ndarray, n_bits: int, n_block: int) -> StructureBatch:
    X_unique = fingerprints.rows_to_csr([(r.bits, r.values) for r in results], n_bits)
    std = [r.std_smiles for r in results]
    reasons = [r.reason for r in results]
    return StructureBatch(
        std_smiles=[std[i] for i in unique_index],
        reasons=[reasons[i] for i in unique_index],
        X=X_unique[unique_index] if len(unique_index) else sp.csr_matrix((0, n_bits), dtype=np.float32),
        scaffold_folds=np.array([r.scaffold_fold for r in results], dtype=np.int64)[unique_index],
        heavy_atoms=np.array([r.heavy_atoms for r in results], dtype=np.int64)[unique_index],
        mol_weight=np.array([r.mol_weight for r in results], dtype=np.float64)[unique_index],
        input_mol_weight=np.array([r.input_mol_weight for r in results], dtype=np.float64)[unique_index],
        unique_index=unique_index,
        n_unique=len(results),
        descriptors=_stack([r.descriptors for r in results], n_block)[unique_index],
    )


def _stack(rows: list[np.ndarray], width: int) -> np.ndarray:
    """float32 (len(rows), width) from per-molecule vectors."""
    return np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, width), dtype=np.float32)
