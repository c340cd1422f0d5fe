"""Output layer shared by every level: a classifier that knows which classes it may predict."""

from __future__ import annotations

import torch
from torch import nn


class ObservedClassHead(nn.Module):
    """Logits over all classes; classes not observed yet (and, under Task-IL, classes outside
    the item's task) are set to -inf so they can neither be predicted nor take probability.

    The weight matrix has a row per class from the start (as in BeGin), so a new class turns on
    a row instead of adding parameters. Each `observe_labels` call (one per task) is also kept
    as a row of `observed_per_call`, for BeGin's `get_observed_labels(tid)`; `accumulate`
    (BeGin's `accum`, False under Task-IL: the trainer sets it) says whether task tid's row
    means the classes observed up to it or its own.
    `project=False`: the input already holds one logit per class (a backbone whose last
    layer is the classifier, CGLB's); only the mask is applied.
    """

    def __init__(self, in_dim: int, num_classes: int, project: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, num_classes) if project else nn.Identity()
        self.register_buffer("observed", torch.zeros(num_classes, dtype=torch.bool))
        self.register_buffer("observed_per_call", torch.zeros(0, num_classes, dtype=torch.bool))
        self.accumulate = True

    def observe_labels(self, labels: torch.Tensor) -> None:
        """Turn on the classes present in `labels` (entries < 0 are hidden labels, ignored)."""
        labels = labels[labels >= 0]
        new = torch.zeros_like(self.observed)
        new[labels.unique().to(self.observed.device)] = True
        self.observed |= new
        self.observed_per_call = torch.cat([self.observed_per_call, new.unsqueeze(0)])

    def get_observed_labels(self, tid: int | None = None) -> torch.Tensor:
        """BeGin's: the mask of the observed classes, or with `tid` that of task tid (its own
        classes under Task-IL, else the classes observed up to it)."""
        if tid is None or tid < 0:
            return self.observed
        if self.accumulate:
            return self.observed_per_call[: tid + 1].any(0)
        return self.observed_per_call[tid]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # the per-call rows grow with every task: take the saved count before loading (a
        # state saved before the rows existed has none)
        none = self.observed_per_call.new_zeros(0, self.observed.numel())
        saved = state_dict.setdefault(prefix + "observed_per_call", none)
        self.observed_per_call = self.observed_per_call.new_zeros(saved.shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def allowed(self, task_masks: torch.Tensor | None = None) -> torch.Tensor:
        # Before any class is observed (the untrained model's row) every class is allowed.
        allowed = self.observed if bool(self.observed.any()) else torch.ones_like(self.observed)
        if task_masks is None:
            return allowed
        # An item of a task none of whose classes is observed yet (a future task, predicted
        # for FWT) is still predicted among its task's classes, never outside them.
        allowed = allowed & task_masks
        return torch.where(allowed.any(-1, keepdim=True), allowed, task_masks)

    def forward(self, h: torch.Tensor, task_masks: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.linear(h)
        return logits.masked_fill(~self.allowed(task_masks), float("-inf"))

    def observed_logits(
        self, h: torch.Tensor, task_masks: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Raw logits of the classes the model can currently predict (MAS's output). With
        `task_masks` (Task-IL) an item can predict only its task's classes: the logits of the
        other observed classes are zeroed, so they add nothing to a norm or its gradient (as
        BeGin's Task-IL MAS, whose output holds constants there)."""
        logits = self.linear(h)
        if task_masks is not None:
            logits = logits * self.allowed(task_masks)
        return logits[:, self.allowed()]


class ObservedClassifier(nn.Module):
    """An embedding network followed by an ObservedClassHead, for every level.

    Subclasses build `self.head` and define `embed(*inputs)` (a graph and its features, plus
    the pairs for links); the head's bookkeeping is written here once. Task masks go by
    keyword, since the inputs differ per level.
    """

    head: ObservedClassHead

    def embed(self, *inputs: object) -> torch.Tensor:
        """One vector per item (node, pair or graph)."""
        raise NotImplementedError

    def observe_labels(self, labels: torch.Tensor) -> None:
        self.head.observe_labels(labels)

    def get_observed_labels(self, tid: int | None = None) -> torch.Tensor:
        """BeGin's: the observed-class mask, or task `tid`'s (see ObservedClassHead)."""
        return self.head.get_observed_labels(tid)

    @property
    def classifier(self) -> ObservedClassHead:
        """BeGin's name for the head (`model.classifier.observed`)."""
        return self.head

    def bforward(
        self, blocks: list, feat: torch.Tensor, task_masks: torch.Tensor | None = None
    ) -> torch.Tensor:
        """BeGin's forward over sampled blocks (node models; `forward` takes blocks too)."""
        return self(blocks, feat, task_masks=task_masks)

    def forward(self, *inputs: object, task_masks: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.embed(*inputs), task_masks)

    def observed_logits(
        self, *inputs: object, task_masks: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Raw logits of the classes the model can currently predict (MAS's output); under
        Task-IL (`task_masks`) only each item's task's classes count."""
        return self.head.observed_logits(self.embed(*inputs), task_masks)
