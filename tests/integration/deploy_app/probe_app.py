"""Minimal ServerApp/ClientApp: FedAvg over one small array; the ClientApp adds 1.

Used by the deployment harness test and by ``bench/bench_deployment.py`` to time the
framework's per-round cost without any model training. The ServerApp writes one JSON line
per round (round, seconds since start, participants) to ``result-file`` so the caller
can read timings and results.
"""

from __future__ import annotations

import json
import time

import numpy as np
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

client_app = ClientApp()
server_app = ServerApp()


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    """Return the received array plus one, and this node's partner name length as count."""
    arrays = msg.content["arrays"].to_numpy_ndarrays()
    partner = str(context.node_config.get("partner", ""))
    reply = RecordDict(
        {
            "arrays": ArrayRecord([a + 1.0 for a in arrays]),
            "metrics": MetricRecord({"num-examples": 10 + len(partner)}),
        }
    )
    return Message(content=reply, reply_to=msg)


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    """Run ``num-server-rounds`` rounds of plain averaging over every connected node."""
    rounds = int(context.run_config["num-server-rounds"])
    result_file = str(context.run_config.get("result-file", ""))
    weights = [np.zeros(4, dtype=np.float32)]
    start = time.monotonic()
    log = []
    for server_round in range(1, rounds + 1):
        nodes = list(grid.get_node_ids())
        messages = [
            Message(content=RecordDict({"arrays": ArrayRecord(weights)}), message_type="train", dst_node_id=node)
            for node in nodes
        ]
        replies = [r for r in grid.send_and_receive(messages, timeout=120) if not r.has_error()]
        counts = [float(r.content["metrics"]["num-examples"]) for r in replies]
        stacked = [r.content["arrays"].to_numpy_ndarrays()[0] for r in replies]
        weights = [np.average(np.stack(stacked), axis=0, weights=counts).astype(np.float32)]
        log.append(
            {
                "round": server_round,
                "t": time.monotonic() - start,
                "n_replies": len(replies),
                "n_nodes": len(nodes),
                "mean": float(weights[0].mean()),
            }
        )
    if result_file:
        with open(result_file, "w", encoding="utf-8") as handle:
            for row in log:
                handle.write(json.dumps(row) + "\n")
