"""Continual-learning metrics (AP, AF, INT, FWT, the forgetting matrix) as pure functions of the
result matrices, so that a run, the reports and a test compute them the same way.

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
    """AF: mean over tasks but the last of (final metric - metric right after learning it),
    i.e. the mean of the forgetting matrix's last row over those tasks.

    Negative means forgetting, as in the BeGin paper's and CGLB's tables. NaN for one task.
    """
    n = _tasks(matrix).shape[0]
    if n < 2:
        return float("nan")
    return float(np.mean(forgetting_matrix(matrix)[-1, : n - 1]))


def intransigence(matrix: np.ndarray, joint_matrix: np.ndarray) -> float:
    """INT: mean over tasks of (joint training's metric - this method's) right after each task."""
    return float(np.mean(np.diag(_tasks(joint_matrix)) - np.diag(_tasks(matrix))))


def forward_transfer(matrix: np.ndarray, initial: np.ndarray) -> float:
    """FWT: mean over tasks 1..N-1 of (metric before training on the task - untrained model's).

    Both terms must be scored among the same classes; a scenario where they cannot be (Class-IL:
    a task's classes cannot be predicted before it is trained) reports FWT as undefined
    (`ScenarioLoader.forward_transfer_defined`), by passing no initial row to `summarize`.
    """
    m = _tasks(matrix)
    n = m.shape[0]
    if n < 2:
        return float("nan")
    initial = np.asarray(initial, dtype=float)[:n]
    before = np.array([m[j - 1, j] for j in range(1, n)])
    return float(np.sum(before - initial[1:]) / (n - 1))


#: How to label a drawing of `forgetting_matrix`: its sign is AF's (one sign everywhere).
FORGETTING_LABEL = "change since learned (negative = forgotten)"


def forgetting_matrix(matrix: np.ndarray) -> np.ndarray:
    """F[i, j] = M[i, j] - M[j, j] for i >= j: how task j's metric changed from right after
    learning it to row i; NaN above the diagonal.

    The sign is AF's: negative means forgotten, and AF is the mean of F's last row over the
    tasks before the last. Tables, results.json and heatmaps all show this one sign.
    """
    m = _tasks(matrix)
    n = m.shape[0]
    lower = np.tril(np.ones((n, n), dtype=bool))
    return np.where(lower, m - np.diag(m)[None, :], np.nan)


def summarize(test: np.ndarray, val: np.ndarray, init_test: np.ndarray | None) -> dict[str, float]:
    """The per-run summary written to results.json; FWT is NaN without an initial row."""
    return {
        "AP": average_performance(test),
        "AF": average_forgetting(test),
        "FWT": forward_transfer(test, init_test) if init_test is not None else float("nan"),
        "val_AP": average_performance(val),
    }
