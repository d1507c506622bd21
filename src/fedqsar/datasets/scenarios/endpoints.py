"""Shared endpoint names (``fedqsar.prep.endpoints.ENDPOINTS``) and the units each source
reports its values in.

Units are written as the source gives them, so that the prepare stage converts them to the
endpoint's canonical unit (or rejects a row it cannot convert, with a reason) — the
scenario never converts silently. Two different quantities are kept apart even where a
chemist might lump them: body-weight-scaled CLint (Biogen, mL/min/kg) is ``CLint_scaled``,
microsomal CLint per g protein (ChEMBL literature) is ``CLint_microsomal``. Species and
conditions stay in the assay id (one task per assay).
"""

from __future__ import annotations

LOGD = "logD7.4"
CLINT_SCALED = "CLint_scaled"
CLINT_MICROSOMAL = "CLint_microsomal"
EFFLUX = "efflux_ratio"
SOLUBILITY = "logS"
PPB = "PPB"
POTENCY = "pXC50"

#: units as written by the sources (spellings the prepare stage's unit registry reads)
LOG_UNITLESS = "log"  # logD
LOG_ML_MIN_KG = "log10(mL/min/kg)"  # Biogen CLint, scaled to body weight
LOG_ML_MIN_G = "log10(mL/min/g)"  # PharmaBench microsomal CL (== uL/min/mg protein)
LOG_RATIO = "log10(ratio)"  # efflux ratio
LOG_UG_ML = "log10(ug/mL)"  # Biogen solubility at pH 6.8 (mass concentration: needs MW)
LOG_MOL_L = "log10(mol/L)"  # AqSolDB logS
LOG_NM = "log10(nM)"  # PharmaBench solubility
LOG_PCT_UNBOUND = "log10(% unbound)"  # Biogen PPB
PCT_BOUND = "% bound"  # PharmaBench PPB
NEG_LOG_M = "-log10(M)"  # pChEMBL values

USED = (LOGD, CLINT_SCALED, CLINT_MICROSOMAL, EFFLUX, SOLUBILITY, PPB, POTENCY)
# datasets comes before prep in the flow, so the registry is not imported here; the
# integration test checks every (endpoint, unit) pair against prep's registries.
