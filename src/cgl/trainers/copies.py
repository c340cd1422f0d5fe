"""Training items in independent copies, for exact per-item gradients (MAS's `sample` estimator).

A chunk of items becomes one batch in which every item lives in its own connected component.
One backward pass over the chunk then gives, at every use of a parameter, row gradients that
each belong to exactly one item (see cgl.algorithms.per_item).

A node or pair item's copy is its receptive field, not the whole graph: the nodes within
`depth` hops upstream of the item (its seeds), where `depth` is the number of message-passing
layers. The cut is exact for GraphConv (any normalisation), GATConv (softmax over a node's
in-edges), SAGEConv (mean, or pool, over in-neighbours) and GINConv (sum) because
- every node closer than `depth` keeps all its in-edges (self-loop included), so its in-degree
  and its aggregate at every layer that can still reach the item are the full graph's;
- nodes at distance `depth` lose their in-edges (their aggregates are wrong), but only their
  input features reach the item (with no in-edge, they need allow_zero_in_degree, which
  cgl.models.layers sets);
- every node keeps its full out-degree, which GraphConv's 'both' and 'left' normalisations
  read at the source: the out-edges that leave the cut go to one extra zero-feature "sink"
  node per copy (parallel edges), whose output reaches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import dgl
import torch
from torch import nn

from cgl.models.layers import MESSAGE_PASSING


@dataclass(frozen=True)
class ItemCopies:
    """`batch` (in the form the trainer's `item_copy_outputs` reads) holds `num_items`
    items, each in its own component; `node_owner[v]` is the item whose component holds node v
    of the batch's graph (components may differ in size). The outputs have one row per item,
    in item order."""

    batch: Any
    node_owner: torch.Tensor
    num_items: int


class CutCopies(NamedTuple):
    """One graph holding every item's receptive field as its own component, in item order
    (each component's sink last); `owner[v]` is node v's item; `seeds[i]` are item i's seed
    nodes in `graph`."""

    graph: dgl.DGLGraph
    owner: torch.Tensor
    seeds: torch.Tensor


def message_passing_depth(model: nn.Module) -> int:
    """How many hops an output can see: the model's message-passing layers and other one-hop
    layers that say so (`passes_messages`, e.g. CGLB's SumConv); an upper bound when some run
    side by side."""
    return sum(
        isinstance(module, MESSAGE_PASSING) or getattr(module, "passes_messages", False)
        for module in model.modules()
    )


def exclusive_cumsum(counts: torch.Tensor) -> torch.Tensor:
    """Where each of consecutive runs of lengths `counts` starts."""
    return counts.cumsum(0) - counts


class ReceptiveFields:
    """Cuts the receptive fields of chunks of items out of one graph (module docstring),
    vectorised over the chunk: one pass of tensor operations per hop, no loop over items.

    Node u of item i is the key i * stride + u, with stride = N + 1 so that u = N is item i's
    sink; the sorted keys are the copies' nodes, item by item, each item's sink last."""

    def __init__(self, graph: dgl.DGLGraph, depth: int) -> None:
        graph = graph.long()  # keys outgrow 32-bit ids
        src, dst = graph.edges()
        self.in_src = src[torch.argsort(dst, stable=True)]  # in-edges grouped by destination
        self.in_degrees = graph.in_degrees()
        self.in_start = exclusive_cumsum(self.in_degrees)
        self.sink = graph.num_nodes()
        self.stride = self.sink + 1
        self.out_degrees = torch.cat([graph.out_degrees(), self.in_degrees.new_zeros(1)])
        feat = graph.ndata["feat"]
        self.feat = torch.cat([feat, feat.new_zeros(1, *feat.shape[1:])])
        self.depth = depth

    def in_edges(self, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every in-edge of the keyed nodes, as (source key, destination key) of the same item."""
        node = keys % self.stride
        counts = self.in_degrees[node]
        dst = keys.repeat_interleave(counts)
        shift = (self.in_start[node] - exclusive_cumsum(counts)).repeat_interleave(counts)
        src = self.in_src[torch.arange(dst.numel(), device=keys.device) + shift]
        return src + dst // self.stride * self.stride, dst

    def copies(self, seeds: torch.Tensor) -> CutCopies:
        """The receptive fields of items given by their seed nodes ([items, seeds per item]:
        a node, or a pair's two ends), one component per item."""
        base = torch.arange(seeds.shape[0], device=seeds.device).unsqueeze(-1) * self.stride
        frontier = torch.unique(seeds + base)
        reached, src, dst = [frontier], [frontier[:0]], [frontier[:0]]
        for _ in range(self.depth):  # one hop upstream: all in-edges of the newest nodes
            hop_src, hop_dst = self.in_edges(frontier)
            src.append(hop_src)
            dst.append(hop_dst)
            sources = torch.unique(hop_src)
            frontier = sources[~torch.isin(sources, torch.cat(reached))]
            reached.append(frontier)
        nodes = torch.sort(torch.cat([*reached, base.view(-1) + self.sink])).values
        src, dst = (torch.searchsorted(nodes, torch.cat(keys)) for keys in (src, dst))
        graph = dgl.graph(self.with_sink_edges(nodes, src, dst), num_nodes=nodes.numel())
        graph.ndata["feat"] = self.feat.index_select(0, nodes % self.stride)  # or sparse
        return CutCopies(graph, nodes // self.stride, torch.searchsorted(nodes, seeds + base))

    def with_sink_edges(
        self, nodes: torch.Tensor, src: torch.Tensor, dst: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The cut's edges plus, per node, an edge to its copy's sink for every out-edge the
        cut lost, so that every node keeps the out-degree it has in the graph."""
        node = nodes % self.stride
        lost = self.out_degrees[node] - torch.bincount(src, minlength=nodes.numel())
        sinks = torch.searchsorted(nodes, nodes - node + self.sink)
        source = torch.arange(nodes.numel(), device=nodes.device)
        return (
            torch.cat([src, source.repeat_interleave(lost)]),
            torch.cat([dst, sinks.repeat_interleave(lost)]),
        )
