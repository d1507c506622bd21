"""The partner's Flower ClientApp.

Node config (deployment: ``flower-supernode --node-config``) names the partner's data and
private state folder::

    partner="A" prepared="/data/A/prepared" state-dir="/data/A/fedqsar-state"

Replies use Flower's legacy fit records because SecAgg+ (``secaggplus_mod``) needs them (see the
``fedqsar.federation`` package docstring). In simulation ``simulation.run_simulation`` maps Flower's ``partition-id`` to the same three
values. The app answers three messages:

* QUERY (handshake): manifest summary + training example count (none under equal weighting; see ``guards``);
* TRAIN (a round, possibly inside SecAgg+): restore private state, load the global trunk,
  align the private head to it (``head_steps`` head-only steps), record validation metrics
  of that global model locally, train ``local_epochs`` (or ``local_steps`` optimiser steps
  when the server sets them), save private state, reply with the federated trunk arrays
  (after the run's bit-privacy defence, ``defences``: by default the partner's first layer is
  not among them) + the one-bit convergence signal (has my validation loss improved within
  ``patience`` rounds?) + example count only (``payload``);
* EVALUATE (end of run): load the final trunk, record its validation metrics, save the final
  model (trunk + own head) in the state folder, personalise locally when the run asks for it
  (``federation.personalised``: fine-tune, keep per task the best of local / federated /
  fine-tuned on the partner's validation fold), reply with an empty acknowledgement.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable, Mod
from flwr.common import parameters_to_ndarrays
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.compat.common import recorddict_compat as compat
from flwr.supercore.differential_privacy import compute_clip_model_update

from fedqsar.config import from_dict
from fedqsar.errors import FederationError
from fedqsar.federation.config import BitPrivacyConfig
from fedqsar.federation.defences import NoDefence, build_defence
from fedqsar.federation.guards import handshake_summary
from fedqsar.federation.partner import PartnerPaths, PartnerRuntime, manifest_and_bits, selected_model
from fedqsar.federation.payload import TrunkSpec, fit_reply_content, record_to_arrays, with_signal
from fedqsar.federation.personalised import personalise
from fedqsar.federation.workflow import FINAL_CONFIG_RECORD, FINAL_TRUNK_RECORD, HANDSHAKE_RECORD
from fedqsar.model.config import ModelConfig, PersonalisationConfig, TrainConfig

NODE_PARTNER, NODE_PREPARED, NODE_STATE = "partner", "prepared", "state-dir"
PathResolver = Callable[[Context], PartnerPaths]


def paths_from_node_config(context: Context) -> PartnerPaths:
    """Partner name, PreparedSet and state folder from the node config.

    Raises
    ------
    FederationError
        If a key is missing.
    """
    config = context.node_config
    missing = [k for k in (NODE_PARTNER, NODE_PREPARED, NODE_STATE) if k not in config]
    if missing:
        raise FederationError(
            f"node config lacks {missing}",
            'start the node with --node-config \'partner="A" prepared="PATH" state-dir="PATH"\'',
        )
    return PartnerPaths(str(config[NODE_PARTNER]), Path(str(config[NODE_PREPARED])), Path(str(config[NODE_STATE])))


class PartitionTable:
    """Simulation: Flower's ``partition-id`` -> that partner's paths (node config wins if set)."""

    def __init__(self, table: Mapping[int, PartnerPaths]) -> None:
        self.table = dict(table)

    def __call__(self, context: Context) -> PartnerPaths:
        if NODE_PREPARED in context.node_config:
            return paths_from_node_config(context)
        return self.table[int(context.node_config["partition-id"])]


def optional_secaggplus_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower's ``secaggplus_mod`` for SecAgg+ messages; plain messages pass untouched.

    SecAgg+ quantises the update with stochastic rounding drawn from NumPy's *global* RNG,
    which is unseeded in a fresh worker, so two identical runs aggregated different trunks.
    The rounding draws are made here from a seed derived from the node and the round
    (``rounding_seed``); they are not a privacy mechanism (the masks come from the OS's
    random source inside ``secaggplus_mod`` and are untouched).
    """
    if msg.has_content() and RECORD_KEY_CONFIGS in msg.content.config_records:
        with seeded_numpy_global(rounding_seed(context, msg)):
            return secaggplus_mod(msg, context, call_next)
    return call_next(msg, context)


def rounding_seed(context: Context, msg: Message) -> int:
    """32-bit seed from the node's config, the message's round (group id) and SecAgg+ stage."""
    stage = str(msg.content.config_records[RECORD_KEY_CONFIGS].get("stage", ""))
    node = json.dumps({str(k): str(v) for k, v in context.node_config.items()}, sort_keys=True)
    text = json.dumps(["secagg-rounding", node, msg.metadata.group_id, stage])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little")


