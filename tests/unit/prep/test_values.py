"""Value harmonisation (qualifiers, units, reject reasons) and replicate aggregation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedqsar.errors import AccountingError, ConfigError, EndpointResolutionError
from fedqsar.prep import accounting as R
from fedqsar.prep.config import ValueConfig
from fedqsar.prep.endpoint_map import EndpointMap, MapEntry
from fedqsar.prep.resolve import resolve
from fedqsar.prep.values import aggregate_group, aggregate_replicates, harmonise

CFG = ValueConfig()


def table(rows: list[tuple]) -> pd.DataFrame:
    """rows of (value, unit, qualifier, endpoint[, assay_id])."""
    records = []
    for i, row in enumerate(rows):
        value, unit, qualifier, endpoint, *rest = row
        records.append(
            {
                "input_row": i,
                "assay_id": rest[0] if rest else "hERG IC50",
                "value": value,
                "unit": unit,
                "qualifier": qualifier,
                "endpoint": endpoint,
                "smiles": "CCO",
                "compound_id": f"c{i}",
            }
        )
    return pd.DataFrame.from_records(records)


def one(
    value: object,
    unit: str | None = "nM",
    qualifier: str | None = "=",
    endpoint: str | None = None,
    mol_weight: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    weights = None if mol_weight is None else pd.Series({0: mol_weight})
    return harmonise(table([(value, unit, qualifier, endpoint)]), CFG, mol_weight=weights)


@pytest.mark.parametrize(
    ("qualifier", "censor"),
    [
        ("=", 0),
        (None, 0),
        ("", 0),
        ("~", 0),
        ("==", 0),
        ("<", -1),
        ("<=", -1),
        ("<<", -1),
        (">", 1),
        (">=", 1),
        (">>", 1),
    ],
)
def test_qualifiers_to_censor_on_log_scale(qualifier: str | None, censor: int) -> None:
    ok, rejected = one("2.0", "log", qualifier, "logD")
    assert rejected.empty
    assert ok.loc[0, "censor"] == censor and ok.loc[0, "value_canonical"] == 2.0


@pytest.mark.parametrize(("qualifier", "censor"), [("<", 1), (">", -1), ("<=", 1), (">=", -1), ("=", 0)])
def test_potency_concentration_flips_censor(qualifier: str, censor: int) -> None:
    ok, _ = one("10", "nM", qualifier)  # IC50 < 10 nM means pIC50 > 8
    assert ok.loc[0, "value_canonical"] == pytest.approx(8.0)
    assert ok.loc[0, "censor"] == censor and ok.loc[0, "endpoint"] == "pXC50"
    assert ok.loc[0, "canonical_unit"] == "-log10(M)" and ok["censor"].dtype == np.int8


def test_qualifier_inside_value_cell() -> None:
    ok, rejected = harmonise(
        table([("<10", "nM", None, None), (">= 3", "log", "=", "logD"), ("~5", "log", "", "logD")]), CFG
    )
    assert rejected.empty
    assert ok["censor"].tolist() == [1, 1, 0]
    assert ok["value_canonical"].tolist() == pytest.approx([8.0, 3.0, 5.0])


@pytest.mark.parametrize(("value", "qualifier"), [("5", "?"), ("5", "between"), ("<5", ">")])
def test_unknown_or_conflicting_qualifier_is_rejected(value: str, qualifier: str) -> None:
    ok, rejected = one(value, "log", qualifier, "logD")
    assert ok.empty and rejected["reason"].tolist() == [R.UNKNOWN_QUALIFIER]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", R.MISSING_VALUE),
        (None, R.MISSING_VALUE),
        ("NA", R.MISSING_VALUE),
        (float("nan"), R.MISSING_VALUE),
        ("n.d.", R.NON_NUMERIC_VALUE),
        ("active", R.NON_NUMERIC_VALUE),
        ("12,5", R.NON_NUMERIC_VALUE),
        ("inf", R.NON_FINITE_VALUE),
        (float("inf"), R.NON_FINITE_VALUE),
        ("0", R.NON_POSITIVE_VALUE),
        ("-3", R.NON_POSITIVE_VALUE),
    ],
)
def test_value_reject_reasons(value: object, reason: str) -> None:
    ok, rejected = one(value, "nM")
    assert ok.empty
    assert rejected["reason"].tolist() == [reason] and rejected["input_row"].tolist() == [0]


def test_unit_reject_reasons() -> None:
    ok, rejected = harmonise(
        table(
            [
                ("5", "furlongs", "=", None),
                ("5", "% bound", "=", "pXC50"),
                ("5", "ug/mL", "=", "logS"),
                ("20", "nM", "=", None, None),
                ("1e-20", "nM", "=", None),
                ("101", "% bound", "=", "PPB"),
            ]
        ),
        CFG,
    )
    assert ok.empty
    assert rejected["reason"].tolist() == [
        R.UNKNOWN_UNIT,
        R.UNIT_ENDPOINT_MISMATCH,
        R.MISSING_MOL_WEIGHT,
        R.MISSING_ASSAY,
        R.VALUE_OUT_OF_RANGE,
        R.VALUE_OUT_OF_RANGE,
    ]
    assert "furlongs" in rejected.loc[0, "detail"]


def test_range_check_can_be_switched_off() -> None:
    ok, _ = harmonise(table([("1e-20", "nM", "=", None)]), ValueConfig(check_ranges=False))
    assert ok.loc[0, "value_canonical"] == pytest.approx(29.0)


def test_mass_concentration_uses_molecular_weight_by_input_row() -> None:
    ok, rejected = one("180", "ug/mL", "=", "solubility", mol_weight=180.0)
    assert rejected.empty
    assert ok.loc[0, "endpoint"] == "logS" and ok.loc[0, "value_canonical"] == pytest.approx(-3.0)


def test_ppb_percent_means_bound_and_full_binding_is_censored_at_floor() -> None:
    ok, rejected = harmonise(
        table(
            [
                ("99", "%", "=", "PPB"),
                ("100", "% bound", "=", "PPB"),
                ("99.99", "% bound", "=", "PPB"),
                ("50", "% bound", ">", "PPB"),
            ]
        ),
        CFG,
    )
    assert rejected.empty
    assert ok["value_canonical"].tolist() == pytest.approx([-2.0, -3.0, -3.0, np.log10(0.5)])
    assert ok["censor"].tolist() == [0, -1, -1, -1]  # > 50 % bound: fu < 0.5


def test_an_empty_unit_is_the_endpoints_natural_unit_or_a_question() -> None:
    ok, rejected = harmonise(
        table([("7.2", None, "=", "pIC50"), ("30", "", "=", "efflux_ratio"), ("2.5", None, "=", "LogD")]), CFG
    )
    assert rejected.empty
    assert ok["endpoint"].tolist() == ["pXC50", "efflux_ratio", "logD7.4"]
    assert ok["value_canonical"].tolist() == pytest.approx([7.2, np.log10(30.0), 2.5])  # a ratio is a ratio
    for cells in [("3.3", None, "=", "IC50"), ("3.3", None, "=", None), ("1.1", "", "=", "my_readout")]:
        with pytest.raises(EndpointResolutionError) as info:
            harmonise(table([cells]), CFG)
        assert "--endpoint-map" in info.value.fix and "endpoint =" in info.value.what


def test_custom_endpoints_are_kept_only_when_allowed() -> None:
    df = table([("1.1", "", "=", "my_readout", "A1"), ("2.2", "", "=", "my_readout", "A1")])
    semantics = resolve(df, allow_custom=True)
    ok, rejected = harmonise(df, CFG, semantics=semantics)
    assert rejected.empty and ok["endpoint"].tolist() == ["my_readout"] * 2
    assert ok["canonical_unit"].tolist() == ["", ""] and ok["value_canonical"].tolist() == [1.1, 2.2]
    assert semantics.summary()["custom_endpoints"] == [{"endpoint": "my_readout", "assays": 1, "rows": 2}]


def test_tuner_values_without_unit_are_on_the_endpoint_or_assay_scale() -> None:
    df = table([("6.5", None, "=", "pXC50", "A1"), ("3.3", None, "=", None, "A2")])
    ok, rejected = harmonise(df, CFG, semantics=resolve(df, tuner=True))
    assert rejected.empty
    assert ok["endpoint"].tolist() == ["pXC50", ""] and ok["value_canonical"].tolist() == [6.5, 3.3]


def test_custom_endpoint_takes_majority_dimension() -> None:
    df = table([("1", "uM", "=", "herg", "A1"), ("10", "nM", "=", "herg", "A1"), ("40", "%", "=", "herg", "A1")])
    ok, rejected = harmonise(df, CFG, semantics=resolve(df, allow_custom=True))
    assert ok["value_canonical"].tolist() == pytest.approx([6.0, 8.0])
    assert set(ok["canonical_unit"]) == {"-log10(M)"}
    assert rejected["reason"].tolist() == [R.UNIT_ENDPOINT_MISMATCH]


def test_labels_accept_0_1_and_tuner_minus_one() -> None:
    ok, rejected = harmonise(
        table(
            [
                ("1", "label", "=", "label"),
                ("0", "label", "=", "label"),
                ("-1", "label", None, "label"),
                ("2", "label", "=", "label"),
                ("1", "label", ">", "label"),
            ]
        ),
        CFG,
    )
    assert ok["value_canonical"].tolist() == [1.0, 0.0, 0.0]
    assert rejected["reason"].tolist() == [R.INVALID_LABEL, R.INVALID_LABEL]


def test_reject_reason_from_reading_is_kept() -> None:
    df = table([("5", "nM", "=", None), ("5", "nM", "=", None)])
    df["reject_reason"] = [None, "missing_structure"]
    ok, rejected = harmonise(df, CFG)
    assert ok["input_row"].tolist() == [0] and rejected["reason"].tolist() == ["missing_structure"]


def test_every_row_is_either_ok_or_rejected_once() -> None:
    df = table([("10", "nM", "=", None), ("x", "nM", "=", None), ("3", "uM", "<", None), ("", "nM", "=", None)])
    ok, rejected = harmonise(df, CFG)
    assert sorted(ok["input_row"].tolist() + rejected["input_row"].tolist()) == [0, 1, 2, 3]


# --- replicates -------------------------------------------------------------------------------
def observations(values: list[float], censor: list[int], family: str = "adme", key: str = "k") -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "input_row": np.arange(n) + 10,
            "structure_key": [key] * n,
            "assay_id": ["A"] * n,
            "endpoint": ["pXC50" if family == "potency" else "logD7.4"] * n,
            "family": [family] * n,
            "value_canonical": np.array(values, float),
            "censor": np.array(censor, np.int8),
        }
    )


@pytest.mark.parametrize(("rule", "expected"), [("median", 6.0), ("mean", 6.2), ("max", 7.0), ("min", 5.6)])
def test_potency_replicate_rules(rule: str, expected: float) -> None:
    cfg = ValueConfig(potency_replicates=rule)
    aggregated, merged, conflicts = aggregate_replicates(observations([6.0, 5.6, 7.0], [0, 0, 0], "potency"), cfg)
    assert aggregated["value_canonical"].tolist() == pytest.approx([expected])
    assert aggregated["input_row"].tolist() == [10] and aggregated["n_replicates"].tolist() == [3]
    assert merged.tolist() == [11, 12] and conflicts.size == 0


def test_adme_uses_adme_rule() -> None:
    cfg = ValueConfig(potency_replicates="max", adme_replicates="median")
    aggregated, _, _ = aggregate_replicates(observations([1.0, 2.0, 2.5], [0, 0, 0], "adme"), cfg)
    assert aggregated["value_canonical"].tolist() == [2.0]


def test_spread_beyond_limit_is_a_conflict_of_all_rows() -> None:
    aggregated, merged, conflicts = aggregate_replicates(
        observations([4.0, 6.5], [0, 0], "potency"), ValueConfig(max_replicate_spread=2.0)
    )
    assert aggregated.empty and merged.size == 0 and conflicts.tolist() == [10, 11]


@pytest.mark.parametrize(
    ("values", "censor", "expected"),
    [
        ([5.0, 6.0], [-1, 0], (6.0, 0)),  # "<5" and "=6": exact wins (within spread)
        ([5.0, 8.0], [-1, 0], None),  # "<5" and "=8": contradiction beyond 2 log units
        ([7.0, 4.0], [1, 0], None),  # ">7" and "=4"
        ([5.0, 6.0], [-1, -1], (5.0, -1)),  # both upper bounds hold: the tighter one
        ([5.0, 6.0], [1, 1], (6.0, 1)),
        ([6.0, 5.0], [-1, 1], (5.5, 0)),  # 5 < x < 6
        ([4.0, 8.0], [-1, 1], None),  # x < 4 and x > 8
        ([1.0, 1.0, 0.0], [0, 0, 0], (1.0, 0)),
    ],
)
def test_censored_replicates(values: list[float], censor: list[int], expected: tuple | None) -> None:
    family = "label" if values == [1.0, 1.0, 0.0] else "potency"
    result = aggregate_group(np.array(values), np.array(censor), family, ValueConfig())
    assert result == (pytest.approx(expected[0]), expected[1]) if expected else result is None


def test_label_tie_is_a_conflict() -> None:
    assert aggregate_group(np.array([1.0, 0.0]), np.array([0, 0]), "label", CFG) is None


def test_groups_are_per_structure_assay_endpoint_and_rows_partition() -> None:
    frames = [
        observations([6.0, 6.2], [0, 0], "potency", key="a"),
        observations([5.0], [0], "potency", key="b"),
        observations([3.0, 7.5], [0, 0], "potency", key="c"),
    ]
    df = pd.concat(frames, ignore_index=True)
    df["input_row"] = np.arange(len(df))
    aggregated, merged, conflicts = aggregate_replicates(df, CFG)
    assert aggregated["structure_key"].tolist() == ["a", "b"]
    assert aggregated["value_canonical"].tolist() == pytest.approx([6.1, 5.0])
    everything = sorted(aggregated["input_row"].tolist() + merged.tolist() + conflicts.tolist())
    assert everything == list(range(len(df)))


def test_bad_rule_and_missing_key_raise() -> None:
    with pytest.raises(ConfigError, match="median"):
        aggregate_replicates(observations([1.0], [0]), ValueConfig(adme_replicates="mode"))
    df = observations([1.0], [0])
    df["structure_key"] = [None]
    with pytest.raises(AccountingError):
        aggregate_replicates(df, CFG)


def test_empty_input_gives_empty_outputs() -> None:
    columns = ["input_row", "assay_id", "value", "unit", "qualifier", "endpoint"]
    ok, rejected = harmonise(pd.DataFrame({c: pd.Series(dtype=object) for c in columns}), CFG)
    assert ok.empty and rejected.empty
    assert {"value_canonical", "censor", "endpoint", "canonical_unit"} <= set(ok.columns)
    assert list(rejected.columns) == ["input_row", "reason", "detail"]


def test_label_words() -> None:
    ok, rejected = harmonise(
        table(
            [
                ("Active", "label", "=", "label"),
                ("inactive", None, "=", "label"),
                ("maybe", "label", "=", "label"),
                ("active", "nM", "=", None),
            ]
        ),
        CFG,
    )
    assert ok["value_canonical"].tolist() == [1.0, 0.0]
    assert rejected["reason"].tolist() == [
        R.NON_NUMERIC_VALUE,
        R.NON_NUMERIC_VALUE,
    ]  # words only mean labels for labels


def test_percent_endpoints_use_their_own_spread() -> None:
    df = observations([40.0, 60.0], [0, 0], "potency")
    df["endpoint"], df["canonical_unit"] = "inhibition_pct", "%"
    aggregated, _, conflicts = aggregate_replicates(
        df, ValueConfig(max_replicate_spread=2.0, max_replicate_spread_percent=30.0)
    )
    assert aggregated["value_canonical"].tolist() == [50.0] and conflicts.size == 0
    _, _, conflicts = aggregate_replicates(df, ValueConfig(max_replicate_spread_percent=10.0))
    assert conflicts.tolist() == [10, 11]


# --- limit of quantification -------------------------------------------------------------------
def test_zero_and_negative_clearance_are_censored_at_the_loq_not_rejected() -> None:
    df = table([("0", "mL/min/kg", "=", None, "HLM_CLint"), ("-2.5", "mL/min/kg", "=", None, "HLM_CLint")])
    df = pd.concat([df, table([("12", "mL/min/kg", "=", None, "HLM_CLint")]).assign(input_row=2)], ignore_index=True)
    ok, rejected = harmonise(df, CFG)
    assert rejected.empty
    assert ok["endpoint"].tolist() == ["CLint_scaled"] * 3
    assert ok["value_canonical"].tolist() == pytest.approx([-1.0, -1.0, np.log10(12.0)])  # default LOQ 0.1 mL/min/kg
    assert ok["censor"].tolist() == [-1, -1, 0] and ok["below_loq"].tolist() == [True, True, False]


def test_assay_loq_from_the_endpoint_map_is_in_the_assays_unit() -> None:
    df = table(
        [("0", "", "=", None, "HLM_CLint"), ("2", "", "=", None, "HLM_CLint"), ("<3", "", "=", None, "HLM_CLint")]
    )
    df = df.assign(input_row=[0, 1, 2])
    df = pd.concat([df, table([("40", "", "=", None, "HLM_CLint")]).assign(input_row=3)], ignore_index=True)
    mapping = EndpointMap({"HLM_CLint": MapEntry("HLM_CLint", "CLint_scaled", "mL/min/kg", 3.0)})
    ok, rejected = harmonise(df, CFG, semantics=resolve(df, endpoint_map=mapping))
    assert rejected.empty
    assert ok["value_canonical"].tolist() == pytest.approx([np.log10(3.0)] * 3 + [np.log10(40.0)])
    assert ok["censor"].tolist() == [-1, -1, -1, 0]


def test_a_lower_bound_at_zero_says_nothing_and_a_zero_potency_is_an_error() -> None:
    ok, rejected = harmonise(
        table([(">0", "mL/min/kg", "=", None, "HLM_CLint"), ("0", "nM", "=", None, "hERG IC50")]), CFG
    )
    assert ok.empty and rejected["reason"].tolist() == [R.NON_POSITIVE_VALUE] * 2


def test_loq_defaults_can_be_overridden_per_endpoint() -> None:
    df = table([("0.5", "uM", "=", None, "KSOL"), ("0", "uM", "=", None, "KSOL")])
    ok, _ = harmonise(df, ValueConfig(loq={"logS": -6.0}))
    assert ok["value_canonical"].tolist() == pytest.approx([-6.0, -6.0]) and ok["censor"].tolist() == [-1, -1]
    ok, _ = harmonise(df, CFG)  # default solubility LOQ 1e-12 M: 0.5 uM is quantified
    assert ok["value_canonical"].tolist() == pytest.approx([np.log10(5e-7), -12.0]) and ok["censor"].tolist() == [0, -1]


def test_a_value_far_below_the_credible_range_stays_an_error_not_a_limit() -> None:
    ok, rejected = harmonise(table([("1e-9", "nM", "=", "logS"), ("0", "nM", "=", "logS")]), CFG)  # logS -18, 0
    assert rejected["reason"].tolist() == [R.VALUE_OUT_OF_RANGE]
    assert ok["value_canonical"].tolist() == [-12.0] and ok["censor"].tolist() == [-1]
