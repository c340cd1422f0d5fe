"""CGLB's NCGL "GCN" backbone (QueuQ/CGLB, NCGL/Backbones/gnns.py and gnnconv.py's GCNLayer).

Two layers, in -> 256 -> classes, each a bias-free linear map followed by an unnormalised
sum over in-neighbours (the trainer adds the self-loop): no degree normalisation, no batch
norm, no separate head. The second layer's output are the logits; the observed-class mask of
`ObservedClassHead` (without a projection) is applied on top, which is what CGLB's slicing of
the logits to the classes seen so far (Class-IL) or to the task's classes (Task-IL) does.

Written by hand because DGL's GraphConv(norm="none", bias=False) computes the same sum but
draws Xavier weights: CGLB's layer is torch's nn.Linear, and its initial weights are that
layer's default draw, so the same seed gives CGLB's initial weights only with that draw.
"""

from __future__ import annotations

import math

import dgl
import dgl.function as fn
import torch
from torch import nn

from cgl.models.heads import ObservedClassHead, ObservedClassifier
from cgl.models.sparse_input import SparseProduct, sparse_rows


class SumConv(nn.Module):
    """h_v = sum over in-edges (u, v) of W x_u, W without bias (CGLB's GCNLayer, without the
    attention scores it computes for TWP and drops otherwise)."""

    #: counted by cgl.trainers.copies.message_passing_depth, like a GraphConv
    passes_messages = True

    def __init__(self, in_feats: int, out_feats: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_feats, in_feats))
        # nn.Linear's default draw (what CGLB's model starts from), in nn.Linear's layout
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def reset_parameters(self) -> None:
        """CGLB's re-initialisation (Joint retrains from it): Xavier normal, leaky-ReLU gain."""
        nn.init.xavier_normal_(self.weight, gain=nn.init.calculate_gain("leaky_relu", 0.2))

    def forward(self, graph: dgl.DGLGraph, feat: torch.Tensor) -> torch.Tensor:
        if feat.is_sparse:
            h = SparseProduct.apply(self.weight.t(), sparse_rows(feat))
        else:
            h = feat @ self.weight.t()
        with graph.local_scope():
            graph.srcdata["h"] = h
            graph.update_all(fn.copy_u("h", "m"), fn.sum("m", "h"))
            return graph.dstdata["h"]


class CGLBGCN(ObservedClassifier):
    """CGLB's backbone: SumConv layers with ReLU (and dropout) between them; the last layer
    gives one logit per class. `forward` takes a graph or a list of DGL blocks."""

    def __init__(
        self, in_feats: int, num_classes: int, hidden: int = 256, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList([SumConv(in_feats, hidden), SumConv(hidden, num_classes)])
        self.dropout = nn.Dropout(dropout)
        self.head = ObservedClassHead(num_classes, num_classes, project=False)

    def embed(self, graph: dgl.DGLGraph | list, feat: torch.Tensor) -> torch.Tensor:
        blocks = graph if isinstance(graph, list) else [graph] * len(self.convs)
        h = self.convs[0](blocks[0], feat)
        h = self.dropout(torch.relu(h))
        return self.convs[1](blocks[1], h)
