"""How the report names metrics and which direction is better."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """Display name and direction of a metric.

    Attributes
    ----------
    label
        Name shown to the reader, e.g. ``"AUC-PR"``.
    higher_is_better
        ``True`` for AUC-like scores, ``False`` for errors, ``None`` when unknown.
    """

    label: str
    higher_is_better: bool | None


METRICS: dict[str, MetricInfo] = {
    "auc_pr": MetricInfo("AUC-PR", True),
    "aucpr": MetricInfo("AUC-PR", True),
    "auc_pr_cal": MetricInfo("calibrated AUC-PR", True),
    "auc_roc": MetricInfo("AUC-ROC", True),
    "aucroc": MetricInfo("AUC-ROC", True),
    "rmse": MetricInfo("RMSE", False),
    "mae": MetricInfo("MAE", False),
    "r2": MetricInfo("R²", True),
    "spearman": MetricInfo("Spearman ρ", True),
    "pearson": MetricInfo("Pearson r", True),
    "log_loss": MetricInfo("log-loss", False),
    "logloss": MetricInfo("log-loss", False),
    "brier": MetricInfo("Brier score", False),
    "loss": MetricInfo("loss", False),
    "seconds": MetricInfo("seconds", False),
}

PREFIXES = {"val_": "validation", "train_": "training", "test_": "test"}
"""Prefixes of history metrics (``val_auc_pr``): the label gets the word, the direction stays."""

PREFERRED_ORDER = ("auc_pr", "aucpr", "rmse", "auc_roc", "aucroc", "r2", "spearman")
"""Metrics the uplift and scatter sections show first (AUC-PR and RMSE are the headline)."""


def metric_key(name: str) -> str:
    """Normalised registry key: lower case, ``-`` and spaces as ``_``."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def metric_info(name: str) -> MetricInfo:
    """Registry entry for ``name`` (prefix ``val_``/``train_``/``test_`` allowed); unknown metrics
    keep their name and an unknown direction."""
    key = metric_key(name)
    for prefix, word in PREFIXES.items():
        if key.startswith(prefix) and key[len(prefix) :] in METRICS:
            base = METRICS[key[len(prefix) :]]
            return MetricInfo(f"{word} {base.label}", base.higher_is_better)
    return METRICS.get(key, MetricInfo(name, None))


def curve_order(names: list[str] | tuple[str, ...]) -> list[str]:
    """History metrics in reading order: losses, then headline metrics, others, timings last."""
    rank = {key: i for i, key in enumerate(PREFERRED_ORDER)}

    def key(name: str) -> tuple[int, int, str]:
        base = metric_key(name)
        for prefix in PREFIXES:
            base = base.removeprefix(prefix)
        group = 0 if base == "loss" else 2 if "second" in base or "time" in base else 1
        return group, rank.get(base, len(rank)), name

    return sorted(set(names), key=key)


def ordered_metrics(names: list[str] | tuple[str, ...]) -> list[str]:
    """``names`` (unique) with the headline metrics first, the rest alphabetically."""
    unique = sorted(set(names))
    rank = {key: i for i, key in enumerate(PREFERRED_ORDER)}
    return sorted(unique, key=lambda n: (rank.get(metric_key(n), len(rank)), n))