@contextlib.contextmanager
def seeded_numpy_global(seed: int) -> Iterator[None]:
    """Run the block with NumPy's global RNG seeded by ``seed``; restore its state afterwards."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def _configs(config: Mapping[str, Any]) -> tuple[ModelConfig, TrainConfig]:
    model_cfg = from_dict(ModelConfig, json.loads(str(config["model_config"])), where="model_config")
    train_cfg = from_dict(TrainConfig, json.loads(str(config["train_config"])), where="train_config")
    return model_cfg, train_cfg


def _defence(config: Mapping[str, Any], model_cfg: ModelConfig) -> NoDefence:
    """The run's bit-privacy defence (``defences``) for ``model_cfg``, as the server's message names it."""
    text = config.get("bit_privacy_config")
    cfg = (
        BitPrivacyConfig() if text is None else from_dict(BitPrivacyConfig, json.loads(str(text)), where="bit_privacy")
    )
    return build_defence(cfg, model_cfg)


def _handshake(resolve: PathResolver, msg: Message, context: Context) -> Message:
    paths = resolve(context)
    manifest, n_bits = manifest_and_bits(paths.prepared)
    request = msg.content.config_records.get(HANDSHAKE_RECORD, ConfigRecord())
    summary: dict[str, Any] = {**handshake_summary(manifest, n_bits), "partner": paths.partner}
    if "train_config" in request and str(request.get("weighting", "examples")) != "equal":
        model_cfg, train_cfg = _configs(request)
        summary["num_examples"] = PartnerRuntime(paths, model_cfg, train_cfg).n_examples
    return Message(RecordDict({HANDSHAKE_RECORD: ConfigRecord(summary)}), reply_to=msg)


def _train(resolve: PathResolver, msg: Message, context: Context) -> Message:
    fitins = compat.recorddict_to_fitins(msg.content, keep_input=True)
    config = fitins.config
    model_cfg, train_cfg = _configs(config)
    round_number = int(config["round"])
    defence = _defence(config, model_cfg)
    runtime = PartnerRuntime(
        resolve(context),
        model_cfg,
        train_cfg,
        float(config.get("proximal_mu", 0.0)),
        before_round=round_number,
        private_names=defence.private_names(),
    )
    spec = TrunkSpec.of(runtime.trunk_state())
    received = spec.to_dict(parameters_to_ndarrays(fitins.parameters))
    runtime.load_trunk(received)
    if round_number > 1:
        runtime.align_head(int(config.get("head_steps", 0)))
        runtime.record_validation(round_number - 1)
    improving = runtime.still_improving(round_number - 1, int(config.get("patience", 0)))
    runtime.train(int(config["local_epochs"]), round_number, steps=int(config.get("local_steps", 0)) or None)
    runtime.save_private_state(round_number)
    trunk = defence.before_send(runtime.trunk_state(), received, runtime.touched_bits())
    if "clipping_norm" in config:
        trunk = _clipped(trunk, received, spec, float(config["clipping_norm"]))
    content = fit_reply_content(
        with_signal(trunk, improving), _weight(runtime, config), str(config.get("wire_dtype", "float32"))
    )
    return Message(content, reply_to=msg)


def _weight(runtime: PartnerRuntime, config: Mapping[str, Any]) -> int:
    """The count sent with the update: training examples, or 1 under ``weighting = "equal"``."""
    return 1 if str(config.get("weighting", "examples")) == "equal" else runtime.n_examples


def _clipped(trunk: dict, received: dict, spec: TrunkSpec, clipping_norm: float) -> dict:
    """Flower's fixed clipping of the update (trunk - received) to ``clipping_norm``."""
    new = spec.to_list(trunk)
    compute_clip_model_update(new, spec.to_list(received), clipping_norm)
    return dict(zip(spec.names, new, strict=True))


def _round_of(config: ConfigRecord) -> int:
    """The ``round`` of a server message's config record.

    Raises
    ------
    FederationError
        If it is missing or not a number.
    """
    return _int_of(config, "round")


def _int_of(config: ConfigRecord, key: str, default: int | None = None) -> int:
    """The integer ``key`` of a server message's config record (``default`` when absent and given).

    Raises
    ------
    FederationError
        If it is missing (without a default) or not a number.
    """
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FederationError(
            f"the server's message has no {key} number (got {value!r})", "use matching fedqsar versions"
        )
    return int(value)


def _final(resolve: PathResolver, msg: Message, context: Context) -> Message:
    config = msg.content.config_records[FINAL_CONFIG_RECORD]
    model_cfg, train_cfg = _configs(config)
    runtime = PartnerRuntime(
        resolve(context), model_cfg, train_cfg, private_names=_defence(config, model_cfg).private_names()
    )
    runtime.load_trunk(record_to_arrays(msg.content.array_records[FINAL_TRUNK_RECORD]))
    runtime.align_head(_int_of(config, "head_steps", 0))
    runtime.record_validation(_round_of(config))
    runtime.save_final_model()
    if "personalisation_config" in config:
        cfg = from_dict(
            PersonalisationConfig, json.loads(str(config["personalisation_config"])), where="personalisation_config"
        )
        if cfg.enabled:
            paths = runtime.paths
            personalise(paths.state_dir, selected_model(paths.state_dir), runtime.prepared, model_cfg, train_cfg, cfg)
    return Message(RecordDict(), reply_to=msg)


def build_client_app(
    resolve: PathResolver = paths_from_node_config, outer_mods: Sequence[Mod] = (), inner_mods: Sequence[Mod] = ()
) -> ClientApp:
    """fedqsar's ClientApp.

    Parameters
    ----------
    resolve
        Context -> the partner's paths (node config by default).
    outer_mods
        Mods that see exactly what leaves the node (e.g. a wire recorder), outside SecAgg+.
    inner_mods
        Mods between SecAgg+ and the training handler (they see the unmasked update).
    """
    app = ClientApp(mods=[*outer_mods, optional_secaggplus_mod, *inner_mods])

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        return _handshake(resolve, msg, context)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        return _train(resolve, msg, context)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        return _final(resolve, msg, context)

    return app


app = build_client_app()
