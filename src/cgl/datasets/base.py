"""The one container every dataset loader returns, whatever the level.

A *item* is what a task is made of: a node (nc), an edge (lc, lp) or a whole graph (gc).
Per-item tensors (label, domain, time, split) are indexed by node id, edge id or graph index.
Scenario loaders cut this into tasks; loaders never need to know about tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import dgl
import torch

SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST = 0, 1, 2


@dataclass
class ContinualData:
    """A dataset before it is cut into tasks."""

    name: str
    level: str
    num_classes: int  # classes; for multi-label data, labels per item
    label: torch.Tensor  # long: a class per item, or [items, labels] of 0/1 (multi-label)
    graph: dgl.DGLGraph | None = None  # nc, lc, lp: ndata['feat'] (float)
    graphs: list[dgl.DGLGraph] | None = None  # gc: each with ndata['feat'], maybe edata['feat']
    domain: torch.Tensor | None = None  # long, one per item (Domain-IL)
    time: torch.Tensor | None = None  # long, one per item (Time-IL)
    split: torch.Tensor | None = None  # fixed split per item (SPLIT_*); None: random by seed

    @property
    def num_items(self) -> int:
        return int(self.label.shape[0])

    @property
    def multilabel(self) -> bool:
        """Several binary labels per item (e.g. ogbn-proteins' 112 functions); -1 is unknown."""
        return self.label.dim() == 2

    @property
    def labelled(self) -> torch.Tensor:
        """Items with a known label (any known label, for multi-label data)."""
        known = self.label >= 0
        return known.any(dim=1) if self.multilabel else known

    @property
    def num_feats(self) -> int:
        if self.graph is not None:
            return int(self.graph.ndata["feat"].shape[1])
        return int(self.graphs[0].ndata["feat"].shape[1])

    def __post_init__(self) -> None:
        expected = {
            "nc": lambda: self.graph.num_nodes(),
            "lc": lambda: self.graph.num_edges(),
            "lp": lambda: self.graph.num_edges(),
            "gc": lambda: len(self.graphs),
        }[self.level]()
        for field in ("label", "domain", "time", "split"):
            value = getattr(self, field)
            if value is not None and value.shape[0] != expected:
                raise ValueError(
                    f"{self.name}: '{field}' has {value.shape[0]} entries, expected one per "
                    f"{self.level} item ({expected})"
                )
