"""The server's conversation with the partners, on Flower's Grid.

1. ``handshake``: one QUERY message to every node; each answers with its manifest summary
   (hashes and settings, see ``guards``) and its training example count.
2. rounds: Flower's legacy round machinery (``LegacyContext`` + a fit workflow per round; why
   legacy: the ``fedqsar.federation`` package docstring):
   ``SecAggPlusWorkflow`` when SecAgg+ is on, else ``PlainFitWorkflow``, which validates
   every partner's named trunk arrays before the strategy sees them.
3. ``deliver_final``: one EVALUATE message per node with the final trunk; each partner keeps
   trunk + its own head and answers with an empty acknowledgement.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from flwr.app import ConfigRecord, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.compat.common import recorddict_compat as compat
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key
from flwr.serverapp.grid import Grid

from fedqsar.errors import FederationError, MalformedUpdateError
from fedqsar.federation.payload import TrunkSpec, read_fit_reply, trunk_record

LOGGER = logging.getLogger("fedqsar.federation")
HANDSHAKE_RECORD = "handshake"
FINAL_TRUNK_RECORD = "trunk"
FINAL_CONFIG_RECORD = "final"
Workflow = Callable[[Grid, LegacyContext], Any]


def wait_for_nodes(grid: Grid, expected: int, timeout: float) -> list[int]:
    """Node ids once ``expected`` nodes are connected.

    Raises
    ------
    FederationError
        If fewer than ``expected`` nodes connect within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= expected:
            return nodes
        if time.monotonic() > deadline:
            raise FederationError(
                f"only {len(nodes)} of {expected} partner nodes connected within {timeout:.0f} s",
                "start every partner's node, or lower the expected partner count",
            )
        time.sleep(0.2)


def handshake(
    grid: Grid, node_ids: Iterable[int], request: Mapping[str, Any], timeout: float | None
) -> dict[int, dict[str, Any]]:
    """Each node's handshake summary (see ``guards.handshake_summary``), by node id.

    Raises
    ------
    FederationError
        If a node fails to answer or answers without a summary.
    """
    messages = [
        Message(RecordDict({HANDSHAKE_RECORD: ConfigRecord(dict(request))}), node, MessageType.QUERY)
        for node in node_ids
    ]
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    summaries: dict[int, dict[str, Any]] = {}
    for reply in replies:
        node = reply.metadata.src_node_id
        if reply.has_error() or HANDSHAKE_RECORD not in reply.content.config_records:
            detail = reply.error.reason if reply.has_error() else "no handshake record"
            raise FederationError(
                f"partner node {node} failed the handshake: {detail}", "check that node's PreparedSet path and logs"
            )
        summaries[node] = dict(reply.content.config_records[HANDSHAKE_RECORD])
    missing = set(node_ids) - set(summaries)
    if missing:
        raise FederationError(f"partner nodes {sorted(missing)} did not answer the handshake", "check those nodes")
    return summaries


def deliver_final(
    grid: Grid,
    node_ids: Iterable[int],
    trunk: Mapping[str, np.ndarray],
    config: Mapping[str, Any],
    timeout: float | None,
) -> list[int]:
    """Send the final trunk to every node; returns the nodes that acknowledged it."""

    def content() -> RecordDict:
        return RecordDict({FINAL_TRUNK_RECORD: trunk_record(trunk), FINAL_CONFIG_RECORD: ConfigRecord(dict(config))})

    replies = grid.send_and_receive(
        [Message(content(), node, MessageType.EVALUATE) for node in node_ids], timeout=timeout
    )
    acked = []
    for reply in replies:
        if reply.has_error():
            LOGGER.warning(
                "partner node %d did not store the final model: %s", reply.metadata.src_node_id, reply.error.reason
            )
        else:
            acked.append(reply.metadata.src_node_id)
    return sorted(acked)


