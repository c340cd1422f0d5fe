"""The MAS core (Aljundi et al., ECCV 2018), written once for every level.

`MASRegularizer` holds the accumulated importance Ω and the anchor θ* per parameter name and
computes the penalty; `MASMixin` plugs it into any level trainer through two event functions.
The level trainer supplies the outputs (`batch_outputs`) and the batches (`training_batches`;
for the `sample` estimator, `item_copy_outputs` on `item_copies`), so the same code serves
nodes, links and graphs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from cgl.algorithms.penalty import PenaltyStep, fit_shape
from cgl.algorithms.per_item import OutputsFn, parameter_modules, sample_importance


def batch_importance(
    model: nn.Module, batches: Iterable[Any], outputs_fn: OutputsFn
) -> dict[str, torch.Tensor]:
    """BeGin's estimator: per batch, |grad of the batch-mean squared L2 norm of the outputs|,
    weighted by the batch's item count and averaged over all items."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    count = 0
    for batch in batches:
        outputs = outputs_fn(model, batch)
        if outputs.shape[0] == 0:
            continue
        loss = outputs.pow(2).sum(dim=-1).mean()
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        for (name, _), grad in zip(params.items(), grads, strict=True):
            if grad is not None:
                total[name].add_(grad.abs(), alpha=outputs.shape[0])
        count += outputs.shape[0]
    return {name: value / max(count, 1) for name, value in total.items()}


