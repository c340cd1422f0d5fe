"""Benchmark: one 4-job sweep (2 seeds x 2 lamb) through Hydra's basic launcher, one job after
the other, and through joblib with 2 workers (figures, not pass/fail).

    python bench/bench_launchers.py [--repeats 3] [--workers 2] [--basic-threads N] [override ...]

Each repeat runs the whole command line twice, basic then joblib, in fresh sweep directories,
and times the process from start to exit (start-up, imports and every job included). Prints
the median wall time of each, their ratio, and the largest difference between the two
launchers' accuracy and validation matrices. By default the basic launcher's job uses as many
torch threads as each joblib job gets (cores / workers), so that both compute the same
numbers bit for bit and the ratio measures the parallelism alone; `--basic-threads 0` leaves
torch's default (all cores), whose results differ in the last bits, and after hundreds of
epochs visibly. Extra overrides replace the defaults below, e.g. `epochs=300`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cgl.runtime.launchers import available_cores

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["seed=0,1", "lamb=1,10"]
#: A mid-sized job (~17 s on an idle core; a Cora run takes ~45 s): fixed epochs, so every job
#: does the same work. The parallel sweep pays ~5 s that the sequential one does not (its
#: workers start Python and import torch after the launching process has), so shorter jobs
#: show less of the speed-up: with epochs=200 (~8 s a job) it was 1.45x.
JOB = [
    "level=nc", "scenario=classil", "logger=none", "progress=false", "epochs=400",
    "patience=1000", "dataset.loader.nodes.num_nodes=1000", "model.nc.hidden=128",
]  # fmt: skip


def sweep(sweep_dir: Path, launcher: list[str], overrides: list[str]) -> float:
    """Run the sweep as a user would; return its wall-clock seconds."""
    command = [sys.executable, str(ROOT / "src" / "main.py"), *JOB, *overrides, "-m", *SWEEP]
    start = time.perf_counter()
    subprocess.run(
        [*command, *launcher, f"hydra.sweep.dir={sweep_dir}"], check=True, capture_output=True
    )
    return time.perf_counter() - start


def matrices(sweep_dir: Path) -> dict[str, tuple[np.ndarray, int]]:
    """Per job: its test and validation matrices, and the torch threads it used."""
    found = {}
    for path in sorted(sweep_dir.glob("*/results.json")):
        result = json.loads(path.read_text())
        assert result["status"] == "completed", path
        rows = np.concatenate([np.asarray(result["matrices"][s], float) for s in ("val", "test")])
        found[path.parent.name] = (rows, result["threads"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--basic-threads", type=int, default=None)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    share = max(1, available_cores() // args.workers)
    basic_threads = share if args.basic_threads is None else args.basic_threads
    launchers = {
        "basic": [f"threads={basic_threads}"] if basic_threads else [],
        f"joblib ({args.workers} workers)": [
            "hydra/launcher=joblib",
            f"hydra.launcher.n_jobs={args.workers}",
        ],
    }
    seconds: dict[str, list[float]] = {name: [] for name in launchers}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):  # basic and joblib in turn, so drift hits both
            for name, launcher in launchers.items():
                sweep_dir = Path(tmp) / f"{repeat}-{name.split()[0]}"
                seconds[name].append(sweep(sweep_dir, launcher, args.overrides))
                print(f"{name:<22} run {repeat + 1}: {seconds[name][-1]:6.1f} s", flush=True)
        basic, joblib = (matrices(Path(tmp) / f"0-{name}") for name in ("basic", "joblib"))
    assert sorted(basic) == sorted(joblib) == ["0", "1", "2", "3"]
    gap = max(float(np.max(np.abs(basic[j][0] - joblib[j][0]))) for j in basic)
    threads = {
        name: {t for _, t in runs.values()} for name, runs in (("basic", basic), ("joblib", joblib))
    }
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    print("\n4-job sweep (2 seeds x 2 lamb), whole command, median wall seconds:")
    for name, median in medians.items():
        print(f"  {name:<22} {median:6.1f} s")
    first, second = medians.values()
    print(f"  speed-up                {first / second:6.2f}x")
    print(
        f"  matrices: largest difference {gap:.2e} (torch threads per job: basic "
        f"{sorted(threads['basic'])}, joblib {sorted(threads['joblib'])})"
    )


if __name__ == "__main__":
    main()
