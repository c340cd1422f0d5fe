"""Per configuration: mean and std accuracy matrix over seeds and the forgetting matrix, as
CSV and as one annotated heatmap PNG (SPEC §4: rows "after task i", columns "task j").

Heatmaps are blitted: per matrix size, one figure is laid out and its axes, ticks and
colour bars rendered once; each configuration then redraws only its cells, numbers and title
on that background. A sweep of thousands of runs has hundreds of configurations, and the
static parts are most of the cost of a full matplotlib draw.
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from cgl.metrics import FORGETTING_LABEL, forgetting_matrix

from .files import save_pixels, slug, write_csv

CONFIGS_PER_WORKER = 25


@dataclass(frozen=True)
class ConfigMatrices:
    """A configuration's test matrices over its completed seeds (N x (N+1); F is N x N)."""

    config: str
    metric: str
    seeds: int
    mean: np.ndarray
    std: np.ndarray  # NaN with a single seed
    forgetting: np.ndarray  # forgetting_matrix(mean): F[i, j] = M[i, j] - M[j, j], i >= j


def config_matrices(runs: pd.DataFrame) -> list[ConfigMatrices]:
    """Stack the completed runs' test matrices per configuration."""
    result = []
    for (config, metric), group in runs[runs["ok"]].groupby(["config", "metric"], sort=True):
        stack = np.stack(group["test_matrix"].to_list())
        std = stack.std(axis=0, ddof=1) if len(stack) > 1 else np.full(stack.shape[1:], np.nan)
        mean = stack.mean(axis=0)
        result.append(
            ConfigMatrices(config, metric, len(stack), mean, std, forgetting_matrix(mean))
        )
    return result


def matrix_frame(matrix: np.ndarray) -> pd.DataFrame:
    """Rows "after task i", columns "task j" (and "all" for the N+1-th column)."""
    rows, cols = matrix.shape
    columns = [f"task {j}" for j in range(rows)] + ["all"] * (cols - rows)
    return pd.DataFrame(matrix, index=[f"after task {i}" for i in range(rows)], columns=columns)


class HeatmapCanvas:
    """A two-panel figure for N tasks (accuracy mean ± std | forgetting), blitted per config."""

    def __init__(self, num_tasks: int) -> None:
        n = num_tasks
        self.figure = Figure(figsize=(3.0 + 0.8 * (2 * n + 1), 2.0 + 0.7 * n), layout="constrained")
        FigureCanvasAgg(self.figure)
        acc_ax, fgt_ax = self.figure.subplots(1, 2, width_ratios=[n + 1, n])
        self.acc = acc_ax.imshow(
            np.zeros((n, n + 1)), vmin=0, vmax=1, cmap="viridis", animated=True
        )
        # red where forgotten: forgetting_matrix is negative there (AF's sign)
        self.fgt = fgt_ax.imshow(np.zeros((n, n)), vmin=-1, vmax=1, cmap="RdBu", animated=True)
        self.figure.colorbar(self.acc, ax=acc_ax, shrink=0.8)
        self.figure.colorbar(self.fgt, ax=fgt_ax, shrink=0.8, label=FORGETTING_LABEL)
        self.acc_text = self._grid(acc_ax, n, n + 1)
        self.fgt_text = self._grid(fgt_ax, n, n)
        for ax, title, cols in ((acc_ax, "test metric", n + 1), (fgt_ax, "forgetting", n)):
            ax.set_title(title, fontsize=10)
            ax.set_xticks(range(cols), [*map(str, range(n)), "all"][:cols])
            ax.set_yticks(range(n), [str(i) for i in range(n)])
            ax.set_xlabel("evaluated on task")
            ax.set_ylabel("after training task")
        self.title = self.figure.suptitle("configuration\nmetric", fontsize=10, animated=True)
        self.figure.canvas.draw()  # lays out and renders everything not animated
        self.figure.set_layout_engine("none")
        self.background = self.figure.canvas.copy_from_bbox(self.figure.bbox)
        self.dynamic = [self.acc, self.fgt, *self.acc_text.flat, *self.fgt_text.flat, self.title]

    @staticmethod
    def _grid(ax: Axes, rows: int, cols: int) -> np.ndarray:
        return np.array(
            [
                [
                    ax.text(j, i, "", ha="center", va="center", fontsize=8, animated=True)
                    for j in range(cols)
                ]
                for i in range(rows)
            ]
        )

    def draw(self, m: ConfigMatrices, path: Path) -> Path:
        """Restore the static background, draw this configuration's parts on it, save."""
        canvas = self.figure.canvas
        canvas.restore_region(self.background)
        self.acc.set_data(m.mean)
        self.fgt.set_data(m.forgetting)
        _annotate(self.acc_text, self.acc, m.mean, m.std)
        _annotate(self.fgt_text, self.fgt, m.forgetting, np.full_like(m.forgetting, np.nan))
        self.title.set_text(f"{m.config}\n{m.metric}, mean ± std over {m.seeds} seed(s)")
        for artist in self.dynamic:
            self.figure.draw_artist(artist)
        return save_pixels(path, np.asarray(canvas.buffer_rgba()))


def _annotate(texts: np.ndarray, image: AxesImage, mean: np.ndarray, std: np.ndarray) -> None:
    """Write each cell's value (± std when known), white on dark cells, black on light ones."""
    red, green, blue, _ = image.cmap(image.norm(mean)).transpose(2, 0, 1)
    dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
    for (i, j), text in np.ndenumerate(texts):
        label = "" if np.isnan(mean[i, j]) else f"{mean[i, j]:.2f}"
        text.set_text(label if np.isnan(std[i, j]) else f"{label}\n±{std[i, j]:.2f}")
        text.set_color("white" if dark[i, j] else "black")


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
    canvases: dict[int, HeatmapCanvas] = {}
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
            canvases[n] = HeatmapCanvas(n)
        written.append(canvases[n].draw(m, folder / "heatmap.png"))
    return written
