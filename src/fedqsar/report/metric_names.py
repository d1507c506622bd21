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
    "log_loss": MetricInfo("log-loss", False),
    "logloss": MetricInfo("log-loss", False),
    "brier": MetricInfo("Brier score", False),
    "loss": MetricInfo("loss", False),
    "train_loss": MetricInfo("training loss", False),
    "val_loss": MetricInfo("validation loss", False),
    "val_auc_pr": MetricInfo("validation AUC-PR", True),
    "val_auc_roc": MetricInfo("validation AUC-ROC", True),
    "val_rmse": MetricInfo("validation RMSE", False),
}

PREFERRED_ORDER = ("auc_pr", "aucpr", "rmse", "auc_roc", "aucroc", "r2", "spearman")
"""Metrics the uplift and scatter sections show first (AUC-PR and RMSE are the headline)."""


def metric_key(name: str) -> str:
    """Normalised registry key: lower case, ``-`` and spaces as ``_``."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def metric_info(name: str) -> MetricInfo:
    """Registry entry for ``name``; unknown metrics keep their name and unknown direction."""
    return METRICS.get(metric_key(name), MetricInfo(name, None))


def ordered_metrics(names: list[str] | tuple[str, ...]) -> list[str]:
    """``names`` (unique) with the headline metrics first, the rest alphabetically."""
    unique = sorted(set(names))
    rank = {key: i for i, key in enumerate(PREFERRED_ORDER)}
    return sorted(unique, key=lambda n: (rank.get(metric_key(n), len(rank)), n))
