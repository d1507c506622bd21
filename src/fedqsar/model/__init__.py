"""Sparse multitask model: sparse ECFP input -> shared trunk -> private heads per partner.

Modules
-------
config       ModelConfig, TrainConfig (frozen dataclasses)
batching     CSR row gathering into torch batches
network      HeadSpec, MultitaskModel (``.trunk``, ``.heads[partner]``)
losses       masked BCE and censored MSE
sparse_adam  RowSparseAdam: lazy Adam over the rows of the first layer a batch touches
schedules    learning-rate schedules (registry)
training     Trainer (the one engine: local, pooled, federated steps, fine-tuning), run_fit, fit
regularisers ProximalPull (FedProx / L2-SP step hook)
metrics      per-task metrics and aggregation
predict      predictions, trunk embeddings, bit sensitivities
io           save_model / load_model (safetensors + JSON)

Nothing here imports Flower.
"""
