"""Graph-level models: the node encoder (any backbone), a pooling readout, then the class head.

When the dataset has edge features (`in_edge_feats > 0`), every layer also passes each edge's
projected features along the edge, so bonds or relation types shape the messages. The edge
term is the same for every backbone: GraphConv's normalised sum (EdgeAwareLayer).
"""

from __future__ import annotations

import dgl
import dgl.function as fn
import torch
from dgl.nn import AvgPooling, MaxPooling, SumPooling
from torch import nn

from cgl.models.heads import ObservedClassHead, ObservedClassifier
from cgl.models.layers import GCN_LAYERS, LayerFactory
from cgl.models.node import GNNEncoder

READOUTS = {"mean": AvgPooling, "sum": SumPooling, "max": MaxPooling}
EDGE_IN = "edge_in"  # node field: the aggregated edge features EdgeAwareLayer reads


def aggregate_edge_feats(graph: dgl.DGLGraph) -> torch.Tensor:
    """Per node, the sum of its incoming edges' features with GraphConv's normalisation
    ('both'): sum_u e_uv / sqrt(deg_out(u) deg_in(v)). Self-loops carry zero features."""
    with graph.local_scope():
        src, dst = graph.edges()
        out_norm = graph.out_degrees().clamp(min=1).float().pow(-0.5)
        in_norm = graph.in_degrees().clamp(min=1).float().pow(-0.5)
        graph.edata["m"] = graph.edata["feat"] * (out_norm[src] * in_norm[dst]).unsqueeze(-1)
        graph.update_all(fn.copy_e("m", "m"), fn.sum("m", "agg"))
        return graph.ndata["agg"]


class EdgeAwareLayer(nn.Module):
    """A layer plus edge messages e_uv U, normalised like GraphConv's:
    h_v' = layer(h)_v + (sum_u e_uv / sqrt(deg_out(u) deg_in(v))) U.

    U is applied after aggregating the raw edge features (the same by linearity), so no
    hidden-sized tensor per edge is built, and the aggregate, the same for every layer, is
    computed once per forward by GraphClassifier and read from `graph.ndata[EDGE_IN]`."""

    def __init__(self, conv: nn.Module, in_edge_feats: int, out_feats: int) -> None:
        super().__init__()
        self.conv = conv
        self.edge = nn.Linear(in_edge_feats, out_feats, bias=False)

    def forward(self, graph: dgl.DGLGraph, feat: torch.Tensor) -> torch.Tensor:
        return self.conv(graph, feat).flatten(1) + self.edge(graph.ndata[EDGE_IN])


class GraphClassifier(ObservedClassifier):
    """Graph classifier of any backbone; `observe_labels` and task masks live in its head."""

    def __init__(
        self,
        in_feats: int,
        num_classes: int,
        hidden: int = 146,
        num_layers: int = 4,
        dropout: float = 0.0,
        batch_norm: bool = True,
        readout: str = "mean",
        in_edge_feats: int = 0,
        layer: LayerFactory = GCN_LAYERS,
    ) -> None:
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"unknown readout '{readout}'; known: {sorted(READOUTS)}")
        self.encoder = GNNEncoder(in_feats, hidden, num_layers, dropout, batch_norm, layer)
        self.uses_edge_feats = in_edge_feats > 0
        if self.uses_edge_feats:
            self.encoder.convs = nn.ModuleList(
                EdgeAwareLayer(conv, in_edge_feats, hidden) for conv in self.encoder.convs
            )
        self.readout = READOUTS[readout]()
        self.head = ObservedClassHead(hidden, num_classes)

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: torch.Tensor,
        task_masks: torch.Tensor | None = None,
        edge_attr: torch.Tensor | None = None,
        edge_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Class logits per graph. BeGin's trainers also pass `edge_attr` (the graph's
        `edata['feat']`, which this model reads from the graph itself) and `edge_weight`."""
        if edge_weight is not None:
            raise ValueError(
                f"{type(self).__name__} does not weight edges: edge_weight must be None"
            )
        return super().forward(graph, feat, task_masks=task_masks)

    def embed(self, graph: dgl.DGLGraph, feat: torch.Tensor) -> torch.Tensor:
        """One vector per graph of the (batched) `graph`."""
        with graph.local_scope():
            if self.uses_edge_feats:
                graph.ndata[EDGE_IN] = aggregate_edge_feats(graph)
            return self.readout(graph, self.encoder(graph, feat))


class GCNGraph(GraphClassifier):
    """GraphClassifier of GraphConv layers (with bias)."""

    def __init__(
        self,
        in_feats: int,
        num_classes: int,
        hidden: int = 146,
        num_layers: int = 4,
        dropout: float = 0.0,
        batch_norm: bool = True,
        readout: str = "mean",
        in_edge_feats: int = 0,
    ) -> None:
        super().__init__(
            in_feats, num_classes, hidden, num_layers, dropout, batch_norm, readout, in_edge_feats
        )
