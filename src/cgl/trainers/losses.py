"""Task losses beyond plain cross-entropy.

CGLB (NCGL/Baselines/*_model.py, `--cls-balance True`) weights each class by 1 / n_c, n_c
being the class's count among the items the loss is taken over, and takes the weighted mean:
every class present weighs the same, however many training nodes it has. Its Joint
(Baselines/joint_replay_all.py) adds one such loss per task. `ClassBalancedCrossEntropy`
does both: items are grouped by task (the class's task in the plan) and the per-task losses
summed, which for a batch of one task (every method but Joint) is CGLB's loss itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ClassBalancedCrossEntropy(nn.Module):
    """Σ over the tasks present of the 1/n_c-weighted mean cross-entropy of their items.

    `task_classes`: the classes of every task (the scenario plan's); a class in no task is
    its own group. Logits of classes an item may not predict are -inf and take no mass.
    """

    def __init__(self, task_classes: Sequence[Sequence[int]], num_classes: int) -> None:
        super().__init__()
        class_task = torch.arange(num_classes) + len(task_classes)  # own group if in no task
        for task, classes in enumerate(task_classes):
            class_task[list(classes)] = task
        self.register_buffer("class_task", class_task, persistent=False)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        counts = torch.bincount(labels, minlength=logits.shape[-1]).to(logits.dtype)
        weight = 1.0 / counts.clamp(min=1)
        group = self.class_task.to(labels.device)[labels]
        groups = torch.unique(group)
        if groups.numel() == 1:  # one task (every method but Joint): torch's weighted mean
            return nn.functional.cross_entropy(logits, labels, weight=weight)
        # Joint: a weighted mean per task (a loop over the few tasks present), summed
        return sum(
            nn.functional.cross_entropy(logits[group == task], labels[group == task], weight=weight)
            for task in groups.tolist()
        )
