"""GCN for node-level problems: GraphConv layers with batch norm, then the class head.

`forward` takes either one graph (full-graph training) or a list of DGL blocks (neighbour
sampling), so the same weights serve NCTrainer and NCMinibatchTrainer.
"""

from __future__ import annotations

import dgl
import torch
from dgl.nn import GraphConv
from torch import nn

from cgl.models.heads import ObservedClassHead, ObservedClassifier


class GCNEncoder(nn.Module):
    """`num_layers` GraphConv layers, each followed by batch norm, ReLU and dropout.

    `conv_bias=False` builds BeGin's GCNNode layers (GraphConv without bias; the batch norm
    that follows has its own shift). GraphConv draws only its weight at initialisation, so the
    layers draw the same initial weights either way.
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
            GraphConv(dims[i], dims[i + 1], bias=conv_bias, allow_zero_in_degree=True)
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
            h = self.dropout(torch.relu(norm(conv(block, h))))
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
