"""Synthetic link data (lc, lp): nodes with a latent group, links that arrive over time.

Every node has a latent group (visible only through its features), a domain and an arrival
step; features drift with the arrival step. A link of time t joins a node that arrives at t to
one that arrived no later, mostly within a domain, so a link never exists before both of its
endpoints. What a link carries depends on the level:

- lc: a rating-like class fixed by the unordered pair of endpoint groups (Task/Class-IL); under
  Time-IL, BeGin's Bitcoin-style binary label (a negative rating) whose rule drifts: each time
  step flips the sign of a share `label_drift` of the group pairs, so old tasks are forgotten.
- lp: links form mostly within a group (`homophily`), which is what a link predictor learns;
  domains rotate the features, so a predictor fitted on one domain is wrong on the next.
"""

from __future__ import annotations

import dgl
import numpy as np
import torch

from cgl.datasets.base import ContinualData
from cgl.datasets.synthetic.features import class_conditioned_features


def synthetic_links(
    level: str,
    seed: int,
    scenario: str = "classil",
    num_nodes: int = 1000,
    num_edges: int = 6000,
    num_groups: int = 4,
    num_classes: int = 6,
    num_domains: int = 4,
    num_times: int = 4,
    num_feats: int = 32,
    homophily: float = 0.9,
    domain_homophily: float = 0.9,
    separation: float = 1.0,
    noise: float = 1.0,
    domain_shift: float = 1.5,
    drift: float = 0.5,
    label_drift: float = 0.3,
) -> ContinualData:
    """Links of `level` ('lc' or 'lp'); `scenario` only matters for lc (timeil: binary label).

    Items are the links, stored once each as (newer endpoint, older endpoint).
    """
    if level not in ("lc", "lp"):
        raise ValueError(f"synthetic_links builds lc or lp data, not '{level}'")
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, num_groups, size=num_nodes)
    domains = rng.integers(0, num_domains, size=num_nodes)
    arrival = np.sort(rng.integers(0, num_times, size=num_nodes))  # node ids follow arrival
    feats = class_conditioned_features(
        rng, groups, domains, arrival, num_feats, separation, noise, domain_shift, drift
    )
    src, dst, time = _arriving_links(
        rng, groups, domains, arrival, num_edges, num_times,
        homophily=homophily if level == "lp" else 0.0, domain_homophily=domain_homophily,
    )
    graph = dgl.graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=num_nodes)
    graph.ndata["feat"] = feats
    pair = _unordered_pair_index(groups[src], groups[dst], num_groups)
    if level == "lp":
        label, classes = np.ones(src.shape[0], dtype=np.int64), 2  # every item is a link (1)
    elif scenario == "timeil":
        label, classes = _drifting_signs(rng, pair, time, num_groups, num_times, label_drift), 2
    else:
        label, classes = _pair_classes(rng, num_groups, num_classes)[pair], num_classes
    return ContinualData(
        name="synthetic",
        level=level,
        num_classes=classes,
        label=torch.from_numpy(label).long(),
        graph=graph,
        domain=torch.from_numpy(np.maximum(domains[src], domains[dst])).long(),
        time=torch.from_numpy(time).long(),
    )


def _arriving_links(
    rng: np.random.Generator,
    groups: np.ndarray,
    domains: np.ndarray,
    arrival: np.ndarray,
    num_edges: int,
    num_times: int,
    homophily: float,
    domain_homophily: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src, dst, time) of distinct links without self-loops: src arrives at `time`, dst no
    later; dst shares src's domain with probability `domain_homophily` and its group with
    probability `homophily` (otherwise those are drawn uniformly)."""
    first = np.searchsorted(arrival, np.arange(num_times), side="left")
    until = np.searchsorted(arrival, np.arange(num_times), side="right")  # ids < until[t]
    if np.any(until == first):
        raise ValueError("every time step needs arriving nodes: raise num_nodes or lower num_times")
    time = rng.integers(0, num_times, size=num_edges)
    src = first[time] + (rng.random(num_edges) * (until[time] - first[time])).astype(np.int64)
    want_domain = np.where(
        rng.random(num_edges) < domain_homophily,
        domains[src], rng.integers(0, domains.max() + 1, num_edges),
    )
    want_group = np.where(
        rng.random(num_edges) < homophily, groups[src], rng.integers(0, groups.max() + 1, num_edges)
    )
    # dst: uniform among the nodes of the wanted (domain, group) that arrived by `time`
    dst = rng.integers(0, until[time])  # fallback when that bucket is still empty
    pick = rng.random(num_edges)
    for d in range(domains.max() + 1):
        for g in range(groups.max() + 1):
            members = np.flatnonzero((domains == d) & (groups == g))
            wanted = np.flatnonzero((want_domain == d) & (want_group == g))
            available = np.searchsorted(members, until[time[wanted]])
            ok = available > 0
            dst[wanted[ok]] = members[(pick[wanted[ok]] * available[ok]).astype(np.int64)]
    keys = np.minimum(src, dst) * arrival.shape[0] + np.maximum(src, dst)
    _, first_seen = np.unique(keys, return_index=True)
    keep = np.sort(first_seen[src[first_seen] != dst[first_seen]])
    return src[keep], dst[keep], time[keep]


def _unordered_pair_index(a: np.ndarray, b: np.ndarray, num_groups: int) -> np.ndarray:
    """Index of the unordered group pair {a, b} in [0, num_groups * (num_groups + 1) / 2)."""
    low, high = np.minimum(a, b), np.maximum(a, b)
    return low * num_groups - low * (low - 1) // 2 + (high - low)


def _pair_classes(rng: np.random.Generator, num_groups: int, num_classes: int) -> np.ndarray:
    """Class of every unordered group pair; every class gets at least one pair."""
    num_pairs = num_groups * (num_groups + 1) // 2
    if num_pairs < num_classes:
        raise ValueError(
            f"{num_groups} groups give {num_pairs} group pairs: too few for {num_classes} classes"
        )
    return rng.permutation(np.arange(num_pairs) % num_classes)


def _drifting_signs(
    rng: np.random.Generator,
    pair: np.ndarray,
    time: np.ndarray,
    num_groups: int,
    num_times: int,
    label_drift: float,
) -> np.ndarray:
    """Binary label per link from a per-group-pair sign that drifts: at each time step a share
    `label_drift` of the pairs flips."""
    num_pairs = num_groups * (num_groups + 1) // 2
    signs = np.empty((num_times, num_pairs), dtype=np.int64)
    signs[0] = rng.permutation(np.arange(num_pairs) % 2)
    for t in range(1, num_times):
        flip = rng.permutation(num_pairs) < round(label_drift * num_pairs)
        signs[t] = np.where(flip, 1 - signs[t - 1], signs[t - 1])
    return signs[time, pair]
