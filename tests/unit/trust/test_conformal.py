"""Conformal calibrators: coverage on synthetic exchangeable data, storage round trip."""

from __future__ import annotations

import numpy as np
import pytest

from fedqsar.trust.conformal import (
    ClassificationCalibrator,
    RegressionCalibrator,
    interval_coverage,
    set_coverage,
)


def difficulty(similarity: np.ndarray) -> np.ndarray:
    """A difficulty growing with distance, as ``fedqsar.trust.difficulty.distance``."""
    return 0.05 + 1.0 - similarity


def _classification_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Imbalanced binary labels and a noisy, miscalibrated score (exchangeable rows)."""
    logit = rng.normal(size=n) * 2.0 - 1.5
    label = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    score = 1.0 / (1.0 + np.exp(-(0.5 * logit + rng.normal(scale=0.7, size=n))))
    return score, label


@pytest.mark.parametrize("confidence", [0.8, 0.9])
def test_mondrian_sets_cover_each_class(confidence: float) -> None:
    rng = np.random.default_rng(0)
    covered = {0: [], 1: []}
    for _ in range(20):
        p_cal, y_cal = _classification_data(rng, 400)
        p_test, y_test = _classification_data(rng, 400)
        sets = ClassificationCalibrator(p_cal, y_cal).prediction_sets(p_test, confidence)
        for c in (0, 1):
            covered[c].append(set_coverage(sets[y_test == c], y_test[y_test == c]))
    for c in (0, 1):
        mean = float(np.mean(covered[c]))
        assert confidence - 0.03 <= mean <= confidence + 0.05, (c, mean)


def test_sets_shrink_as_confidence_drops() -> None:
    rng = np.random.default_rng(1)
    p_cal, y_cal = _classification_data(rng, 500)
    p_test, _ = _classification_data(rng, 500)
    calibrator = ClassificationCalibrator(p_cal, y_cal)
    sizes = [calibrator.prediction_sets(p_test, c).sum(axis=1).mean() for c in (0.7, 0.8, 0.9, 0.95)]
    assert np.all(np.diff(sizes) >= 0) and sizes[0] < sizes[-1]


def test_venn_abers_fixes_miscalibration() -> None:
    rng = np.random.default_rng(2)
    p_cal, y_cal = _classification_data(rng, 3000)
    p_test, y_test = _classification_data(rng, 3000)
    calibrated, low, high = ClassificationCalibrator(p_cal, y_cal).calibrated_probability(p_test)
    assert np.all((low <= calibrated + 1e-12) & (calibrated <= high + 1e-12))
    brier_raw = np.mean((p_test - y_test) ** 2)
    brier_va = np.mean((calibrated - y_test) ** 2)
    assert brier_va < brier_raw
    # calibration-in-the-large: mean calibrated probability close to the positive rate
    assert abs(calibrated.mean() - y_test.mean()) < 0.03


def test_single_class_calibration_gives_nan_probability_and_full_sets() -> None:
    calibrator = ClassificationCalibrator(np.array([0.1, 0.2, 0.3]), np.array([0, 0, 0]))
    calibrated, _, _ = calibrator.calibrated_probability(np.array([0.5, 0.9]))
    assert np.isnan(calibrated).all()
    assert calibrator.prediction_sets(np.array([0.5, 0.9]), 0.9)[:, 1].all()  # class 1 never excluded


def _regression_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictions, truths and a similarity whose low values mean larger errors."""
    similarity = rng.uniform(0.1, 0.9, size=n)
    prediction = rng.normal(size=n)
    truth = prediction + rng.normal(size=n) * difficulty(similarity)  # errors grow with distance
    return prediction, truth, similarity


@pytest.mark.parametrize("confidence", [0.8, 0.9])
def test_normalised_intervals_cover(confidence: float) -> None:
    rng = np.random.default_rng(3)
    coverages = []
    for _ in range(20):
        pred_cal, y_cal, sim_cal = _regression_data(rng, 300)
        pred, y, sim = _regression_data(rng, 300)
        calibrator = RegressionCalibrator(y_cal - pred_cal, difficulty(sim_cal))
        coverages.append(interval_coverage(calibrator.intervals(pred, difficulty(sim), confidence), y))
    assert confidence - 0.03 <= np.mean(coverages) <= confidence + 0.03


def test_normalised_intervals_are_narrower_for_easy_compounds_and_on_average() -> None:
    rng = np.random.default_rng(4)
    pred_cal, y_cal, sim_cal = _regression_data(rng, 2000)
    pred, y, sim = _regression_data(rng, 2000)
    normalised = RegressionCalibrator(y_cal - pred_cal, difficulty(sim_cal)).intervals(pred, difficulty(sim), 0.9)
    plain = RegressionCalibrator(y_cal - pred_cal, np.ones_like(sim_cal)).intervals(pred, np.ones_like(sim), 0.9)
    width = normalised[:, 1] - normalised[:, 0]
    assert width[sim > 0.7].mean() < width[sim < 0.3].mean()
    assert width.mean() < (plain[:, 1] - plain[:, 0]).mean()


def test_too_few_calibration_rows_give_infinite_intervals() -> None:
    calibrator = RegressionCalibrator(np.array([0.1, -0.2]), np.ones(2))
    intervals = calibrator.intervals(np.zeros(3), np.ones(3), 0.9)
    assert np.isinf(intervals).all()


def test_round_trip_through_arrays_gives_identical_outputs() -> None:
    rng = np.random.default_rng(5)
    p_cal, y_cal = _classification_data(rng, 200)
    original = ClassificationCalibrator(p_cal, y_cal)
    rebuilt = ClassificationCalibrator.from_arrays(original.to_arrays())
    np.testing.assert_array_equal(original.p_values(p_cal[:50]), rebuilt.p_values(p_cal[:50]))
    pred, y, sim = _regression_data(rng, 200)
    reg = RegressionCalibrator(y - pred, difficulty(sim))
    np.testing.assert_array_equal(
        reg.intervals(pred, difficulty(sim), 0.8),
        RegressionCalibrator.from_arrays(reg.to_arrays()).intervals(pred, difficulty(sim), 0.8),
    )
