"""Feature and structure recipes shared by the synthetic generators of every level.

Features are built so that tasks interfere as on real benchmarks: every class lives in one
small shared latent space (so all tasks are read by the same first-layer weights), domains
turn that space and time steps keep turning it (so the same input means a different class
later: the rule drifts), and small marker offsets outside it say which domain and step an
item is from (so a model that sees every task at once can learn them all).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import dgl
import numpy as np
import torch


@dataclass(frozen=True)
class FeatureShape:
    """How class, domain and time shape the features (conf/dataset/synthetic.yaml explains
    what each does to forgetting)."""

    latent_dims: int = 4
    separation: float = 1.0
    noise: float = 1.0
    domain_rotation: float = 1.0
    domain_shift: float = 1.0
    drift: float = 0.5
    time_shift: float = 0.5

    @classmethod
    def for_scenario(cls, scenario: str, **knobs: float | Mapping[str, float]) -> FeatureShape:
        """The shape `scenario` gets from the config's knobs (each a value, or a value per
        scenario). Domains turn the class layout only under Domain-IL and Task-IL, and time
        only under Time-IL: turned by time under every scenario, each Task-IL task would hold
        four unrelated layouts of its classes and learn little."""
        shape = cls(**{name: per_scenario(value, scenario) for name, value in knobs.items()})
        return replace(
            shape,
            domain_rotation=shape.domain_rotation if scenario in ("domainil", "taskil") else 0.0,
            drift=shape.drift if scenario == "timeil" else 0.0,
        )


def per_scenario(value: float | Mapping[str, float], scenario: str) -> float:
    """A knob's value under `scenario`: the value, or its entry where the config gives one
    per scenario, e.g. `label_noise: {taskil: 0.0, classil: 0.2, domainil: 0.2, timeil: 0.2}`."""
    return value[scenario] if isinstance(value, Mapping) else value


def latent_features(
    rng: np.random.Generator,
    classes: np.ndarray,
    domains: np.ndarray,
    times: np.ndarray,
    num_feats: int,
    shape: FeatureShape,
) -> torch.Tensor:
    """Gaussian features whose mean is a class point in a shared latent space, turned by the
    item's domain and time step, plus domain and time markers and isotropic noise.

    One matmul per (domain, time) cell keeps memory linear in the items (an n x f x f stack of
    rotations does not fit at 10^7 edges).
    """
    num_classes = int(classes.max()) + 1
    num_domains = int(domains.max()) + 1
    num_times = int(times.max()) + 1
    dims = min(shape.latent_dims, num_feats)
    means = rng.normal(size=(num_classes, dims)) * shape.separation
    lift = np.linalg.qr(rng.normal(size=(num_feats, dims)))[0]  # latent -> features, orthonormal
    domain_turns = [np.eye(dims)] + [
        random_rotation(rng, dims, shape.domain_rotation) for _ in range(num_domains - 1)
    ]
    time_turn = random_rotation(rng, dims, shape.drift)
    markers = rng.normal(size=(num_domains + 1, num_feats)) / np.sqrt(num_feats)
    latent = np.empty((classes.shape[0], dims))
    for domain in range(num_domains):
        for time in range(num_times):
            members = (domains == domain) & (times == time)
            turn = domain_turns[domain] @ np.linalg.matrix_power(time_turn, time)
            latent[members] = means[classes[members]] @ turn.T
    feats = latent @ lift.T
    feats += shape.domain_shift * markers[domains] * (domains > 0)[:, None]
    feats += shape.time_shift * times[:, None] * markers[num_domains]
    feats += rng.normal(size=feats.shape) * shape.noise
    return torch.tensor(feats, dtype=torch.float32)


def random_rotation(rng: np.random.Generator, dims: int, angle: float) -> np.ndarray:
    """A rotation of `dims`-space that turns every vector by `angle` radians (in random
    orthogonal planes; with odd `dims` one random axis stays put), so that a class point
    moves by 2 sin(angle / 2) times its length whatever its direction."""
    basis = np.linalg.qr(rng.normal(size=(dims, dims)))[0]
    turn = np.eye(dims)
    cos, sin = np.cos(angle), np.sin(angle)
    for plane in range(dims // 2):
        a, b = 2 * plane, 2 * plane + 1
        turn[a, a], turn[a, b], turn[b, a], turn[b, b] = cos, -sin, sin, cos
    return basis @ turn @ basis.T


def homophilous_graph(
    rng: np.random.Generator,
    attributes: list[tuple[np.ndarray, float]],
    avg_degree: float,
) -> dgl.DGLGraph:
    """An undirected graph whose edges mostly join alike nodes: for each (values, share) in
    `attributes`, an edge's far end has the near end's value with probability `share`
    (otherwise a uniformly drawn value), and is uniform among the nodes with all the wanted
    values (any node where none has them).

    Edges within a domain or time step keep the neighbourhood of a node in its own domain or
    step, so message passing cannot average the domain turn or the drift away.
    """
    num_nodes = attributes[0][0].shape[0]
    num_edges = int(num_nodes * avg_degree / 2)
    src = rng.integers(0, num_nodes, size=num_edges)
    node_key = np.zeros(num_nodes, dtype=np.int64)
    want_key = np.zeros(num_edges, dtype=np.int64)
    for values, share in attributes:
        size = int(values.max()) + 1
        keep = rng.random(num_edges) < share
        want = np.where(keep, values[src], rng.integers(0, size, num_edges))
        node_key, want_key = node_key * size + values, want_key * size + want
    order = np.argsort(node_key, kind="stable")
    starts = np.searchsorted(node_key[order], want_key, side="left")
    counts = np.searchsorted(node_key[order], want_key, side="right") - starts
    picked = order[np.minimum(starts + (rng.random(num_edges) * counts).astype(np.int64),
                              num_nodes - 1)]  # fmt: skip
    dst = np.where(counts > 0, picked, rng.integers(0, num_nodes, num_edges))
    keep = src != dst
    graph = dgl.graph(
        (torch.from_numpy(src[keep]), torch.from_numpy(dst[keep])), num_nodes=num_nodes
    )
    return dgl.to_bidirected(graph)


def noisy_labels(
    rng: np.random.Generator,
    classes: np.ndarray,
    num_classes: int,
    share: float | Mapping[str, float],
    scenario: str,
) -> np.ndarray:
    """Redraw a share of the labels uniformly over all classes; `share` may be given per
    scenario ({taskil: 0.0, classil: 0.2, ...}).

    Items that look alike then carry different labels within every task, whichever classes
    the protocol puts together: the validation loss bottoms out once the model starts to
    memorise its training labels, so early stopping ends a task after tens of epochs. Task-IL
    wants clean labels instead: with a head per task, only the encoder's drift over a long
    training forgets, and noise ends each task before the encoder has moved.
    """
    redraw = rng.random(classes.shape[0]) < per_scenario(share, scenario)
    return np.where(redraw, rng.integers(0, num_classes, classes.shape[0]), classes)
