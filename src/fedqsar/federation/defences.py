"""Keeping the federated trunk from telling a partner which fingerprint bits the others use.

The trunk's first layer has one row per (keyed, permuted) fingerprint bit, and a training
step only moves the rows of bits present in the batch. Two consecutive global trunks
therefore show any partner which rows moved: the union of the bits - ECFP environments,
substructures - set by the consortium's training compounds, and, with the key every partner
holds, which substructures they are (docs/privacy.md). ``DEFENCES`` are the answers a run
can choose (``FederationConfig.bit_privacy.defence``):

* ``"private_input"`` (default): each partner keeps its own first layer; only the trunk
  layers above it are federated. No per-bit value ever leaves a partner, so there is no
  bit pattern to recover. The ECFP trunk needs >= 2 hidden sizes (its first layer is
  ``hidden_sizes[0]``); on the message-passing trunk the first layer is chemprop's input
  projection ``W_i`` and any depth works.
* ``"row_noise"`` (ECFP trunk only): every partner adds Gaussian noise to the first-layer
  rows it did not touch, with the root-mean-square of its touched rows' changes (times
  ``noise_scale``), so every row of the aggregate moves by about the same amount. Only the
  size of a row's change is hidden: a change that keeps its direction round after round is
  not noise, and an attacker who watches several rounds can tell (``fedqsar audit privacy``
  measures it).
* ``"none"``: the whole trunk is federated as trained (the bit leak stays open).

Differential privacy (``FederationConfig.dp``, Flower's clipping and noise) combines with
any of them and then applies to what is federated.

What applies depends on the trunk: ``TRUNK_LAYOUTS`` says, per trunk kind, which tensors make
its first layer (kept with the partner by ``private_input``) and which one is the per-bit
table whose rows move only for bits in a batch (the leak; ``row_noise`` acts on it, the audit
attacks it). A defence that does not apply to a trunk is refused by :func:`build_defence`
with the reason, never silently changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from fedqsar.errors import FederationError
from fedqsar.federation.config import BitPrivacyConfig
from fedqsar.model.config import ModelConfig
from fedqsar.model.network import DESCRIPTOR_WEIGHTS, INPUT_LAYER_NAMES, PER_BIT_TABLE


@dataclass(frozen=True)
class TrunkLayout:
    """What the bit-privacy defences need to know about one trunk kind.

    Attributes
    ----------
    first_layer
        Trunk tensors of the first layer: what ``private_input`` keeps with the partner.
    per_bit_table
        The (n_bits, hidden) tensor with one row per fingerprint bit, or None for a trunk
        without per-bit rows (nothing for ``row_noise`` to hide, no bit leak to audit).
    min_hidden_layers
        The fewest ``ModelConfig.hidden_sizes`` entries that leave a layer above the first
        to federate under ``private_input``.
    descriptor_weights
        First-layer tensors present when the model reads the descriptor block
        (``ModelConfig.descriptors`` and a PreparedSet that has one); :meth:`for_model` adds them.
    """

    first_layer: tuple[str, ...]
    per_bit_table: str | None
    min_hidden_layers: int = 1
    descriptor_weights: tuple[str, ...] = ()

    def for_model(self, model_cfg: ModelConfig) -> TrunkLayout:
        """This layout with the first layer ``model_cfg`` builds (descriptor weights when it reads descriptors)."""
        extra = self.descriptor_weights if model_cfg.descriptors else ()
        return replace(self, first_layer=(*self.first_layer, *extra), descriptor_weights=())


#: the MPNN trunk's input projection (chemprop ``BondMessagePassing.W_i``: atom + bond features -> hidden).
MPNN_INPUT_PROJECTION = "message_passing.W_i.weight"

#: trunk kind (``ModelConfig.trunk``, ``network.TRUNKS``) -> layout.
TRUNK_LAYOUTS: dict[str, TrunkLayout] = {
    # the sparse first layer is hidden_sizes[0]: private_input needs a second layer to federate
    "ecfp": TrunkLayout(
        INPUT_LAYER_NAMES, PER_BIT_TABLE, min_hidden_layers=2, descriptor_weights=(DESCRIPTOR_WEIGHTS,)
    ),
    # no per-bit rows; the descriptor block joins the graph embedding in hidden.0, above W_i
    "mpnn": TrunkLayout((MPNN_INPUT_PROJECTION,), None, min_hidden_layers=1),
}


def trunk_layout(model_cfg: ModelConfig) -> TrunkLayout:
    """The layout of ``model_cfg``'s trunk (``TRUNK_LAYOUTS[model_cfg.trunk]`` for its inputs)."""
    return TRUNK_LAYOUTS[model_cfg.trunk].for_model(model_cfg)


OTHER_DEFENCE = "choose another bit_privacy.defence (docs/privacy.md says what each one protects)"


