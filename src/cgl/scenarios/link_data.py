"""What link-level trainers receive, and how node pairs are drawn as negatives.

A LinkDataset separates the two roles a link plays: an edge of the message-passing graph
(structure the GNN may use) and a pair to predict (an item with a label). A link whose label
is predicted need not be, and for LP evaluation never is, an edge of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import dgl
import torch


@dataclass
class LinkDataset:
    """A message-passing graph and the node pairs to classify (LC) or score (LP).

    `graph`: all nodes with ndata['feat'] and only the edges the learner may see, in both
    directions, without labels. `pairs` [n, 2]: (src, dst) per item, with its visible label
    (-1 hidden) and split masks; under Task-IL `task_specific_mask` [n, num_classes].
    """

    graph: dgl.DGLGraph
    pairs: torch.Tensor
    label: torch.Tensor
    train_mask: torch.Tensor
    val_mask: torch.Tensor
    test_mask: torch.Tensor
    task_specific_mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> LinkDataset:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(self, **{k: v.to(device) for k, v in moved.items() if v is not None})


def message_graph(
    num_nodes: int, src: torch.Tensor, dst: torch.Tensor, feat: torch.Tensor
) -> dgl.DGLGraph:
    """The graph a GNN runs on: the given links in both directions, and node features."""
    graph = dgl.graph((torch.cat([src, dst]), torch.cat([dst, src])), num_nodes=num_nodes)
    graph.ndata["feat"] = feat
    return graph


def pair_keys(src: torch.Tensor, dst: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """One integer per unordered node pair, to test pairs for membership with torch.isin."""
    return torch.minimum(src, dst) * num_nodes + torch.maximum(src, dst)


def sample_negative_pairs(
    nodes: torch.Tensor,
    count: int,
    exclude: torch.Tensor,
    num_nodes: int,
    generator: torch.Generator | None = None,
    distinct: bool = False,
    max_rounds: int = 100,
) -> torch.Tensor:
    """[count, 2] pairs of `nodes` drawn uniformly, never a self-loop and never a pair whose
    key (`pair_keys`) is in `exclude`; with `distinct` no pair is drawn twice.

    Rejection sampling: rejected draws are redrawn, so the accepted pairs stay uniform over
    the allowed ones. Raises ValueError when `max_rounds` of draws cannot supply `count`.
    """
    device = nodes.device
    taken = exclude.to(device)
    found: list[torch.Tensor] = []
    need = count
    for _ in range(max_rounds):
        if need <= 0:
            break
        draw = torch.randint(0, nodes.numel(), (2, 2 * need + 16), generator=generator)
        src, dst = nodes[draw[0].to(device)], nodes[draw[1].to(device)]
        keys = pair_keys(src, dst, num_nodes)
        keep = (src != dst) & ~torch.isin(keys, taken)
        src, dst, keys = src[keep], dst[keep], keys[keep]
        if distinct:
            first = _first_occurrences(keys)
            src, dst, keys = src[first], dst[first], keys[first]
            taken = torch.cat([taken, keys[:need]])
        found.append(torch.stack([src, dst], dim=1)[:need])
        need -= found[-1].shape[0]
    if need > 0:
        raise ValueError(
            f"could not draw {count} negative pairs among {nodes.numel()} nodes: "
            "too few node pairs are not links"
        )
    return torch.cat(found) if found else torch.empty(0, 2, dtype=torch.long, device=device)


def _first_occurrences(keys: torch.Tensor) -> torch.Tensor:
    """Index of the first occurrence of each distinct key, in draw order."""
    unique, inverse = torch.unique(keys, return_inverse=True)
    first = torch.full_like(unique, keys.numel())
    first.scatter_reduce_(0, inverse, torch.arange(keys.numel(), device=keys.device), "amin")
    return torch.sort(first).values
