"""Events shared by the classifying trainers (NC, LC, GC): which classes the model may
predict, and what evaluation hands the metric.

Under a binary scenario (a score metric such as ROC-AUC, e.g. BeGin's Bitcoin Time-IL or
ogbg-molhiv) both classes are known from the start and evaluation predicts a score per item
instead of a class. A multi-label scenario (ogbn-proteins) has one logit per label, all of
them live from the start, and evaluation hands the metric those logits as scores. Level
trainers supply `train_labels`; their `inference` returns the logits as `preds` (BeGin's
meaning) and `predictionFormat` turns them into what the metric scores.
"""

from __future__ import annotations

from typing import Any

import torch


class ClassificationEvents:
    """Put before a level trainer in the bases."""

    @property
    def multilabel(self) -> bool:
        return bool(getattr(self.scenario, "multilabel", False))

    def train_labels(self, dataset: Any) -> torch.Tensor:
        """Visible labels of the task's training items."""
        raise NotImplementedError

    def processBeforeTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ):
        """Turn on the classes the model may predict: those of the task's training items, or
        every class of a binary or multi-label scenario (so every item gets finite scores)."""
        if self.binary or self.multilabel:
            curr_model.observe_labels(torch.arange(self.scenario.num_classes))
        else:
            curr_model.observe_labels(self.train_labels(curr_dataset))

    def predictionFormat(self, results: dict) -> torch.Tensor:
        """Class ids for accuracy; under a binary scenario the score of class 1 (its logit
        margin over class 0), which is what ROC-AUC ranks; multi-label: a logit per label."""
        logits = results["preds"]
        if self.multilabel:
            return logits
        if self.binary:
            return logits[:, 1] - logits[:, 0]
        return logits.argmax(-1)
