"""GEM: Gradient Episodic Memory (Lopez-Paz & Ranzato, NeurIPS 2017), at every level.

After each task, `num_memories // num_tasks` of its training items (a `torch.randperm` draw, as
BeGin's node and link trainers take them; BeGin's graph trainer keeps the last graphs it saw)
go to an episodic memory with their labels. At every later step, between backpropagation and
the optimizer step, the gradient g of the task's loss meets one reference gradient G_k per
earlier task (the loss of its memory); if any <G_k, g> < 0, g becomes the projection that
GEM's dual QP gives:
    min_v 1/2 v^T (G G^T + eps I) v + (G g)^T v   subject to   v >= margin,   g~ = G^T v + g
(margin = `lamb`, BeGin's 0.5, the original code's memory_strength; eps 1e-3, multiplied by
10 when the matrix is not positive definite, as BeGin). With margin 0 and eps -> 0, g~ is the
vector closest to g whose dot product with every G_k is >= 0.

The QP is solved exactly by quadprog's active-set method (Goldfarb-Idnani). BeGin 0.4 solves
it with qpth's primal-dual interior-point method, in float32, to a tolerance: its v is close
to the optimum, not on it (constraints active at the optimum come out slightly inside or
outside), so its projected gradients differ from the exact ones in the last digits, which
training amplifies; per-seed numbers can therefore match BeGin's only to within that noise.

By default the reference gradients are computed at the point between backward and step, with
the model in eval mode (no dropout draws, batch-norm statistics untouched). BeGin
(`train_mode_forwards=true`) computes them before the step's forward, in train mode: one
extra forward per earlier task that draws dropout and moves batch-norm statistics. At node
level on the whole graph both take every task's memory loss from one forward pass
(cgl.algorithms.memory_forward): BeGin's numbers to the bit, the default's up to summation order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import quadprog
import torch

from cgl.algorithms.memory import MemoryMixin, refuse_unfillable, training_counts
from cgl.algorithms.memory_forward import memory_forward
from cgl.algorithms.method import Method, export
from cgl.algorithms.settings import check_bool, check_nonnegative
from cgl.config.errors import ConfigError

#: BeGin's and the original code's regulariser of the dual QP, and its retries (x10 each)
EPS, EPS_RETRIES = 1e-3, 5


def project(
    gradient: torch.Tensor, memories: torch.Tensor, margin: float, eps: float = EPS
) -> torch.Tensor:
    """GEM's projected gradient: G^T v + g, v solving the dual QP of the module docstring."""
    g = gradient.detach().double().cpu().numpy()
    rows = memories.detach().double().cpu().numpy()
    gram = rows @ rows.T
    gram = 0.5 * (gram + gram.T)
    count = rows.shape[0]
    for attempt in range(EPS_RETRIES):
        try:
            # quadprog: min 1/2 x^T P x - a^T x subject to C^T x >= b
            v = quadprog.solve_qp(
                gram + eps * 10**attempt * np.eye(count),
                -(rows @ g),
                np.eye(count),
                np.full(count, margin),
            )[0]
            break
        except ValueError:
            if attempt == EPS_RETRIES - 1:
                raise
    return torch.from_numpy(rows.T @ v + g).to(gradient)


def flat_grads(
    params: list[torch.nn.Parameter], grads: tuple[torch.Tensor | None, ...] | None = None
) -> torch.Tensor:
    """The parameters' gradients (`grads`, else their `.grad`) as one vector, 0 where none."""
    grads = tuple(p.grad for p in params) if grads is None else grads
    return torch.cat(
        [
            (g if g is not None else torch.zeros_like(p)).reshape(-1)
            for p, g in zip(params, grads, strict=True)
        ]
    )


def grads(loss: torch.Tensor, params: list, retain: bool = True) -> tuple:
    """d loss / d params, keeping the graph for the next task's loss (`retain`)."""
    return torch.autograd.grad(loss, params, retain_graph=retain, allow_unused=True)


def gradient_rows(params: list[torch.nn.Parameter], losses: list[torch.Tensor]) -> torch.Tensor:
    """One row per loss: its gradient as a vector, the losses sharing one forward pass."""
    return torch.stack([flat_grads(params, grads(loss, params)) for loss in losses])


def set_grads(params: list[torch.nn.Parameter], flat: torch.Tensor) -> None:
    start = 0
    for p in params:
        grad = flat[start : start + p.numel()].view_as(p).clone()
        if p.grad is None:
            p.grad = grad
        else:
            p.grad.copy_(grad)
        start += p.numel()


