"""The paper table: per dataset x level x scenario x model x method, BeGin's selection (best
mean validation AP), then test AP, AF, INT and FWT as mean ± std over seeds.

INT needs joint training: each run of a selected configuration is paired with the run of the
selected joint configuration that has the same dataset, level, scenario, model and seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cgl.evaluation.metrics import intransigence
from cgl.output.display import metric_label
from cgl.reports.aggregate import BLOCK, ROW, block_metric, select_best, selected_values
from cgl.reports.files import write_csv, write_text
from cgl.reports.load import Sweep
from cgl.reports.render import (
    DASH,
    best_mask,
    by_metric,
    counts,
    latex,
    markdown,
    mean_std,
    metric_header,
    row_labels,
)

# What "better" means per column: AF is negative when a method forgets, INT is a gap to joint.
BETTER = {"AP": "max", "AF": "max", "INT": "min", "FWT": "max"}
NOTE = (
    "Mean ± std (sample std) over seeds, in % of the metric each header names. "
    "Hyperparameters: the configuration with the best mean validation AP among those whose "
    "runs all completed (BeGin's protocol). INT pairs every run with the joint run of the same "
    "model and seed. Bold: the best value per column within a dataset, level, scenario and "
    "model where another method shows a worse one; joint, the upper bound, is not bolded."
)


def intransigence_by_seed(runs: pd.DataFrame, selected: pd.DataFrame) -> pd.DataFrame:
    """INT of each completed run of a selected configuration against the selected joint
    configuration's completed run with the same dataset, level, scenario, model and seed."""
    done = runs[runs["ok"]]
    chosen = done[done["config"].isin(selected["config"])]
    joint_configs = selected.loc[selected["method"] == "joint", "config"]
    joint = done[done["config"].isin(joint_configs)][[*BLOCK, "seed", "test_matrix"]]
    pairs = chosen.merge(joint, on=[*BLOCK, "seed"], suffixes=("", "_joint"))
    pairs["INT"] = [
        intransigence(own, ref) if own.shape == ref.shape else np.nan
        for own, ref in zip(pairs["test_matrix"], pairs["test_matrix_joint"], strict=True)
    ]
    return pairs[["config", "seed", "INT"]]


def paper_table(sweep: Sweep, configs: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset x level x scenario x model x method: the selected configuration, the
    choice made, its seeds, and mean and std of AP, AF, INT and FWT."""
    selected = select_best(configs, ROW)
    per_seed = intransigence_by_seed(sweep.runs, selected)
    ints = per_seed.groupby("config")["INT"].agg(INT_mean="mean", INT_std="std")
    table = selected.join(ints, on="config")
    table["metric"] = block_metric(table, configs)
    table["selected"] = selected_values(configs, table, ROW, sweep.swept)
    stats = [f"{metric}_{stat}" for metric in BETTER for stat in ("mean", "std")]
    return table[[*ROW, "metric", "config", "selected", "seeds", *stats, "val_AP_mean"]]


def table_cells(table: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of one metric as display strings, and which of them are bold."""
    headers = {key: metric_header(key, metric) for key in BETTER}
    cells = row_labels(table).assign(
        **{headers[key]: mean_std(table[f"{key}_mean"], table[f"{key}_std"]) for key in BETTER},
        Seeds=counts(table["seeds"]),
        Selected=table["selected"]
        .replace("", DASH)
        .where(table["config"].notna(), "none completed"),
    )
    bold = best_mask(
        table,
        {f"{key}_mean": how for key, how in BETTER.items()},
        within=BLOCK,
        exclude=table["method"] == "joint",
    )
    bold.columns = list(headers.values())
    return cells, bold


def write_table(table: pd.DataFrame, out: Path) -> list[Path]:
    """table.csv (full precision), table.md and table.tex (booktabs): one table per metric."""
    parts = [(metric, part, *table_cells(part, metric)) for metric, part in by_metric(table)]
    several = len(parts) > 1
    md, tex = [], []
    for metric, part, cells, bold in parts:
        blocks = part[list(BLOCK)].astype(str).agg("/".join, axis=1)
        heading = f"Test {metric_label(metric)}"
        md.append((f"**{heading}**\n\n" if several else "") + markdown(cells, bold))
        tex.append(latex(cells, bold, f"{heading}. {NOTE}", blocks))
    return [
        write_csv(out / "table.csv", table),
        write_text(out / "table.md", "\n".join(md) + "\n" + NOTE + "\n"),
        write_text(out / "table.tex", "\n".join(tex)),
    ]
