"""MAS trainers for graph-level problems: MAS composed with the graph trainer."""

from cgl.algorithms.mas.core import MASMixin
from cgl.trainers.graphs import GCTrainer


class GCClassILMASTrainer(MASMixin, GCTrainer):
    """MAS for graph-level Class-IL."""


class GCTaskILMASTrainer(MASMixin, GCTrainer):
    """MAS for graph-level Task-IL."""

    def inference(self, model, _curr_batch, training_states) -> dict:
        """Task-IL knows each graph's task, so logits are restricted to that task's classes
        (the masks the scenario puts on every graph); a batch without them is refused."""
        if "task_mask" not in _curr_batch:
            raise ValueError("Task-IL batches must carry each graph's task_mask (scenario=taskil)")
        return super().inference(model, _curr_batch, training_states)


class GCDomainILMASTrainer(MASMixin, GCTrainer):
    """MAS for graph-level Domain-IL."""


class GCTimeILMASTrainer(MASMixin, GCTrainer):
    """MAS for graph-level Time-IL (tasks are the graphs of successive time steps)."""
