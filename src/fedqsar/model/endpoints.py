"""Which task columns read a shared endpoint head: the one mapping from tasks to shared endpoints.

With ``ModelConfig.endpoint_heads = "shared"`` the trunk carries one output column per
*shared endpoint* (``shared_endpoint_names(model_cfg)``), federated with the rest of the trunk,
and a partner's task whose ``endpoint`` (tasks table) is one of them predicts
``scale * shared_column + offset`` with a private, locally learned scale and offset
(``network.PartnerHead``) instead of its own private column.

Shareable endpoints are the registry's (``fedqsar.prep.endpoints.ENDPOINTS``) ADME endpoints:
one quantity on one canonical scale whoever measures it (logD7.4, logS, PPB, CLint, efflux
ratio, ...). Potency (pXC50) is not shareable: its meaning depends on the target, which the
``endpoint`` column does not name.

Which of them the consortium shares is ``ModelConfig.shared_endpoints``: a list the partners
agree on (as MELLODDY's partners agreed on a task catalogue), or None for every shareable
endpoint. Only an endpoint that two or more partners measure gains from a shared column: one
measured by a single partner is averaged with the unchanged copies of the others, so under
FedAvg it learns at that partner's weight share (``endpoints_shared_by`` lists the endpoints
of two or more partners, for simulations where all task tables are at hand). The list is
configuration, never derived from a partner's data during a run, so the trunk's shape tells
nobody which endpoints a partner measures.

This module is the only place that reads the registry for the network: when the registry
changes (names, families), the shared heads follow.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable

import pandas as pd

from fedqsar.model.config import ModelConfig

SHAREABLE_FAMILY = "adme"


@functools.cache
def shareable_endpoints() -> tuple[str, ...]:
    """Names of the registry's shareable endpoints, in registry order."""
    from fedqsar.prep.endpoints import ENDPOINTS

    return tuple(name for name, spec in ENDPOINTS.items() if spec.family == SHAREABLE_FAMILY)


def shared_endpoint_names(shared_endpoints: tuple[str, ...] | None) -> tuple[str, ...]:
    """The shared head's columns for ``ModelConfig.shared_endpoints`` (None: every shareable endpoint)."""
    return shareable_endpoints() if shared_endpoints is None else tuple(shared_endpoints)


def shared_index(endpoint: object, names: tuple[str, ...]) -> int:
    """Column of ``endpoint`` among the shared head's ``names``, or -1 (a private column)."""
    name = "" if endpoint is None else str(endpoint)
    return names.index(name) if name in names else -1


def endpoints_shared_by(task_tables: Iterable[pd.DataFrame], min_partners: int = 2) -> tuple[str, ...]:
    """Shareable endpoints found in the tasks tables of at least ``min_partners`` partners (registry order)."""
    counts: dict[str, int] = {}
    for tasks in task_tables:
        for name in set(tasks["endpoint"].dropna().astype(str)):
            counts[name] = counts.get(name, 0) + 1
    return tuple(name for name in shareable_endpoints() if counts.get(name, 0) >= min_partners)


def direction_sign(endpoint: object) -> float:
    """+1.0 when a higher value means class 1 for ``endpoint`` (registry ``direction`` "high"), else -1.0.

    The initial sign of a classification task's private scale on its shared column.
    """
    from fedqsar.prep.endpoints import ENDPOINTS

    spec = ENDPOINTS.get("" if endpoint is None else str(endpoint))
    return -1.0 if spec is not None and spec.direction == "low" else 1.0


def with_consortium_endpoints(model_cfg: ModelConfig, task_tables: Iterable[pd.DataFrame]) -> ModelConfig:
    """``model_cfg`` with ``shared_endpoints`` set to the endpoints two or more partners measure.

    For simulations and evaluations, where every partner's tasks table is at hand; a
    ``shared_endpoints`` list already given (a consortium's agreement) is kept as it is.
    """
    if model_cfg.endpoint_heads != "shared" or model_cfg.shared_endpoints is not None:
        return model_cfg
    return dataclasses.replace(model_cfg, shared_endpoints=endpoints_shared_by(task_tables))
