"""``InferencePipeline``: a saved model + the consortium key -> predictions, trust columns, explanations.

Built once from (model folder, key), it holds everything inference needs and checks it up
front: the key is the one the model's training data was prepared with (else
:class:`~fedqsar.errors.KeyMismatchError`), the model records its preparation settings, the
featuriser for them exists and gives the model's input width, and the trust artefacts (when
the folder has them) are read. Each call standardises and featurises its structures once
(``prep.structures.process_structures``, the path ``prepare`` takes, then the featuriser step),
and every output is aligned with the input positions.

Rejected structures (unparsable, too large, ...) never stop a call: their row has
``status = "rejected"``, the reason code, and empty prediction and trust columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedqsar.errors import CorruptArtefactError, InputSchemaError, KeyMismatchError, ModelFileError
from fedqsar.inference.explain import Explanation, attribution_for, explain_row
from fedqsar.inference.featurisers import Featuriser, featuriser_for
from fedqsar.model.inputs import ModelInputs
from fedqsar.model.io import SavedModel, load_model
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.structures import process_structures
from fedqsar.trust.annotate import annotate_predictions
from fedqsar.trust.calibrate import TrustArtefacts
from fedqsar.trust.model_adapter import model_functions
from fedqsar.trust.share import shareable, shared_domain_columns
from fedqsar.trust.store import has_trust, load_trust

STATUS_OK, STATUS_REJECTED = "ok", "rejected"


@dataclass(frozen=True)
class Featurised:
    """Inputs after the standardisation and featuriser steps (n = number of inputs).

    Attributes
    ----------
    smiles, std_smiles, reasons
        list (n,): the input, its standardised SMILES or None, the reject reason code or None.
    inputs
        ``ModelInputs`` (n rows): the model's input (fingerprint rows, and the descriptor block
        and structures when the model reads them); empty / NaN rows for rejected inputs.
    """

    smiles: list[str | None]
    std_smiles: list[str | None]
    reasons: list[str | None]
    inputs: ModelInputs

    @property
    def X(self) -> sp.csr_matrix:
        """CSR float32 (n, n_features): the keyed fingerprint rows (the domain reference reads them)."""
        return self.inputs.X

    @property
    def ok(self) -> np.ndarray:
        """bool (n,): the input was standardised and featurised."""
        return np.array([reason is None for reason in self.reasons], dtype=bool)


class InferencePipeline:
    """Predict, annotate and explain new structures with one saved partner model.

    Parameters
    ----------
    saved
        A loaded model folder (``model.io.load_model``).
    key
        The consortium key its training data was prepared with.

    Raises
    ------
    KeyMismatchError
        If ``key`` is not the model's key.
    ModelFileError
        If the model does not record its preparation.
    CorruptArtefactError
        If its featuriser does not give its input width (the model folder is inconsistent).
    """

    def __init__(self, saved: SavedModel, key: ConsortiumKey) -> None:
        if saved.key_id and key.key_id != saved.key_id:
            raise KeyMismatchError(
                f"key id {key.key_id} differs from the model's training key {saved.key_id}",
                "pass the consortium key file used by `fedqsar prepare` for this model's data",
            )
        self.saved, self.key = saved, key
        self.prep_config = saved.prep_settings()
        self.featuriser: Featuriser = featuriser_for(
            self.prep_config, key, saved.model_cfg.trunk, saved.model.n_descriptors
        )
        if self.featuriser.n_features != saved.model.n_bits:
            raise CorruptArtefactError(
                saved.folder / "config.json",
                f"the model's featuriser gives {self.featuriser.n_features} features, the model reads "
                f"{saved.model.n_bits}",
                f"the model folder {saved.folder} is inconsistent; re-train it",
            )
        self.trust: TrustArtefacts | None = load_trust(saved.folder) if has_trust(saved.folder) else None
        self._predict, self._embed = model_functions(saved.model, saved.partner)

    @classmethod
    def load(cls, model_folder: Path, key: ConsortiumKey) -> InferencePipeline:
        """The pipeline of a model folder (see the class for what is checked)."""
        return cls(load_model(model_folder), key)

    @property
    def tasks(self) -> pd.DataFrame:
        """The model's tasks table, in column order."""
        return self.saved.tasks_sorted

    @property
    def task_names(self) -> list[str]:
        return self.saved.task_names

    # ----------------------------------------------------------------- steps
    def featurise(self, smiles: Sequence[str | None], n_jobs: int = 1) -> Featurised:
        """Standardise (as ``prepare`` did) and featurise each input once."""
        batch = process_structures(list(smiles), self.prep_config, self.key, n_jobs=n_jobs)
        return Featurised(list(smiles), list(batch.std_smiles), list(batch.reasons), self.featuriser.features(batch))

    def values(self, featurised: Featurised) -> np.ndarray:
        """float64 (n, n_tasks): probability of class 1 or value in the task's unit; NaN for rejected rows."""
        values = np.full((len(featurised.reasons), len(self.tasks)), np.nan)
        ok = featurised.ok
        if ok.any():
            values[ok] = self.values_of(featurised.inputs.rows(np.flatnonzero(ok)))
        return values

    def values_of(self, inputs: ModelInputs) -> np.ndarray:
        """float64 (n, n_tasks) predictions of rows featurised already with the model's prep config.

        For a PreparedSet written by ``prepare`` with ``self.prep_config`` (``fedqsar score``):
        its fingerprint rows, descriptor block and structures are this featuriser's output.

        Raises
        ------
        ModelFileError
            When the rows are not as wide as the model's input.
        """
        if inputs.X.shape[1] != self.featuriser.n_features:
            raise ModelFileError(
                f"the rows have {inputs.X.shape[1]} fingerprint columns, the model reads {self.featuriser.n_features}",
                "prepare them with the model's prep config",
            )
        return np.asarray(self._predict(inputs), dtype=np.float64)

    def trust_columns(
        self, featurised: Featurised, values: np.ndarray, confidence: float | None = None
    ) -> pd.DataFrame:
        """Uncertainty and domain columns (``trust.annotate``), n rows; empty for rejected rows.

        Raises
        ------
        ModelFileError
            If the model folder has no trust artefacts, or they name tasks the model does not predict.
        """
        if self.trust is None:
            raise ModelFileError(
                f"{self.saved.folder} has no trust artefacts",
                "`fedqsar train` fits them for a model trained with a validation fold",
            )
        missing = [n for n in self.trust.tasks["task_name"].astype(str) if n not in self.task_names]
        if missing:
            raise ModelFileError(
                f"the trust artefacts in {self.saved.folder} name tasks {missing[:5]} the model does not predict",
                "re-fit the trust artefacts for this model",
            )
        order = [self.saved.column_of(str(n)) for n in self.trust.tasks["task_name"]]
        ok = np.flatnonzero(featurised.ok)
        n = len(featurised.reasons)
        columns = annotate_predictions(
            self.trust,
            values[ok][:, order],
            featurised.X[ok],
            embed=self._embed,
            confidence=confidence,
            embed_input=featurised.inputs.rows(ok),
        )
        columns.index = ok
        full = columns.reindex(range(n))  # rejected rows: NaN everywhere ...
        for name in full.columns:  # ... shown as empty cells, of the column's kind
            if name.endswith(":set"):
                full[name] = full[name].fillna("")
            elif name == "in_domain":
                full[name] = full[name].astype("boolean")
        return full

    # ------------------------------------------------------------- outputs
    def predict(
        self, smiles: Sequence[str | None], n_jobs: int = 1, confidence: float | None = None, share: bool = False
    ) -> pd.DataFrame:
        """Predictions for new structures, in input order, with trust columns when the model has them.

        ``share=True`` (``fedqsar predict --share``) gives the table fit to leave the partner
        (:meth:`shareable`): no column in it tells which compounds the model trained on.

        Returns
        -------
        pandas.DataFrame
            n rows: ``input_row``, ``status`` ("ok" / "rejected"), ``reason`` (reject code or ""),
            ``std_smiles``, one column per task (probability of class 1, or value in the task's
            unit; NaN when rejected), then the trust columns (``trust.annotate``; empty when rejected).
        """
        featurised = self.featurise(smiles, n_jobs=n_jobs)
        values = self.values(featurised)
        ok = featurised.ok
        table = pd.DataFrame(
            {
                "input_row": np.arange(len(featurised.reasons)),
                "status": np.where(ok, STATUS_OK, STATUS_REJECTED),
                "reason": [reason or "" for reason in featurised.reasons],
                "std_smiles": [s or "" for s in featurised.std_smiles],
            }
        )
        parts = [table, pd.DataFrame(values, columns=self.task_names)]
        if self.trust is not None:
            parts.append(self.trust_columns(featurised, values, confidence))
        predictions = pd.concat(parts, axis=1)
        return self.shareable(predictions, featurised) if share else predictions

    def shareable(self, predictions: pd.DataFrame, featurised: Featurised) -> pd.DataFrame:
        """``predictions`` fit to send outside the partner (``trust.share``, docs/privacy.md).

        The similarity columns are recomputed skipping training compounds with the query's own
        fingerprint and binned (never 1.0 for a training compound); ``embedding_distance`` is
        dropped.
        """
        domain = None
        if self.trust is not None:
            ok = np.flatnonzero(featurised.ok)
            columns = shared_domain_columns(self.trust, featurised.X[ok])
            columns.index = ok
            domain = columns.reindex(range(len(featurised.reasons)))
        return shareable(predictions, domain)

    def explain(self, smiles: str, task: str, out: Path) -> Explanation:
        """Atom-level explanation of one structure's prediction for ``task`` (files written into ``out``).

        Raises
        ------
        InputSchemaError
            When the structure is rejected by standardisation (the reason code is given).
        ConfigError
            When the model has no such task.
        """
        featurised = self.featurise([smiles])
        std_smiles = featurised.std_smiles[0]
        if std_smiles is None:
            raise InputSchemaError(f"structure {smiles!r} was rejected: {featurised.reasons[0]}", "check the SMILES")
        trust_row = None
        if self.trust is not None:
            trust_row = self.trust_columns(featurised, self.values(featurised)).iloc[0]
        attribute = attribution_for(self.saved.model, self.saved.partner, self._predict, self.featuriser)
        return explain_row(
            attribute, featurised.inputs.rows(np.array([0])), smiles, std_smiles, self.tasks, task, trust_row, out
        )
