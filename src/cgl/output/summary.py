"""The few lines a run ends with: its test matrix as a small table, AP / AF / FWT named after
the metric they average, and where the results went."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cgl.output.display import UNDEFINED_BEFORE_LEARNT, metric_label, shown_matrix, summary_label

#: Larger matrices are shown with their middle rows and columns elided ("...").
MAX_SHOWN = 12
ELIDED = "..."


def matrix_table(matrix: np.ndarray, scenario: str, num_tasks: int) -> str:
    """The finished rows of a test matrix as text: a row per task trained, a column per task
    evaluated and `all` (every task seen so far); cells that are no score left blank.

    Laid out by hand rather than with pandas' `to_string`: importing pandas costs every run
    about 0.8 s of start-up (3 % of a Cora run) for a table of at most 13 x 13 cells.
    """
    finished = min(np.shape(matrix)[0], num_tasks)
    shown = shown_matrix(matrix, scenario, num_tasks)[:finished]
    names = [*(f"task {j}" for j in range(num_tasks)), "all"]
    columns = _elided(list(range(len(names))))
    table = [["", *(ELIDED if j is None else names[j] for j in columns)]]
    for i in _elided(list(range(finished))):
        if i is None:
            table.append([ELIDED] * len(table[0]))
        else:
            cells = (ELIDED if j is None else _score(shown[i, j]) for j in columns)
            table.append([f"after task {i}", *cells])
    widths = [max(len(row[k]) for row in table) for k in range(len(table[0]))]
    return "\n".join(
        "  ".join([row[0].ljust(widths[0]), *map(str.rjust, row[1:], widths[1:])]).rstrip()
        for row in table
    )


def _elided(indices: list[int]) -> list[int | None]:
    """The first and last MAX_SHOWN / 2 indices, None between them, where there are more."""
    if len(indices) <= MAX_SHOWN:
        return indices
    half = MAX_SHOWN // 2
    return [*indices[:half], None, *indices[-half:]]


def _score(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.3f}"


def run_summary(payload: dict[str, Any], path: Path) -> str:
    """What a run prints last (the payload is results.json's content; a run stopped before
    its scenario existed has no metric, task count or rows)."""
    metric, n = payload.get("metric") or "metric", payload.get("num_tasks")
    scenario = payload["choices"]["scenario"]
    rows = np.asarray(payload["matrices"]["test"], dtype=float)
    matrix = rows.reshape(-1, n + 1) if n else np.empty((0, 1))
    seconds = payload.get("timings", {}).get("total", float("nan"))
    blank = " (blank: not learnt yet, so no score)" if scenario in UNDEFINED_BEFORE_LEARNT else ""
    lines = [
        f"{payload['status']} after {matrix.shape[0]} of {n or '?'} tasks in {seconds:.1f} s: "
        f"{payload.get('trainer_class') or 'no trainer'} on {payload['choices']['dataset']}"
    ]
    if matrix.shape[0]:
        lines.append(
            f"test {metric_label(metric)} after training task i (rows) on task j (columns){blank}:"
        )
        lines.append(matrix_table(matrix, scenario, n))
    summary = payload.get("summary", {})
    lines.append(
        "   ".join(
            f"{summary_label(key, metric)} {_number(summary.get(key))}"
            for key in ("AP", "AF", "FWT")
        )
    )
    lines += [
        "  AP: mean over tasks after the last one. AF: mean change of a task from right after",
        "  learning it to the end (negative: forgotten). FWT: a task's score before it is learnt",
        "  minus the untrained model's.",
    ]
    lines.append(f"results: {path}")
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.4f}"
