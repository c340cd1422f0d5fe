"""Each method's CPU per epoch against bare's on the same graph (whole processes, one thread).

Per method: one run capped at `--epochs` epochs per task and one at 1 epoch, neither stopping
early (patience past the cap); (CPU(E) - CPU(1)) / ((E - 1) x tasks) is the cost of an epoch
(training step + validation) with the method's penalty, distillation or projection, free of
start-up and of the passes after each task, which the 1-epoch run pays too. Runs alternate
method by method over `--repeats`; each method's median over the repeats (with the smallest
and largest) and the ratio of the medians to bare's are printed. Methods run with their
defaults (the paper's settings, not BeGin's presets).

    python bench/bench_methods.py --dataset cora --data-dir data --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
#: every method with a cost per step beyond bare's (ER-GNN: node level only)
METHODS = ["bare", "mas", "ewc", "lwf", "twp", "gem", "replay", "ergnn"]


def run_main(args: list[str]) -> tuple[dict, float]:
    """results.json of one `src/main.py` process (one thread, no W&B) and its CPU seconds
    (user + system, with what it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [sys.executable, str(REPO / "src" / "main.py"), *args, f"hydra.run.dir={out}"],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"run failed: {' '.join(args)}\n{done.stderr[-2000:]}")
        results = json.loads((Path(out) / "results.json").read_text())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return results, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def child_cpu(args: list[str]) -> float:
    """CPU seconds of one run."""
    return run_main(args)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--scenario", default="classil")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--epochs", type=int, default=41)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--page", type=Path, help="also write the table as this docs page")
    options = parser.parse_args()
    common = [
        f"dataset={options.dataset}", f"scenario={options.scenario}", "logger=none",
        "progress=false", f"data_dir={options.data_dir}", "patience=100000",
        f"num_tasks={options.tasks}",
    ]  # fmt: skip
    per_epoch: dict[str, list[float]] = {m: [] for m in options.methods}
    for _ in range(options.repeats):
        for method in options.methods:
            long = child_cpu([*common, f"method={method}", f"epochs={options.epochs}"])
            short = child_cpu([*common, f"method={method}", "epochs=1"])
            per_epoch[method].append((long - short) / ((options.epochs - 1) * options.tasks))
    bare = statistics.median(per_epoch.get("bare", [float("nan")]))
    table = pd.DataFrame(
        {
            "method": list(per_epoch),
            "CPU ms per epoch": [statistics.median(v) * 1e3 for v in per_epoch.values()],
            "min": [min(v) * 1e3 for v in per_epoch.values()],
            "max": [max(v) * 1e3 for v in per_epoch.values()],
        }
    )
    table["x bare"] = table["CPU ms per epoch"] / (bare * 1e3)
    print(f"{options.dataset} {options.scenario}: CPU ms per epoch, median of {options.repeats}")
    print(table.to_string(index=False, float_format="{:.2f}".format))
    if options.page:
        from cgl.output.results_page import write_page
        from cgl.reports.render import markdown

        cells = table.assign(
            **{col: table[col].map("{:.1f}".format) for col in ("CPU ms per epoch", "min", "max")},
            **{"x bare": table["x bare"].map("{:.2f}".format)},
        )
        intro = (
            f"{options.dataset} {options.scenario}, {options.tasks} tasks: CPU per epoch "
            f"(training step and validation), median of {options.repeats}, one thread.\n\n"
        )
        write_page(options.page, "Methods: CPU per epoch", intro + markdown(cells))


if __name__ == "__main__":
    main()
