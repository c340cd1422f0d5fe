"""cgl against BeGin 0.4, seed by seed, on BeGin's benchmark presets (Cora, Citeseer).

Runs `python src/main.py experiment=begin_<dataset>_<scenario> method=M seed=S` (one thread,
`sparse_max_density=0`: BeGin's dense first layer and so its summation order) per method,
scenario and seed, and puts each next to BeGin's own run of the same construction, read from
`--begin DIR/<method>_<scenario>_s<seed>.json` (written by a driver of BeGin's
`run_benchmark.py` outside this project, with keys `AP`, `epochs_per_task`, `cpu_seconds`).
Prints one Markdown row per run: AP of both, epochs per task of both, CPU seconds of both;
`--page docs/results/begin-comparison.md` also writes them as the site's results page.

    python bench/compare_begin.py --begin ../begin-results --data-dir data \\
        --methods ewc lwf twp --scenarios classil taskil --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_methods import run_main  # bench/ is the script's folder, first on sys.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--begin", type=Path, required=True, help="BeGin's result files")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--methods", nargs="+", default=["ewc", "lwf", "twp"])
    parser.add_argument("--scenarios", nargs="+", default=["classil", "taskil"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--density", default="0", help="sparse_max_density (0: dense, BeGin's)")
    parser.add_argument("--page", type=Path, help="also write the table as this docs page")
    options = parser.parse_args()
    columns = ["method", "scenario", "seed", "AP cgl", "AP BeGin", "epochs cgl", "epochs BeGin"]
    columns += ["CPU s cgl", "CPU s BeGin"]
    table = ["| " + " | ".join(columns) + " |", "|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(table))
    for method in options.methods:
        for scenario in options.scenarios:
            for seed in options.seeds:
                begin = json.loads(
                    (options.begin / f"{method}_{scenario}_s{seed}.json").read_text()
                )
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
                epochs = "/".join(map(str, results["timings"]["epochs"]))
                table.append(
                    f"| {method} | {scenario} | {seed} | {results['summary']['AP']:.4f} "
                    f"| {begin['AP']:.4f} | {epochs} "
                    f"| {'/'.join(map(str, begin['epochs_per_task']))} | {cpu:.1f} "
                    f"| {begin['cpu_seconds']:.1f} |"
                )
                print(table[-1], flush=True)
    if options.page:
        from cgl.output.results_page import write_page

        intro = (
            f"{options.dataset}, BeGin's presets (`experiment=begin_{options.dataset}_*`), "
            f"`sparse_max_density={options.density}`, one thread; BeGin 0.4's runs read from "
            f"`{options.begin}`. CPU seconds: whole processes.\n\n"
        )
        write_page(options.page, "cgl against BeGin 0.4, seed by seed", intro + "\n".join(table))


if __name__ == "__main__":
    main()
