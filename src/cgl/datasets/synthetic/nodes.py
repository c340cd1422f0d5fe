"""Synthetic node classification data: a homophilous graph with class, domain and time per node."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from cgl.datasets.base import ContinualData
from cgl.datasets.synthetic.features import (
    FeatureShape,
    homophilous_graph,
    latent_features,
    noisy_labels,
)


def synthetic_nodes(
    seed: int,
    scenario: str = "classil",
    num_nodes: int = 2000,
    num_classes: int = 8,
    num_domains: int = 4,
    num_times: int = 4,
    num_feats: int = 32,
    avg_degree: float = 8.0,
    homophily: float = 0.7,
    domain_homophily: float = 0.9,
    time_homophily: float = 0.7,
    label_noise: float | Mapping[str, float] = 0.1,
    **feature_shape: float | Mapping[str, float],
) -> ContinualData:
    """Nodes drawn with class, domain and time step; features follow all three as
    `scenario` and `feature_shape` (the fields of FeatureShape) say, and edges join mostly
    nodes alike in class, domain and step (the three homophilies).

    A share `label_noise` of labels is redrawn after features and edges are drawn: a model
    that memorises its training labels then loses validation loss, so early stopping ends a
    task after tens of epochs as on real data, instead of running to the epoch limit.
    """
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, num_classes, size=num_nodes)
    domains = rng.integers(0, num_domains, size=num_nodes)
    times = np.sort(rng.integers(0, num_times, size=num_nodes))  # node ids follow arrival order
    graph = homophilous_graph(
        rng,
        [(classes, homophily), (domains, domain_homophily), (times, time_homophily)],
        avg_degree,
    )
    shape = FeatureShape.for_scenario(scenario, **feature_shape)
    graph.ndata["feat"] = latent_features(rng, classes, domains, times, num_feats, shape)
    labels = noisy_labels(rng, classes, num_classes, label_noise, scenario)
    return ContinualData(
        name="synthetic",
        level="nc",
        num_classes=num_classes,
        label=torch.from_numpy(labels).long(),
        graph=graph,
        domain=torch.from_numpy(domains).long(),
        time=torch.from_numpy(times).long(),
    )
