"""Small builders shared by the unit tests: a tiny node dataset and a trainer factory."""

from __future__ import annotations

import dataclasses
import functools

import dgl
import torch

from cgl.datasets.base import ContinualData
from cgl.datasets.synthetic.nodes import synthetic_nodes
from cgl.models import GCNNode
from cgl.scenarios.nodes import NCScenarioLoader


def tiny_nodes(seed: int = 0, num_nodes: int = 240) -> ContinualData:
    return synthetic_nodes(seed=seed, num_nodes=num_nodes, num_feats=8)


def tiny_multilabel_nodes(seed: int = 0, num_labels: int = 5) -> ContinualData:
    """tiny_nodes with `num_labels` binary labels per node (a few unknown, -1) instead of a
    class: label j is on for the nodes of class j, and for a random tenth of the others."""
    data = tiny_nodes(seed)
    gen = torch.Generator().manual_seed(seed)
    label = (data.label[:, None] == torch.arange(num_labels)).long()
    label[torch.rand(label.shape, generator=gen) < 0.1] = 1
    label[torch.rand(label.shape, generator=gen) < 0.05] = -1
    return dataclasses.replace(data, label=label, num_classes=num_labels)


def build_trainer(trainer_cls, model, scenario, **kwargs):
    """The tests' trainer settings at every level: Adam lr 1e-2, cross-entropy, CPU, no bar."""
    return trainer_cls(
        model,
        scenario,
        functools.partial(torch.optim.Adam, lr=1e-2),
        torch.nn.CrossEntropyLoss(),
        "cpu",
        progress=False,
        **kwargs,
    )


def make_trainer(trainer_cls, incr_type="class", num_tasks=4, seed=0, epochs=3, **kwargs):
    """A trainer on tiny synthetic nodes with a small GCN, seeded like a CLI run."""
    torch.manual_seed(seed)
    scenario = NCScenarioLoader(tiny_nodes(seed), incr_type, num_tasks, seed=seed)
    model = GCNNode(scenario.num_feats, scenario.num_classes, hidden=16, num_layers=2)
    return build_trainer(trainer_cls, model, scenario, num_epochs=epochs, **kwargs)


def path_graph(num_nodes: int) -> dgl.DGLGraph:
    src = torch.arange(num_nodes - 1)
    return dgl.to_bidirected(dgl.graph((src, src + 1), num_nodes=num_nodes))