@dataclass
class PlainFitWorkflow:
    """One training round without SecAgg+: send, receive, validate each update, aggregate.

    A reply that fails ``payload.read_fit_reply`` (wrong keys or shapes, NaN/Inf, absurd
    norm, bad count) is counted as a failure and logged with its reason; ``rejected`` keeps
    (round, node id, reason). Updates reach the strategy in partner-name order (``node_names``),
    not in arrival order, so the floating-point sum of an aggregate is the same in every run.
    """

    spec: TrunkSpec
    max_update_norm: float
    timeout: float | None = None
    node_names: Mapping[int, str] = field(default_factory=dict)
    rejected: list[tuple[int, int, str]] = field(default_factory=list)

    def __call__(self, grid: Grid, context: LegacyContext) -> None:
        current_round = cast(int, context.state.config_records[MAIN_CONFIGS_RECORD][Key.CURRENT_ROUND])
        parameters = compat.arrayrecord_to_parameters(context.state.array_records[MAIN_PARAMS_RECORD], keep_input=True)
        reference = self.spec.to_dict(parameters_to_ndarrays(parameters))
        wire = self.spec.wire()
        instructions = context.strategy.configure_fit(current_round, parameters, context.client_manager)
        proxies = {proxy.node_id: proxy for proxy, _ in instructions}
        messages = [
            Message(
                compat.fitins_to_recorddict(ins, True), proxy.node_id, MessageType.TRAIN, group_id=str(current_round)
            )
            for proxy, ins in instructions
        ]
        results: list[Any] = []
        failures: list[Any] = []
        for reply in grid.send_and_receive(messages, timeout=self.timeout):
            node = reply.metadata.src_node_id
            if reply.has_error():
                LOGGER.warning("round %d: partner node %d failed: %s", current_round, node, reply.error.reason)
                failures.append(FederationError(f"node {node}: {reply.error.reason}"))
                continue
            try:
                state, count = read_fit_reply(reply.content, wire, reference, self.max_update_norm)
            except MalformedUpdateError as exc:
                LOGGER.warning("round %d: update of partner node %d rejected: %s", current_round, node, exc.what)
                self.rejected.append((current_round, node, exc.what))
                failures.append(exc)
                continue
            fitres = FitRes(Status(Code.OK, ""), ndarrays_to_parameters(wire.to_list(state)), count, {})
            results.append((proxies[node], fitres))
        results.sort(key=lambda result: (self.node_names.get(result[0].node_id, ""), result[0].node_id))
        aggregated, _ = context.strategy.aggregate_fit(current_round, results, failures)
        if aggregated is not None:
            context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(aggregated, True)


def current_trunk(context: LegacyContext, spec: TrunkSpec) -> dict[str, np.ndarray]:
    """The global trunk held in the legacy context, as named arrays."""
    parameters = compat.arrayrecord_to_parameters(context.state.array_records[MAIN_PARAMS_RECORD], keep_input=True)
    return spec.to_dict(parameters_to_ndarrays(parameters))


def set_trunk(context: LegacyContext, spec: TrunkSpec, trunk: Mapping[str, np.ndarray]) -> None:
    """Put ``trunk`` into the legacy context as the current global parameters."""
    parameters = ndarrays_to_parameters(spec.to_list(trunk))
    context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(parameters, True)


def run_rounds(
    grid: Grid,
    context: LegacyContext,
    fit_workflow: Workflow,
    first_round: int,
    last_round: int,
    after_round: Callable[[int, float], None],
    should_stop: Callable[[int], bool] = lambda round_number: False,
) -> int:
    """Run rounds ``first_round..last_round`` with Flower's legacy client manager.

    ``after_round(round, seconds)`` runs after each round (checkpoint, ledger, progress);
    ``should_stop(round)`` after that ends the run early (convergence).

    Returns
    -------
    int
        The last round run (``first_round - 1`` when none ran).
    """
    from flwr.server.compat.app_utils import start_update_client_manager_thread

    thread, stop, ready = start_update_client_manager_thread(grid, context.client_manager)
    ready.wait()
    cfg = ConfigRecord({Key.START_TIME: time.time()})
    context.state.config_records[MAIN_CONFIGS_RECORD] = cfg
    last = first_round - 1
    try:
        for round_number in range(first_round, last_round + 1):
            started = time.perf_counter()
            cfg[Key.CURRENT_ROUND] = round_number
            fit_workflow(grid, context)
            after_round(round_number, time.perf_counter() - started)
            last = round_number
            if should_stop(round_number):
                break
    finally:
        stop.set()
        thread.join(timeout=1.0)
    return last
