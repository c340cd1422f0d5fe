"""Training items in independent copies, for exact per-item gradients (MAS's `sample` estimator).

A chunk of items becomes one batch in which every item lives in its own connected component.
One backward pass over the chunk then gives, at every use of a parameter, row gradients that
each belong to exactly one item (see cgl.algorithms.mas.per_item).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dgl
import torch


@dataclass(frozen=True)
class ItemCopies:
    """`batch` (in the form the trainer's `independent_item_outputs` reads) holds `num_items`
    items, each in its own component; `node_owner[v]` is the item whose component holds node v
    of the batch's graph. The outputs have one row per item, in item order."""

    batch: Any
    node_owner: torch.Tensor
    num_items: int


def graph_copies(graph: dgl.DGLGraph, num_copies: int) -> tuple[dgl.DGLGraph, torch.Tensor]:
    """`num_copies` disjoint copies of `graph` (edges and node features only) in one graph, and
    each node's copy; node v of copy b is node b * N + v.

    Whole copies, not k-hop subgraphs: GraphConv's normalisation reads the source nodes'
    out-degrees, which cutting a subgraph would change, so an item's output would differ
    from the trainer's."""
    plain = dgl.graph(graph.edges(), num_nodes=graph.num_nodes())
    plain.ndata["feat"] = graph.ndata["feat"]
    copies = dgl.batch([plain] * num_copies)
    owner = torch.arange(num_copies, device=graph.device).repeat_interleave(graph.num_nodes())
    return copies, owner
