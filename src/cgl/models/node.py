"""Node-level models: the shared encoder (any backbone's layers, each followed by batch norm,
ReLU and dropout), then the class head.

The backbone's layers come from a factory (cgl.models.layers); GCN's first layer takes dense
or sparse features (cgl.models.sparse_input), the others' sparse features are densified.

`forward` takes either one graph (full-graph training) or a list of DGL blocks (neighbour
sampling), so the same weights serve NCTrainer and NCMinibatchTrainer.
"""

from __future__ import annotations

import dgl
import torch
from dgl.nn import GATConv, GraphConv
from torch import nn

from cgl.models.heads import ObservedClassHead, ObservedClassifier
from cgl.models.layers import GCN_LAYERS, GCNLayers, LayerFactory

#: srcdata of a block cut from a larger graph: each source node's out-degree in that graph
WHOLE_OUT_DEGREE = "whole_out_degree"


def whole_graph_degree_weight(block: dgl.DGLGraph, conv: nn.Module) -> torch.Tensor | None:
    """Edge weights under which GraphConv on `block` normalises as on the whole graph it was
    cut from, when the block says (WHOLE_OUT_DEGREE) and the normalisation reads source
    degrees: a block's out-degrees count only its own edges, so each edge is scaled by
    (block degree / whole degree) to the power GraphConv applies. None otherwise: only node
    blocks carry WHOLE_OUT_DEGREE, and the other backbones' layers (GAT's softmax, SAGE's
    mean, GIN's sum) read only in-edges, which such a block keeps whole."""
    if WHOLE_OUT_DEGREE not in block.srcdata or not isinstance(conv, GraphConv):
        return None
    norm = conv._norm
    if norm not in ("left", "both"):
        return None
    ratio = block.out_degrees().clamp(min=1) / block.srcdata[WHOLE_OUT_DEGREE].clamp(min=1)
    ratio = ratio.to(torch.get_default_dtype())
    return (ratio.sqrt() if norm == "both" else ratio)[block.edges()[0]]


class GNNEncoder(nn.Module):
    """`num_layers` layers made by `layer` (default: GCN's GraphConv), each followed by batch
    norm, ReLU and dropout.

    GCNLayers(bias=False) builds BeGin's GCNNode layers (GraphConv without bias; the batch
    norm that follows has its own shift). GraphConv draws only its weight at initialisation,
    so the layers draw the same initial weights either way.
    """

    def __init__(
        self,
        in_feats: int,
        hidden: int,
        num_layers: int,
        dropout: float,
        batch_norm: bool,
        layer: LayerFactory = GCN_LAYERS,
    ) -> None:
        super().__init__()
        dims = [in_feats] + [hidden] * num_layers
        self.convs = nn.ModuleList(layer(dims[i], dims[i + 1], i == 0) for i in range(num_layers))
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(hidden) if batch_norm else nn.Identity() for _ in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.reads_sparse = layer.reads_sparse
        self.out_dim = hidden

    def forward(
        self, graph: dgl.DGLGraph | list, feat: torch.Tensor, attention: list | None = None
    ) -> torch.Tensor:
        """Node embeddings. A list given as `attention` receives, per GAT layer, its attention
        coefficients ([edges, heads, 1], softmax over each node's in-edges; TWP reads them)."""
        blocks = graph if isinstance(graph, list) else [graph] * len(self.convs)
        h = feat.to_dense() if feat.is_sparse and not self.reads_sparse else feat
        for conv, norm, block in zip(self.convs, self.norms, blocks, strict=True):
            weight = whole_graph_degree_weight(block, conv)
            if weight is not None:
                h = conv(block, h, edge_weight=weight)
            elif attention is not None and isinstance(conv, GATConv):
                h, coefficients = conv(block, h, get_attention=True)
                attention.append(coefficients)
            else:
                h = conv(block, h)
            h = self.dropout(torch.relu(norm(h.flatten(1))))  # flatten: GAT's heads side by side
        return h


class NodeClassifier(ObservedClassifier):
    """Node classifier of any backbone; `observe_labels` and task masks live in its head."""

    def __init__(
        self,
        in_feats: int,
        num_classes: int,
        hidden: int = 256,
        num_layers: int = 3,
        dropout: float = 0.0,
        batch_norm: bool = True,
        layer: LayerFactory = GCN_LAYERS,
    ) -> None:
        super().__init__()
        self.encoder = GNNEncoder(in_feats, hidden, num_layers, dropout, batch_norm, layer)
        self.head = ObservedClassHead(hidden, num_classes)

    def embed(self, graph: dgl.DGLGraph | list, feat: torch.Tensor) -> torch.Tensor:
        return self.encoder(graph, feat)


class GCNNode(NodeClassifier):
    """BeGin's GCNNode (with `conv_bias=False`): a NodeClassifier of GraphConv layers."""

    def __init__(
        self,
        in_feats: int,
        num_classes: int,
        hidden: int = 256,
        num_layers: int = 3,
        dropout: float = 0.0,
        batch_norm: bool = True,
        conv_bias: bool = True,
    ) -> None:
        super().__init__(
            in_feats, num_classes, hidden, num_layers, dropout, batch_norm, GCNLayers(conv_bias)
        )
