"""Inference on new structures with a saved model: one pipeline for predict, trust and explain.

``InferencePipeline.load(model_folder, key)`` checks the consortium key against the model,
rebuilds the model's preparation (standardisation + its featuriser) and its trust artefacts;
then ``predict(smiles)`` gives predictions with trust columns, ``explain(smiles, task, out)``
atom-level explanations. Structures are standardised and featurised once per call.

Modules
-------
featurisers  registry: the model's trunk (and prep config) -> the step that turns standardised
             structures into the model's input (``ModelInputs``: keyed ECFP, + the descriptor
             block, + standardised structures for the message-passing trunk)
pipeline     InferencePipeline, Featurised
explain      Explanation, task_column, the attribution method per trunk, the files an explanation writes
score        score_labelled: an external labelled set prepared with the model's prep config, scored
             through the pipeline (``fedqsar score``)
"""

from fedqsar.inference.featurisers import FEATURISERS, Featuriser, featuriser_for
from fedqsar.inference.pipeline import STATUS_OK, STATUS_REJECTED, Featurised, InferencePipeline

__all__ = [
    "FEATURISERS",
    "STATUS_OK",
    "STATUS_REJECTED",
    "Featurised",
    "Featuriser",
    "InferencePipeline",
    "featuriser_for",
]
