"""Shared endpoint names and the units each source reports them in.

Names follow the prepare stage's endpoint registry (``fedqsar.prep.endpoints``); units are
written as the source gives them, so that the prepare stage converts them (or rejects a
row whose unit it cannot convert, with a reason) — the scenario never converts silently.
"""

from __future__ import annotations

LOGD = "logD7.4"
HLM = "HLM_CLint"
RLM = "RLM_CLint"
MLM = "MLM_CLint"
MDR1_ER = "MDR1_ER"
SOLUBILITY = "solubility"
HPPB = "hPPB"
RPPB = "rPPB"
PIC50 = "pIC50"
PKI = "pKi"

#: units as written by the sources
LOG_UNITLESS = "log10"  # logD, log of a ratio
LOG_ML_MIN_KG = "log10(mL/min/kg)"  # Biogen CLint, scaled to body weight
LOG_ML_MIN_G = "log10(mL/min/g)"  # PharmaBench microsomal CL (per g of liver / protein)
LOG_RATIO = "log10(ratio)"  # efflux ratio
LOG_UG_ML = "log10(ug/mL)"  # Biogen solubility at pH 6.8
LOG_MOL_L = "log10(mol/L)"  # AqSolDB logS
LOG_NM = "log10(nM)"  # PharmaBench solubility
LOG_PCT_UNBOUND = "log10(% unbound)"  # Biogen PPB
PCT_BOUND = "% bound"  # PharmaBench PPB
NEG_LOG_M = "-log10(M)"  # pChEMBL values