class GEMMixin(MemoryMixin):
    """GEM for any level trainer. kwargs: `lamb` (the margin), `num_memories` (in all, split
    evenly over the tasks), `train_mode_forwards` (BeGin's reference gradients)."""

    replays = False

    @property
    def per_task(self) -> int:
        return int(self.kwargs.get("num_memories", 20)) // self.num_tasks

    def check_budget(self, scenario) -> None:
        total = int(self.kwargs.get("num_memories", 20))
        if total == 0:
            return  # no memory: GEM is off
        if self.per_task < 1:
            raise ConfigError(
                f"method=gem: method.kwargs.num_memories={total} split over {self.num_tasks} "
                f"tasks leaves no item per task: set it to at least {self.num_tasks} (or 0: off)."
            )
        counts = training_counts(scenario, self.negative_ratio_kept)
        refuse_unfillable(
            "gem",
            f"method.kwargs.num_memories={total} ({self.per_task} per task, num_memories // "
            f"{self.num_tasks}, from the smallest task's training items)",
            self.per_task,
            min(counts),
            min(counts) * self.num_tasks,
        )

    def _params(self, model) -> list[torch.nn.Parameter]:
        return [p for p in model.parameters() if p.requires_grad]

    def _reference_gradients(self, model, batch, states) -> torch.Tensor:
        """One gradient per earlier task: its memory's loss, backpropagated alone. Where one
        forward pass gives every task's memory loss as the per-task passes would
        (`memory_forward`), the losses come from it, and in eval mode from the remembered
        nodes' receptive field only; else one forward per task."""
        params = self._params(model)
        plan = memory_forward(self, model, batch, only=True)
        if plan is not None:
            if not model.training:
                plan = plan.on_field(self)
            losses = plan.losses(self, model, lambda b: self.inference(model, b, states))
            return gradient_rows(params, losses)
        rows = []
        for task in self.memory.tasks():
            remembered, _ = self.with_remembered(
                batch, self.memory.of_task(task), self.memory_dataset, only=True
            )
            loss = self.inference(model, remembered, states)["loss"]
            rows.append(flat_grads(params, grads(loss, params, retain=False)))
        return torch.stack(rows)

    def beforeInference(self, model, optimizer, _curr_batch, training_states) -> None:
        super().beforeInference(model, optimizer, _curr_batch, training_states)
        self.references = None
        self._step_plan = None
        if len(self.memory) and self.kwargs.get("train_mode_forwards", False):
            # BeGin's train-mode passes before the step's forward: when they would compute
            # what the step's forward computes, that forward serves them (`inference`).
            self._step_plan = memory_forward(self, model, _curr_batch, only=False)
            if self._step_plan is None:
                self.references = self._reference_gradients(model, _curr_batch, training_states)

    def inference(self, model, _curr_batch, training_states) -> dict:
        """The step's forward; under `train_mode_forwards` with a step plan, over the batch's
        items and the remembered ones at once: the step's results are its items' rows, the
        reference gradients come from the remembered rows."""
        plan = getattr(self, "_step_plan", None)
        if plan is None or _curr_batch is not plan.source:
            return super().inference(model, _curr_batch, training_states)
        results, losses = plan.step_results(
            self, model, lambda b: super(GEMMixin, self).inference(model, b, training_states)
        )
        params = self._params(model)
        self.references = gradient_rows(params, losses)
        self._step_plan = None
        return results

    def beforeOptimizerStep(self, model, optimizer, _curr_batch, training_states) -> None:
        if len(self.memory):
            params = self._params(model)
            gradient = flat_grads(params)
            references = self.references
            if references is None:
                training = model.training
                model.eval()
                references = self._reference_gradients(model, _curr_batch, training_states)
                model.train(training)
            if bool(((references @ gradient) < 0).any()):
                gradient = project(gradient, references, float(self.kwargs.get("lamb", 0.5)))
            set_grads(params, gradient)
        super().beforeOptimizerStep(model, optimizer, _curr_batch, training_states)

    def processAfterTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ) -> None:
        super().processAfterTraining(
            task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
        )
        if self.per_task < 1:
            return
        items = self.training_items(curr_dataset)
        chosen = torch.randperm(items["label"].shape[0])[: self.per_task]
        self.memory.add({key: value[chosen] for key, value in items.items()}, task_id)


def check_settings(kwargs: Mapping[str, Any]) -> None:
    check_nonnegative("gem", kwargs, "lamb", "the margin of GEM's QP")
    memories = kwargs.get("num_memories")
    if memories is None:
        raise ConfigError(
            "method=gem: method.kwargs.num_memories=null takes BeGin's memory budget, but "
            "begin_memory is null: set num_memories or begin_memory (the begin_* presets set it)."
        )
    if isinstance(memories, bool) or not isinstance(memories, int) or memories < 0:
        raise ConfigError(
            f"method=gem: method.kwargs.num_memories (items remembered in all, split over the "
            f"tasks; 0: off) must be a whole number >= 0, got {memories}."
        )
    check_bool("gem", kwargs, "train_mode_forwards", "BeGin's reference gradients")


METHOD = Method(
    name="gem",
    title="GEM",
    mixin=GEMMixin,
    supports={
        "nc": ("taskil", "classil", "domainil", "timeil"),
        "lc": ("taskil", "classil", "timeil"),
        "lp": ("domainil", "timeil"),
        "gc": ("taskil", "classil", "domainil", "timeil"),
    },
    check=check_settings,
)
__all__ = [*export(METHOD, globals()), "GEMMixin", "project"]
