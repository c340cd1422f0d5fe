"""Seeds -> statistics per configuration, and the BeGin model selection over configurations.

Only `ok` runs (completed; the newest per configuration and seed) enter a mean. A
configuration whose final run of some seed diverged or failed cannot be selected, so a
hyperparameter that sometimes breaks training never wins on its lucky seeds; unfinished
attempts (interrupted, killed, refused) are not outcomes and neither count nor block.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from cgl.reports.load import SUMMARY, Sweep, format_value

BLOCK = ("dataset", "level", "scenario", "model")  # what a paper compares methods within
ROW = (*BLOCK, "method")  # one row of the paper table


def configurations(sweep: Sweep) -> pd.DataFrame:
    """One row per configuration with a finished run: its key and metric name, its final
    runs (one per seed), how many completed (`seeds`), and the mean and std over those of
    AP, AF, FWT, val AP and run time."""
    runs = sweep.runs[sweep.runs["final"]]
    keys = runs.drop_duplicates("config").set_index("config")[[*sweep.key, "metric"]]
    counts = runs.groupby("config").agg(runs=("status", "size"), seeds=("ok", "sum"))
    stats = runs[runs["ok"]].groupby("config")[[*SUMMARY, "time_total"]].agg(["mean", "std"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    table = keys.join(counts).join(stats)
    table["complete"] = table["seeds"] == table["runs"]
    return table.reset_index()


def select_best(configs: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per group of `by`: the complete configuration with the highest mean validation AP.

    Every group gets a row; where no configuration is complete, its `config` is missing.
    Ties go to the configuration whose name sorts first, so the choice is reproducible.
    """
    by = list(by)
    eligible = configs[configs["complete"] & configs["val_AP_mean"].notna()]
    order = eligible.sort_values(
        [*by, "val_AP_mean", "config"], ascending=[True] * len(by) + [False, True]
    )
    best = order.drop_duplicates(by)
    groups = configs[by].drop_duplicates()
    return groups.merge(best, on=by, how="left").sort_values(by, ignore_index=True)


def selected_values(
    configs: pd.DataFrame, selected: pd.DataFrame, by: Sequence[str], swept: list[str]
) -> pd.Series:
    """Per selected row, the choice the selection made: "lamb=10, lr=0.01" for the swept keys
    that take several values within its group ("" when there was nothing to choose)."""
    by = list(by)
    varies = configs.groupby(by)[swept].nunique(dropna=False).gt(1)
    flags = selected[by].join(varies, on=by)[swept].to_dict("records")
    values = selected[swept].to_dict("records")
    text = [
        ", ".join(f"{key}={format_value(value[key])}" for key in swept if flag[key])
        for flag, value in zip(flags, values, strict=True)
    ]
    return pd.Series(text, index=selected.index, dtype=str)


def block_metric(table: pd.DataFrame, configs: pd.DataFrame) -> pd.Series:
    """Each row's metric, from any configuration of its dataset, level, scenario and model (one
    metric per block), so that a row with no completed configuration still has one."""
    metric_of = configs.dropna(subset=["metric"]).drop_duplicates(list(BLOCK))
    merged = table[list(BLOCK)].merge(metric_of[[*BLOCK, "metric"]], on=list(BLOCK), how="left")
    return pd.Series(merged["metric"].to_numpy(), index=table.index)
