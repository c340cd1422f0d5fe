"""GCN for node-level problems: GraphConv layers with batch norm, then the class head.

The first layer takes dense or sparse features (cgl.models.sparse_input).

`forward` takes either one graph (full-graph training) or a list of DGL blocks (neighbour
sampling), so the same weights serve NCTrainer and NCMinibatchTrainer.
"""

from __future__ import annotations

import dgl
import torch
from dgl.nn import GraphConv
from torch import nn

from cgl.models.heads import ObservedClassHead, ObservedClassifier
from cgl.models.sparse_input import SparseInputGraphConv

#: srcdata of a block cut from a larger graph: each source node's out-degree in that graph
WHOLE_OUT_DEGREE = "whole_out_degree"


def whole_graph_degree_weight(block: dgl.DGLGraph, conv: GraphConv) -> torch.Tensor | None:
    """Edge weights under which GraphConv on `block` normalises as on the whole graph it was
    cut from, when the block says (WHOLE_OUT_DEGREE) and the normalisation reads source
    degrees: a block's out-degrees count only its own edges, so each edge is scaled by
    (block degree / whole degree) to the power GraphConv applies. None otherwise (only node
    blocks carry WHOLE_OUT_DEGREE, so `conv` is then a plain GraphConv)."""
    if WHOLE_OUT_DEGREE not in block.srcdata:
        return None
    norm = conv._norm
    if norm not in ("left", "both"):
        return None
    ratio = block.out_degrees().clamp(min=1) / block.srcdata[WHOLE_OUT_DEGREE].clamp(min=1)
    ratio = ratio.to(torch.get_default_dtype())
    return (ratio.sqrt() if norm == "both" else ratio)[block.edges()[0]]


class GCNEncoder(nn.Module):
    """`num_layers` GraphConv layers, each followed by batch norm, ReLU and dropout.

    `conv_bias=False` builds BeGin's GCNNode layers (GraphConv without bias; the batch norm
    that follows has its own shift). GraphConv draws only its weight at initialisation, so the
    layers draw the same initial weights either way. The first layer also reads sparse features.
    """

    def __init__(
        self,
        in_feats: int,
        hidden: int,
        num_layers: int,
        dropout: float,
        batch_norm: bool,
        conv_bias: bool = True,
    ) -> None:
        super().__init__()
        dims = [in_feats] + [hidden] * num_layers
        self.convs = nn.ModuleList(
            (SparseInputGraphConv if i == 0 else GraphConv)(
                dims[i], dims[i + 1], bias=conv_bias, allow_zero_in_degree=True
            )
            for i in range(num_layers)
        )
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(hidden) if batch_norm else nn.Identity() for _ in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.out_dim = hidden

    def forward(self, graph: dgl.DGLGraph | list, feat: torch.Tensor) -> torch.Tensor:
        blocks = graph if isinstance(graph, list) else [graph] * len(self.convs)
        h = feat
        for conv, norm, block in zip(self.convs, self.norms, blocks, strict=True):
            weight = whole_graph_degree_weight(block, conv)
            h = conv(block, h) if weight is None else conv(block, h, edge_weight=weight)
            h = self.dropout(torch.relu(norm(h)))
        return h


class GCNNode(ObservedClassifier):
    """Node classifier; `observe_labels` and task masks live in its head."""

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
        super().__init__()
        self.encoder = GCNEncoder(in_feats, hidden, num_layers, dropout, batch_norm, conv_bias)
        self.head = ObservedClassHead(hidden, num_classes)

    def embed(self, graph: dgl.DGLGraph | list, feat: torch.Tensor) -> torch.Tensor:
        return self.encoder(graph, feat)
