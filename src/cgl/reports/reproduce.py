"""Command line: python reports/reproduce.py multirun/ [more dirs ...] [--published CSV] [--out DIR]

Published numbers next to ours. For every row of the published table (`published.csv` beside
this module: a reference's setting, its AP and AF with their std where given, and the source)
whose setting the sweep ran, the configuration BeGin's model selection picks (best mean
validation AP among those whose runs all completed) is compared with it: the published mean,
ours as mean ± std over seeds, their difference in units of the larger of the two stds, and
`outside` where that exceeds --tolerance (default 1). Prints the table and writes
reproduction.md / .csv to --out.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

from cgl.reports.aggregate import configurations, select_best
from cgl.reports.files import write_csv, write_text
from cgl.reports.load import NoResultsError, Sweep, load_sweep
from cgl.reports.render import DASH, markdown, mean_std

#: What makes a published row's setting: the choices plus CGLB's inter-task-edges switch.
SETTING = ("dataset", "level", "scenario", "method", "protocol", "inter_task_edges")
METRICS = ("AP", "AF")
PUBLISHED = Path(__file__).resolve().parent / "published.csv"


def read_published(path: Path) -> pd.DataFrame:
    """The published table; `inter_task_edges` as booleans, missing numbers as NaN, and its
    numbers prefixed `pub_` so that they never collide with the sweep's columns."""
    table = pd.read_csv(path)
    table["inter_task_edges"] = table["inter_task_edges"].astype(str).str.lower() == "true"
    numbers = [*METRICS, *(f"{m}_std" for m in METRICS), "seeds"]
    return table.rename(columns={column: f"pub_{column}" for column in numbers})


def inter_task_edges(run: str) -> bool:
    """Whether the run kept edges between tasks, as its results.json records the plan (runs
    from before protocols existed kept them)."""
    with (Path(run) / "results.json").open(encoding="utf-8") as handle:
        return bool(json.load(handle).get("tasks", {}).get("inter_task_edges", True))


def selected_configurations(sweep: Sweep) -> pd.DataFrame:
    """Per setting, the configuration with the best mean validation AP (see aggregate)."""
    configs = configurations(sweep)
    done = sweep.runs[sweep.runs["ok"]].drop_duplicates("config").set_index("config")["run"]
    configs["inter_task_edges"] = (
        configs["config"]
        .map(done)
        .map(lambda run: inter_task_edges(run) if isinstance(run, str) else True)
    )
    return select_best(configs, SETTING)


def compare(published: pd.DataFrame, selected: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """One row per published row and metric it gives: both means and stds, the difference in
    units of the larger std, and the flag."""
    merged = published.merge(selected, on=list(SETTING), how="left")
    rows = []
    for _, row in merged.iterrows():
        for metric in METRICS:
            published, published_std = row[f"pub_{metric}"], row[f"pub_{metric}_std"]
            if pd.isna(published):
                continue
            ours, ours_std = row.get(f"{metric}_mean"), row.get(f"{metric}_std")
            sigma = max(_or_zero(published_std), _or_zero(ours_std))
            rows.append(
                {key: row[key] for key in ("reference", *SETTING)}
                | {"metric": metric, "published": published, "published_std": published_std}
                | {"ours": ours, "ours_std": ours_std, "seeds": row.get("seeds")}
                | {"diff_sigma": _in_sigmas(ours - published, sigma)}
                | {"config": row.get("config"), "source": row["source"]}
            )
    table = pd.DataFrame(rows)
    table["flag"] = [
        "no runs" if pd.isna(ours) else "outside" if abs(diff) > tolerance else "within"
        for ours, diff in zip(table["ours"], table["diff_sigma"], strict=True)
    ]
    return table


def _or_zero(value: float) -> float:
    return 0.0 if pd.isna(value) else float(value)


def _in_sigmas(diff: float, sigma: float) -> float:
    """`diff` in units of `sigma`; with no spread at all, 0 for equal values, else ±inf."""
    if pd.isna(diff):
        return math.nan
    if sigma > 0:
        return diff / sigma
    return 0.0 if diff == 0 else math.copysign(math.inf, diff)


def cells(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison as display strings (percentages, like the paper table)."""
    setting = table[["dataset", "scenario", "method", "protocol"]].astype(str).agg(" ".join, axis=1)
    edges = table["inter_task_edges"].map({True: "", False: " no inter-task edges"})
    ours = mean_std(table["ours"], table["ours_std"])
    seeds = table["seeds"].map(lambda n: "" if pd.isna(n) else f" ({int(n)} seeds)")
    return pd.DataFrame(
        {
            "Reference": table["reference"],
            "Setting": setting + edges,
            "Metric": table["metric"] + " (%)",
            "Published": mean_std(table["published"], table["published_std"]),
            "Ours": ours.where(ours == DASH, ours + seeds),
            "Diff / std": table["diff_sigma"].map(lambda d: DASH if pd.isna(d) else f"{d:+.2f}"),
            "Flag": table["flag"],
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep or run directories")
    parser.add_argument("--published", type=Path, default=PUBLISHED, help="published numbers")
    parser.add_argument("--out", type=Path, default=Path("reports/out"), help="output directory")
    parser.add_argument("--tolerance", type=float, default=1.0, help="flag beyond this many stds")
    args = parser.parse_args(argv)
    try:
        sweep = load_sweep(args.dirs)
    except NoResultsError as err:
        print(f"reproduce: error: {err}", file=sys.stderr)
        return 2
    table = compare(read_published(args.published), selected_configurations(sweep), args.tolerance)
    ran = table[table["flag"] != "no runs"]
    text = markdown(cells(ran)) if len(ran) else "No published setting was run in these sweeps.\n"
    write_csv(args.out / "reproduction.csv", table)
    write_text(args.out / "reproduction.md", text)
    print(text, end="")
    counts = ran["flag"].value_counts().to_dict()
    print(
        f"{len(ran)} comparisons: {counts.get('within', 0)} within, "
        f"{counts.get('outside', 0)} outside {args.tolerance:g} std -> {args.out}/reproduction.md"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
