"""Evaluation metrics with one interface: `metric(preds, gts) -> float`.

`preds` is whatever the level predicts per item (a class id for accuracy, a score for
ROC-AUC, a score per candidate for Hits@K); `gts` the ground truth the scenario loader keeps
(a class id, or 1 for a positive and 0 for a negative).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch

Evaluator = Callable[[torch.Tensor, torch.Tensor], float]


def accuracy(preds: torch.Tensor, gts: torch.Tensor) -> float:
    """Share of items whose predicted class equals the true class (0 for no items)."""
    if gts.numel() == 0:
        return float("nan")
    return float((preds.view(-1).cpu() == gts.view(-1).cpu()).float().mean())


def balanced_accuracy(preds: torch.Tensor, gts: torch.Tensor) -> float:
    """The mean over the classes present in `gts` of each class's accuracy (CGLB's metric,
    NCGL/Backbones/utils.py `accuracy` with cls_balance): a task's minority class counts as
    much as its majority class (NaN for no items)."""
    if gts.numel() == 0:
        return float("nan")
    gts = gts.view(-1).cpu()
    correct = (preds.view(-1).cpu() == gts).to(torch.float64)
    classes, group = torch.unique(gts, return_inverse=True)
    hits = torch.zeros(classes.numel(), dtype=torch.float64).index_add_(0, group, correct)
    return float((hits / torch.bincount(group)).mean())


def average_ranks(scores: torch.Tensor) -> torch.Tensor:
    """1-based ranks of `scores` in ascending order; tied scores share their average rank."""
    ordered, order = torch.sort(scores)
    _, group, counts = torch.unique_consecutive(ordered, return_inverse=True, return_counts=True)
    last = torch.cumsum(counts, dim=0).to(torch.float64)
    ranks = torch.empty_like(scores, dtype=torch.float64)
    ranks[order] = (last - (counts - 1) / 2.0)[group]
    return ranks


def rocauc(preds: torch.Tensor, gts: torch.Tensor) -> float:
    """Area under the ROC curve of scores `preds` for binary `gts` (1 positive, 0 negative).

    The Mann-Whitney form with average ranks, so a positive tied with a negative counts one
    half; NaN when either class is missing (the curve is undefined). For multi-label data
    ([items, labels] scores and truths, -1 unknown) it is the mean over the labels whose known
    entries hold both classes, as OGB scores ogbn-proteins.
    """
    if gts.dim() == 2:
        per_label = [
            binary_rocauc(preds[:, j][gts[:, j] >= 0], gts[:, j][gts[:, j] >= 0])
            for j in range(gts.shape[1])
        ]
        defined = [value for value in per_label if not math.isnan(value)]
        return sum(defined) / len(defined) if defined else float("nan")
    return binary_rocauc(preds, gts)


def binary_rocauc(preds: torch.Tensor, gts: torch.Tensor) -> float:
    """ROC-AUC of one binary label; see `rocauc`."""
    scores = preds.view(-1).detach().cpu().to(torch.float64)
    positive = gts.view(-1).cpu() == 1
    num_pos, num_neg = int(positive.sum()), int((~positive).sum())
    if num_pos == 0 or num_neg == 0:
        return float("nan")
    rank_sum = float(average_ranks(scores)[positive].sum())
    return (rank_sum - num_pos * (num_pos + 1) / 2.0) / (num_pos * num_neg)


def hits_at_k(preds: torch.Tensor, gts: torch.Tensor, k: int) -> float:
    """Share of positive candidates (`gts` 1) scored strictly above the k-th highest negative
    (`gts` 0), OGB's rule: a positive tied with that negative does not count. With fewer than
    k negatives every positive counts (1.0); NaN without positives.
    """
    scores = preds.view(-1).detach().cpu().to(torch.float64)
    positive = gts.view(-1).cpu() == 1
    if not bool(positive.any()):
        return float("nan")
    negatives = scores[~positive]
    if negatives.numel() < k:
        return 1.0
    threshold = torch.topk(negatives, k).values[-1]
    return float((scores[positive] > threshold).to(torch.float64).mean())


EVALUATORS: dict[str, Evaluator] = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "rocauc": rocauc,
}
#: Evaluators named `name@K` in configs (e.g. `hits@50`): K is passed as `k`.
EVALUATORS_AT_K = {"hits": hits_at_k}


#: Metrics that rank a score per item against a binary label: a scenario scored by one of
#: them is binary (both classes known from the start, predictions are scores).
SCORE_METRICS = ("rocauc",)


def get_evaluator(name: str) -> Evaluator:
    """Look an evaluator up by its config name (`accuracy`, `balanced_accuracy`, `rocauc`,
    `hits@K`)."""
    if name in EVALUATORS:
        return EVALUATORS[name]
    base, _, k = name.partition("@")
    if base in EVALUATORS_AT_K and k.isdigit() and int(k) > 0:
        return functools.partial(EVALUATORS_AT_K[base], k=int(k))
    known = sorted(EVALUATORS) + [f"{base}@K" for base in EVALUATORS_AT_K]
    raise ValueError(f"unknown metric '{name}'; known: {known} (K a positive integer)")
