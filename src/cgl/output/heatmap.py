"""The result-matrix heatmap, drawn the same way for a W&B run and for the reports.

Two panels: the test metric M[i, j] (task j after training tasks 0..i, with the "all" column
of every task seen so far) and the forgetting matrix F[i, j] = M[i, j] - M[j, j]. Every cell
shows its value; a cell that is no score (see cgl.output.display) or whose row has not run is blank,
and a line separates the tasks already learnt from those to come.

The figure is blitted: per number of tasks one figure is laid out and its axes, ticks and
colour bars rendered once; each matrix then redraws only its cells, numbers and titles. A
report of a large sweep draws hundreds of heatmaps, and the static parts are most of the cost.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D

from cgl.evaluation import metrics
from cgl.output.display import metric_label

#: The forgetting panel draws cgl.evaluation.metrics.forgetting_matrix with its own sign (AF's:
#: negative where task j was lost), red where forgotten.
FORGETTING_LABEL = metrics.FORGETTING_LABEL
FORGETTING_COLOURS = "RdBu"


class MatrixHeatmap:
    """A two-panel figure for N tasks, laid out once and redrawn per matrix."""

    def __init__(self, num_tasks: int) -> None:
        n = num_tasks
        self.figure = Figure(figsize=(3.4 + 0.8 * (2 * n + 1), 2.4 + 0.7 * n), layout="constrained")
        FigureCanvasAgg(self.figure)
        metric_ax, forget_ax = self.figure.subplots(1, 2, width_ratios=[n + 1, n])
        self.metric = metric_ax.imshow(
            np.zeros((n, n + 1)), vmin=0, vmax=1, cmap="viridis", animated=True
        )
        self.forgetting = forget_ax.imshow(
            np.zeros((n, n)), vmin=-1, vmax=1, cmap=FORGETTING_COLOURS, animated=True
        )
        self.figure.colorbar(self.metric, ax=metric_ax, shrink=0.8)
        self.figure.colorbar(self.forgetting, ax=forget_ax, shrink=0.8, label=FORGETTING_LABEL)
        self.metric_text = _cell_texts(metric_ax, n, n + 1)
        self.forgetting_text = _cell_texts(forget_ax, n, n)
        # lines over the cells are animated too, or the cells would be drawn over them
        lines = [metric_ax.axvline(n - 0.5, color="white", linewidth=3, animated=True)]
        for ax, cols in ((metric_ax, n + 1), (forget_ax, n)):
            ax.set_xticks(range(cols), [*map(str, range(n)), "all"][:cols])
            ax.set_yticks(range(n), [str(i) for i in range(n)])
            ax.set_ylabel("after training task")
            lines.append(_learnt_boundary(ax, n))
        metric_ax.set_xlabel("evaluated on task (all: every task seen)")
        forget_ax.set_xlabel("evaluated on task")
        self.titles = [
            ax.set_title("placeholder", fontsize=10, animated=True) for ax in (metric_ax, forget_ax)
        ]
        self.title = self.figure.suptitle("title\nsubtitle", fontsize=10, animated=True)
        self.figure.canvas.draw()  # lays out and renders everything not animated
        self.figure.set_layout_engine("none")
        self.background = self.figure.canvas.copy_from_bbox(self.figure.bbox)
        self.dynamic = [
            self.metric,
            self.forgetting,
            *lines,
            *self.metric_text.flat,
            *self.forgetting_text.flat,
            *self.titles,
            self.title,
        ]

    def render(
        self,
        title: str,
        metric: str,
        mean: np.ndarray,
        forgetting: np.ndarray,
        std: np.ndarray | None = None,
    ) -> np.ndarray:
        """The figure as an H x W x 4 RGBA array (a view: copy or save it before the next
        call). `mean` and `std` are N x (N+1) with NaN for blank cells, `forgetting` N x N."""
        canvas = self.figure.canvas
        canvas.restore_region(self.background)
        self.metric.set_data(mean)
        self.forgetting.set_data(forgetting)
        _annotate(self.metric_text, self.metric, mean, std)
        _annotate(self.forgetting_text, self.forgetting, forgetting, None)
        name = metric_label(metric)
        self.titles[0].set_text(f"test {name}" + (" (mean ± std)" if std is not None else ""))
        self.titles[1].set_text(f"forgetting ({name})")
        self.title.set_text(title)
        for artist in self.dynamic:
            self.figure.draw_artist(artist)
        return np.asarray(canvas.buffer_rgba())


def _cell_texts(ax: Axes, rows: int, cols: int) -> np.ndarray:
    return np.array(
        [
            [
                ax.text(j, i, "", ha="center", va="center", fontsize=8, animated=True)
                for j in range(cols)
            ]
            for i in range(rows)
        ]
    )


def _learnt_boundary(ax: Axes, n: int) -> Line2D:
    """A staircase right of the diagonal: left of it the tasks learnt so far."""
    xs = np.repeat(np.arange(n) + 0.5, 2)
    ys = np.concatenate([[-0.5], np.repeat(np.arange(n - 1) + 0.5, 2), [n - 0.5]])
    (line,) = ax.plot(xs, ys, color="black", linewidth=1.5, animated=True)
    ax.set_xlim(-0.5, ax.get_images()[0].get_array().shape[1] - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    return line


def _annotate(
    texts: np.ndarray, image: AxesImage, mean: np.ndarray, std: np.ndarray | None
) -> None:
    """Each cell's value (± std when known), white on dark cells, black on light ones; blank
    where the value is NaN."""
    red, green, blue, _ = image.cmap(image.norm(mean)).transpose(2, 0, 1)
    dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
    for (i, j), text in np.ndenumerate(texts):
        value = mean[i, j]
        label = "" if np.isnan(value) else f"{value:.2f}"
        if label and std is not None and not np.isnan(std[i, j]):
            label += f"\n±{std[i, j]:.2f}"
        text.set_text(label)
        text.set_color("white" if dark[i, j] else "black")