class Defence(Protocol):
    """What a defence decides: which trunk tensors stay with the partner, and what is sent."""

    def private_names(self) -> tuple[str, ...]:
        """Trunk tensors never sent (kept in the partner's private state)."""
        ...

    def before_send(
        self, sent: Mapping[str, np.ndarray], received: Mapping[str, np.ndarray], touched: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The trunk arrays to send, given the trained ones, the ones received and the touched bits."""
        ...


class NoDefence:
    """Federate the whole trunk as trained."""

    def __init__(self, cfg: BitPrivacyConfig, layout: TrunkLayout) -> None:
        self.cfg, self.layout = cfg, layout

    @staticmethod
    def refusal(layout: TrunkLayout, model_cfg: ModelConfig) -> tuple[str, str] | None:
        """Why this defence cannot run on ``model_cfg``'s trunk and how to fix it (None: it can)."""
        return None

    def private_names(self) -> tuple[str, ...]:
        return ()

    def before_send(
        self, sent: Mapping[str, np.ndarray], received: Mapping[str, np.ndarray], touched: np.ndarray
    ) -> dict[str, np.ndarray]:
        return dict(sent)


class PrivateInput(NoDefence):
    """Keep the trunk's first layer (``TrunkLayout.first_layer``) with the partner; federate the layers above it."""

    @staticmethod
    def refusal(layout: TrunkLayout, model_cfg: ModelConfig) -> tuple[str, str] | None:
        if not layout.first_layer:
            return "the trunk names no first layer to keep private", OTHER_DEFENCE
        if len(model_cfg.hidden_sizes) < layout.min_hidden_layers:
            return (
                f"it keeps the first trunk layer private, and the {model_cfg.trunk} network hidden_sizes="
                f"{tuple(model_cfg.hidden_sizes)} has no layer above it to federate",
                "give the model at least two trunk layers (e.g. [model] hidden_sizes = [512, 256]), or choose "
                "another bit_privacy.defence (docs/privacy.md says what each one protects)",
            )
        return None

    def private_names(self) -> tuple[str, ...]:
        return self.layout.first_layer


class RowNoise(NoDefence):
    """Noise on the untouched first-layer rows with the touched rows' RMS change (module docstring).

    The noise comes from the operating system's entropy, never from a seed in the run's
    configuration: anyone who could regenerate it could subtract it.
    """

    def __init__(self, cfg: BitPrivacyConfig, layout: TrunkLayout, rng: np.random.Generator | None = None) -> None:
        super().__init__(cfg, layout)
        self.rng = rng if rng is not None else np.random.default_rng()

    @staticmethod
    def refusal(layout: TrunkLayout, model_cfg: ModelConfig) -> tuple[str, str] | None:
        if layout.per_bit_table:
            return None
        return (
            f"the {model_cfg.trunk} trunk has no per-bit rows to add noise to",
            'set [federation.bit_privacy] defence = "private_input" (the default) or "none"; '
            "docs/privacy.md says what each one protects on this trunk",
        )

    def before_send(
        self, sent: Mapping[str, np.ndarray], received: Mapping[str, np.ndarray], touched: np.ndarray
    ) -> dict[str, np.ndarray]:
        out = dict(sent)
        table = self.layout.per_bit_table
        if table is not None and table in sent and len(touched):
            out[table] = noise_untouched_rows(
                np.asarray(sent[table]),
                np.asarray(received[table]),
                touched,
                self.cfg.noise_scale,
                self.rng,
            )
        return out


def noise_untouched_rows(
    trained: np.ndarray, received: np.ndarray, touched: np.ndarray, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """``trained`` (n_bits, hidden) with N(0, (scale * rms)^2) added to every row not in ``touched``.

    ``rms`` is the root-mean-square of ``trained - received`` over the touched rows (every
    coordinate); a copy is returned, float32.
    """
    out = np.array(trained, dtype=np.float32, copy=True)
    change = out[touched] - np.asarray(received, dtype=np.float32)[touched]
    rms = float(np.sqrt(np.mean(np.square(change, dtype=np.float64)))) if change.size else 0.0
    untouched = np.ones(out.shape[0], dtype=bool)
    untouched[touched] = False
    if rms > 0 and untouched.any():
        out[untouched] += rng.normal(0.0, scale * rms, size=(int(untouched.sum()), out.shape[1])).astype(np.float32)
    return out


DEFENCES: dict[str, type[NoDefence]] = {"private_input": PrivateInput, "row_noise": RowNoise, "none": NoDefence}


def build_defence(cfg: BitPrivacyConfig, model_cfg: ModelConfig) -> NoDefence:
    """The defence named by ``cfg.defence`` for ``model_cfg``'s trunk.

    Raises
    ------
    FederationError
        If the defence does not apply to that trunk or network (e.g. ``private_input`` with a
        single trunk layer: the first layer is all the trunk has).
    """
    layout = trunk_layout(model_cfg)
    refused = DEFENCES[cfg.defence].refusal(layout, model_cfg)
    if refused is not None:
        reason, fix = refused
        raise FederationError(f"bit_privacy.defence = {cfg.defence!r} cannot run on this model: {reason}", fix)
    return DEFENCES[cfg.defence](cfg, layout)


def check_model_for_defence(model_cfg: ModelConfig, cfg: BitPrivacyConfig) -> None:
    """Refuse, before anything starts, a model that ``cfg``'s defence cannot run on (:func:`build_defence`)."""
    build_defence(cfg, model_cfg)
