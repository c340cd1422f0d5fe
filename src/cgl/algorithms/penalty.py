"""Quadratic penalties anchored at the weights of finished tasks (EWC, TWP).

After task t a method stores θ*_t and one or more importance terms per parameter name (EWC:
the Fisher; TWP: a loss term and a topology term). While later tasks train, the penalty is
Σ_t Σ_terms c_term · Σ_i I_t,term,i (θ_i - θ*_t,i)², one penalty per finished task, as both
papers (and BeGin) keep them. Parameters that grew since (new classifier rows) count with
importance 0 in their new entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

NamedTensors = dict[str, torch.Tensor]


def fit_shape(stored: torch.Tensor, like: torch.Tensor, fill: torch.Tensor | float) -> torch.Tensor:
    """`stored` in the shape of `like`: a parameter that grew keeps its old entries and gets
    `fill` in the new ones (importance 0 there: new classifier rows are not held back)."""
    if stored.shape == like.shape:
        return stored
    out = fill.detach().clone() if isinstance(fill, torch.Tensor) else torch.full_like(like, fill)
    region = tuple(slice(0, min(a, b)) for a, b in zip(stored.shape, like.shape, strict=True))
    out[region] = stored[region]
    return out


def parameter_grads(
    model: nn.Module, loss: torch.Tensor, retain_graph: bool = False
) -> NamedTensors:
    """d loss / dθ per trainable parameter name (zeros where the loss does not reach)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(
        loss, [p for _, p in named], retain_graph=retain_graph, allow_unused=True
    )
    return {
        name: torch.zeros_like(p) if grad is None else grad
        for (name, p), grad in zip(named, grads, strict=True)
    }


class AnchoredPenalty:
    """One entry per finished task: θ*_t and its importance terms; the penalty over all."""

    def __init__(self, coefficients: Mapping[str, float]) -> None:
        self.coefficients = dict(coefficients)  # term -> its weight in the penalty
        self.tasks: list[dict[str, NamedTensors]] = []  # {"anchor": θ*, term: importance}
        self._flat: tuple | None = None  # (shapes, [(weights, anchor) per task] as vectors)

    @property
    def active(self) -> bool:
        """Whether the penalty can act at all (some coefficient is not 0)."""
        return any(self.coefficients.values())

    def add_task(self, model: nn.Module, importances: Mapping[str, NamedTensors]) -> None:
        """Store the model's current weights as θ*_t with the task's importance terms."""
        anchor = {name: p.detach().clone() for name, p in model.named_parameters()}
        self.tasks.append({"anchor": anchor, **{k: dict(v) for k, v in importances.items()}})
        self._flat = None

    def state_dict(self) -> dict[str, list[dict[str, NamedTensors]]]:
        return {"tasks": self.tasks}

    def load_state_dict(self, state: Mapping[str, list]) -> None:
        self.tasks = [dict(task) for task in state["tasks"]]
        self._flat = None

    def _vectors(
        self, named: list[tuple[str, nn.Parameter]]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per task, its combined importance Σ c_term I_term and θ* as vectors aligned with
        the parameters (rebuilt when a parameter's shape changes)."""
        shapes = [p.shape for _, p in named]
        if self._flat is None or self._flat[0] != shapes:
            vectors = []
            for task in self.tasks:
                weights = sum(
                    coefficient * self._flatten(task[term], named, 0.0)
                    for term, coefficient in self.coefficients.items()
                )
                anchor = torch.cat(
                    [fit_shape(task["anchor"][n], p, p).reshape(-1) for n, p in named]
                )
                vectors.append((weights, anchor))
            self._flat = (shapes, vectors)
        return self._flat[1]

    @staticmethod
    def _flatten(
        values: NamedTensors, named: Iterable[tuple[str, nn.Parameter]], fill: float
    ) -> torch.Tensor:
        return torch.cat(
            [
                fit_shape(values[n], p, fill).reshape(-1)
                if n in values
                else torch.zeros_like(p).reshape(-1)
                for n, p in named
            ]
        )

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        """Σ_t (Σ c I_t) · (θ - θ*_t)², or None before the first task or with all c = 0."""
        if not self.tasks or not self.active:
            return None
        named = [(n, p) for n, p in model.named_parameters() if n in self.tasks[0]["anchor"]]
        # One flat vector per task: a fused expression instead of a loop over parameters.
        theta = torch.cat([p.reshape(-1) for _, p in named])
        total = None
        for weights, anchor in self._vectors(named):
            term = torch.dot(weights, (theta - anchor).pow(2))
            total = term if total is None else total + term
        return total


class PenaltyStep:
    """Adds a regularizer's penalty to the task loss before backpropagation: put it before a
    level trainer in the bases. `training_states[penalty_state]` has `penalty(model)`
    (a tensor, or None while it cannot act); the step's stats log it as `<name>_penalty`."""

    penalty_state: str

    def afterInference(self, results, model, optimizer, _curr_batch, training_states) -> dict:
        """The penalty joins the task loss, then the usual backward, `beforeOptimizerStep`
        and step."""
        penalty = training_states[self.penalty_state].penalty(model)
        if penalty is not None:
            results["loss"] = results["loss"] + penalty
        stats = super().afterInference(results, model, optimizer, _curr_batch, training_states)
        stats[f"{self.penalty_state}_penalty"] = 0.0 if penalty is None else float(penalty.detach())
        return stats
