"""ROC-AUC and Hits@K against hand-checked values (ties included) and a brute-force definition."""

from __future__ import annotations

import math

import pytest
import torch

from cgl.evaluation.evaluators import average_ranks, get_evaluator, hits_at_k, rocauc


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values)


def brute_force_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of (positive, negative) pairs ordered correctly, a tie counting one half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
    return float(wins.mean())


def test_rocauc_by_hand():
    # pairs (pos, neg): (0.35, 0.1) right, (0.35, 0.4) wrong, (0.8, *) right -> 3 of 4
    assert rocauc(t(0.1, 0.4, 0.35, 0.8), t(0, 0, 1, 1)) == pytest.approx(0.75)


def test_rocauc_counts_a_tie_as_one_half():
    # pos 0.5 ties both negatives (1/2 + 1/2), pos 0.9 beats both (2) -> 3 of 4 pairs
    assert rocauc(t(0.5, 0.5, 0.5, 0.9), t(0, 1, 0, 1)) == pytest.approx(0.75)
    assert rocauc(t(1, 1, 1, 1), t(0, 1, 0, 1)) == pytest.approx(0.5)
    assert average_ranks(t(3, 1, 3, 2)).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_rocauc_perfect_reversed_and_undefined():
    assert rocauc(t(0.1, 0.2, 0.8, 0.9), t(0, 0, 1, 1)) == 1.0
    assert rocauc(t(0.1, 0.2, 0.8, 0.9), t(1, 1, 0, 0)) == 0.0
    assert math.isnan(rocauc(t(0.1, 0.2), t(1, 1)))


def test_multilabel_rocauc_averages_the_defined_labels_and_skips_unknown_entries():
    scores = torch.tensor([[0.1, 0.9, 0.3], [0.4, 0.8, 0.2], [0.35, 0.7, 0.9], [0.8, 0.6, 0.5]])
    truth = torch.tensor([[0, 1, 1], [0, 1, -1], [1, 1, 0], [1, 1, -1]])
    # label 0: the single-label case by hand above (0.75); label 1: one class only, skipped;
    # label 2: the unknown entries dropped, pos 0.3 vs neg 0.9 -> 0.0
    assert rocauc(scores, truth) == pytest.approx((0.75 + 0.0) / 2)
    assert math.isnan(rocauc(scores[:, 1:2], truth[:, 1:2]))


def test_rocauc_equals_pairwise_definition_with_many_ties():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 5, (300,), generator=gen).float()  # 5 values: ties everywhere
    labels = torch.randint(0, 2, (300,), generator=gen)
    assert rocauc(scores, labels) == pytest.approx(brute_force_auc(scores, labels))


def test_hits_at_k_by_hand_with_ogb_tie_rule():
    # negatives 0.9, 0.7, 0.7, 0.1; positives 0.95, 0.7, 0.8
    preds, gts = t(0.9, 0.95, 0.7, 0.7, 0.7, 0.8, 0.1), t(0, 1, 0, 0, 1, 1, 0)
    # K=2: 2nd-highest negative is 0.7; a positive must be strictly above it: 0.95 and 0.8,
    # not the positive tied at 0.7
    assert hits_at_k(preds, gts, k=2) == pytest.approx(2 / 3)
    assert hits_at_k(preds, gts, k=3) == pytest.approx(2 / 3)  # 3rd is 0.7 as well
    assert hits_at_k(preds, gts, k=1) == pytest.approx(1 / 3)  # only 0.95 beats 0.9
    assert hits_at_k(preds, gts, k=4) == pytest.approx(1.0)  # 4th is 0.1
    assert hits_at_k(preds, gts, k=5) == 1.0  # fewer than K negatives: every positive counts
    assert math.isnan(hits_at_k(t(0.1, 0.2), t(0, 0), k=1))


def test_names_resolve_to_the_evaluators():
    preds, gts = t(0.9, 0.95, 0.7, 0.7, 0.7, 0.8, 0.1), t(0, 1, 0, 0, 1, 1, 0)
    assert get_evaluator("hits@2")(preds, gts) == hits_at_k(preds, gts, k=2)
    assert get_evaluator("hits@1")(preds, gts) == hits_at_k(preds, gts, k=1)
    assert get_evaluator("rocauc")(preds, gts) == rocauc(preds, gts)
    for bad in ("hits@", "hits@0", "hits@x", "auc"):
        with pytest.raises(ValueError, match="unknown metric"):
            get_evaluator(bad)
