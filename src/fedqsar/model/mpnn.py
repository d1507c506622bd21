"""Message-passing trunk on chemprop v2 modules (``ModelConfig(trunk="mpnn")``).

chemprop is used as a library: its ``SimpleMoleculeMolGraphFeaturizer`` turns a standardised
structure into atom and bond feature matrices, its ``BondMessagePassing`` (directed
message passing, Yang et al. 2019) and an aggregation module (mean, sum or norm) make a
molecule embedding. fedqsar adds the optional descriptor block (concatenated to the
embedding, scaled privately), dense ``hidden_sizes`` layers with ReLU + dropout, and its own
private heads, censored losses, early stopping and trainer. All trunk parameters are dense
(AdamW); nothing is row-sparse, so ``sparse_table`` is None.

Structures are the PreparedSet's partner-local standardised SMILES (``local_structures.parquet``);
they never leave the partner, and neither do the graphs built from them (cached per trunk
object, not part of any state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from chemprop import featurizers
from chemprop import nn as chemprop_nn
from chemprop.data import BatchMolGraph
from rdkit import Chem, rdBase
from torch import nn

from fedqsar.errors import TrainingError
from fedqsar.model.config import ModelConfig
from fedqsar.model.inputs import ModelInputs
from fedqsar.model.network import TrunkModule, TrunkPass

AGGREGATION_MODULES = {
    "mean": chemprop_nn.MeanAggregation,
    "sum": chemprop_nn.SumAggregation,
    "norm": chemprop_nn.NormAggregation,
}
GRAPH_CACHE_LIMIT = 500_000


@dataclass(frozen=True)
class GraphBatch:
    """MPNN trunk input: a chemprop ``BatchMolGraph`` and the scaled descriptor block (n, d) or None."""

    graph: BatchMolGraph
    descriptors: torch.Tensor | None = None

    @property
    def n_rows(self) -> int:
        return len(self.graph)


class MessagePassingTrunk(TrunkModule):
    """chemprop bond message passing + aggregation (+ descriptors), then dense layers."""

    def __init__(self, n_bits: int, cfg: ModelConfig, n_descriptors: int = 0) -> None:
        super().__init__()
        # n_bits is not read (the registry gives every trunk one signature); do not `del` it: lightning's
        # save_hyperparameters in chemprop's modules reads the caller frames' arguments
        self.featurizer = featurizers.SimpleMoleculeMolGraphFeaturizer()
        self.message_passing = chemprop_nn.BondMessagePassing(
            d_v=self.featurizer.atom_fdim,
            d_e=self.featurizer.bond_fdim,
            d_h=cfg.mpnn_hidden,
            depth=cfg.mpnn_depth,
            dropout=cfg.mpnn_dropout,
        )
        self.aggregation = AGGREGATION_MODULES[cfg.mpnn_aggregation]()
        self.n_descriptors = int(n_descriptors)
        sizes = (cfg.mpnn_hidden + self.n_descriptors, *(int(h) for h in cfg.hidden_sizes))
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.dropout = nn.Dropout(cfg.dropout)
        self.out_features = sizes[-1]
        self._graphs: dict[str, Any] = {}
        self.add_endpoint_head(cfg)

    @property
    def sparse_table(self) -> None:
        """No row-sparse part: every parameter is trained by the dense optimiser."""
        return None

    def graph_of(self, smiles: str) -> Any:
        """chemprop ``MolGraph`` of one standardised SMILES (cached)."""
        graph = self._graphs.get(smiles)
        if graph is None:
            with rdBase.BlockLogs():
                mol = Chem.MolFromSmiles(smiles) if smiles else None
            if mol is None:
                raise TrainingError(f"cannot build a molecular graph from {smiles!r}", "re-run `fedqsar prepare`")
            if len(self._graphs) >= GRAPH_CACHE_LIMIT:
                self._graphs.clear()
            graph = self._graphs[smiles] = self.featurizer(mol)
        return graph

    def make_batch(self, inputs: ModelInputs, rows: np.ndarray, descriptors: torch.Tensor | None) -> GraphBatch:
        structures = inputs.require_structures()
        return GraphBatch(BatchMolGraph([self.graph_of(str(structures[r])) for r in rows]), descriptors)

    def embed_atoms(self, batch: GraphBatch) -> torch.Tensor:
        """(n_atoms, mpnn_hidden) atom representations after message passing."""
        return self.message_passing(batch.graph)

    def from_atoms(self, atoms: torch.Tensor, batch: GraphBatch) -> torch.Tensor:
        """Trunk output from atom representations: aggregate, add descriptors, dense layers."""
        h = self.aggregation(atoms, batch.graph.batch)
        if self.n_descriptors:
            if batch.descriptors is None:
                raise ValueError(
                    "this trunk reads a descriptor block; build its batches with MultitaskModel.input_batch"
                )
            h = torch.cat([h, batch.descriptors], dim=1)
        for layer in self.hidden:
            h = self.dropout(torch.relu(layer(h)))
        return h

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        """(n_rows, out_features) trunk output."""
        return self.from_atoms(self.embed_atoms(batch), batch)

    def training_pass(self, batch: GraphBatch) -> TrunkPass:
        return TrunkPass(self.forward(batch))


@torch.no_grad()
def atom_occlusion(model: Any, partner: str, inputs: ModelInputs) -> tuple[np.ndarray, np.ndarray]:
    """Atom attributions straight from the message-passing trunk, for one molecule.

    Each atom in turn is occluded: its feature row and the feature rows of its bonds are set to
    zero before message passing, and the change of every task's prediction (task scale) is its
    contribution: ``f(molecule) - f(molecule with atom i occluded)``, positive when the atom
    raises the prediction.

    Parameters
    ----------
    inputs
        One row (the standardised structure, and its raw descriptors when the model reads them).

    Returns
    -------
    base : (n_tasks,) prediction of the intact molecule
    contributions : (n_atoms, n_tasks), atoms indexed as in the standardised SMILES
    """
    trunk: MessagePassingTrunk = model.trunk
    was_training = model.training
    model.eval()
    try:
        batch = model.input_batch(inputs, np.array([0]), partner)
        graph = trunk.graph_of(str(inputs.require_structures()[0]))
        n_atoms = int(graph.V.shape[0])
        occluded = [graph]
        for atom in range(n_atoms):
            V, E = graph.V.copy(), graph.E.copy()
            V[atom] = 0.0
            E[(graph.edge_index[0] == atom) | (graph.edge_index[1] == atom)] = 0.0
            occluded.append(graph._replace(V=V, E=E))
        descriptors = None if batch.descriptors is None else batch.descriptors.expand(n_atoms + 1, -1)
        out = model.heads[partner].to_task_scale(model(GraphBatch(BatchMolGraph(occluded), descriptors), partner))
    finally:
        model.train(was_training)
    values = out.numpy().astype(np.float64)
    return values[0], values[0][None, :] - values[1:]
