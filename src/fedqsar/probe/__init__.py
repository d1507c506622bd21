""" "Should we join?": a candidate partner measures, locally, what a consortium trunk would give it.

``run_probe`` (``fedqsar probe``) runs entirely on the candidate's machine, on its own
PreparedSet and the consortium's published trunk (``model.trunk_file``); nothing leaves it and
it opens no network connection.
"""

from fedqsar.probe.run import ProbeConfig, ProbeResult, run_probe
from fedqsar.probe.verdict import Verdict, verdict_of

__all__ = ["ProbeConfig", "ProbeResult", "Verdict", "run_probe", "verdict_of"]
