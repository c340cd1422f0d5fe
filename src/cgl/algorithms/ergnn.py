"""ER-GNN: experience replay for continual graph learning (Zhou & Cao, AAAI 2021), node level.

After each task a sampler picks `num_experience_nodes` training nodes per class of the task
(BeGin's and CGLB's reading of the paper, in every scenario), and the buffer's nodes, with the
labels the memory keeps, are scored in the same full-graph pass as the task's nodes. The loss
mixes the task's and the buffer's mean losses with beta = |B| / (|B| + |D|) (buffer nodes B,
current training nodes D): `buffer_weight=cglb` gives the buffer 1 - beta (CGLB's code),
`buffer_weight=begin` gives it beta, the small weight (BeGin 0.4's code, its presets).

Samplers (`sampler_name`), on raw features or, `_plus`, on the model's embeddings (the input of
the class head, at the task's best weights, in eval mode; BeGin reads the last forward's):
- `CM`, coverage maximisation: the nodes with the fewest nodes of other classes within
  `distance_threshold`. The paper counts them all; BeGin (`begin_sampler=true`) counts them
  among `random.choices` draws (Python's `random`, with replacement, min(1000, class size) per
  other class), in half precision, as its code does, so its draws repeat here.
- `MF`, mean of features: the nodes closest to their class's mean; BeGin ranks by the dot
  product with the mean and keeps the lowest (`begin_sampler=true`).
- `random`: `random.sample` of each class (Python's `random`, as BeGin).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import torch

from cgl.algorithms.memory import MemoryMixin, split_loss
from cgl.algorithms.method import Method, export
from cgl.algorithms.settings import check_bool, check_number, check_one_of, check_positive_int
from cgl.config.errors import ConfigError

SAMPLERS = ("CM", "CM_plus", "MF", "MF_plus", "random")
#: beyond this many nodes of a class BeGin's CM draws a sample (with replacement)
BEGIN_CM_DRAWS = 1000


def class_groups(labels: list[int]) -> list[list[int]]:
    """Positions of each class's items, classes in the order a Python set of them iterates
    (BeGin groups them so; the order decides which class's draws come first)."""
    groups: dict[int, list[int]] = {cls: [] for cls in set(labels)}
    for position, cls in enumerate(labels):
        groups[cls].append(position)
    return list(groups.values())


def coverage_counts(
    groups: list[list[int]], index: int, vecs: torch.Tensor, distance: float, begin: bool
) -> tuple[list[int], torch.Tensor]:
    """For class `index`: the positions it ranks and, per position, how many nodes of the
    other classes lie within `distance` (BeGin: among its draws, in half precision)."""
    own = groups[index]
    if begin:
        vecs = vecs.half()
        if len(own) >= BEGIN_CM_DRAWS:
            own = random.choices(own, k=BEGIN_CM_DRAWS)
    near = torch.zeros(len(own), dtype=torch.long)
    for other, members in enumerate(groups):
        if other == index:
            continue
        if begin:
            members = random.choices(members, k=min(BEGIN_CM_DRAWS, len(members)))
            dist = torch.cdist(vecs[own].float(), vecs[members].float()).half()
        else:
            dist = torch.cdist(vecs[own], vecs[members])
        near += (dist < distance).sum(-1)
    return own, near


def sample(
    name: str, groups: list[list[int]], budget: int, vecs: torch.Tensor, distance: float,
    begin: bool,
) -> list[int]:  # fmt: skip
    """Positions of the items the sampler keeps, `budget` per class (fewer if a class has
    fewer), class by class."""
    kind = name.split("_")[0]
    chosen: list[int] = []
    for index, members in enumerate(groups):
        if kind == "random":
            chosen += random.sample(members, min(budget, len(members)))
            continue
        if kind == "CM":
            _, score = coverage_counts(groups, index, vecs, distance, begin)
        elif begin:  # MF as BeGin ranks it: the lowest dot product with the class mean
            score = vecs[members] @ vecs[members].mean(0)
        else:  # MF: the closest to the class mean
            score = (vecs[members] - vecs[members].mean(0)).norm(dim=-1)
        # BeGin ranks with torch's default (unstable) sort and, for a class it drew from,
        # maps ranks back to the class's list: both kept under begin_sampler
        rank = score.sort()[1].tolist() if begin else score.sort(stable=True)[1].tolist()
        chosen += [members[position] for position in rank[:budget]]
    return chosen


class ERGNNMixin(MemoryMixin):
    """ER-GNN for the node-level trainers. kwargs: `num_experience_nodes` (per class of each
    task; null: BeGin's `begin_memory` // classes, or // tasks under Domain/Time-IL),
    `sampler_name`, `distance_threshold`, `buffer_weight` (begin | cglb), `begin_sampler`."""

    @property
    def experience_nodes(self) -> int:
        count = self.kwargs.get("num_experience_nodes", 1)
        if count is not None:
            return int(count)
        split = (
            self.scenario.num_classes
            if self.scenario.incr_type in ("task", "class")
            else (self.num_tasks)
        )
        return int(self.kwargs["begin_memory"]) // split

    def check_budget(self, scenario) -> None:
        count = self.kwargs.get("num_experience_nodes", 1)
        if count is None and self.kwargs.get("begin_memory") is None:
            raise ConfigError(
                "method=ergnn: method.kwargs.num_experience_nodes=null takes BeGin's memory "
                "budget, but begin_memory is null: set num_experience_nodes or begin_memory "
                "(the begin_* presets set it)."
            )
        budget = self.experience_nodes
        if budget < 1:
            raise ConfigError(
                f"method=ergnn: BeGin's memory budget begin_memory={self.kwargs['begin_memory']}"
                f" leaves {budget} experience nodes per class here: raise it or set "
                "method.kwargs.num_experience_nodes."
            )
        for task in range(scenario.num_tasks):
            labels = scenario.visible_labels([task])[scenario.split_mask("train", [task])]
            counts = torch.bincount(labels[labels >= 0].view(-1))
            counts = counts[counts > 0]
            if counts.numel() and int(counts.min()) < budget:
                raise ConfigError(
                    f"method=ergnn: method.kwargs.num_experience_nodes={budget} per class, but "
                    f"a class of task {task} has only {int(counts.min())} training nodes: "
                    f"lower it to at most {int(counts.min())}."
                )

    def afterInference(self, results, model, optimizer, _curr_batch, training_states) -> dict:
        rows = self.remembered_rows
        if rows is not None:
            current, buffer = split_loss(self, results, _curr_batch, rows)
            # in float32 from the counts, as BeGin computes it
            beta = int(rows.sum()) / (int(rows.sum()) + (~rows).sum())
            if self.kwargs.get("buffer_weight", "begin") == "begin":
                results["loss"] = (1 - beta) * current + beta * buffer
            else:
                results["loss"] = beta * current + (1 - beta) * buffer
        return super().afterInference(results, model, optimizer, _curr_batch, training_states)

    def processAfterTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ) -> None:
        super().processAfterTraining(
            task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
        )
        items = self.training_items(curr_dataset)
        name = str(self.kwargs.get("sampler_name", "CM"))
        nodes = torch.nonzero(curr_dataset.ndata["train_mask"]).view(-1)
        if name.endswith("_plus"):
            vecs = self._embeddings(curr_model, curr_dataset)[nodes.to(self.device)].cpu()
        else:
            vecs = curr_dataset.ndata["feat"].index_select(0, nodes)
            vecs = (vecs.to_dense() if vecs.is_sparse else vecs).float()
        chosen = sample(
            name,
            class_groups(items["label"].tolist()),
            self.experience_nodes,
            vecs,
            float(self.kwargs.get("distance_threshold", 0.5)),
            bool(self.kwargs.get("begin_sampler", False)),
        )
        index = torch.tensor(chosen, dtype=torch.long)
        self.memory.add({key: value[index] for key, value in items.items()}, task_id)

    @torch.no_grad()
    def _embeddings(self, model, dataset) -> torch.Tensor:
        from cgl.trainers.nodes import with_self_loops

        model.eval()
        graph = with_self_loops(dataset).to(self.device)
        return model.embed(graph, graph.ndata["feat"])


def check_settings(kwargs: Mapping[str, Any]) -> None:
    if kwargs.get("num_experience_nodes") is not None:
        check_positive_int("ergnn", kwargs, "num_experience_nodes")
    check_one_of("ergnn", kwargs, "sampler_name", SAMPLERS, "the buffer's sampler")
    check_number("ergnn", kwargs, "distance_threshold", "CM's distance", low=0.0, low_open=True)
    check_one_of(
        "ergnn", kwargs, "buffer_weight", ("begin", "cglb"),
        "begin: the buffer's loss weighs |B|/(|B|+|D|); cglb: the task's does",
    )  # fmt: skip
    check_bool("ergnn", kwargs, "begin_sampler", "BeGin's sampler draws and ranking")


METHOD = Method(
    name="ergnn",
    title="ERGNN",
    mixin=ERGNNMixin,
    supports={"nc": ("taskil", "classil", "domainil", "timeil")},
    check=check_settings,
)
__all__ = [*export(METHOD, globals()), "ERGNNMixin", "class_groups", "sample"]
