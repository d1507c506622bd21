"""Bit recovery: what a key-holding partner learns about the others' fingerprint bits from global trunks.

Every partner receives the global trunk after every round and can rebuild the initial one
(``ModelConfig.init_seed``). A training step moves only the first-layer rows of the bits in
its batch, so a row that changed between two trunks is a bit some partner's training
compounds set; with the consortium key the bit is an ECFP environment. The attacks below
score every first-layer row (= bit) from the trunks alone; the scoring against the truth
(which bits the partners' training rows set) is the audit's, never the attacker's.

Attacks (higher score = "some partner uses this bit"):

* ``change_norm``: L2 norm of the row's change between two consecutive trunks;
* ``decay_residual``: the same after removing the best single multiple of the row's old
  value from its change (a deterministic weight decay on every row is subtracted this way);
* ``all_rounds_norm``: the change norms summed over every consecutive pair;
* ``consistency``: the mean cosine between a row's change in one round and in the next
  (noise drawn afresh each round averages to 0; a trained row keeps its direction).

Targets: ``union`` (positives: bits set by any partner's training rows; negatives: bits no
one's training rows set) and ``others:<p>`` (the bits partner ``p`` never sets itself;
positives: those another partner sets) - what ``p`` learns about its competitors.

A trunk without a per-bit tensor (the first layer kept private, ``federation.defences``)
gives every bit the same score (0) and so AUC 0.5: there is nothing to recover.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from fedqsar.model.network import PER_BIT_TABLE

SINGLE_PAIR_ATTACKS = ("change_norm", "decay_residual")
ALL_ROUND_ATTACKS = ("all_rounds_norm", "consistency")
BIT_COLUMNS = ("attack", "pair", "target", "auc", "n_positive", "n_negative")


def used_bits(X_rows: object, n_bits: int) -> np.ndarray:
    """bool (n_bits,): bits set by at least one of the CSR rows ``X_rows``."""
    used = np.zeros(n_bits, dtype=bool)
    used[np.unique(X_rows.indices)] = True  # type: ignore[attr-defined]
    return used


def _auc(scores: np.ndarray, positive: np.ndarray, candidates: np.ndarray | None = None) -> tuple[float, int, int]:
    if candidates is not None:
        scores, positive = scores[candidates], positive[candidates]
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan"), n_pos, n_neg
    return float(roc_auc_score(positive, scores)), n_pos, n_neg


def _targets(used_by: Mapping[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """target name -> (positive mask, candidate mask or None)."""
    union = np.logical_or.reduce(list(used_by.values()))
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {"union": (union, None)}
    for name, own in sorted(used_by.items()):
        others = np.logical_or.reduce([u for other, u in used_by.items() if other != name] or [np.zeros_like(own)])
        out[f"others:{name}"] = (others, ~own)
    return out


def _decay_residual(change: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Row norms of ``change - beta * old`` with the least-squares ``beta`` over all rows."""
    denominator = float(np.vdot(old, old))
    beta = float(np.vdot(change, old)) / denominator if denominator > 0 else 0.0
    return np.linalg.norm(change - beta * old, axis=1)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.einsum("ij,ij->i", a, b)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def attack_scores(
    trunks: Sequence[Mapping[str, np.ndarray]], n_bits: int, table: str | None = PER_BIT_TABLE
) -> dict[tuple[str, str], np.ndarray]:
    """Per-bit scores of every attack: (attack, pair) -> float64 (n_bits,).

    Parameters
    ----------
    trunks
        Consecutive global trunks (the initial one first), as a partner receives them.
    n_bits
        Fingerprint width (rows of the first layer).
    table
        The trunk's per-bit table (``defences.TrunkLayout.per_bit_table``); None for a trunk
        without one.

    Returns
    -------
    dict
        Single-pair attacks under pair ``"t-(t+1)"`` (indices into ``trunks``), all-round
        attacks under pair ``"all"``. Trunks without ``table`` (or ``table`` None) give zeros.
    """
    scores: dict[tuple[str, str], np.ndarray] = {}
    total = np.zeros(n_bits)
    cosines: list[np.ndarray] = []
    previous_change: np.ndarray | None = None
    for index in range(len(trunks) - 1):
        pair = f"{index}-{index + 1}"
        old, new = (None, None) if table is None else (trunks[index].get(table), trunks[index + 1].get(table))
        if old is None or new is None:
            for attack in SINGLE_PAIR_ATTACKS:
                scores[(attack, pair)] = np.zeros(n_bits)
            continue
        old64 = np.asarray(old, dtype=np.float64)
        change = np.asarray(new, dtype=np.float64) - old64
        scores[("change_norm", pair)] = np.linalg.norm(change, axis=1)
        scores[("decay_residual", pair)] = _decay_residual(change, old64)
        total += scores[("change_norm", pair)]
        if previous_change is not None:
            cosines.append(_cosine(previous_change, change))
        previous_change = change
    scores[("all_rounds_norm", "all")] = total
    scores[("consistency", "all")] = np.mean(cosines, axis=0) if cosines else np.zeros(n_bits)
    return scores


