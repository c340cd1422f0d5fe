"""How results are shown to people: a metric's printed name, and which cells of a result
matrix are scores at all.

results.json keeps every number a scenario computed; these rules only decide what the
console summary, the W&B heatmap and the reports' tables and figures show, so that all three
say the same thing.
"""

from __future__ import annotations

import numpy as np

#: Printed names of the config's metric names; `hits@K` is spelt Hits@K.
METRIC_NAMES = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "rocauc": "ROC-AUC",
    "hits": "Hits",
}

#: Scenarios whose model cannot answer for a task it has not learnt yet. Under Class-IL a
#: later task's classes have no output before they are observed, so M[i, j] for j > i is 0 by
#: construction, not a score. (Task-IL predicts among the task's own classes and Domain- and
#: Time-IL share one label space: there the cells above the diagonal are real scores.)
UNDEFINED_BEFORE_LEARNT = frozenset({"classil"})


def metric_label(metric: str) -> str:
    """`accuracy` -> accuracy, `rocauc` -> ROC-AUC, `hits@50` -> Hits@50."""
    base, at, k = metric.partition("@")
    return METRIC_NAMES.get(base, base) + at + k


def summary_label(key: str, metric: str) -> str:
    """`AP (accuracy)`, `AF (ROC-AUC)`: a summary key named after what it averages, so that
    AP never reads as "average precision"."""
    return f"{key} ({metric_label(metric)})"


def scored_cells(num_rows: int, num_tasks: int, scenario: str) -> np.ndarray:
    """[num_rows, num_tasks + 1] bool: True where M[i, j] is a score. The last column (all
    tasks seen so far) always is; task j > i is not under scenarios that cannot predict it."""
    cells = np.ones((num_rows, num_tasks + 1), dtype=bool)
    if scenario in UNDEFINED_BEFORE_LEARNT:
        rows, cols = np.indices((num_rows, num_tasks))
        cells[:, :num_tasks] = cols <= rows
    return cells


def shown_matrix(matrix: np.ndarray, scenario: str, num_tasks: int | None = None) -> np.ndarray:
    """The N x (N+1) matrix as it should be shown: NaN (blank) where a cell is no score and in
    rows not finished yet. `matrix` may have fewer rows than N (an interrupted or diverged
    run); N is `num_tasks`, else the matrix's column count - 1."""
    matrix = np.asarray(matrix, dtype=float).reshape(-1, np.shape(matrix)[-1])
    n = matrix.shape[1] - 1 if num_tasks is None else num_tasks
    shown = np.full((n, n + 1), np.nan)
    rows = min(matrix.shape[0], n)
    shown[:rows] = np.where(np.isfinite(matrix[:rows]), matrix[:rows], np.nan)
    return np.where(scored_cells(n, n, scenario), shown, np.nan)
