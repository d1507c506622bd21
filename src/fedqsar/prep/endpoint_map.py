"""``--endpoint-map``: the partner says which endpoint (and unit) an assay or column is.

TOML, one line per assay id / wide-table column (quote names with blanks)::

    "KSOL (uM)" = "logS"
    "Solubility" = { endpoint = "logS", unit = "log10(mol/L)" }
    "HLM_CLint"  = { endpoint = "CLint_scaled", unit = "mL/min/kg", loq = 3 }
    "CHEMBL*"    = "pXC50"                     # glob patterns: * and ?
    "HydrationFreeEnergy" = { endpoint = "custom:hydration_free_energy" }

or CSV with columns ``assay`` (or ``assay_id`` / ``column``), ``endpoint`` and optional
``unit`` and ``loq``. A key matches an assay id exactly (else ignoring case), or the
endpoint column's text; exact keys win over glob patterns, the first matching pattern wins.

``endpoint`` is a registered endpoint name or alias (``prep.endpoints``; ``logD<pH>`` for a
pH) or ``custom:<name>`` for a partner-defined endpoint (listed as custom in the summary
and manifest). ``unit`` (a unit of ``prep.units``) is the unit the assay's values are
written in; it overrides the row's unit. ``loq`` is the assay's limit of quantification in
that unit: values at or below it are kept as ``<`` censored values at it.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fedqsar.errors import InputFileError, InputSchemaError
from fedqsar.prep import endpoints as E
from fedqsar.prep import readers
from fedqsar.prep import units as U

CUSTOM_PREFIX = "custom:"
ENTRY_KEYS = ("endpoint", "unit", "loq")


@dataclass(frozen=True)
class MapEntry:
    """One line of the endpoint map: ``endpoint`` (registered name or ``custom:<name>``)."""

    key: str
    endpoint: str
    unit: str | None = None
    loq: float | None = None

    @property
    def custom(self) -> bool:
        return self.endpoint.startswith(CUSTOM_PREFIX)

    @property
    def custom_name(self) -> str:
        return self.endpoint[len(CUSTOM_PREFIX) :]


@dataclass
class EndpointMap:
    """Entries by key; :meth:`lookup` finds the entry of an assay; ``used`` records matched keys."""

    entries: dict[str, MapEntry] = field(default_factory=dict)
    source: str = ""
    used: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._folded = {key.lower(): entry for key, entry in self.entries.items()}
        self._patterns = [e for key, e in self.entries.items() if any(c in key for c in "*?[")]

    def lookup(self, assay_id: str, endpoint_text: str = "") -> MapEntry | None:
        """The entry for an assay (exact, then case-folded, then endpoint text, then patterns)."""
        for text in (assay_id, endpoint_text):
            if not text:
                continue
            entry = self.entries.get(text) or self._folded.get(text.lower())
            if entry is not None:
                self.used.add(entry.key)
                return entry
        for entry in self._patterns:
            if fnmatch.fnmatchcase(assay_id, entry.key) or (
                endpoint_text and fnmatch.fnmatchcase(endpoint_text, entry.key)
            ):
                self.used.add(entry.key)
                return entry
        return None

    def unused(self) -> list[str]:
        """Keys that matched no assay so far (typos, or assays not in this input)."""
        return [key for key in self.entries if key not in self.used]


def read_endpoint_map(path: Path | str) -> EndpointMap:
    """Read a TOML or CSV endpoint map (format in the module docstring).

    Raises
    ------
    InputFileError
        Missing, unreadable or not valid TOML.
    InputSchemaError
        Unknown endpoint or unit, misspelt keys, non-numeric LOQ.
    """
    path = Path(path)
    raw = _read_toml(path) if path.name.lower().endswith(".toml") else _read_csv(path)
    if not raw:
        raise InputFileError(f"{path} maps no assay", 'add lines like "my assay" = "logS"')
    entries = {key: _entry(key, value, path) for key, value in raw.items()}
    return EndpointMap(entries, source=str(path))


def _read_toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(readers.read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(
            f"{path} is not valid TOML: {exc}", 'quote names with blanks: "KSOL (uM)" = "logS"'
        ) from exc


def _read_csv(path: Path) -> dict[str, object]:
    table = readers.read_csv(path)
    table.columns = [str(c).strip().lower() for c in table.columns]
    key_column = next((c for c in ("assay", "assay_id", "column") if c in table.columns), None)
    if key_column is None or "endpoint" not in table.columns:
        raise InputSchemaError(
            f"{path.name}: columns {list(table.columns)}", "an endpoint map CSV needs 'assay' and 'endpoint' columns"
        )
    out: dict[str, object] = {}
    for row in table.to_dict("records"):
        key = str(row[key_column]).strip()
        out[key] = {k: row[k] for k in ENTRY_KEYS if k in row and pd.notna(row[k]) and str(row[k]).strip()}
    return out


def _entry(key: str, value: object, path: Path) -> MapEntry:
    spec = {"endpoint": value} if isinstance(value, str) else value
    if not isinstance(spec, dict) or "endpoint" not in spec or set(spec) - set(ENTRY_KEYS):
        raise InputSchemaError(
            f"{path.name}: entry {key!r} = {value!r}",
            f'write "{key}" = "ENDPOINT" or "{key}" = {{ endpoint = "ENDPOINT", unit = "UNIT", loq = NUMBER }}',
        )
    endpoint = _endpoint_name(str(spec["endpoint"]).strip(), key, path)
    unit = str(spec["unit"]).strip() if spec.get("unit") not in (None, "") else None
    if unit is not None and U.lookup_unit(unit) is None:
        raise InputSchemaError(
            f"{path.name}: unit {unit!r} of {key!r} is not a known unit",
            "use a unit listed in docs/partner-input.md (Units), e.g. uM, mL/min/kg, % unbound, log10(cm/s)",
        )
    return MapEntry(key, endpoint, unit, _loq(spec.get("loq"), key, path))


def _endpoint_name(name: str, key: str, path: Path) -> str:
    if name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
        return name
    endpoint = E.lookup_endpoint(name)
    if endpoint is not None:
        return endpoint.name
    close = difflib.get_close_matches(name, list(E.ENDPOINTS), n=3, cutoff=0.5)
    raise InputSchemaError(
        f"{path.name}: {key!r} maps to {name!r}, which is not a registered endpoint"
        + (f" (did you mean {', '.join(close)}?)" if close else ""),
        f"use one of {', '.join(E.ENDPOINTS)} (or logD<pH>), or 'custom:{name}' for a partner-defined endpoint",
    )


def _loq(value: object, key: str, path: Path) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise InputSchemaError(
            f"{path.name}: loq of {key!r} is {value!r}", "give the LOQ as a number in the assay's unit"
        )
    return number
