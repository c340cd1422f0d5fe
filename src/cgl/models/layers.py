"""The message-passing layer of each backbone (`model=gcn|gat|gin|sage`), as a layer factory.

The encoders (cgl.models.node.GNNEncoder) are written once; a factory, built by Hydra from the
model config's `layer` node, makes their layers: `factory(in_dim, out_dim, first)` returns a
module whose `forward(graph_or_block, h)` gives one row per destination node, `out_dim` wide
once flattened (GAT's heads side by side). Every layer reads a node's in-edges only, so a
block holding all in-edges of its destination nodes (evaluation on a receptive field, MAS's
per-item copies) computes what the whole graph computes; GraphConv alone also reads the
sources' out-degrees (cgl.models.node.whole_graph_degree_weight).

Only GCN's first layer multiplies sparse input features directly
(cgl.models.sparse_input); the other backbones' layers run their own dense forward, so the
encoder densifies sparse features before them (GATConv and SAGEConv apply their own linear
maps inside, and GINConv aggregates before its MLP).
"""

from __future__ import annotations

from dataclasses import dataclass

import dgl
import torch
from dgl.nn import GATConv, GINConv, GraphConv, SAGEConv
from torch import nn

from cgl.models.sparse_input import SparseInputGraphConv

#: The DGL layers that pass messages: a model's depth (receptive field) counts them.
MESSAGE_PASSING = (GraphConv, GATConv, GINConv, SAGEConv)
#: SAGEConv aggregators cgl runs; DGL's `lstm` reads neighbours in edge order, which a block
#: cut from the graph does not keep, so receptive-field evaluation would differ from the graph's.
SAGE_AGGREGATORS = ("mean", "gcn", "pool")


@dataclass(frozen=True)
class GCNLayers:
    """GraphConv ('both' normalisation); the first reads sparse features too. `bias=False` is
    BeGin's GCN."""

    bias: bool = True
    reads_sparse = True

    def __call__(self, in_dim: int, out_dim: int, first: bool) -> nn.Module:
        conv = SparseInputGraphConv if first else GraphConv
        return conv(in_dim, out_dim, bias=self.bias, allow_zero_in_degree=True)


@dataclass(frozen=True)
class GATLayers:
    """GATConv with `heads` heads of out_dim / heads features each, concatenated; attention
    (an edge softmax over each node's in-edges) dropped with `attn_dropout` while training."""

    heads: int = 4
    attn_dropout: float = 0.0
    negative_slope: float = 0.2
    reads_sparse = False

    def __call__(self, in_dim: int, out_dim: int, first: bool) -> nn.Module:
        if out_dim % self.heads:
            raise ValueError(f"hidden={out_dim} is not a multiple of heads={self.heads}")
        return GATConv(
            in_dim,
            out_dim // self.heads,
            self.heads,
            attn_drop=self.attn_dropout,
            negative_slope=self.negative_slope,
            allow_zero_in_degree=True,
        )


class GINLayer(nn.Module):
    """GINConv's aggregation (1 + eps) h_v + sum of in-neighbours, then the MLP.

    The MLP is this module's child rather than GINConv's `apply_func` (the same function): the
    aggregate is then GINConv's own output, from which MAS's per-item rule reads eps's gradient.
    """

    def __init__(self, conv: GINConv, mlp: nn.Module) -> None:
        super().__init__()
        self.conv = conv
        self.mlp = mlp

    def forward(self, graph: dgl.DGLGraph, feat: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.conv(graph, feat))


@dataclass(frozen=True)
class GINLayers:
    """GIN: sum aggregation with `eps` (learnt when `learn_eps`), then an MLP of `mlp_layers`
    Linear layers with ReLU between them."""

    eps: float = 0.0
    learn_eps: bool = False
    mlp_layers: int = 2
    reads_sparse = False

    def __call__(self, in_dim: int, out_dim: int, first: bool) -> nn.Module:
        dims = [in_dim] + [out_dim] * self.mlp_layers
        mlp: list[nn.Module] = []
        for i in range(self.mlp_layers):
            mlp += [nn.Linear(dims[i], dims[i + 1]), nn.ReLU()]
        conv = GINConv(None, "sum", init_eps=self.eps, learn_eps=self.learn_eps)
        return GINLayer(conv, nn.Sequential(*mlp[:-1]))


@dataclass(frozen=True)
class SAGELayers:
    """GraphSAGE: W_self h_v + W_neigh agg(in-neighbours), agg one of SAGE_AGGREGATORS."""

    aggregator: str = "mean"
    reads_sparse = False

    def __call__(self, in_dim: int, out_dim: int, first: bool) -> nn.Module:
        if self.aggregator not in SAGE_AGGREGATORS:
            raise ValueError(f"aggregator={self.aggregator}: use one of {SAGE_AGGREGATORS}")
        return SAGEConv(in_dim, out_dim, self.aggregator)


LayerFactory = GCNLayers | GATLayers | GINLayers | SAGELayers
#: the models' default layers: GraphConv with bias
GCN_LAYERS = GCNLayers()
