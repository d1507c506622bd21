"""Honest evaluation: local vs federated vs pooled (and a random-forest peer) on keyed
scaffold test folds, and per-partner uplift statistics with bootstrap intervals."""
