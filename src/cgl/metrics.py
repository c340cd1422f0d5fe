"""Continual-learning metrics as pure functions of the result matrices (SPEC §4).

`matrix` is N x (N+1): row i after training tasks 0..i, column j the metric on task j, the
last column the metric over every task seen so far. Only the first N columns are used here.
"""

from __future__ import annotations

import numpy as np


def _tasks(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    return matrix[:, : matrix.shape[0]]


def average_performance(matrix: np.ndarray) -> float:
    """AP: mean over tasks of the metric after the last task."""
    return float(np.mean(_tasks(matrix)[-1]))


def average_forgetting(matrix: np.ndarray) -> float:
    """AF: mean over tasks but the last of (final metric - metric right after learning it).

    Negative means forgetting, as in the BeGin paper's tables. NaN for a single task.
    """
    m = _tasks(matrix)
    n = m.shape[0]
    if n < 2:
        return float("nan")
    return float(np.sum(m[-1, : n - 1] - np.diag(m)[: n - 1]) / (n - 1))


def intransigence(matrix: np.ndarray, joint_matrix: np.ndarray) -> float:
    """INT: mean over tasks of (joint training's metric - this method's) right after each task."""
    return float(np.mean(np.diag(_tasks(joint_matrix)) - np.diag(_tasks(matrix))))


def forward_transfer(matrix: np.ndarray, initial: np.ndarray) -> float:
    """FWT: mean over tasks 1..N-1 of (metric before training on the task - untrained model's)."""
    m = _tasks(matrix)
    n = m.shape[0]
    if n < 2:
        return float("nan")
    initial = np.asarray(initial, dtype=float)[:n]
    before = np.array([m[j - 1, j] for j in range(1, n)])
    return float(np.sum(before - initial[1:]) / (n - 1))


def forgetting_matrix(matrix: np.ndarray) -> np.ndarray:
    """F[i, j] = M[j, j] - M[i, j] for i >= j (how much of task j is lost by row i); NaN above."""
    m = _tasks(matrix)
    n = m.shape[0]
    lower = np.tril(np.ones((n, n), dtype=bool))
    return np.where(lower, np.diag(m)[None, :] - m, np.nan)


def summarize(test: np.ndarray, val: np.ndarray, init_test: np.ndarray | None) -> dict[str, float]:
    """The per-run summary written to results.json."""
    return {
        "AP": average_performance(test),
        "AF": average_forgetting(test),
        "FWT": forward_transfer(test, init_test) if init_test is not None else float("nan"),
        "val_AP": average_performance(val),
    }
