"""Save and load trust artefacts beside a model, without pickle.

Layout of ``<model folder>/trust/``::

    trust.json        format version, TrustConfig, domain thresholds, tasks, calibration counts
    calibration.npz   per task the calibration scores (probabilities + labels, or residuals +
                      difficulties); the crepes / venn-abers objects are rebuilt from them
    reference.npz     binarised CSR training fingerprints (the applicability-domain reference)
    reference_values.npz  CSR exact regression values of those rows (k-NN spread difficulty)
    reference_embedding.npy  (optional) float32 trunk embeddings of those rows, for trunks whose
                      embedding needs more than the fingerprint (descriptors, graphs); its
                      sha256 is recorded in trust.json and checked on loading

These files hold the partner's private calibration data and training fingerprints: they
stay on the partner's machine like the PreparedSet itself.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedqsar.errors import CorruptArtefactError, ModelFileError
from fedqsar.filemodes import private_folder, seal
from fedqsar.hashing import sha256_file
from fedqsar.integrity import check_sha256, load_json_object, read_artefact
from fedqsar.trust.calibrate import TrustArtefacts, TrustConfig
from fedqsar.trust.conformal import ClassificationCalibrator, RegressionCalibrator
from fedqsar.trust.domain import DomainThresholds

FORMAT_VERSION = 1
TRUST_DIR = "trust"
FILES = ("trust.json", "calibration.npz", "reference.npz", "reference_values.npz")
REFERENCE_EMBEDDING = "reference_embedding.npy"  # trunk embeddings of the reference rows (optional)


def trust_folder(model_folder: Path) -> Path:
    """``<model_folder>/trust``."""
    return Path(model_folder) / TRUST_DIR


def has_trust(model_folder: Path) -> bool:
    """True when ``model_folder`` holds trust artefacts."""
    folder = trust_folder(model_folder)
    return all((folder / name).is_file() for name in FILES)


def save_trust(artefacts: TrustArtefacts, model_folder: Path) -> Path:
    """Write the artefacts into ``<model_folder>/trust``; returns that folder."""
    folder = private_folder(trust_folder(model_folder))  # training fingerprints and values: 0700 / 0600
    calibrators = _calibrators(artefacts)
    arrays = {
        f"{kind}/{task}/{name}": values
        for (kind, task), calibrator in calibrators.items()
        for name, values in calibrator.to_arrays().items()
    }
    np.savez_compressed(folder / "calibration.npz", allow_pickle=False, **arrays)
    sp.save_npz(folder / "reference.npz", sp.csr_matrix(artefacts.reference, dtype=np.float32), compressed=True)
    sp.save_npz(folder / "reference_values.npz", artefacts.reference_values, compressed=True)  # keeps explicit zeros
    embedding = folder / REFERENCE_EMBEDDING
    files: dict[str, str] = {}
    if artefacts.keep_reference_embedding and artefacts._reference_embedding is not None:
        np.save(embedding, np.asarray(artefacts._reference_embedding, dtype=np.float32), allow_pickle=False)
        files[REFERENCE_EMBEDDING] = sha256_file(embedding)
    elif embedding.exists():
        embedding.unlink()
    meta = {
        "format_version": FORMAT_VERSION,
        "config": dataclasses.asdict(artefacts.config),
        "thresholds": dataclasses.asdict(artefacts.thresholds),
        "tasks": artefacts.tasks.to_dict(orient="records"),
        "n_calibration": {str(task): c.n_calibration for (_, task), c in calibrators.items()},
        "n_reference": int(artefacts.reference.shape[0]),
        "files": files,  # sha256 of the trunk-embedding reference (computed with the model's weights)
    }
    (folder / "trust.json").write_text(json.dumps(meta, indent=2, allow_nan=True), encoding="utf-8")
    return seal(folder)


def load_trust(model_folder: Path) -> TrustArtefacts:
    """Read ``<model_folder>/trust`` and rebuild the calibrators.

    Raises
    ------
    ModelFileError
        If a file is missing or of another format version.
    CorruptArtefactError
        If a file is truncated or malformed (names it).
    """
    folder = trust_folder(model_folder)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise ModelFileError(
            f"{folder} lacks {missing}",
            "fit the trust artefacts first (`fedqsar train` does it for a model trained with a validation fold)",
        )
    fix = "re-fit them (`fedqsar train` does it; or `trust.fit_trust_for_saved_model`)"
    meta = read_artefact(folder / "trust.json", load_json_object, "trust artefacts", fix)
    arrays = read_artefact(folder / "calibration.npz", _load_arrays, "trust calibration scores", fix)
    reference = read_artefact(folder / "reference.npz", _load_csr, "trust domain reference", fix)
    reference_values = read_artefact(folder / "reference_values.npz", _load_csr, "trust reference values", fix)
    embedding = _reference_embedding(folder, meta, fix)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{folder} has trust format {meta.get('format_version')}, expected {FORMAT_VERSION}", "re-fit them"
        )
    try:
        return TrustArtefacts(
            config=TrustConfig(**meta["config"]),
            tasks=pd.DataFrame(meta["tasks"], columns=["task_name", "kind"]),
            classifiers={
                t: ClassificationCalibrator.from_arrays(a) for t, a in _by_task(arrays, "classification").items()
            },
            regressors={t: RegressionCalibrator.from_arrays(a) for t, a in _by_task(arrays, "regression").items()},
            reference=reference,
            thresholds=DomainThresholds(**meta["thresholds"]),
            reference_values=reference_values,
            _reference_embedding=embedding,
            keep_reference_embedding=embedding is not None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptArtefactError(
            folder, f"trust artefacts in {folder} are malformed ({type(exc).__name__}: {exc})", fix
        ) from exc


def _calibrators(artefacts: TrustArtefacts) -> dict[tuple[str, int], ClassificationCalibrator | RegressionCalibrator]:
    """(kind, task) -> calibrator, classification first."""
    found: dict[tuple[str, int], ClassificationCalibrator | RegressionCalibrator] = {}
    found.update({("classification", task): c for task, c in artefacts.classifiers.items()})
    found.update({("regression", task): c for task, c in artefacts.regressors.items()})
    return found


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files}


def _load_csr(path: Path) -> sp.csr_matrix:
    return sp.load_npz(path).tocsr()


def _reference_embedding(folder: Path, meta: dict, fix: str) -> np.ndarray | None:
    """The stored trunk embeddings of the reference rows (checked against their sha256), or None."""
    path = folder / REFERENCE_EMBEDDING
    if not path.is_file():
        return None
    files = meta.get("files")
    check_sha256(path, (files if isinstance(files, dict) else {}).get(REFERENCE_EMBEDDING), fix)
    return read_artefact(path, lambda p: np.load(p, allow_pickle=False), "trust reference embeddings", fix)


def _by_task(arrays: dict[str, np.ndarray], kind: str) -> dict[int, dict[str, np.ndarray]]:
    grouped: dict[int, dict[str, np.ndarray]] = {}
    for key, values in arrays.items():
        stored_kind, task, name = key.split("/")
        if stored_kind == kind:
            grouped.setdefault(int(task), {})[name] = values
    return grouped
