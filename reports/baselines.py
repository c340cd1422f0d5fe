"""MAS against its baselines on each dataset x level x scenario: bare (plain fine-tuning, the
lower bound) and joint (retraining on everything, the upper bound), with MAS at every lamb.

MAS at a lamb is the best (mean validation AP) of its configurations with that lamb, so a
sweep over lamb and, say, lr still gives one point per lamb; bare and joint are selected
like in the paper table. Output: a table and, per scenario, AP and AF against lamb.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .aggregate import BLOCK, ROW, select_best
from .files import save_png, slug, write_csv, write_text
from .load import format_value
from .render import DASH, counts, markdown, mean_std, row_labels

BOUNDS = {"bare": "tab:red", "joint": "tab:green"}
COLUMNS = [*ROW, "lamb", "config", "seeds", "AP_mean", "AP_std", "AF_mean", "AF_std"]


def baselines_table(configs: pd.DataFrame) -> pd.DataFrame:
    """Per scenario with MAS runs: bare and joint (lamb empty) and MAS at each lamb."""
    with_mas = configs.loc[configs["method"] == "mas", list(BLOCK)].drop_duplicates()
    scoped = configs.merge(with_mas, on=list(BLOCK))
    mas = select_best(scoped[scoped["method"] == "mas"], [*ROW, "lamb"])
    bounds = select_best(scoped[scoped["method"].isin(list(BOUNDS))], ROW).assign(lamb=np.nan)
    table = pd.concat([bounds, mas], ignore_index=True)[COLUMNS]
    return table.sort_values([*ROW, "lamb"], ignore_index=True)


def plot_scenario(rows: pd.DataFrame, title: str) -> Figure:
    """AP and AF (in %) of MAS against lamb, bare and joint as dashed lines with ±std bands."""
    figure = Figure(figsize=(9, 3.6))
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.88, wspace=0.25)
    FigureCanvasAgg(figure)
    mas = rows[rows["method"] == "mas"]
    for ax, metric in zip(figure.subplots(1, 2), ("AP", "AF"), strict=True):
        mean, std = mas[f"{metric}_mean"] * 100, mas[f"{metric}_std"].fillna(0) * 100
        ax.errorbar(mas["lamb"], mean, yerr=std, marker="o", capsize=3, label="mas")
        for method, colour in BOUNDS.items():
            _bound(ax, rows[rows["method"] == method], metric, method, colour)
        _lamb_axis(ax, mas["lamb"])
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3)
    figure.axes[0].legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
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
    """Log scale for lamb; symlog when lamb = 0 (no penalty) is among the values."""
    positive = lambs[lambs > 0]
    if (lambs <= 0).any():
        ax.set_xscale("symlog", linthresh=positive.min() if len(positive) else 1.0)
    else:
        ax.set_xscale("log")
    ax.set_xlabel("lamb")


def write_baselines(configs: pd.DataFrame, out: Path) -> list[Path]:
    """baselines.csv, baselines.md and baselines/<scenario>.png; nothing without MAS runs."""
    table = baselines_table(configs)
    if table.empty:
        return []
    cells = row_labels(table).assign(
        lamb=table["lamb"].map(lambda v: DASH if pd.isna(v) else format_value(v)),
        **{"AP (%)": mean_std(table["AP_mean"], table["AP_std"])},
        **{"AF (%)": mean_std(table["AF_mean"], table["AF_std"])},
        Seeds=counts(table["seeds"]),
    )
    written = [
        write_csv(out / "baselines.csv", table),
        write_text(out / "baselines.md", markdown(cells)),
    ]
    for block, rows in table.groupby(list(BLOCK), sort=True):
        name = "/".join(map(str, block))
        written.append(save_png(out / "baselines" / f"{slug(name)}.png", plot_scenario(rows, name)))
    return written
