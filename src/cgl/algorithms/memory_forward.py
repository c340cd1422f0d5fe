"""One forward pass for every earlier task's remembered items (GEM's reference gradients), where
it computes exactly what one pass per task would.

GEM needs one loss per earlier task, on that task's remembered items, and its gradient. Run
per task, that is a forward pass per task (BeGin's are in train mode, before the step's own).
At node level with the whole graph as the batch, those passes run the same model on the same
graph and features; only the rows read and their labels differ. So one pass over the graph,
the remembered nodes carrying their labels (and the step's nodes theirs), gives every task's
loss: the same rows, in the same order, with the same values; and torch.autograd.grad of each
loss through that pass is its own pass's gradient, since the gradient reaching the shared
outputs is zero outside the task's rows, as it is there.

Where one pass differs from several, this keeps the difference or steps aside:
- batch norm in train mode moves its running statistics once per pass: after the shared pass,
  each batch-norm layer runs again on the input it saw, once per pass replaced (the same input,
  so the same batch statistics and the same numbers as BeGin's extra passes);
- a train-mode pass that draws random numbers (dropout > 0) draws afresh in each of BeGin's
  passes, so per-task passes stay (`memory_forward` gives None);
- links, graphs and sampled node batches: the remembered items are not items of the step's
  batch (other pairs or graphs change batch statistics; blocks are drawn), so per-task passes.
In eval mode a node's output depends on its receptive field only: the pass then runs on the
remembered nodes' receptive field (the blocks NCTrainer evaluates on), the same numbers up to
summation order at a fraction of the cost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cgl.trainers.copies import message_passing_depth
from cgl.trainers.nodes import WholeGraph, local_nodes, masked_loss, receptive_field

Infer = Callable[[Any], dict]


def draws_random(model: nn.Module) -> bool:
    """Whether a train-mode forward pass of `model` draws random numbers (dropout)."""
    return any(
        isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0
        for module in model.modules()
    )


@contextlib.contextmanager
def batch_norm_inputs(model: nn.Module) -> Iterator[list[tuple[nn.Module, torch.Tensor]]]:
    """Collect (layer, input) of every batch-norm call inside the block."""
    captured: list[tuple[nn.Module, torch.Tensor]] = []
    handles = [
        module.register_forward_pre_hook(
            lambda layer, args: captured.append((layer, args[0].detach()))
        )
        for module in model.modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm)
    ]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def repeat_statistics(captured: list[tuple[nn.Module, torch.Tensor]], times: int) -> None:
    """Move batch norm's running statistics as `times` more train-mode passes would."""
    for _ in range(times):
        for layer, inputs in captured:
            layer(inputs)


@dataclass
class MemoryForward:
    """The one pass: `batch` holds the remembered nodes (and, for a step, the step's own);
    `row_task[i]` is the earlier task whose memory output row i is (-1: a step's item)."""

    source: Any
    batch: Any
    row_task: torch.Tensor
    tasks: list[int]

    def on_field(self, trainer: Any) -> MemoryForward:
        """The same pass on the remembered nodes' receptive field (eval mode only: batch
        norm then acts per node), cut once per graph and set of remembered nodes: the cut is
        kept on the trainer, keyed by the graph and the remembered-node mask itself, so a
        memory that changes its nodes, growing or not, gets a fresh field."""
        graph, mask = self.batch  # a fresh view of the source graph at every step
        cached = getattr(trainer, "_memory_field", None)
        if cached is None or cached[0] is not self.source.graph or not torch.equal(cached[1], mask):
            field = receptive_field(graph, mask, message_passing_depth(trainer.model))
            cached = trainer._memory_field = (self.source.graph, mask, field)
        if cached[2] is None:
            return self
        return MemoryForward(self.source, cached[2], self.row_task, self.tasks)

    def _run(self, trainer: Any, model: nn.Module, infer: Infer, passes: int) -> tuple:
        """Outputs and labels of the pass, standing for `passes` passes (batch norm moved as
        often; a pass that drew random numbers could not stand for several)."""
        if not model.training:
            results = infer(self.batch)
            return results, trainer.batch_targets(self.batch)
        state = torch.get_rng_state()
        with batch_norm_inputs(model) as captured:
            results = infer(self.batch)
        if not torch.equal(state, torch.get_rng_state()):
            raise RuntimeError("the pass drew random numbers: it cannot stand for several")
        repeat_statistics(captured, passes - 1)
        return results, trainer.batch_targets(self.batch)

    def _task_losses(self, trainer: Any, preds: torch.Tensor, labels: torch.Tensor) -> list:
        return [
            masked_loss(trainer.loss_fn, preds[rows], labels[rows])
            for rows in (self.row_task == task for task in self.tasks)
        ]

    def losses(self, trainer: Any, model: nn.Module, infer: Infer) -> list[torch.Tensor]:
        """Each earlier task's memory loss, in `tasks` order."""
        results, labels = self._run(trainer, model, infer, len(self.tasks))
        return self._task_losses(trainer, results["preds"], labels.to(results["preds"].device))

    def step_results(self, trainer: Any, model: nn.Module, infer: Infer) -> tuple[dict, list]:
        """The step's results (its own items' rows) and each earlier task's memory loss,
        standing for the step's pass and one pass per task."""
        results, labels = self._run(trainer, model, infer, len(self.tasks) + 1)
        preds = results["preds"]
        labels = labels.to(preds.device)
        own = self.row_task < 0
        step = {"preds": preds[own], "loss": masked_loss(trainer.loss_fn, preds[own], labels[own])}
        return step, self._task_losses(trainer, preds, labels)


def memory_forward(trainer: Any, model: nn.Module, batch: Any, only: bool) -> MemoryForward | None:
    """The one pass for the trainer's memory (with the step's items unless `only`), or None
    where it would not compute what per-task passes compute (see the module docstring)."""
    if not isinstance(batch, WholeGraph) or (model.training and draws_random(model)):
        return None
    items = trainer.memory.items
    graph, mask = batch
    nodes = local_nodes(graph, items["item"])
    if torch.unique(nodes).numel() != nodes.numel() or (not only and bool(mask[nodes].any())):
        return None  # a node remembered twice, or also one of the step's: rows would merge
    view, _ = trainer.with_remembered(batch, items, trainer.memory_dataset, only=only)
    node_task = torch.full((graph.num_nodes(),), -1, dtype=torch.long, device=nodes.device)
    node_task[nodes] = items["task"].to(nodes.device)
    return MemoryForward(batch, view, node_task[view.mask], trainer.memory.tasks())
