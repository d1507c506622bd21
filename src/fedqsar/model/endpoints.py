"""Which task columns read a shared endpoint head: the one mapping from tasks to shared endpoints.

With ``ModelConfig.endpoint_heads = "shared"`` the trunk carries one output column per
*shareable endpoint* (``shared_endpoints()``), federated with the rest of the trunk, and a
partner's task whose ``endpoint`` (tasks table) is one of them predicts
``scale * shared_column + offset`` with a private, locally learned scale and offset
(``network.PartnerHead``) instead of its own private column.

Shareable endpoints are the registry's (``fedqsar.prep.endpoints.ENDPOINTS``) ADME endpoints:
one quantity on one canonical scale whoever measures it (logD7.4, logS, PPB, CLint, efflux
ratio, ...). Potency (pXC50) is not shareable: its meaning depends on the target, which the
``endpoint`` column does not name. The list depends only on the fedqsar version, never on any
partner's data, so the trunk's shape tells nobody which endpoints a partner measures.

This module is the only place that reads the registry for the network: when the registry
changes (names, families), the shared heads follow.
"""

from __future__ import annotations

import functools

SHAREABLE_FAMILY = "adme"


@functools.cache
def shared_endpoints() -> tuple[str, ...]:
    """Names of the endpoints that get a shared head column, in registry order."""
    from fedqsar.prep.endpoints import ENDPOINTS

    return tuple(name for name, spec in ENDPOINTS.items() if spec.family == SHAREABLE_FAMILY)


def shared_index(endpoint: object) -> int:
    """Column of ``endpoint`` in the shared endpoint head, or -1 when it is not shareable."""
    names = shared_endpoints()
    name = "" if endpoint is None else str(endpoint)
    return names.index(name) if name in names else -1


def direction_sign(endpoint: object) -> float:
    """+1.0 when a higher value means class 1 for ``endpoint`` (registry ``direction`` "high"), else -1.0.

    The initial sign of a classification task's private scale on its shared column.
    """
    from fedqsar.prep.endpoints import ENDPOINTS

    spec = ENDPOINTS.get("" if endpoint is None else str(endpoint))
    return -1.0 if spec is not None and spec.direction == "low" else 1.0
