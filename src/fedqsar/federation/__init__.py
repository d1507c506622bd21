"""Federation on Flower: ClientApp, ServerApp, strategy, simulation and deployment helpers.

Why the legacy Flower path (the one place this is explained)
------------------------------------------------------------
fedqsar's rounds run on Flower's *legacy* machinery: ``flwr.server.strategy.Strategy``
subclasses (``strategy.GuardedStrategy`` around FedAvg/FedAvgM/FedProx/FedAdam/...), a
``flwr.server.compat.LegacyContext`` holding the global parameters, and fit workflows over
``FitIns`` / ``FitRes`` records (``workflow``, ``payload``). The only reason is secure
aggregation: in Flower 1.42 SecAgg+ exists only as ``flwr.server.workflow.SecAggPlusWorkflow``
(server) + ``flwr.client.mod.secaggplus_mod`` (client), and that workflow drives a
``LegacyContext`` and a legacy ``Strategy``; the Message-API strategies of ``flwr.serverapp``
have no secure-aggregation counterpart. Without SecAgg+ the same legacy path is kept
(``workflow.PlainFitWorkflow``) so that one code path serves both. When Flower offers SecAgg+
on the Message API, the port touches ``strategy``, ``workflow``, ``payload``, ``server_app`` and
``client_app``; nothing outside this package sees Flower's record types.

Flower internals
----------------
Only ``warm_exec`` patches Flower internals (its SuperExec executor protocol and polling
loops, for the ``"warm"`` deployment profile). It refuses, with
``errors.UnsupportedFlowerError``, any Flower other than ``warm_exec.TESTED_FLOWER`` (the
version pinned in ``pyproject.toml``).
"""
