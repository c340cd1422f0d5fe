"""A memory of past training items, written once for every level and shared by ER-GNN, GEM and
experience replay.

cgl hides a finished task's labels from the tasks that follow (BeGin reads them from the graph),
so a method that replays items keeps their labels itself: a `Memory` holds rows of what the level
trainer's `training_items` gives (node / graph ids or node pairs, `label`, Task-IL `task_mask`;
LP: the positives and the negatives drawn for them) plus the `task` that trained them. The level
trainer's `with_remembered` puts remembered rows back into a training batch. The memory is plain
tensors in the training states, so checkpoints keep it and a resumed run replays the same items.
"""

from __future__ import annotations

from typing import Any

import torch

from cgl.config.errors import ConfigError
from cgl.trainers.nodes import masked_loss

Items = dict[str, torch.Tensor]


class Memory:
    """Remembered items: tensors with one row per item (the columns of `training_items`, plus
    `task`)."""

    def __init__(self) -> None:
        self.items: Items = {}

    def __len__(self) -> int:
        return int(self.items["label"].shape[0]) if self.items else 0

    def add(self, items: Items, task: int) -> None:
        """Remember `items`, given by `task`'s training."""
        rows = items["label"].shape[0]
        new = {key: value.detach().cpu() for key, value in items.items()}
        new["task"] = torch.full((rows,), task, dtype=torch.long)
        if self.items:
            new = {key: torch.cat([self.items[key], new[key]]) for key in self.items}
        self.items = new

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the given rows (an index or a boolean mask)."""
        self.items = {key: value[rows] for key, value in self.items.items()}

    def of_task(self, task: int) -> Items:
        rows = self.items["task"] == task
        return {key: value[rows] for key, value in self.items.items()}

    def tasks(self) -> list[int]:
        return torch.unique(self.items["task"]).tolist() if self.items else []

    def state_dict(self) -> dict[str, Any]:
        return dict(self.items)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.items = {key: value.cpu() for key, value in state.items()}


def item_classes(items: Items) -> torch.Tensor:
    """Each item's class for balancing (a multi-label item counts as class 0)."""
    label = items["label"]
    return label if label.dim() == 1 else torch.zeros(label.shape[0], dtype=torch.long)


def balanced_quotas(available: torch.Tensor, size: int) -> torch.Tensor:
    """Items per class for a memory of `size`: as equal as the classes' `available` counts
    allow (a class short of its share leaves the rest to the others; lower class ids first)."""
    quota = torch.zeros_like(available)
    left = min(size, int(available.sum()))
    while left > 0:
        open_classes = torch.nonzero(available > quota).view(-1)
        share = max(left // open_classes.numel(), 1)
        for cls in open_classes.tolist():
            give = min(share, int(available[cls] - quota[cls]), left)
            quota[cls] += give
            left -= give
            if left == 0:
                break
    return quota


def class_balanced_reservoir(
    memory: Memory, items: Items, task: int, size: int, seen: torch.Tensor
) -> torch.Tensor:
    """Merge a finished task's training `items` into `memory` (at most `size` items), equally
    many per class where the classes allow, each class's items a random sample of every item
    of that class seen so far: a kept item stands for seen/kept items of its class (its weight
    in the draw), a new item for itself. Returns the updated per-class `seen` counts.

    Written here because the reservoir has to know classes and tasks at once; the draw is a
    weighted sample without replacement (torch.multinomial), which approximates the uniform
    reservoir of Vitter's algorithm R per class."""
    classes = item_classes(items)
    num_classes = max(int(seen.numel()), int(classes.max()) + 1 if classes.numel() else 0)
    seen = torch.cat([seen, seen.new_zeros(num_classes - seen.numel())])
    kept_classes = item_classes(memory.items) if len(memory) else classes[:0]
    kept = torch.bincount(kept_classes, minlength=num_classes)
    weight = torch.cat(
        [
            (seen[kept_classes] / kept[kept_classes].clamp(min=1)).double(),
            torch.ones(classes.numel(), dtype=torch.double),
        ]
    )
    seen = seen + torch.bincount(classes, minlength=num_classes)
    memory.add(items, task)
    every = item_classes(memory.items)
    quota = balanced_quotas(torch.bincount(every, minlength=num_classes), size)
    rows = []
    for cls in torch.nonzero(quota).view(-1).tolist():
        members = torch.nonzero(every == cls).view(-1)
        picked = torch.multinomial(weight[members], int(quota[cls]), replacement=False)
        rows.append(members[picked])
    memory.keep(torch.sort(torch.cat(rows)).values if rows else every[:0])
    return seen


def split_loss(
    trainer: Any, results: dict, batch: Any, remembered: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of a replayed batch's current items and of its remembered items, apart."""
    logits = results["preds"]  # raw logits per item (BeGin's meaning of `preds`)
    if logits.dim() == 1:  # link prediction: a score per pair, the logits (no link, link)
        logits = torch.stack([torch.zeros_like(logits), logits], dim=-1)
    labels = trainer.batch_targets(batch).to(logits.device)
    fn = trainer.loss_fn
    return masked_loss(fn, logits[~remembered], labels[~remembered]), masked_loss(
        fn, logits[remembered], labels[remembered]
    )


def training_counts(scenario: Any, negative_ratio: int = 0) -> list[int]:
    """Training items of each task (LP: with the negatives a memory keeps for them)."""
    return [
        int(scenario.split_mask("train", [task]).sum()) * (1 + negative_ratio)
        for task in range(scenario.num_tasks)
    ]


def refuse_unfillable(method: str, setting: str, need: int, available: int, most: int) -> None:
    """A memory budget the data cannot fill (`need` items where there are `available`):
    refused at the start of the run, with the numbers and the largest value that fits."""
    if need > available:
        raise ConfigError(
            f"method={method}: {setting} asks for {need} items where the data has only "
            f"{available}: lower it to at most {most}."
        )


class MemoryMixin:
    """What every memory method shares: its `Memory` in the training states (checkpointed),
    the task's training dataset (where `with_remembered` finds remembered items), and, while a
    training step runs on a replayed batch, which of its rows are remembered.

    `replays` (class attribute): whether training batches carry the memory (ER-GNN, replay)."""

    remembers_past_items = True
    replays = True

    def initTrainingStates(self, scenario, model, optimizer) -> dict:
        states = super().initTrainingStates(scenario, model, optimizer)
        self.check_budget(scenario)
        self.memory = states["memory"] = Memory()
        self.memory_dataset = None
        self.remembered_rows = None
        return states

    def check_budget(self, scenario: Any) -> None:
        """Refuse (ConfigError) a memory budget this scenario's data cannot fill."""

    def processBeforeTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ) -> None:
        super().processBeforeTraining(
            task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
        )
        self.memory_dataset = curr_dataset

    def training_batch(self, batch: Any) -> Any:
        """A training step's batch, the remembered items added (`remembered_rows` marks them)."""
        batch = super().training_batch(batch)
        self.remembered_rows = None
        if self.replays and len(self.memory):
            batch, self.remembered_rows = self.with_remembered(
                batch, self.memory.items, self.memory_dataset
            )
        return batch

    @property
    def negative_ratio_kept(self) -> int:
        """LP keeps `negative_ratio` negatives per remembered positive."""
        return int(getattr(self, "negative_ratio", 0))
