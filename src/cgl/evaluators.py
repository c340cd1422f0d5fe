"""Evaluation metrics with one interface: `metric(preds, gts) -> float`.

`preds` is whatever the level predicts per item (a class id for accuracy, a score for
ROC-AUC, a score per candidate for Hits@K); `gts` the ground truth the scenario loader keeps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Evaluator = Callable[[torch.Tensor, torch.Tensor], float]


def accuracy(preds: torch.Tensor, gts: torch.Tensor) -> float:
    """Share of items whose predicted class equals the true class (0 for no items)."""
    if gts.numel() == 0:
        return float("nan")
    return float((preds.view(-1).cpu() == gts.view(-1).cpu()).float().mean())


EVALUATORS: dict[str, Evaluator] = {"accuracy": accuracy}


def get_evaluator(name: str) -> Evaluator:
    """Look an evaluator up by its config name."""
    try:
        return EVALUATORS[name]
    except KeyError:
        raise ValueError(f"unknown metric '{name}'; known: {sorted(EVALUATORS)}") from None
