"""cgl against BeGin 0.4, seed by seed, on BeGin's benchmark presets (Cora, Citeseer).

Runs `python src/main.py experiment=begin_<dataset>_<scenario> method=M seed=S` (one thread,
`sparse_max_density=0`: BeGin's dense first layer and so its summation order) per method,
scenario and seed, and puts each next to BeGin's own run of the same construction, read from
`--begin DIR/<method>_<scenario>_s<seed>.json` (written by a driver of BeGin's
`run_benchmark.py` outside this project, with keys `AP`, `AF`, `epochs_per_task`,
`cpu_seconds`). Every finished cgl run is appended to `--rows` (JSON lines) at once, so a
stopped comparison resumes where it stopped; the table (AP, AF, epochs per task and CPU
seconds of both, and whether the run is the same: AP to the 4th decimal and the same epochs)
is printed from that file, per method and scenario with the count of equal seeds, and
`--page docs/results/begin-comparison.md` writes it as the site's results page.

    python bench/compare_begin.py --begin ../begin-results --data-dir data \\
        --methods ewc lwf twp --scenarios classil taskil --seeds 0 1 2 3 4 \\
        --rows begin_comparison.jsonl --page docs/results/begin-comparison.md

AF is printed as cgl reports it (negative: forgotten); BeGin reports forgetting as a positive
number, shown here with cgl's sign.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from bench_methods import run_main  # bench/ is the script's folder, first on sys.path

from cgl.reports.render import markdown

KEY = ["dataset", "method", "scenario", "density", "seed"]


def measure(options: argparse.Namespace, method: str, scenario: str, seed: int) -> dict:
    """One cgl run next to BeGin's file for the same method, scenario and seed."""
    begin = json.loads((options.begin / f"{method}_{scenario}_s{seed}.json").read_text())
    results, cpu = run_main(
        [
            f"experiment=begin_{options.dataset}_{scenario}",
            f"method={method}",
            f"seed={seed}",
            f"sparse_max_density={options.density}",
            f"data_dir={options.data_dir}",
            "logger=none",
            "progress=false",
        ]
    )
    return {
        "dataset": options.dataset,
        "method": method,
        "scenario": scenario,
        "density": options.density,
        "seed": seed,
        "AP cgl": results["summary"]["AP"],
        "AP BeGin": begin["AP"],
        "AF cgl": results["summary"]["AF"],
        "AF BeGin": -begin["AF"],
        "epochs cgl": "/".join(map(str, results["timings"]["epochs"])),
        "epochs BeGin": "/".join(map(str, begin["epochs_per_task"])),
        "CPU s cgl": cpu,
        "CPU s BeGin": begin["cpu_seconds"],
    }


def table(rows: pd.DataFrame) -> str:
    """One Markdown table of the runs, then per method and scenario how many are the same."""
    rows = rows.sort_values(KEY).drop_duplicates(KEY, keep="last")
    same = (rows["AP cgl"] - rows["AP BeGin"]).abs().lt(5e-5) & rows["epochs cgl"].eq(
        rows["epochs BeGin"]
    )
    shown = rows.assign(same=same.map({True: "yes", False: "no"}))
    shown = shown.assign(ratio=shown["CPU s cgl"] / shown["CPU s BeGin"])
    counts = (
        shown.assign(same=same)
        .groupby(["method", "scenario", "density"])
        .agg(
            same=("same", "sum"),
            runs=("same", "size"),
            cpu_ratio=("ratio", "median"),
        )
        .reset_index()
    )
    counts["same"] = counts["same"].astype(str) + " of " + counts["runs"].astype(str)
    counts = counts.drop(columns="runs").rename(columns={"cpu_ratio": "median CPU cgl / BeGin"})
    formats = {column: "{:.4f}" for column in ("AP cgl", "AP BeGin", "AF cgl", "AF BeGin")}
    formats |= {"CPU s cgl": "{:.1f}", "CPU s BeGin": "{:.1f}", "ratio": "{:.2f}"}
    for column, spec in formats.items():
        shown[column] = shown[column].map(spec.format)
    counts["median CPU cgl / BeGin"] = counts["median CPU cgl / BeGin"].map("{:.2f}".format)
    return (
        markdown(counts.astype(str))
        + "\nPer run:\n\n"
        + markdown(shown.drop(columns=["dataset", "source"], errors="ignore").astype(str))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--begin", type=Path, required=True, help="BeGin's result files")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--methods", nargs="+", default=["ewc", "lwf", "twp"])
    parser.add_argument("--scenarios", nargs="+", default=["classil", "taskil"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--density", default="0", help="sparse_max_density (0: dense, BeGin's)")
    parser.add_argument("--rows", type=Path, default=Path("begin_comparison.jsonl"))
    parser.add_argument("--page", type=Path, help="also write the table as this docs page")
    parser.add_argument(
        "--no-run",
        action="store_true",
        help="only print (and --page) the rows of --rows as they are",
    )
    options = parser.parse_args()
    done = set()
    if options.rows.exists():
        for line in options.rows.read_text().splitlines():
            row = json.loads(line)
            done.add(tuple(row[key] for key in KEY))
    for method in options.methods:
        for scenario in options.scenarios:
            for seed in options.seeds:
                key = (options.dataset, method, scenario, options.density, seed)
                if key in done or options.no_run:
                    continue
                row = measure(options, method, scenario, seed)
                with options.rows.open("a") as sink:  # one line per run: a stop resumes
                    sink.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    rows = pd.DataFrame([json.loads(line) for line in options.rows.read_text().splitlines()])
    wanted = rows["method"].isin(options.methods) & rows["scenario"].isin(options.scenarios)
    text = table(rows[wanted & rows["dataset"].eq(options.dataset)])
    print(text)
    if options.page:
        from cgl.output.results_page import write_page

        intro = (
            f"{options.dataset}, BeGin's presets (`experiment=begin_{options.dataset}_*`), one "
            "thread; density: `sparse_max_density` (0: BeGin's dense first layer and summation "
            f"order). BeGin 0.4's runs read from `{options.begin}`. CPU seconds: whole "
            "processes. AF with cgl's sign (negative: forgotten). Same: AP to the 4th "
            "decimal and the same epochs per task.\n\n"
        )
        write_page(options.page, "cgl against BeGin 0.4, seed by seed", intro + text)


if __name__ == "__main__":
    main()
