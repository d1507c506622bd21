"""Keeping the federated trunk from telling a partner which fingerprint bits the others use.

The trunk's first layer has one row per (keyed, permuted) fingerprint bit, and a training
step only moves the rows of bits present in the batch. Two consecutive global trunks
therefore show any partner which rows moved: the union of the bits - ECFP environments,
substructures - set by the consortium's training compounds, and, with the key every partner
holds, which substructures they are (docs/privacy.md). ``DEFENCES`` are the answers a run
can choose (``FederationConfig.bit_privacy.defence``):

* ``"private_input"`` (default): each partner keeps its own first layer; only the trunk
  layers above it are federated. No per-bit value ever leaves a partner, so there is no
  bit pattern to recover. The model needs >= 2 trunk layers.
* ``"row_noise"``: every partner adds Gaussian noise to the first-layer rows it did not
  touch, with the root-mean-square of its touched rows' changes (times
  ``noise_scale``), so every row of the aggregate moves by about the same amount. Only the
  size of a row's change is hidden: a change that keeps its direction round after round is
  not noise, and an attacker who watches several rounds can tell (``fedqsar audit privacy``
  measures it).
* ``"none"``: the whole trunk is federated as trained (the bit leak stays open).

Differential privacy (``FederationConfig.dp``, Flower's clipping and noise) combines with
any of them and then applies to what is federated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

from fedqsar.errors import FederationError
from fedqsar.federation.config import BitPrivacyConfig
from fedqsar.model.config import ModelConfig
from fedqsar.model.network import INPUT_LAYER_NAMES

FIRST_LAYER = "input.weight"


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

    def __init__(self, cfg: BitPrivacyConfig) -> None:
        self.cfg = cfg

    def private_names(self) -> tuple[str, ...]:
        return ()

    def before_send(
        self, sent: Mapping[str, np.ndarray], received: Mapping[str, np.ndarray], touched: np.ndarray
    ) -> dict[str, np.ndarray]:
        return dict(sent)


class PrivateInput(NoDefence):
    """Keep the first layer (``INPUT_LAYER_NAMES``) with the partner; federate the layers above it."""

    def private_names(self) -> tuple[str, ...]:
        return INPUT_LAYER_NAMES


class RowNoise(NoDefence):
    """Noise on the untouched first-layer rows with the touched rows' RMS change (module docstring).

    The noise comes from the operating system's entropy, never from a seed in the run's
    configuration: anyone who could regenerate it could subtract it.
    """

    def __init__(self, cfg: BitPrivacyConfig, rng: np.random.Generator | None = None) -> None:
        super().__init__(cfg)
        self.rng = rng if rng is not None else np.random.default_rng()

    def before_send(
        self, sent: Mapping[str, np.ndarray], received: Mapping[str, np.ndarray], touched: np.ndarray
    ) -> dict[str, np.ndarray]:
        out = dict(sent)
        if FIRST_LAYER in sent and len(touched):
            out[FIRST_LAYER] = noise_untouched_rows(
                np.asarray(sent[FIRST_LAYER]),
                np.asarray(received[FIRST_LAYER]),
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


def build_defence(cfg: BitPrivacyConfig) -> NoDefence:
    """The defence named by ``cfg.defence``."""
    return DEFENCES[cfg.defence](cfg)


def check_model_for_defence(model_cfg: ModelConfig, cfg: BitPrivacyConfig) -> None:
    """Refuse a network that would federate nothing under ``cfg``'s defence.

    Raises
    ------
    FederationError
        ``private_input`` with a single trunk layer (the first layer is all the trunk has).
    """
    if cfg.defence == "private_input" and len(model_cfg.hidden_sizes) < 2:
        raise FederationError(
            f"bit_privacy.defence = 'private_input' keeps the first trunk layer private, and the network "
            f"hidden_sizes={tuple(model_cfg.hidden_sizes)} has no layer above it to federate",
            "give the model at least two trunk layers (e.g. [model] hidden_sizes = [512, 256]), or choose "
            "another bit_privacy.defence (docs/privacy.md says what each one protects)",
        )
