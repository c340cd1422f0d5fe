"""Benchmark: wall and CPU time of the reports on thousands of runs (figures, not pass/fail).

    python bench/bench_reports.py [--runs 3000] [--template path/to/results.json]

Fabricates `--runs` results.json files in a temp dir from one real results.json (without
--template, a tiny real run is made first): 4 node-level scenarios x 10 seeds x (bare, joint
and MAS at as many lamb values as fill the count), with jittered matrices and summaries
recomputed by cgl.evaluation.metrics; 1 % of the runs are marked failed. Then times loading them and
writing every report.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cgl.evaluation.metrics import summarize
from cgl.reports.load import load_sweep
from cgl.reports.make_tables import write_report

ROOT = Path(__file__).resolve().parents[1]

SCENARIOS = ("classil", "taskil", "domainil", "timeil")
SEEDS = 10


def real_template(workdir: Path) -> Path:
    """One tiny real run of the command line; its results.json is the template."""
    run_dir = workdir / "template"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "src" / "main.py"),
            "level=nc",
            "logger=none",
            "progress=false",
            "epochs=2",
            "dataset.loader.nodes.num_nodes=300",
            f"hydra.run.dir={run_dir}",
        ],
        check=True,
        capture_output=True,
    )
    return run_dir / "results.json"


def jobs(runs: int) -> list[tuple[str, str, float, int]]:
    """(scenario, method, lamb, seed) for `runs` runs: bare, joint and MAS over a lamb grid."""
    per_seed = max(runs // (len(SCENARIOS) * SEEDS), 3)
    lambs = np.logspace(-2, 4, per_seed - 2)
    methods = [("bare", 1.0), ("joint", 1.0)] + [("mas", float(lamb)) for lamb in lambs]
    grid = [(s, m, lamb, seed) for s in SCENARIOS for m, lamb in methods for seed in range(SEEDS)]
    return grid[:runs]


def fabricate(template: dict, job: tuple[str, str, float, int], failed: bool, rng) -> dict:
    """A copy of the template as if run with another scenario, method, lamb and seed."""
    scenario, method, lamb, seed = job
    run = copy.deepcopy(template)
    run["choices"] |= {"scenario": scenario, "method": method}
    run["hyperparameters"] |= {"lamb": lamb, "seed": seed}
    run["seed"] = seed
    swept = [f"lamb={lamb}"] if method == "mas" else []
    run["overrides"] = [f"scenario={scenario}", f"method={method}", *swept, f"seed={seed}"]
    matrices = {}
    for split in ("val", "test"):
        clean = np.array(template["matrices"][split], dtype=float)
        matrices[split] = np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1)
    run["matrices"] = {split: m.tolist() for split, m in matrices.items()}
    summary = summarize(matrices["test"], matrices["val"], template["init"]["test"])
    run["summary"] = summary
    if failed:
        run |= {"status": "failed", "message": "RuntimeError: fabricated failure"}
        run["matrices"] = {split: m[:1].tolist() for split, m in matrices.items()}
        run["summary"] = {key: None for key in summary}
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--template", type=Path, help="a results.json (default: a tiny real run)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="heatmap processes")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        template = json.loads((args.template or real_template(workdir)).read_text())
        start = time.perf_counter()
        sweep_dir = workdir / "multirun"
        grid = jobs(args.runs)
        for number, job in enumerate(grid):
            job_dir = sweep_dir / str(number)
            job_dir.mkdir(parents=True)
            run = fabricate(template, job, failed=number % 100 == 99, rng=rng)
            (job_dir / "results.json").write_text(json.dumps(run))
        print(f"fabricated {len(grid)} results.json in {time.perf_counter() - start:.1f}s")

        sweep, load_wall, load_cpu = timed(load_sweep, [sweep_dir])
        written, report_wall, report_cpu = timed(write_report, sweep, workdir / "out", args.jobs)
        configs = sweep.runs["config"].nunique()
        files = sum(len(paths) for paths in written.values())
        per_run = 1e3 * load_wall / len(sweep.runs)
        print(
            f"load:   {load_wall:6.2f}s wall {load_cpu:6.2f}s CPU  {len(sweep.runs)} runs "
            f"({per_run:.2f} ms/run)"
        )
        print(
            f"report: {report_wall:6.2f}s wall {report_cpu:6.2f}s CPU  {configs} configurations, "
            f"{files} files"
        )
        print(f"total:  {load_wall + report_wall:6.2f}s wall {load_cpu + report_cpu:6.2f}s CPU")


def timed(function, *args):
    """(result, wall seconds, CPU seconds of this process and its finished children): on a
    shared machine the CPU time is the steadier figure."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = function(*args)
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


if __name__ == "__main__":
    main()
