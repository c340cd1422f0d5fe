"""Synthetic link data (lc, lp): nodes with a latent group, links that arrive over time.

Every node has a latent group (visible only through its features), a domain and an arrival
step; features are turned per domain (Domain-IL) or with the arrival step (Time-IL). A link
of time t joins a node that arrives at t to one that arrived no later, mostly within a
domain, so a link never exists before both of its endpoints; with probability `homophily`
the older endpoint is drawn from the newer one's partner group, otherwise from any group.

- lc: the partner group is the node's own group. A link's class is fixed by the unordered pair
  of endpoint groups (Task/Class-IL); under Time-IL it carries BeGin's Bitcoin-style binary
  label (the sign of the pair's rating), and each time step flips the sign of a share
  `rule_drift` of the group pairs, so fine-tuning forgets old time steps. A share
  `label_noise` of the labels is redrawn at random, as ratings are noisy; it also lets the
  validation loss level off, so early stopping can end a task.
- lp: a link predictor learns which groups link. Each time step moves the partner group of
  a share `partner_drift` of the groups (Time-IL forgets); the per-domain turn of the features
  makes a predictor fitted on one domain wrong on the next (Domain-IL forgets).

Under Time-IL most links join two nodes of the same step (`time_homophily`), whose features
carry that step's marker: each step's rule then holds among its own nodes, so a learner that
sees every step (joint) can keep all the rules, while one that fine-tunes step by step forgets.
"""

from __future__ import annotations

from collections.abc import Mapping

import dgl
import numpy as np
import torch

from cgl.datasets.base import ContinualData
from cgl.datasets.synthetic.features import (
    FeatureShape,
    latent_features,
    noisy_labels,
    per_scenario,
)


def synthetic_links(
    level: str,
    seed: int,
    scenario: str = "classil",
    num_nodes: int = 1000,
    num_edges: int = 6000,
    num_groups: int = 8,
    num_classes: int = 6,
    num_domains: int = 4,
    num_times: int = 4,
    num_feats: int = 32,
    homophily: float = 0.8,
    domain_homophily: float = 0.9,
    time_homophily: float | Mapping[str, float] = 0.0,
    rule_drift: float = 0.3,
    partner_drift: float = 1.0,
    label_noise: float | Mapping[str, float] = 0.05,
    **feature_shape: float | Mapping[str, float],
) -> ContinualData:
    """Links of `level` ('lc' or 'lp'); `scenario` only matters for lc (timeil: binary label).

    Items are the links, each stored once as (newer endpoint, older endpoint); its domain is
    the larger of its endpoints' domains, its time the step it was formed in.
    """
    if level not in ("lc", "lp"):
        raise ValueError(f"synthetic_links builds lc or lp data, not '{level}'")
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, num_groups, size=num_nodes)
    domains = rng.integers(0, num_domains, size=num_nodes)
    arrival = np.sort(rng.integers(0, num_times, size=num_nodes))  # node ids follow arrival
    shape = FeatureShape.for_scenario(scenario, **feature_shape)
    feats = latent_features(rng, groups, domains, arrival, num_feats, shape)
    partner = _drifting_partners(
        rng, num_groups, num_times, partner_drift if level == "lp" else 0.0
    )
    src, dst, time = _arriving_links(
        rng,
        groups,
        domains,
        arrival,
        partner,
        num_edges,
        homophily,
        domain_homophily,
        per_scenario(time_homophily, scenario),
    )
    graph = dgl.graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=num_nodes)
    graph.ndata["feat"] = feats
    pair = _unordered_pair_index(groups[src], groups[dst], num_groups)
    if level == "lp":
        label, classes = np.ones(src.shape[0], dtype=np.int64), 2  # every item is a link (1)
    elif scenario == "timeil":
        label, classes = _drifting_signs(rng, pair, time, num_groups, num_times, rule_drift), 2
    else:
        label, classes = _pair_classes(rng, num_groups, num_classes)[pair], num_classes
    if level == "lc":
        label = noisy_labels(rng, label, classes, label_noise, scenario)
    return ContinualData(
        name="synthetic",
        level=level,
        num_classes=classes,
        label=torch.from_numpy(label).long(),
        graph=graph,
        domain=torch.from_numpy(np.maximum(domains[src], domains[dst])).long(),
        time=torch.from_numpy(time).long(),
    )


def _drifting_partners(
    rng: np.random.Generator, num_groups: int, num_times: int, share: float
) -> np.ndarray:
    """[num_times, num_groups] partner group of each group: itself at first; each later step
    moves the partner of a share `share` of the groups to another group (never the same, so
    that the links a predictor learnt for those groups stop being the likely ones)."""
    partner = np.empty((num_times, num_groups), dtype=np.int64)
    partner[0] = np.arange(num_groups)
    for t in range(1, num_times):
        moved = rng.permutation(num_groups) < round(share * num_groups)
        step = rng.integers(1, num_groups, num_groups)
        partner[t] = np.where(moved, (partner[t - 1] + step) % num_groups, partner[t - 1])
    return partner


