"""Every method with a strength against the baselines on each dataset x level x scenario:
bare (plain fine-tuning, the lower bound) and joint (retraining on everything, the upper
bound), with each method (MAS, EWC, LwF, TWP, ...) at every strength `lamb` it ran with.

A method at a lamb is the best (mean validation AP) of its configurations with that lamb, so
a sweep over lamb and, say, lr still gives one point per lamb; bare and joint (no strength)
are selected like in the paper table. Output: a table and, per scenario, AP and AF against
lamb, one line per method; the figure says when bare or joint has no completed run, rather
than leaving the line out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cgl.output.display import summary_label
from cgl.reports.aggregate import BLOCK, ROW, block_metric, select_best
from cgl.reports.files import save_png, slug, write_csv, write_text
from cgl.reports.load import format_value
from cgl.reports.render import (
    DASH,
    block_title,
    by_metric,
    counts,
    markdown,
    mean_std,
    metric_header,
    row_labels,
)

BOUNDS = {"bare": "tab:red", "joint": "tab:green"}
#: line colours of the methods with a strength, in name order (none the bounds' red or green)
METHOD_COLOURS = ("tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
BOUND_ROLES = {"bare": "fine-tuning, the lower bound", "joint": "the upper bound"}
COLUMNS = [*ROW, "metric", "lamb", "config", "seeds", "AP_mean", "AP_std", "AF_mean", "AF_std"]
PANELS = {"AP": "after the last task", "AF": "change since learnt, < 0: forgotten"}


def with_strength(configs: pd.DataFrame) -> pd.Series:
    """The configurations of methods that have a strength (a lamb), not the bounds."""
    return configs["lamb"].notna() & ~configs["method"].isin(list(BOUNDS))


def baselines_table(configs: pd.DataFrame) -> pd.DataFrame:
    """Per scenario with runs of a method that has a strength: bare and joint (lamb empty)
    and each such method at each lamb."""
    strong = with_strength(configs)
    blocks = configs.loc[strong, list(BLOCK)].drop_duplicates()
    scoped = configs.merge(blocks, on=list(BLOCK))
    methods = select_best(scoped[with_strength(scoped)], [*ROW, "lamb"])
    bounds = select_best(scoped[scoped["method"].isin(list(BOUNDS))], ROW).assign(lamb=np.nan)
    table = pd.concat([bounds, methods], ignore_index=True)[COLUMNS]
    table["metric"] = block_metric(table, configs)
    return table.sort_values([*ROW, "lamb"], ignore_index=True)


def plot_scenario(rows: pd.DataFrame, title: str) -> Figure:
    """AP and AF (in %) of each method against lamb, bare and joint as dashed lines with
    ±std bands."""
    figure = Figure(figsize=(9, 3.9))
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.2, top=0.8, wspace=0.25)
    FigureCanvasAgg(figure)
    strong = rows[with_strength(rows)]
    metric = str(rows["metric"].dropna().iloc[0]) if rows["metric"].notna().any() else "metric"
    for ax, key in zip(figure.subplots(1, 2), PANELS, strict=True):
        for number, (method, part) in enumerate(strong.groupby("method", sort=True)):
            mean, std = part[f"{key}_mean"] * 100, part[f"{key}_std"].fillna(0) * 100
            colour = METHOD_COLOURS[number % len(METHOD_COLOURS)]
            ax.errorbar(
                part["lamb"], mean, yerr=std, marker="o", capsize=3, label=method, color=colour
            )
        for method, colour in BOUNDS.items():
            _bound(ax, rows[rows["method"] == method], key, method, colour)
        _lamb_axis(ax, strong["lamb"])
        ax.set_title(f"{summary_label(key, metric)}: {PANELS[key]}", fontsize=10)
        ax.set_ylabel(f"{key} (%)")
        ax.grid(alpha=0.3)
    figure.axes[0].legend(fontsize=8)
    figure.suptitle(title, fontsize=11)
    missing = [
        f"no completed {method} run ({BOUND_ROLES[method]})"
        for method in BOUNDS
        if rows.loc[rows["method"] == method, "AP_mean"].isna().all()
    ]
    if missing:
        figure.text(0.5, 0.02, "; ".join(missing), ha="center", fontsize=9, color="tab:gray")
    return figure


def _bound(ax: Axes, row: pd.DataFrame, metric: str, label: str, colour: str) -> None:
    """A baseline as a horizontal line and a ±std band (nothing when it has no result)."""
    if row.empty or row[f"{metric}_mean"].isna().all():
        return
    mean = row[f"{metric}_mean"].iloc[0] * 100
    std = row[f"{metric}_std"].fillna(0).iloc[0] * 100
    ax.axhline(mean, color=colour, linestyle="--", label=label)
    ax.axhspan(mean - std, mean + std, color=colour, alpha=0.15)


def _lamb_axis(ax: Axes, lambs: pd.Series) -> None:
    """Log scale for lamb (symlog when lamb = 0, no penalty, is among the values); a linear
    axis ticked at the value itself when only one lamb was run."""
    values = sorted(lambs.dropna().unique())
    positive = [v for v in values if v > 0]
    if len(values) <= 1:
        ax.set_xticks(values, [format_value(v) for v in values])
    elif values[0] <= 0:
        ax.set_xscale("symlog", linthresh=positive[0] if positive else 1.0)
    else:
        ax.set_xscale("log")
    ax.set_xlabel("lamb (the method's strength)")


def write_baselines(configs: pd.DataFrame, out: Path) -> list[Path]:
    """baselines.csv, baselines.md and baselines/<scenario>.png; nothing without runs of a
    method that has a strength."""
    table = baselines_table(configs)
    if table.empty:
        return []
    tables = []
    for metric, part in by_metric(table):
        cells = row_labels(part).assign(
            lamb=part["lamb"].map(lambda v: DASH if pd.isna(v) else format_value(v)),
            **{
                metric_header(key, metric): mean_std(part[f"{key}_mean"], part[f"{key}_std"])
                for key in ("AP", "AF")
            },
            Seeds=counts(part["seeds"]),
        )
        tables.append(markdown(cells))
    written = [
        write_csv(out / "baselines.csv", table),
        write_text(out / "baselines.md", "\n".join(tables)),
    ]
    for block, rows in table.groupby(list(BLOCK), sort=True):
        name = "/".join(map(str, block))
        title = f"{block_title(*block)}: each method at each lamb against bare and joint"
        figure = plot_scenario(rows, title)
        written.append(save_png(out / "baselines" / f"{slug(name)}.png", figure))
    return written
