"""Synthetic graph classification data: many small graphs, each with class, domain and time.

A graph's class is planted twice: a class motif (a fixed small template graph wired into a
random background graph) whose nodes and edges carry class-conditioned features. Domains
shift the graphs' size, density and feature distribution; time steps drift the features.
All graphs are drawn at once as one disjoint union and cut apart at the end, so generation
costs a handful of array operations rather than a Python loop per graph.
"""

from __future__ import annotations

from collections.abc import Mapping

import dgl
import numpy as np
import torch

from cgl.datasets.base import ContinualData
from cgl.datasets.synthetic.features import FeatureShape, latent_features, noisy_labels


def synthetic_graphs(
    seed: int,
    scenario: str = "classil",
    num_graphs: int = 800,
    num_classes: int = 8,
    num_domains: int = 4,
    num_times: int = 4,
    num_feats: int = 16,
    num_edge_feats: int = 4,
    min_nodes: int = 8,
    max_nodes: int = 14,
    motif_size: int = 5,
    motif_density: float = 0.5,
    avg_degree: float = 3.0,
    size_shift: int = 2,
    density_shift: float = 0.25,
    label_noise: float | Mapping[str, float] = 0.1,
    **feature_shape: float | Mapping[str, float],
) -> ContinualData:
    """`num_graphs` graphs; domain d adds `size_shift * d` nodes and `density_shift * d`
    relative degree to the background; `num_edge_feats=0` leaves the edges featureless.

    A share `label_noise` of the graphs gets a random label: a model that grows confident on
    its training labels then loses validation loss, so early stopping ends each task after
    tens of epochs instead of letting a perfectly fitted validation set run to the epoch
    limit. `scenario` and `feature_shape` (the fields of FeatureShape) shape the features.
    """
    if min_nodes < motif_size or max_nodes < min_nodes:
        raise ValueError(
            f"need motif_size <= min_nodes <= max_nodes, got {motif_size}, {min_nodes}, {max_nodes}"
        )
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, num_classes, size=num_graphs)
    domains = rng.integers(0, num_domains, size=num_graphs)
    times = rng.integers(0, num_times, size=num_graphs)
    sizes = rng.integers(min_nodes, max_nodes + 1, size=num_graphs) + size_shift * domains
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    motif_u, motif_v, motif_graph = planted_motifs(
        rng, num_classes, classes, offsets, motif_size, motif_density
    )
    degree = avg_degree * (1.0 + density_shift * domains)
    back_u, back_v, back_graph = background_edges(rng, sizes, offsets, degree)
    u, v, graph_of_edge, is_motif = undirected_simple(
        np.concatenate([motif_u, back_u]),
        np.concatenate([motif_v, back_v]),
        np.concatenate([motif_graph, back_graph]),
        num_motif=motif_u.shape[0],
    )

    graph_of_node = np.repeat(np.arange(num_graphs), sizes)
    in_motif = (np.arange(sizes.sum()) - offsets[graph_of_node]) < motif_size
    # Background nodes share one extra "class", so only motif nodes say which class it is.
    node_classes = np.where(in_motif, classes[graph_of_node], num_classes)

    shape = FeatureShape.for_scenario(scenario, **feature_shape)

    def features(item_classes: np.ndarray, graph_of: np.ndarray, dims: int) -> torch.Tensor:
        """Features of nodes or edges, shifted by the domain and time of their graph."""
        return latent_features(rng, item_classes, domains[graph_of], times[graph_of], dims, shape)

    feats = features(node_classes, graph_of_node, num_feats)
    edge_feats = None
    if num_edge_feats > 0:
        edge_classes = np.where(is_motif, classes[graph_of_edge], num_classes)
        edge_feats = features(edge_classes, graph_of_edge, num_edge_feats)
    graphs = split_union(u, v, graph_of_edge, sizes, feats, edge_feats)
    labels = noisy_labels(rng, classes, num_classes, label_noise, scenario)
    return ContinualData(
        name="synthetic",
        level="gc",
        num_classes=num_classes,
        label=torch.from_numpy(labels).long(),
        graphs=graphs,
        domain=torch.from_numpy(domains).long(),
        time=torch.from_numpy(times).long(),
    )


def planted_motifs(
    rng: np.random.Generator,
    num_classes: int,
    classes: np.ndarray,
    offsets: np.ndarray,
    size: int,
    density: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of each graph's class template on its first `size` nodes (global node ids).

    A template is a path through all `size` nodes (so it is connected) plus random chords;
    every graph of a class gets the same template.
    """
    upper = np.triu(rng.random((num_classes, size, size)) < density, k=1)
    upper[:, np.arange(size - 1), np.arange(1, size)] = True
    graph, a, b = np.nonzero(upper[classes])
    return offsets[graph] + a, offsets[graph] + b, graph


def background_edges(
    rng: np.random.Generator, sizes: np.ndarray, offsets: np.ndarray, degree: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform random edges inside each graph, `degree` on average per node."""
    counts = np.maximum(np.round(sizes * degree / 2).astype(int), 1)
    graph = np.repeat(np.arange(sizes.shape[0]), counts)
    local_u = (rng.random(graph.shape[0]) * sizes[graph]).astype(int)
    local_v = (rng.random(graph.shape[0]) * sizes[graph]).astype(int)
    return offsets[graph] + local_u, offsets[graph] + local_v, graph


def undirected_simple(
    u: np.ndarray, v: np.ndarray, graph: np.ndarray, num_motif: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Drop self-loops and duplicates; the first `num_motif` edges are motif edges, and an
    edge drawn both as motif and as background stays a motif edge."""
    is_motif = np.arange(u.shape[0]) < num_motif
    keep = u != v
    u, v, graph, is_motif = u[keep], v[keep], graph[keep], is_motif[keep]
    low, high = np.minimum(u, v), np.maximum(u, v)
    key = low * (int(high.max()) + 1) + high
    _, first = np.unique(key, return_index=True)  # sorted by low node, hence by graph
    return low[first], high[first], graph[first], is_motif[first]


def split_union(
    u: np.ndarray,
    v: np.ndarray,
    graph_of_edge: np.ndarray,
    sizes: np.ndarray,
    feats: torch.Tensor,
    edge_feats: torch.Tensor | None,
) -> list[dgl.DGLGraph]:
    """Cut the disjoint union into one DGLGraph per graph; both directions of an undirected
    edge share its features."""
    order = np.argsort(np.concatenate([graph_of_edge, graph_of_edge]), kind="stable")
    src = np.concatenate([u, v])[order]
    dst = np.concatenate([v, u])[order]
    union = dgl.graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=int(sizes.sum()))
    union.ndata["feat"] = feats
    if edge_feats is not None:
        union.edata["feat"] = torch.cat([edge_feats, edge_feats])[torch.from_numpy(order)]
    union.set_batch_num_nodes(torch.from_numpy(sizes))
    union.set_batch_num_edges(
        torch.from_numpy(np.bincount(graph_of_edge, minlength=sizes.shape[0]) * 2)
    )
    return dgl.unbatch(union)
