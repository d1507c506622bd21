"""The model kinds the evaluation compares (one definition for the protocol, uplift and report)."""

from __future__ import annotations

#: local-only, federated (partner-selected round), personalised (per-task best of local /
#: federated / fine-tuned on validation), pooled (upper bound), random-forest peer.
MODEL_KINDS = ("local", "federated", "personalised", "pooled", "rf")