def _arriving_links(
    rng: np.random.Generator,
    groups: np.ndarray,
    domains: np.ndarray,
    arrival: np.ndarray,
    partner: np.ndarray,
    num_edges: int,
    homophily: float,
    domain_homophily: float,
    time_homophily: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src, dst, time) of distinct links without self-loops: src arrives at `time`, dst no
    later; dst is in src's domain with probability `domain_homophily`, in its partner group
    (at `time`) with probability `homophily` and arrived at `time` too with probability
    `time_homophily`, each otherwise uniformly drawn."""
    num_times, num_groups = partner.shape
    num_domains = int(domains.max()) + 1
    first = np.searchsorted(arrival, np.arange(num_times), side="left")
    until = np.searchsorted(arrival, np.arange(num_times), side="right")  # ids < until[t]
    if np.any(until == first):
        raise ValueError("every time step needs arriving nodes: raise num_nodes or lower num_times")
    time = rng.integers(0, num_times, size=num_edges)
    src = first[time] + (rng.random(num_edges) * (until[time] - first[time])).astype(np.int64)
    want_domain = np.where(
        rng.random(num_edges) < domain_homophily,
        domains[src],
        rng.integers(0, num_domains, num_edges),
    )
    want_group = np.where(
        rng.random(num_edges) < homophily,
        partner[time, groups[src]],
        rng.integers(0, num_groups, num_edges),
    )
    # dst arrived in src's own step with probability time_homophily, else in any step up to it
    # (no draw at 0, so that the scenarios without it keep the links they always had)
    same_step = rng.random(num_edges) < time_homophily if time_homophily > 0 else False
    since = np.where(same_step, first[time], 0)
    # dst: uniform among the nodes of the wanted (domain, group) that arrived in [since, time]
    dst = rng.integers(0, until[time])  # kept where that bucket is still empty
    pick = rng.random(num_edges)
    for d in range(num_domains):
        for g in range(num_groups):
            members = np.flatnonzero((domains == d) & (groups == g))
            wanted = np.flatnonzero((want_domain == d) & (want_group == g))
            available = np.searchsorted(members, until[time[wanted]])
            lowest = np.searchsorted(members, since[wanted])
            lowest = np.where(lowest < available, lowest, 0)  # none that recent: any earlier
            ok = available > 0
            span = available[ok] - lowest[ok]
            dst[wanted[ok]] = members[lowest[ok] + (pick[wanted[ok]] * span).astype(np.int64)]
    keys = np.minimum(src, dst) * arrival.shape[0] + np.maximum(src, dst)
    _, first_seen = np.unique(keys, return_index=True)
    keep = np.sort(first_seen[src[first_seen] != dst[first_seen]])
    return src[keep], dst[keep], time[keep]


def _unordered_pair_index(a: np.ndarray, b: np.ndarray, num_groups: int) -> np.ndarray:
    """Index of the unordered group pair {a, b} in [0, num_groups * (num_groups + 1) / 2)."""
    low, high = np.minimum(a, b), np.maximum(a, b)
    return low * num_groups - low * (low - 1) // 2 + (high - low)


def _pair_classes(rng: np.random.Generator, num_groups: int, num_classes: int) -> np.ndarray:
    """Class of every unordered group pair. Same-group pairs (the common ones under homophily)
    and mixed pairs are each dealt round-robin over the classes, so class sizes stay even."""
    if num_groups < num_classes:
        raise ValueError(f"{num_groups} groups are too few for {num_classes} link classes")
    num_pairs = num_groups * (num_groups + 1) // 2
    same = _unordered_pair_index(np.arange(num_groups), np.arange(num_groups), num_groups)
    mixed = np.setdiff1d(np.arange(num_pairs), same)
    classes = np.empty(num_pairs, dtype=np.int64)
    classes[rng.permutation(same)] = np.arange(same.size) % num_classes
    classes[rng.permutation(mixed)] = np.arange(mixed.size) % num_classes
    return classes


def _drifting_signs(
    rng: np.random.Generator,
    pair: np.ndarray,
    time: np.ndarray,
    num_groups: int,
    num_times: int,
    rule_drift: float,
) -> np.ndarray:
    """Binary label per link from a per-group-pair sign; each time step flips the sign of a
    share `rule_drift` of the pairs."""
    num_pairs = num_groups * (num_groups + 1) // 2
    signs = np.empty((num_times, num_pairs), dtype=np.int64)
    signs[0] = rng.permutation(np.arange(num_pairs) % 2)
    for t in range(1, num_times):
        flip = rng.permutation(num_pairs) < round(rule_drift * num_pairs)
        signs[t] = np.where(flip, 1 - signs[t - 1], signs[t - 1])
    return signs[time, pair]
