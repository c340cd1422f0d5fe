"""Link-level models: node embeddings (any backbone), then a scorer over each node pair.

The pair representation is the elementwise product of the two node embeddings passed through
an MLP layer; the product is symmetric, so a link and its reverse get the same prediction.
LC ends in the class head shared with the node level (observed classes, Task-IL masks);
LP ends in one score per pair (a logit: link or not). The GCN classes are the same models
with GraphConv layers, named as BeGin names its GCNLink.

The pairs come as one [pairs, 2] tensor or, as BeGin's trainers pass them, as `srcs, dsts`:
`model(graph, feat, srcs, dsts)`.
"""

from __future__ import annotations

import dgl
import torch
from torch import nn

from cgl.models.heads import ObservedClassHead, ObservedClassifier
from cgl.models.layers import GCN_LAYERS, GCNLayers, LayerFactory
from cgl.models.node import GNNEncoder


def as_pairs(pairs: torch.Tensor, dsts: torch.Tensor | None) -> torch.Tensor:
    """[pairs, 2] from cgl's one tensor or BeGin's (srcs, dsts)."""
    return pairs if dsts is None else torch.stack([pairs, dsts], dim=-1)


class PairEncoder(nn.Module):
    """Node encoder, then MLP(h_src * h_dst) per pair."""

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
        self.encoder = GNNEncoder(in_feats, hidden, num_layers, dropout, batch_norm, layer)
        self.pair = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.out_dim = hidden

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: torch.Tensor,
        pairs: torch.Tensor,
        dsts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        pairs = as_pairs(pairs, dsts)
        h = self.encoder(graph, feat)
        return self.pair(h[pairs[:, 0]] * h[pairs[:, 1]])


class LinkClassifier(ObservedClassifier):
    """Link classifier: class logits per pair; `observe_labels` and task masks as for nodes."""

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
        self.pairs = PairEncoder(in_feats, hidden, num_layers, dropout, batch_norm, layer)
        self.head = ObservedClassHead(hidden, num_classes)

    def embed(
        self,
        graph: dgl.DGLGraph,
        feat: torch.Tensor,
        pairs: torch.Tensor,
        dsts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.pairs(graph, feat, pairs, dsts)


class LinkPredictor(nn.Module):
    """Link predictor: one score (logit of 'is a link') per pair."""

    def __init__(
        self,
        in_feats: int,
        hidden: int = 256,
        num_layers: int = 3,
        dropout: float = 0.0,
        batch_norm: bool = True,
        layer: LayerFactory = GCN_LAYERS,
    ) -> None:
        super().__init__()
        self.pairs = PairEncoder(in_feats, hidden, num_layers, dropout, batch_norm, layer)
        self.score = nn.Linear(hidden, 1)

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: torch.Tensor,
        pairs: torch.Tensor,
        dsts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.score(self.pairs(graph, feat, pairs, dsts)).view(-1)

    def observe_labels(self, labels: torch.Tensor) -> None:
        """BeGin's LP trainers observe their one output; it is always live here."""


class GCNLinkClassifier(LinkClassifier):
    """LinkClassifier of GraphConv layers (`conv_bias=False`: BeGin's GCNLink)."""

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


class GCNLinkPredictor(LinkPredictor):
    """LinkPredictor of GraphConv layers (`conv_bias=False`: BeGin's)."""

    def __init__(
        self,
        in_feats: int,
        hidden: int = 256,
        num_layers: int = 3,
        dropout: float = 0.0,
        batch_norm: bool = True,
        conv_bias: bool = True,
    ) -> None:
        super().__init__(in_feats, hidden, num_layers, dropout, batch_norm, GCNLayers(conv_bias))
