"""What crosses the wire: trunk arrays <-> Flower records, and checks on every update.

A partner's training reply holds exactly these records (Flower's legacy "fitres" layout -- legacy
because SecAgg+ needs it, see the ``fedqsar.federation`` package docstring -- so
that SecAgg+ can mask it):

* ``fitres.parameters``: ArrayRecord, one array per trunk tensor, keys = trunk names, plus
  the convergence signal ``_signal.improving`` (one float: 1.0 if the partner's validation
  loss improved within the last ``patience`` rounds, else 0.0; under SecAgg+ it is masked
  with the trunk, so the server learns only the example-weighted share of partners still
  improving);
* ``fitres.num_examples``: MetricRecord ``{"num_examples": n}``;
* ``fitres.metrics``: empty ConfigRecord; ``fitres.status``: Flower's OK status.

Nothing else. ``TrunkSpec`` (ordered names and shapes) turns Flower's positional legacy
``Parameters`` back into named arrays; ``TrunkSpec.wire()`` is the reply's spec (trunk +
signal) and ``split_signal`` separates them again on the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict
from flwr.common import Code, Status
from flwr.compat.common import recorddict_compat as compat

from fedqsar.errors import MalformedUpdateError
from fedqsar.federation.config import WIRE_DTYPES

PARAMETERS_KEY = "fitres.parameters"
NUM_EXAMPLES_KEY = "fitres.num_examples"
METRICS_KEY = "fitres.metrics"


@dataclass(frozen=True)
class TrunkSpec:
    """Ordered trunk tensor names and shapes (the order of the model's ``trunk_state``)."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, state: Mapping[str, np.ndarray]) -> TrunkSpec:
        return cls(tuple(state), tuple(tuple(int(d) for d in np.shape(a)) for a in state.values()))

    def to_list(self, state: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Arrays in spec order (float32)."""
        return [np.asarray(state[name], dtype=np.float32) for name in self.names]

    def to_dict(self, arrays: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Named arrays from a positional list, checked against the spec."""
        if len(arrays) != len(self.names):
            raise MalformedUpdateError(
                f"update has {len(arrays)} arrays, the trunk has {len(self.names)}",
                "every partner must build its model with the same ModelConfig",
            )
        state = dict(zip(self.names, arrays, strict=True))
        check_update(state, self)
        return state

    def wire(self) -> TrunkSpec:
        """The spec of a training reply: the trunk's arrays, then the convergence signal."""
        return TrunkSpec(self.names + (SIGNAL_IMPROVING,), self.shapes + ((1,),))


SIGNAL_IMPROVING = "_signal.improving"
#: ``FederationConfig.wire_dtype`` name -> numpy type (the names are ``federation.config.WIRE_DTYPES``).
NUMPY_WIRE_DTYPES: dict[str, type[np.floating]] = {name: np.dtype(name).type for name in WIRE_DTYPES}


def with_signal(trunk: Mapping[str, np.ndarray], improving: bool) -> dict[str, np.ndarray]:
    """Trunk arrays plus the convergence signal, as a partner sends them."""
    return {**trunk, SIGNAL_IMPROVING: np.array([1.0 if improving else 0.0], dtype=np.float32)}


def split_signal(arrays: Sequence[np.ndarray], spec: TrunkSpec) -> tuple[list[np.ndarray], float | None]:
    """(trunk arrays in ``spec`` order, the signal value or None) of a positional wire list."""
    if len(arrays) == len(spec.names) + 1:
        return list(arrays[:-1]), float(np.asarray(arrays[-1], dtype=np.float64).ravel()[0])
    return list(arrays), None


def trunk_record(state: Mapping[str, np.ndarray], dtype: str = "float32") -> ArrayRecord:
    """ArrayRecord with one array per trunk tensor (``dtype``: float32 or float16), keys = trunk names."""
    record = ArrayRecord()
    for name, value in state.items():
        record[name] = Array(np.ascontiguousarray(value, dtype=NUMPY_WIRE_DTYPES[dtype]))
    return record


def record_to_arrays(record: ArrayRecord) -> dict[str, np.ndarray]:
    """Named numpy arrays of an ArrayRecord, in its order."""
    return {name: array.numpy() for name, array in record.items()}


def fit_reply_content(state: Mapping[str, np.ndarray], num_examples: int, dtype: str = "float32") -> RecordDict:
    """The only content a partner's training reply may carry."""
    content = RecordDict()
    content.array_records[PARAMETERS_KEY] = trunk_record(state, dtype)
    content.metric_records[NUM_EXAMPLES_KEY] = MetricRecord({"num_examples": int(num_examples)})
    content.config_records[METRICS_KEY] = ConfigRecord()
    return compat._embed_status_into_recorddict("fitres", Status(Code.OK, ""), content)  # noqa: SLF001


def read_fit_reply(
    content: RecordDict,
    spec: TrunkSpec,
    reference: Mapping[str, np.ndarray] | None = None,
    max_update_norm: float | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """Named trunk arrays and example count of a reply, validated.

    Raises
    ------
    MalformedUpdateError
        Missing records, wrong keys or shapes, NaN/Inf, a non-positive count or an update
        (distance from ``reference``) above ``max_update_norm``.
    """
    if PARAMETERS_KEY not in content.array_records or NUM_EXAMPLES_KEY not in content.metric_records:
        raise MalformedUpdateError(
            f"reply lacks {PARAMETERS_KEY!r} or {NUM_EXAMPLES_KEY!r}; it has {sorted(content.keys())}",
            "partners must run fedqsar's ClientApp of the same version",
        )
    state = record_to_arrays(content.array_records[PARAMETERS_KEY])
    odd = sorted(name for name, value in state.items() if value.dtype not in (np.float32, np.float16))
    if odd:
        raise MalformedUpdateError(
            f"update arrays {odd} are not float32/float16", "partners must run fedqsar's ClientApp"
        )
    state = {name: value.astype(np.float32) for name, value in state.items()}
    count = content.metric_records[NUM_EXAMPLES_KEY].get("num_examples")
    if not isinstance(count, int) or count < 1:
        raise MalformedUpdateError(f"example count {count!r} is not a positive integer", "check the partner's data")
    check_update(state, spec, reference, max_update_norm)
    return state, count


def check_update(
    state: Mapping[str, np.ndarray],
    spec: TrunkSpec,
    reference: Mapping[str, np.ndarray] | None = None,
    max_update_norm: float | None = None,
) -> None:
    """Raise ``MalformedUpdateError`` naming the first problem of ``state``.

    Checks, in order: names equal ``spec.names``; shapes; all values finite; L2 norm of
    ``state - reference`` (all tensors together) <= ``max_update_norm`` when both are given.
    """
    missing = [n for n in spec.names if n not in state]
    extra = sorted(set(state) - set(spec.names))
    if missing or extra:
        raise MalformedUpdateError(
            f"update keys differ from the trunk's: missing {missing}, unexpected {extra}",
            "every partner must build its model with the same ModelConfig",
        )
    for name, shape in zip(spec.names, spec.shapes, strict=True):
        got = tuple(np.shape(state[name]))
        if got != shape:
            raise MalformedUpdateError(
                f"update array {name!r} has shape {got}, expected {shape}",
                "every partner must use the same ModelConfig and n_bits",
            )
    squared = _squared_norms(state, reference if reference is not None else {})
    for name, value in squared.items():
        if not np.isfinite(value) and not np.all(np.isfinite(state[name])):
            raise MalformedUpdateError(
                f"update array {name!r} holds NaN or Inf",
                "lower the learning rate or check the partner's data for extreme values",
            )
    if reference is not None and max_update_norm is not None:
        norm = float(np.sqrt(sum(squared.values())))
        if not norm <= max_update_norm:
            raise MalformedUpdateError(
                f"update norm {norm:.4g} exceeds the bound {max_update_norm:.4g}",
                "lower the learning rate or raise FederationConfig.max_update_norm if this is expected",
            )


def _squared_norms(state: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Per array, the squared L2 norm of ``state - reference`` (of ``state`` without reference).

    One pass in float32 (a dot product); NaN/Inf anywhere make the result non-finite.
    """
    out = {}
    with np.errstate(over="ignore", invalid="ignore"):
        for name, value in state.items():
            flat = np.asarray(value, dtype=np.float32).ravel()
            if name in reference:
                flat = flat - np.asarray(reference[name], dtype=np.float32).ravel()
            out[name] = float(np.dot(flat, flat))
    return out


def payload_bytes(state: Mapping[str, np.ndarray]) -> int:
    """Bytes of the arrays themselves (dense float32)."""
    return int(sum(np.asarray(a).nbytes for a in state.values()))
