"""Per configuration: mean and std accuracy matrix over seeds and the forgetting matrix, as
CSV and as one annotated heatmap PNG (rows "after task i", columns "task j", as a run prints
them).

Cells that are no score (a task not learnt yet under Class-IL, see cgl.output.display) are blank in
the CSVs and the heatmaps; the heatmap itself is cgl.output.heatmap's, the one W&B runs log.
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cgl.evaluation.metrics import forgetting_matrix
from cgl.output.display import shown_matrix
from cgl.output.heatmap import MatrixHeatmap
from cgl.reports.files import save_pixels, slug, write_csv

CONFIGS_PER_WORKER = 25


@dataclass(frozen=True)
class ConfigMatrices:
    """A configuration's test matrices over its completed seeds (N x (N+1); F is N x N), NaN
    where a cell is no score."""

    config: str
    metric: str
    seeds: int
    mean: np.ndarray
    std: np.ndarray  # NaN with a single seed
    forgetting: np.ndarray  # forgetting_matrix(mean): F[i, j] = M[i, j] - M[j, j], i >= j


def config_matrices(runs: pd.DataFrame) -> list[ConfigMatrices]:
    """Stack the completed runs' test matrices per configuration."""
    result = []
    done = runs[runs["ok"]]
    for (config, metric, scenario), group in done.groupby(["config", "metric", "scenario"]):
        stack = np.stack(group["test_matrix"].to_list())
        std = stack.std(axis=0, ddof=1) if len(stack) > 1 else np.full(stack.shape[1:], np.nan)
        mean = shown_matrix(stack.mean(axis=0), scenario)
        std = shown_matrix(std, scenario)
        result.append(
            ConfigMatrices(config, metric, len(stack), mean, std, forgetting_matrix(mean))
        )
    return result


def matrix_frame(matrix: np.ndarray) -> pd.DataFrame:
    """Rows "after task i", columns "task j" (and "all" for the N+1-th column)."""
    rows, cols = matrix.shape
    columns = [f"task {j}" for j in range(rows)] + ["all"] * (cols - rows)
    return pd.DataFrame(matrix, index=[f"after task {i}" for i in range(rows)], columns=columns)


def write_matrices(runs: pd.DataFrame, out: Path, jobs: int = 1) -> list[Path]:
    """For each configuration: accuracy_mean.csv, accuracy_std.csv, forgetting.csv, heatmap.png
    under out/<configuration>/. Up to `jobs` forked processes share the configurations (one
    per CONFIGS_PER_WORKER of them: a worker costs more than a few heatmaps)."""
    matrices = config_matrices(runs)
    workers = min(jobs, math.ceil(len(matrices) / CONFIGS_PER_WORKER))
    if workers <= 1:
        return _write(matrices, out)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        shares = [matrices[k::workers] for k in range(workers)]
        return [path for part in pool.map(_write, shares, [out] * workers) for path in part]


def _write(matrices: list[ConfigMatrices], out: Path) -> list[Path]:
    canvases: dict[int, MatrixHeatmap] = {}
    written = []
    for m in matrices:
        folder = out / slug(m.config)
        written += [
            write_csv(folder / "accuracy_mean.csv", matrix_frame(m.mean), index=True),
            write_csv(folder / "accuracy_std.csv", matrix_frame(m.std), index=True),
            write_csv(folder / "forgetting.csv", matrix_frame(m.forgetting), index=True),
        ]
        n = m.mean.shape[0]
        if n not in canvases:
            canvases[n] = MatrixHeatmap(n)
        title = f"{m.config}\nmean over {m.seeds} seed{'s' if m.seeds > 1 else ''}"
        std = m.std if m.seeds > 1 else None
        pixels = canvases[n].render(title, m.metric, m.mean, m.forgetting, std)
        written.append(save_pixels(folder / "heatmap.png", pixels))
    return written
