"""EWC: Elastic Weight Consolidation (Kirkpatrick et al., PNAS 2017), once for every level.

After task t: the diagonal Fisher F_t of the task's training items at the trained weights θ*_t.
While later tasks train: loss = task loss + lamb/2 · Σ_t Σ_i F_t,i (θ_i - θ*_t,i)², one penalty
per finished task.

The paper's Fisher is the mean over items of the squared per-item gradient of the item's loss
(`fisher=sample`, exact, through the items' independent copies as MAS's `sample` importance).
BeGin 0.4 squares the gradient of the batch-mean loss instead (`fisher=batch`, one full-batch
step at node level, a far smaller number) and drops the 1/2 (`half_penalty=false`); BeGin's
presets (`begin_methods=true`) switch both on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch

from cgl.algorithms.method import Method, export
from cgl.algorithms.penalty import AnchoredPenalty, NamedTensors, PenaltyStep, parameter_grads
from cgl.algorithms.per_item import mean_item_grads, parameter_modules
from cgl.algorithms.settings import check_bool, check_nonnegative, check_one_of, check_positive_int

FISHERS = ("sample", "batch")


def batch_fisher(trainer: Any, model: torch.nn.Module, dataset: Any, states: dict) -> NamedTensors:
    """BeGin's estimator: per training batch, (d mean loss / dθ)², weighted by its items."""
    total: NamedTensors = {}
    count = 0
    for batch in trainer.training_batches(dataset, states):
        results = trainer.inference(model, trainer.training_batch(batch), states)
        # BeGin weights a full-graph batch by its mask's length (every node of the graph):
        # with one batch the weight cancels, but not in floating point, so it is kept.
        mask = getattr(batch, "mask", None)
        items = int(results["preds"].shape[0] if mask is None else mask.shape[0])
        for name, grad in parameter_grads(model, results["loss"]).items():
            total[name] = total.get(name, 0) + grad.pow(2) * items
        count += items
    return {name: value / max(count, 1) for name, value in total.items()}


def sample_fisher(
    trainer: Any, model: torch.nn.Module, dataset: Any, states: dict, chunk_size: int
) -> NamedTensors:
    """The paper's estimator: the mean over items of the squared gradient of the item's own
    loss, exactly. In a chunk of copies the batch loss is the mean over its items, so its
    item count times it is the sum of the items' losses."""

    def summed_losses(model: torch.nn.Module, copies: Any) -> torch.Tensor:
        return trainer.inference(model, copies.batch, states)["loss"] * copies.num_items

    batches = trainer.item_copies(dataset, states, chunk_size)
    return mean_item_grads(model, batches, summed_losses, torch.square)


class EWCMixin(PenaltyStep):
    """EWC for any level trainer: put it before the trainer in the bases.

    kwargs: `lamb` (strength), `fisher` (sample | batch), `half_penalty` (the paper's 1/2),
    `chunk_size` (items per backward pass of `fisher=sample`).
    """

    penalty_state = "ewc"  # Σ_t lamb/2 F_t (θ - θ*_t)², added to the task loss (PenaltyStep)

    def initTrainingStates(self, scenario, model, optimizer) -> dict:
        states = super().initTrainingStates(scenario, model, optimizer)
        lamb = float(self.kwargs.get("lamb", 10000.0))
        scale = 0.5 if self.kwargs.get("half_penalty", True) else 1.0
        if self.kwargs.get("fisher", "sample") == "sample":
            parameter_modules(model)  # refuses a model it cannot split before training, not after
        states["ewc"] = AnchoredPenalty({"fisher": lamb * scale})
        return states

    def processAfterTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ) -> None:
        """EWC stores θ*_t and the Fisher of the task's training items (at the best weights,
        in eval mode: no dropout, batch norm on its running statistics)."""
        super().processAfterTraining(
            task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
        )
        if not curr_training_states["ewc"].active:  # switched off: compute (and draw) nothing
            return
        start = time.perf_counter()
        curr_model.eval()
        with torch.enable_grad():
            if self.kwargs.get("fisher", "sample") == "sample":
                chunk_size = int(self.kwargs.get("chunk_size", 8))
                fisher = sample_fisher(
                    self, curr_model, curr_dataset, curr_training_states, chunk_size
                )
            else:
                fisher = batch_fisher(self, curr_model, curr_dataset, curr_training_states)
        curr_training_states["ewc"].add_task(curr_model, {"fisher": fisher})
        self.timings.setdefault("importance", []).append(time.perf_counter() - start)


def check_settings(kwargs: Mapping[str, Any]) -> None:
    check_nonnegative("ewc", kwargs, "lamb", "the weight of the EWC penalty")
    check_one_of(
        "ewc", kwargs, "fisher", FISHERS, "sample: the paper's per-item Fisher; batch: BeGin's"
    )
    check_bool("ewc", kwargs, "half_penalty", "the paper's 1/2 in front of the penalty")
    check_positive_int("ewc", kwargs, "chunk_size")


METHOD = Method(name="ewc", title="EWC", mixin=EWCMixin, check=check_settings)
__all__ = [*export(METHOD, globals()), "EWCMixin", "batch_fisher", "sample_fisher"]
