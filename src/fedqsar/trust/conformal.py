"""Partner-local conformal prediction and Venn-ABERS calibration, one calibrator per task.

Why crepes and venn-abers (and not MAPIE or hand-written code):

* ``crepes`` (Boström) works on *precomputed* non-conformity scores: its
  ``ConformalClassifier.fit(alphas, bins)`` and ``ConformalRegressor.fit(residuals, sigmas)``
  need only numbers, not a scikit-learn estimator. Our model is a torch multitask network
  with one head per partner and many sparse tasks, so wrapping it as a per-task sklearn
  estimator (what MAPIE expects) would be artificial. crepes supports exactly the two
  variants the issue asks for: Mondrian (class-conditional) inductive conformal
  classification and normalised conformal regression. Because crepes only needs the
  calibration scores, we store those (npz) and rebuild the crepes objects at load time:
  no pickle.
* ``venn-abers`` (Manokhin) implements inductive Venn-ABERS predictors from calibration
  probabilities and labels (``VennAbers.fit(p_cal, y_cal)``), again with no estimator.
* MAPIE is not installed and would add a dependency for no extra capability here.

Non-conformity for classification is crepes' hinge score, ``1 - p(class)``; Mondrian
categories are the true classes, so coverage holds separately for actives and inactives.
Regression uses ``|y - ŷ| / σ`` with a difficulty ``σ`` (see :mod:`fedqsar.trust.difficulty`), so intervals
are narrower for compounds close to the training set. p-values are *not* smoothed
(deterministic, at most ``1/(n_cal+1)`` conservative).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from crepes import ConformalClassifier, ConformalRegressor
from venn_abers import VennAbers


def hinge_scores(probability: np.ndarray) -> np.ndarray:
    """Non-conformity of both classes: (n, 2) with column c = ``1 - p(class c)``."""
    p = np.asarray(probability, dtype=np.float64)
    return np.column_stack([p, 1.0 - p])


@dataclass
class ClassificationCalibrator:
    """Mondrian ICP + inductive Venn-ABERS for one binary task.

    Parameters
    ----------
    probability
        (n_cal,) predicted probability of class 1 on the calibration rows.
    label
        (n_cal,) true labels, 0 or 1.
    """

    probability: np.ndarray
    label: np.ndarray
    _conformal: ConformalClassifier = field(init=False, repr=False)
    _venn_abers: VennAbers | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.probability = np.asarray(self.probability, dtype=np.float64)
        self.label = np.asarray(self.label, dtype=np.int64)
        if self.probability.shape != self.label.shape:
            raise ValueError(f"{self.probability.shape} probabilities for {self.label.shape} labels")
        alphas = 1.0 - np.where(self.label == 1, self.probability, 1.0 - self.probability)
        self._conformal = ConformalClassifier().fit(alphas, bins=self.label)
        self._venn_abers = None
        if len(np.unique(self.label)) == 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # venn-abers' internal all-NaN slices
                self._venn_abers = VennAbers().fit(_two_columns(self.probability), self.label)

    @property
    def n_calibration(self) -> int:
        return int(self.label.size)

    def p_values(self, probability: np.ndarray) -> np.ndarray:
        """Class-conditional conformal p-values, (n, 2): column c is the p-value of class c."""
        alphas = hinge_scores(probability)
        n = alphas.shape[0]
        columns = [self._conformal.predict_p(alphas[:, c], bins=np.full(n, c), smoothing=False) for c in (0, 1)]
        return np.column_stack(columns)

    def prediction_sets(self, probability: np.ndarray, confidence: float) -> np.ndarray:
        """Boolean (n, 2): class c is in the set when its p-value exceeds ``1 - confidence``."""
        return self.p_values(probability) > 1.0 - confidence

    def calibrated_probability(self, probability: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Venn-ABERS probability of class 1 and its (low, high) multiprobability, each (n,).

        NaN when the calibration rows hold only one class.
        """
        n = len(np.atleast_1d(probability))
        if self._venn_abers is None:
            nan = np.full(n, np.nan)
            return nan, nan.copy(), nan.copy()
        p_prime, p0_p1 = self._venn_abers.predict_proba(_two_columns(probability))
        return p_prime[:, 1], p0_p1[:, 0], p0_p1[:, 1]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """What is stored to rebuild this calibrator (no pickle)."""
        return {"probability": self.probability, "label": self.label}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ClassificationCalibrator:
        return cls(arrays["probability"], arrays["label"])


@dataclass
class RegressionCalibrator:
    """Normalised inductive conformal regressor for one task.

    Parameters
    ----------
    residual
        (n_cal,) ``y - ŷ`` on uncensored calibration rows.
    sigma
        (n_cal,) difficulty of those rows (see :func:`difficulty`).
    """

    residual: np.ndarray
    sigma: np.ndarray
    _conformal: ConformalRegressor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.residual = np.asarray(self.residual, dtype=np.float64)
        self.sigma = np.asarray(self.sigma, dtype=np.float64)
        if self.residual.shape != self.sigma.shape:
            raise ValueError(f"{self.residual.shape} residuals for {self.sigma.shape} difficulties")
        self._conformal = ConformalRegressor().fit(self.residual, sigmas=self.sigma)

    @property
    def n_calibration(self) -> int:
        return int(self.residual.size)

    def intervals(self, prediction: np.ndarray, sigma: np.ndarray, confidence: float) -> np.ndarray:
        """(n, 2) interval [low, high]; infinite when too few calibration rows for ``confidence``."""
        prediction = np.asarray(prediction, dtype=np.float64)
        if self.n_calibration == 0:
            return np.column_stack([np.full_like(prediction, -np.inf), np.full_like(prediction, np.inf)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # crepes warns when intervals are infinite
            return self._conformal.predict_int(
                prediction, sigmas=np.asarray(sigma, dtype=np.float64), confidence=confidence
            )

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"residual": self.residual, "sigma": self.sigma}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> RegressionCalibrator:
        return cls(arrays["residual"], arrays["sigma"])


def _two_columns(probability: np.ndarray) -> np.ndarray:
    p = np.asarray(probability, dtype=np.float64).reshape(-1)
    return np.column_stack([1.0 - p, p])


def set_coverage(sets: np.ndarray, label: np.ndarray) -> float:
    """Share of rows whose true class is in the prediction set; ``sets`` bool (n, 2)."""
    label = np.asarray(label, dtype=np.int64)
    return float(sets[np.arange(label.size), label].mean()) if label.size else float("nan")


def interval_coverage(intervals: np.ndarray, y: np.ndarray) -> float:
    """Share of rows with ``low <= y <= high``; ``intervals`` (n, 2)."""
    y = np.asarray(y, dtype=np.float64)
    return float(((intervals[:, 0] <= y) & (y <= intervals[:, 1])).mean()) if y.size else float("nan")
