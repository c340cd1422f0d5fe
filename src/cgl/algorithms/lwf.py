"""LwF: Learning without Forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2017), once for every level.

After task t the model, frozen, becomes the teacher. While later tasks train, each step adds
lamb · KD, the cross-entropy of the student's tempered softmax against the teacher's
(temperature T), on the current batch's items, over the outputs of the earlier tasks:
- Task-IL: one term per earlier task, over that task's classes (its own "head");
- otherwise: one term over the classes observed before the current task;
- link prediction: the two-class softmax of each pair's score (no link / link).
The paper's loss has no T² factor (Hinton et al.'s scaling; `temperature_squared=true` adds it).

BeGin 0.4 computes the same loss but, under Task-IL, runs one extra forward of the current
model in train mode per earlier task for the student's outputs (`extra_forwards=true`, on in
BeGin's presets): same values, but batch norm's running statistics move once more per earlier
task and step, and dropout draws again.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from cgl.algorithms.method import Method, export
from cgl.algorithms.settings import check_bool, check_nonnegative, check_number


def distillation(teacher: torch.Tensor, student: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over items of -Σ_c softmax(teacher/T)_c · log softmax(student/T)_c."""
    target = functional.softmax(teacher.detach() / temperature, dim=-1)
    return -(target * functional.log_softmax(student / temperature, dim=-1)).sum(-1).mean()


def item_rows(raw: torch.Tensor, batch: Any, num_items: int) -> torch.Tensor:
    """The rows of the batch's items: a full-graph node batch computes every node's logits
    and predicts those of its mask."""
    if raw.shape[0] != num_items and hasattr(batch, "mask"):
        return raw[batch.mask]
    return raw


