"""Feature and structure recipes shared by the synthetic generators of every level."""

from __future__ import annotations

import dgl
import numpy as np
import torch


def class_conditioned_features(
    rng: np.random.Generator,
    classes: np.ndarray,
    domains: np.ndarray,
    times: np.ndarray,
    num_feats: int,
    separation: float,
    noise: float,
    domain_shift: float,
    drift: float,
) -> torch.Tensor:
    """Gaussian features whose mean depends on the class, moved by domain and time.

    Each domain applies its own random rotation to the class means and adds its own offset,
    so a classifier fitted on one domain is wrong on another (Domain-IL forgets) while the
    offset keeps domains separable for a model that sees them all (joint training learns).
    Each class drifts along its own direction as time goes on (Time-IL forgets).
    """
    num_classes = int(classes.max()) + 1
    num_domains = int(domains.max()) + 1
    means = rng.normal(size=(num_classes, num_feats)) * separation
    drift_dirs = rng.normal(size=(num_classes, num_feats))
    drift_dirs /= np.linalg.norm(drift_dirs, axis=1, keepdims=True)
    rotations = [np.eye(num_feats)] + [
        np.linalg.qr(rng.normal(size=(num_feats, num_feats)))[0] for _ in range(num_domains - 1)
    ]
    offsets = rng.normal(size=(num_domains, num_feats)) * domain_shift
    offsets[0] = 0.0
    base = means[classes] + drift * times[:, None] * drift_dirs[classes] * separation
    # One matmul per domain: memory stays linear in the nodes (an n x f x f stack of
    # rotations does not fit at 10^7 edges), and the float32 features are the same.
    rotated = np.empty_like(base)
    for domain, rotation in enumerate(rotations):
        members = domains == domain
        rotated[members] = base[members] @ rotation.T
    feats = rotated + offsets[domains] + rng.normal(size=base.shape) * noise
    return torch.tensor(feats, dtype=torch.float32)


def homophilous_graph(
    rng: np.random.Generator, groups: np.ndarray, avg_degree: float, homophily: float
) -> dgl.DGLGraph:
    """An undirected graph where a share `homophily` of edges join nodes of the same group."""
    num_nodes = groups.shape[0]
    num_edges = int(num_nodes * avg_degree / 2)
    src = rng.integers(0, num_nodes, size=num_edges)
    same = rng.random(num_edges) < homophily
    members = [np.flatnonzero(groups == g) for g in range(int(groups.max()) + 1)]
    dst = rng.integers(0, num_nodes, size=num_edges)
    for g, nodes in enumerate(members):
        pick = same & (groups[src] == g)
        dst[pick] = nodes[rng.integers(0, nodes.shape[0], size=int(pick.sum()))]
    keep = src != dst
    graph = dgl.graph(
        (torch.from_numpy(src[keep]), torch.from_numpy(dst[keep])), num_nodes=num_nodes
    )
    return dgl.to_bidirected(graph)


def flip_labels(
    rng: np.random.Generator, classes: np.ndarray, num_classes: int, share: float
) -> np.ndarray:
    """Move a share of labels to another class of the same task-sized pair.

    The new label stays within the item's block of two consecutive classes, so Class-IL tasks
    (two classes each by default) keep their items; only which of the two is noisy.
    """
    flip = rng.random(classes.shape[0]) < share
    partner = classes ^ 1  # 0<->1, 2<->3, ...
    partner = np.where(partner < num_classes, partner, classes)
    return np.where(flip, partner, classes)