def cglb_importance(
    model: nn.Module, batches: Iterable[Any], outputs_fn: OutputsFn
) -> tuple[dict[str, torch.Tensor], int]:
    """CGLB's estimator (NCGL/Baselines/mas_model.py): per batch, the *square* of the gradient
    of the mean of the squared outputs (over items and the classes they can predict), averaged
    over batches; with the number of items, since CGLB averages tasks by it (`consolidate`).
    Under Task-IL the outputs hold zeros in the columns of other tasks' classes (see
    ObservedClassHead.observed_logits), which CGLB leaves out of its mean: the columns that
    are zero for every item are not counted."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    num_batches = items = 0
    for batch in batches:
        outputs = outputs_fn(model, batch)
        if outputs.shape[0] == 0:
            continue
        width = max(int(outputs.detach().ne(0).any(0).sum()), 1)
        loss = outputs.pow(2).sum() / (outputs.shape[0] * width)
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        for (name, _), grad in zip(params.items(), grads, strict=True):
            if grad is not None:
                total[name].add_(grad.pow(2))
        num_batches += 1
        items += outputs.shape[0]
    return {name: value / max(num_batches, 1) for name, value in total.items()}, items


ESTIMATORS = {"batch": batch_importance, "sample": sample_importance, "cglb": cglb_importance}
#: estimators whose importances are averaged over tasks, weighted by the tasks' item counts
#: (CGLB), instead of summed (the paper, BeGin); they return (importance, item count)
AVERAGED_OVER_TASKS = frozenset({"cglb"})


class MASRegularizer:
    """Ω and θ* per parameter name; the penalty lamb * Σ Ω ⊙ (θ - θ*)²."""

    def __init__(self, lamb: float, importance: str = "batch", chunk_size: int = 8) -> None:
        if lamb < 0:
            raise ValueError(f"MAS lamb must be >= 0, got {lamb}")
        if chunk_size < 1:
            raise ValueError(f"MAS chunk_size must be >= 1, got {chunk_size}")
        if importance not in ESTIMATORS:
            raise ValueError(
                f"unknown MAS importance estimator '{importance}'; known: {sorted(ESTIMATORS)}"
            )
        self.lamb = float(lamb)
        self.importance = importance
        self.chunk_size = int(chunk_size)  # items per backward pass of the `sample` estimator
        self.estimator = ESTIMATORS[importance]
        self.omega: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}
        self.items_seen = 0  # training items of the tasks so far (AVERAGED_OVER_TASKS only)
        self._flat: tuple | None = None  # (names, shapes, Ω as one vector, θ* as one vector)

    def consolidate(self, model: nn.Module, batches: Iterable[Any], outputs_fn: OutputsFn) -> float:
        """After a task: Ω += importance on the task's training items; θ* = current weights.
        Returns the seconds the importance took."""
        start = time.perf_counter()
        was_training = model.training
        model.eval()  # importance of the trained model as it predicts: no dropout, fixed BN
        with torch.enable_grad():
            importance = self.estimator(model, batches, outputs_fn)
        model.train(was_training)
        old_share = 1.0  # Ω + w_t, or the item-weighted mean of the tasks' importances
        if self.importance in AVERAGED_OVER_TASKS:
            importance, items = importance
            old_share = self.items_seen / max(self.items_seen + items, 1)
            importance = {name: (1 - old_share) * value for name, value in importance.items()}
            self.items_seen += items
        for name, value in importance.items():
            previous = self.omega.get(name)
            self.omega[name] = (
                value if previous is None else old_share * fit_shape(previous, value, 0.0) + value
            )
        self.anchor = {
            name: p.detach().clone() for name, p in model.named_parameters() if name in self.omega
        }
        self._flat = None
        return time.perf_counter() - start

    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        """Ω and θ* per parameter name (for checkpoints); the settings come from the config."""
        return {"omega": dict(self.omega), "anchor": dict(self.anchor), "items": self.items_seen}

    def load_state_dict(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        self.omega = dict(state["omega"])
        self.anchor = dict(state["anchor"])
        self.items_seen = int(state.get("items", 0))
        self._flat = None

    def _flat_state(self, named: list[tuple[str, nn.Parameter]]) -> tuple:
        """Ω and θ* as single vectors aligned with the parameters (rebuilt when shapes change)."""
        shapes = [p.shape for _, p in named]
        if self._flat is None or self._flat[1] != shapes:
            omega = torch.cat([fit_shape(self.omega[n], p, 0.0).reshape(-1) for n, p in named])
            anchor = torch.cat([fit_shape(self.anchor[n], p, p).reshape(-1) for n, p in named])
            self._flat = ([n for n, _ in named], shapes, omega, anchor)
        return self._flat

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        """lamb * Σ Ω (θ - θ*)², or None before the first task (Ω = 0) or with lamb = 0."""
        if self.lamb == 0 or not self.omega:
            return None
        named = [(n, p) for n, p in model.named_parameters() if n in self.omega]
        _, _, omega, anchor = self._flat_state(named)
        # One flat vector: a single fused expression instead of a Python loop of small ops.
        theta = torch.cat([p.reshape(-1) for _, p in named])
        return self.lamb * torch.dot(omega, (theta - anchor).pow(2))


class MASMixin(PenaltyStep):
    """MAS for any level trainer: put it before the trainer in the bases.

    kwargs: `lamb` (penalty weight, default 1.0), `importance` (estimator, default 'batch';
    'cglb': CGLB's squared gradients, averaged over tasks by their item counts),
    `chunk_size` (items per backward pass of the 'sample' estimator, default 8).
    """

    penalty_state = "mas"  # lamb * Σ Ω (θ - θ*)², added to the task loss (PenaltyStep)

    def initTrainingStates(self, scenario, model, optimizer) -> dict:
        states = super().initTrainingStates(scenario, model, optimizer)
        mas = MASRegularizer(
            lamb=self.kwargs.get("lamb", 1.0),
            importance=self.kwargs.get("importance", "batch"),
            chunk_size=self.kwargs.get("chunk_size", 8),
        )
        if mas.importance == "sample":
            parameter_modules(model)  # refuses a model it cannot split before training, not after
        states["mas"] = mas
        return states

    def processAfterTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ) -> None:
        """MAS accumulates importances and stores θ* for the penalty of later tasks."""
        super().processAfterTraining(
            task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
        )
        if curr_training_states["mas"].lamb == 0:  # switched off: compute (and draw) nothing
            return
        seconds = curr_training_states["mas"].consolidate(
            curr_model, *self.importance_inputs(curr_dataset, curr_training_states)
        )
        self.timings.setdefault("importance", []).append(seconds)

    def importance_inputs(self, dataset: Any, training_states: dict) -> tuple[Iterable, OutputsFn]:
        """The batches the estimator averages over and the outputs it reads: the training
        batches for 'batch'; for 'sample', the items in independent copies."""
        mas = training_states["mas"]
        if mas.importance == "sample":
            return self.item_copies(
                dataset, training_states, mas.chunk_size
            ), self.item_copy_outputs
        return self.training_batches(dataset, training_states), self.batch_outputs
