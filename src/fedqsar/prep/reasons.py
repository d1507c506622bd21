"""Reject reason codes of ``prepare``: the one place where every code is defined and described.

Every stage that rejects a row imports its code from here; ``REASONS`` (code -> meaning)
is what ``accounting.json`` / ``rejected.csv`` readers and ``docs/partner-input.md`` refer
to. No module adds codes elsewhere: a new code is a new constant and a new entry here.
"""

from __future__ import annotations

# --- reading (prep.schema, prep.tuner, prep.readers) --------------------------------------
MISSING_STRUCTURE = "missing_structure"
MALFORMED_ROW = "malformed_row"
UNPARSABLE_MOLBLOCK = "unparsable_molblock"
AMBIGUOUS_STRUCTURE = "ambiguous_structure"
UNKNOWN_TASK = "unknown_classification_task"

# --- structures (prep.standardize, prep.pipeline) ------------------------------------------
EMPTY_SMILES = "empty_smiles"
UNPARSABLE_SMILES = "unparsable_smiles"
TOO_MANY_HEAVY_ATOMS = "too_many_heavy_atoms"
TOO_FEW_HEAVY_ATOMS = "too_few_heavy_atoms"
STANDARDISATION_FAILED = "standardisation_failed"
NO_ORGANIC_PARENT = "no_organic_parent"
METAL_COMPLEX = "metal_complex"
CONFLICTING_STRUCTURE = "conflicting_structure"

# --- values (prep.values) ----------------------------------------------------------------
MISSING_ASSAY = "missing_assay_id"
MISSING_VALUE = "missing_value"
NON_NUMERIC_VALUE = "non_numeric_value"
NON_FINITE_VALUE = "non_finite_value"
NON_POSITIVE_VALUE = "non_positive_value"
VALUE_OUT_OF_RANGE = "value_out_of_range"
UNKNOWN_QUALIFIER = "unknown_qualifier"
UNKNOWN_UNIT = "unknown_unit"
UNIT_ENDPOINT_MISMATCH = "unit_endpoint_mismatch"
MISSING_MOL_WEIGHT = "missing_mol_weight"
INVALID_LABEL = "invalid_label"

# --- folds (prep.fold_sources, prep.folds, prep.splits), replicates, tasks -----------------
MISSING_DATE = "missing_date"
NOT_A_DATE = "not_a_date"
NOT_AN_ORDINAL = "not_an_ordinal"
INVALID_SPLIT_LABEL = "invalid_split_label"
NOT_IN_SPLIT_FILE = "not_in_split_file"
CONFLICTING_SPLIT = "conflicting_split"
DUPLICATE_CONFLICT = "duplicate_conflict"
NO_TASK = "no_task"

STRUCTURE_REJECT_REASONS: dict[str, str] = {
    EMPTY_SMILES: "the SMILES cell is empty or missing",
    UNPARSABLE_SMILES: "RDKit cannot parse or sanitise the SMILES",
    TOO_MANY_HEAVY_ATOMS: "the input has at least max_heavy_atoms heavy atoms (counter-ions included, as in TUNER)",
    TOO_FEW_HEAVY_ATOMS: "the standardised structure has fewer than min_heavy_atoms heavy atoms",
    STANDARDISATION_FAILED: "an RDKit standardisation step raised an error or produced an unreadable structure",
    NO_ORGANIC_PARENT: (
        "after salt stripping and metal disconnection no organic parent is left (water, ammonia, a halide, "
        "an inorganic acid: e.g. cisplatin, NaCl, CuSO4); the row is not replaced by a fragment"
    ),
    METAL_COMPLEX: (
        "the input contains a metal other than the salt-forming alkali / alkaline-earth metals (Pt, Fe, Cu, Sn, "
        "Gd ...): removing it would model the ligand with the complex's value"
    ),
}
"""The codes the structure stage gives (``prep.standardize``)."""

REASONS: dict[str, str] = {
    MISSING_STRUCTURE: "the compound id of this activity has no structure (SMILES) in the input",
    MALFORMED_ROW: "the CSV line has more fields than the header (its fields are kept in rejected.csv)",
    UNPARSABLE_MOLBLOCK: "RDKit could not read this SD record (its properties are kept in rejected.csv)",
    AMBIGUOUS_STRUCTURE: "the compound id appears with different SMILES in the TUNER structure table (T2)",
    UNKNOWN_TASK: "the T4 classification_task_id is not in T3",
    **STRUCTURE_REJECT_REASONS,
    CONFLICTING_STRUCTURE: (
        "one compound id comes with two different structures (after standardisation) in the input; "
        "every row of that id is rejected"
    ),
    MISSING_ASSAY: "the assay id is empty",
    MISSING_VALUE: "the value cell is empty",
    NON_NUMERIC_VALUE: "the value is not a number",
    NON_FINITE_VALUE: "the value is infinite or NaN",
    NON_POSITIVE_VALUE: (
        "the value is zero or negative where a logarithm is needed and the endpoint has no limit of "
        "quantification (e.g. a potency), or a '>' bound at or below zero"
    ),
    VALUE_OUT_OF_RANGE: "the converted value lies outside the endpoint's credible range",
    UNKNOWN_QUALIFIER: "the qualifier is not one of =, <, >, <=, >=, <<, >>, ~",
    UNKNOWN_UNIT: "the unit is not in the unit registry (prep/units.py)",
    UNIT_ENDPOINT_MISMATCH: "the unit measures another quantity than the endpoint",
    MISSING_MOL_WEIGHT: "a mass concentration needs the molecular weight, which is unknown",
    INVALID_LABEL: "a class label must be 0/1 (or -1/1)",
    MISSING_DATE: "folds are by time but this row has no time value (date or ordinal)",
    NOT_A_DATE: (
        "folds are by date and this value is neither a date nor a year in 1900-2100 (an integer such as 1321 or "
        "12345 is an ordinal: say folds.time_values = 'ordinal')"
    ),
    NOT_AN_ORDINAL: "folds are by an integer ordinal and this value is not an integer",
    INVALID_SPLIT_LABEL: "the split value is neither a fold number 0..n_folds-1 nor train / valid / test",
    NOT_IN_SPLIT_FILE: "folds come from a split file and this compound id is not in it",
    CONFLICTING_SPLIT: "rows of one compound (same standardised structure) are given different splits",
    DUPLICATE_CONFLICT: "replicates of this compound in this assay disagree beyond max_replicate_spread",
    NO_TASK: "the observation feeds no task (undetermined for every threshold, or its assay yields no task)",
}
"""Every reject reason code -> its meaning."""
