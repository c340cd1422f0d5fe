"""Graph-building steps that several real-dataset loaders share."""

from __future__ import annotations

import dgl
import numpy as np
import torch

from cgl.datasets.base import ContinualData


def undirected_graph(src: np.ndarray, dst: np.ndarray, num_nodes: int) -> dgl.DGLGraph:
    """Both directions of every pair, each once, without self-loops (trainers add their own)."""
    keep = src != dst
    graph = dgl.graph(
        (torch.from_numpy(src[keep]), torch.from_numpy(dst[keep])), num_nodes=num_nodes
    )
    return dgl.to_bidirected(graph)


def unique_links(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Index of the first occurrence of every unordered pair, self-loops left out.

    Link prediction treats a link as undirected: each pair is one item, whatever the
    direction or the number of times it appears in the raw file.
    """
    low, high = np.minimum(src, dst), np.maximum(src, dst)
    _, first = np.unique(np.stack([low, high]), axis=1, return_index=True)
    first = np.sort(first)
    return first[src[first] != dst[first]]


def compact_ids(*columns: np.ndarray) -> tuple[int, list[np.ndarray]]:
    """Renumber node ids that appear in `columns` as 0..n-1 (in increasing id order)."""
    ids, inverse = np.unique(np.concatenate(columns), return_inverse=True)
    bounds = np.cumsum([len(c) for c in columns])[:-1]
    return len(ids), np.split(inverse.astype(np.int64), bounds)


def degree_features(graph: dgl.DGLGraph) -> torch.Tensor:
    """log(1 + in-degree) and log(1 + out-degree): node features for graphs that have none."""
    degrees = torch.stack([graph.in_degrees(), graph.out_degrees()], dim=1).float()
    return torch.log1p(degrees)


def link_prediction_data(
    name: str,
    src: np.ndarray,
    dst: np.ndarray,
    num_nodes: int,
    feat: torch.Tensor | None = None,
    domain: np.ndarray | None = None,
    time: np.ndarray | None = None,
) -> ContinualData:
    """LP data: one item per undirected link (stored once, as `src -> dst`), label 1 each.

    Negative pairs are the scenario's business, not the dataset's. Without node features,
    degree features of the undirected graph stand in.
    """
    graph = dgl.graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=num_nodes)
    if feat is None:
        feat = degree_features(undirected_graph(src, dst, num_nodes))[:, :1]
    graph.ndata["feat"] = feat
    return ContinualData(
        name=name,
        level="lp",
        num_classes=2,
        label=torch.ones(len(src), dtype=torch.long),
        graph=graph,
        domain=None if domain is None else torch.from_numpy(domain).long(),
        time=None if time is None else torch.from_numpy(time).long(),
    )