@contextlib.contextmanager
def raw_logits(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collect the logits of every class (before the observed-class and task masks) of each
    forward pass run inside the block, from the class head's linear layer."""
    captured: list[torch.Tensor] = []
    handle = model.head.linear.register_forward_hook(lambda m, i, out: captured.append(out))
    try:
        yield captured
    finally:
        handle.remove()


class Teacher:
    """The frozen model of the last finished task and the class sets the KD reads."""

    def __init__(self, model: nn.Module) -> None:
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)
        self.active = False  # no teacher before the first task ends
        self.old_classes: torch.Tensor | None = None  # classes observed before this task
        self.task_classes: list[torch.Tensor] = []  # Task-IL: each finished task's classes
        self._cached: tuple[Any, Any] | None = None  # (batch, the teacher's outputs on it)

    def outputs(self, batch: Any, compute: Callable[[], Any]) -> Any:
        """The teacher's outputs on `batch` (`compute()`, without gradients), computed once
        per batch object: the teacher is frozen and in eval mode, and a loader's batch does not
        change, so a full-graph batch that comes back every epoch gets the same outputs (the
        same numbers, not recomputed). A new batch object replaces the cached one."""
        if self._cached is None or self._cached[0] is not batch:
            with torch.no_grad():
                self._cached = (batch, compute())
        return self._cached[1]

    def update(self, model: nn.Module, task_classes: torch.Tensor | None) -> None:
        self.model.load_state_dict(model.state_dict())
        self.model.eval()
        self._cached = None
        self.active = True
        head = getattr(model, "head", None)
        if head is not None:
            self.old_classes = head.observed.clone()
        if task_classes is not None:
            self.task_classes.append(task_classes)

    def state_dict(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "model": self.model.state_dict(),
            "old_classes": self.old_classes,
            "task_classes": list(self.task_classes),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self._cached = None
        self.active = bool(state["active"])
        self.old_classes = state["old_classes"]
        self.task_classes = list(state["task_classes"])


class LwFMixin:
    """LwF for any level trainer: put it before the trainer in the bases.

    kwargs: `lamb` (weight of the distillation term, BeGin's 1), `T` (temperature, 2),
    `temperature_squared` (Hinton's T² scaling), `extra_forwards` (BeGin's Task-IL student).
    """

    def initTrainingStates(self, scenario, model, optimizer) -> dict:
        states = super().initTrainingStates(scenario, model, optimizer)
        states["lwf"] = Teacher(model)
        return states

    @property
    def _lwf_lamb(self) -> float:
        return float(self.kwargs.get("lamb", 1.0))

    @property
    def _task_il(self) -> bool:
        return getattr(self.scenario, "incr_type", None) == "task" and hasattr(self.model, "head")

    def inference(self, model, _curr_batch, training_states) -> dict:
        """Also keep the raw logits of every class (the distillation reads the earlier tasks'
        classes, which Task-IL masks out of the logits)."""
        if not self._task_il or training_states is None:
            return super().inference(model, _curr_batch, training_states)
        with raw_logits(model) as captured:
            results = super().inference(model, _curr_batch, training_states)
        results["raw_logits"] = item_rows(captured[-1], _curr_batch, results["preds"].shape[0])
        return results

    def afterInference(self, results, model, optimizer, _curr_batch, training_states) -> dict:
        """LwF adds lamb · KD against the teacher before backpropagation."""
        teacher: Teacher = training_states["lwf"]
        kd = None
        if teacher.active and self._lwf_lamb > 0:
            kd = self._distillation(results, model, _curr_batch, training_states, teacher)
            results["loss"] = results["loss"] + self._lwf_lamb * kd
        stats = super().afterInference(results, model, optimizer, _curr_batch, training_states)
        stats["lwf_distillation"] = 0.0 if kd is None else float(kd.detach())
        return stats

    def _distillation(self, results, model, batch, states, teacher: Teacher) -> torch.Tensor:
        temperature = float(self.kwargs.get("T", 2.0))
        scale = temperature**2 if self.kwargs.get("temperature_squared", False) else 1.0
        taught = teacher.outputs(batch, lambda: self._teacher_outputs(teacher.model, batch))
        if not hasattr(model, "head"):  # link prediction: two classes per pair, no / link
            two = lambda scores: torch.stack([torch.zeros_like(scores), scores], -1)  # noqa: E731
            return scale * distillation(two(taught["preds"]), two(results["preds"]), temperature)
        if not self._task_il:
            old = teacher.old_classes
            return scale * distillation(
                taught["preds"][:, old], results["preds"][:, old], temperature
            )
        total = 0.0
        for classes in teacher.task_classes:
            student = results["raw_logits"]
            if self.kwargs.get("extra_forwards", False):
                student = self.inference(model, batch, states)["raw_logits"]
            total = total + distillation(taught[:, classes], student[:, classes], temperature)
        return scale * total

    def _teacher_outputs(self, teacher: nn.Module, batch: Any) -> Any:
        """The teacher's raw logits of the batch's items (Task-IL), else its results."""
        if not self._task_il:
            return self.inference(teacher, batch, None)
        with raw_logits(teacher) as captured:
            items = self.inference(teacher, batch, None)["preds"].shape[0]
        return item_rows(captured[-1], batch, items)

    def processAfterTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ) -> None:
        """The trained model (best weights) becomes the teacher of the tasks that follow."""
        super().processAfterTraining(
            task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
        )
        classes = None
        if self._task_il:
            classes = torch.zeros_like(curr_model.head.observed)
            labels = self.train_labels(curr_dataset)
            classes[labels[labels >= 0].unique().to(classes.device)] = True
        curr_training_states["lwf"].update(curr_model, classes)


def check_settings(kwargs: Mapping[str, Any]) -> None:
    check_nonnegative("lwf", kwargs, "lamb", "the weight of the distillation term")
    check_number("lwf", kwargs, "T", "the distillation temperature", low=0.0, low_open=True)
    check_bool("lwf", kwargs, "temperature_squared", "Hinton's T² factor on the distillation")
    check_bool("lwf", kwargs, "extra_forwards", "BeGin's extra student forwards under Task-IL")


METHOD = Method(name="lwf", title="LwF", mixin=LwFMixin, check=check_settings)
__all__ = [*export(METHOD, globals()), "LwFMixin", "Teacher", "distillation", "raw_logits"]
