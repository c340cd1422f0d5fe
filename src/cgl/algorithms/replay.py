"""Experience replay (Chaudhry et al., "On Tiny Episodic Memories in Continual Learning",
2019) at every level: a class-balanced reservoir of past training items, replayed with every
training batch.

After each task its training items join the reservoir (`memory_size` items in all, as equal a
share per class as the classes allow; cgl.algorithms.memory.class_balanced_reservoir). Every
training step adds the whole memory to the batch (node level: to the one full-graph pass, or
as extra seeds of a minibatch's sampled blocks; links: extra pairs, LP with the negatives kept
for them; graphs: extra graphs), and the loss is the current items' mean loss plus the
remembered items' mean loss, so the memory weighs as much as the task however small it is.
BeGin 0.4 has no replay trainer; CGLB's ER-GNN is the node-level relative.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from cgl.algorithms.memory import (
    MemoryMixin,
    class_balanced_reservoir,
    refuse_unfillable,
    split_loss,
    training_counts,
)
from cgl.algorithms.method import Method, export
from cgl.algorithms.settings import check_positive_int


class ReplayMixin(MemoryMixin):
    """Experience replay for any level trainer. kwargs: `memory_size` (items in all)."""

    @property
    def memory_size(self) -> int:
        return int(self.kwargs.get("memory_size", 50))

    def initTrainingStates(self, scenario, model, optimizer) -> dict:
        states = super().initTrainingStates(scenario, model, optimizer)
        states["replay_seen"] = torch.zeros(0, dtype=torch.long)  # items seen per class
        return states

    def check_budget(self, scenario) -> None:
        counts = training_counts(scenario, self.negative_ratio_kept)
        refuse_unfillable(
            "replay",
            f"method.kwargs.memory_size={self.memory_size} (in all, over the "
            f"{scenario.num_tasks} tasks' training items)",
            self.memory_size,
            sum(counts),
            sum(counts),
        )

    def afterInference(self, results, model, optimizer, _curr_batch, training_states) -> dict:
        rows = self.remembered_rows
        if rows is not None:
            current, remembered = split_loss(self, results, _curr_batch, rows)
            results["loss"] = current + remembered
        return super().afterInference(results, model, optimizer, _curr_batch, training_states)

    def processAfterTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ) -> None:
        super().processAfterTraining(
            task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
        )
        curr_training_states["replay_seen"] = class_balanced_reservoir(
            self.memory,
            self.training_items(curr_dataset),
            task_id,
            self.memory_size,
            curr_training_states["replay_seen"],
        )


def check_settings(kwargs: Mapping[str, Any]) -> None:
    check_positive_int("replay", kwargs, "memory_size")


METHOD = Method(name="replay", title="Replay", mixin=ReplayMixin, check=check_settings)
__all__ = [*export(METHOD, globals()), "ReplayMixin"]