def bit_recovery_table(
    trunks: Sequence[Mapping[str, np.ndarray]], used_by: Mapping[str, np.ndarray], table: str | None = PER_BIT_TABLE
) -> pd.DataFrame:
    """AUC of every attack against every target (columns ``BIT_COLUMNS``).

    Parameters
    ----------
    trunks
        Consecutive global trunks, initial first (at least two).
    used_by
        partner -> bool (n_bits,) bits its training rows set (the truth; only for scoring).
    table
        The per-bit table attacked (:func:`attack_scores`).
    """
    if len(trunks) < 2:
        raise ValueError("bit recovery needs at least two consecutive trunks")
    n_bits = len(next(iter(used_by.values())))
    targets = _targets(used_by)
    rows = []
    for (attack, pair), scores in attack_scores(trunks, n_bits, table).items():
        for target, (positive, candidates) in targets.items():
            auc, n_pos, n_neg = _auc(scores, positive, candidates)
            rows.append((attack, pair, target, auc, n_pos, n_neg))
    return pd.DataFrame(rows, columns=list(BIT_COLUMNS))


def bit_recovery_summary(table: pd.DataFrame) -> dict[str, float | str]:
    """Headline figures: the strongest attack's AUC on the union and on a competitor's bits.

    A single-pair attack counts with its median AUC over the pairs (the attacker does not
    know which pair is best); all-round attacks with their one AUC. An AUC below 0.5 is
    folded to 1 - AUC: an attacker learns the direction from its own bits, which it knows.

    Returns
    -------
    dict
        ``bit_auc`` (max over attacks, target union), ``bit_attack`` (which attack),
        ``bit_auc_others`` (max over attacks and attacking partners of the others-only AUC),
        ``bit_auc_first_pair`` (``change_norm`` between the initial trunk and round 1).
    """
    per_attack = table.groupby(["attack", "target"])["auc"].median().reset_index()
    per_attack["auc"] = np.maximum(per_attack["auc"], 1.0 - per_attack["auc"])
    union = per_attack[per_attack["target"] == "union"].dropna(subset=["auc"])
    others = per_attack[per_attack["target"].str.startswith("others:")].dropna(subset=["auc"])
    first = table[(table["attack"] == "change_norm") & (table["pair"] == "0-1") & (table["target"] == "union")]
    best = union.loc[union["auc"].idxmax()] if len(union) else None
    return {
        "bit_auc": float(best["auc"]) if best is not None else float("nan"),
        "bit_attack": str(best["attack"]) if best is not None else "",
        "bit_auc_others": float(others["auc"].max()) if len(others) else float("nan"),
        "bit_auc_first_pair": float(max(first["auc"].iloc[0], 1 - first["auc"].iloc[0]))
        if len(first)
        else float("nan"),
    }
