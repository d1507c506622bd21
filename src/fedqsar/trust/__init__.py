"""Trust: calibrated uncertainty, applicability domain and atom-level explanations.

Modules
-------
conformal    Mondrian conformal classification + Venn-ABERS (crepes, venn-abers), normalised
             conformal regression
domain       blocked exact Tanimoto k-NN, trunk-embedding distance, in-domain thresholds
calibrate    fit_trust: per-partner calibrators (validation fold) and domain reference (training rows)
store        save_trust / load_trust beside a model folder (JSON + npz, no pickle)
annotate     annotate_predictions: extra columns for ``fedqsar predict``
tables       report_tables / write_report_tables: RUN/trust/coverage.csv and domain.csv
attribution  occlusion bit sensitivities -> atom contributions, deletion faithfulness test
depict       RDKit 2D depictions coloured by atom contributions (SVG/PNG) + numbers
explain      explain one SMILES for one task with a saved model
"""

from fedqsar.trust.annotate import annotate_predictions
from fedqsar.trust.calibrate import TrustArtefacts, TrustConfig, domain_scores, fit_trust
from fedqsar.trust.store import has_trust, load_trust, save_trust
from fedqsar.trust.tables import report_tables, write_report_tables

__all__ = [
    "TrustArtefacts",
    "TrustConfig",
    "annotate_predictions",
    "domain_scores",
    "fit_trust",
    "has_trust",
    "load_trust",
    "report_tables",
    "save_trust",
    "write_report_tables",
]
