"""Frozen settings of the evaluation protocol (written next to every run's results)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fedqsar.evaluation.kinds import MODEL_KINDS
from fedqsar.evaluation.tuning import TuningConfig
from fedqsar.evaluation.uplift import UpliftConfig


@dataclass(frozen=True)
class RandomForestConfig:
    """scikit-learn random forest peer baseline (fixed settings: no tuning on any fold).

    ``n_jobs=-1`` grows trees on every core (results do not depend on it: each tree has its
    own seeded random state).
    """

    n_estimators: int = 200
    max_features: str = "sqrt"
    min_samples_leaf: int = 1
    n_jobs: int = -1
    seed: int = 0


@dataclass(frozen=True)
class EvalConfig:
    """What to compare and how tasks qualify.

    Attributes
    ----------
    model_kinds
        Subset of ``evaluation.kinds.MODEL_KINDS`` to train and evaluate.
    min_test_positives, min_test_negatives, min_test_uncensored
        Quorum on the *test fold* (on top of the task's own ``passes_quorum`` from prepare):
        a task whose test fold has fewer positives/negatives (classification) or exact
        values (regression) is not evaluated — its metric would be noise.
    compound_bootstrap
        Draws of the per-compound bootstrap used for partners with fewer than
        ``uplift.min_tasks_for_task_bootstrap`` counted tasks (0 disables it).
    test_overlap
        ``"exclude"`` (default): compounds whose keyed structure is in any partner's test fold
        leave every partner's training and validation rows (``evaluation.overlap``);
        ``"keep"``: they stay (only to measure how much such a leak flatters a model).
    split_file, fold_column
        Folds given for this evaluation instead of the PreparedSets' own: a chemprop-style split
        file (compound ids per split) or a column of ``compounds.parquet`` (``evaluation.sets``).
    leave_one_out
        Also re-run the federation without each partner in turn (contribution valuation,
        ``evaluation.leave_one_out``).
    tuning
        Per-run hyperparameter search (``evaluation.tuning``: Optuna, validation folds only,
        the same number of trials for every model kind); ``n_trials = 0`` (default) uses the
        given settings as they are (no full-size search has been run yet: BENCHMARKS.md,
        "Federated convergence").
    """

    model_kinds: tuple[str, ...] = MODEL_KINDS
    min_test_positives: int = 3
    min_test_negatives: int = 3
    min_test_uncensored: int = 10
    compound_bootstrap: int = 200
    test_overlap: str = "exclude"
    split_file: str | None = None
    fold_column: str | None = None
    leave_one_out: bool = False
    uplift: UpliftConfig = field(default_factory=UpliftConfig)
    rf: RandomForestConfig = field(default_factory=RandomForestConfig)
    tuning: TuningConfig = field(default_factory=TuningConfig)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.model_kinds) - set(MODEL_KINDS))
        if unknown:
            raise ValueError(f"unknown model kinds {unknown}; choose from {MODEL_KINDS}")
        if self.test_overlap not in ("exclude", "keep"):
            raise ValueError(f"test_overlap must be 'exclude' or 'keep', got {self.test_overlap!r}")
        if (
            self.split_file is not None
            and self.fold_column is not None
            and not str(self.split_file).endswith((".csv", ".tsv", ".parquet", ".csv.gz", ".txt"))
        ):
            raise ValueError("fold_column with a split_file names the split column of a CSV/Parquet split file")
