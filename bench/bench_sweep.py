"""Whole-process wall and CPU time of the README's commands: the lamb sweep and the main job.

    python src/main.py level=lc scenario=timeil -m lamb=1,10,100    # the sweep (3 jobs)
    python src/main.py level=nc scenario=classil method=mas          # the main job

Each command runs as a user types it (W&B offline, the default logger), with its outputs sent
to a temporary directory, `--repeats` times, the commands in turn; printed are the medians of
wall seconds, user and system CPU seconds (the process and the children it waited for, as
/usr/bin/time counts them) and peak RSS. `--checkout DIR [DIR ...]` times those checkouts'
src/main.py with the same interpreter (e.g. the commit before a change, then this one),
interleaved run by run, with each one's CPU ratio to the first's, taken run by run.

    python bench/bench_sweep.py [--repeats 3] [--threads 1] [--checkout DIR [DIR ...]]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "sweep lc/timeil lamb=1,10,100": ["level=lc", "scenario=timeil", "-m", "lamb=1,10,100"],
    "main job nc/classil mas": ["level=nc", "scenario=classil", "method=mas"],
}


def timed(checkout: Path, args: list[str], threads: int) -> dict[str, float]:
    """One whole process: wall seconds, user and system CPU seconds, peak RSS in GiB."""
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true")
    env["OMP_NUM_THREADS"] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join([str(checkout / "src"), env.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory() as out:
        where = [f"hydra.run.dir={out}/run", f"hydra.sweep.dir={out}/sweep"]
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(checkout / "src" / "main.py"), *args, *where],
            cwd=out,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited with {proc.returncode}")
    return {
        "wall": wall,
        "user": usage.ru_utime,
        "sys": usage.ru_stime,
        "peak_gib": usage.ru_maxrss / 2**20,  # Linux reports KiB
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkout", type=Path, nargs="+", default=[REPO])
    args = parser.parse_args()
    checkouts = [checkout.resolve() for checkout in args.checkout]
    runs = {(name, checkout): [] for name in COMMANDS for checkout in checkouts}
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():  # in turn, so drifts in load hit all alike
            for checkout in checkouts:
                runs[name, checkout].append(timed(checkout, command, args.threads))
    print(f"medians of {args.repeats}, {args.threads} thread(s); ratio: cpu s / {checkouts[0]}'s")
    print(
        f"{'command':<32} {'checkout':<24} {'wall s':>8} {'user s':>8} {'sys s':>7} "
        f"{'cpu s':>8} {'ratio':>6} {'peak GiB':>9}"
    )
    for (name, checkout), rows in runs.items():
        median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        pairs = zip(rows, runs[name, checkouts[0]], strict=True)
        ratio = statistics.median(cpu(row) / cpu(first) for row, first in pairs)
        print(
            f"{name:<32} {str(checkout)[-24:]:<24} {median['wall']:8.1f} {median['user']:8.1f} "
            f"{median['sys']:7.1f} {statistics.median(map(cpu, rows)):8.1f} {ratio:6.2f} "
            f"{median['peak_gib']:9.2f}"
        )


def cpu(row: dict[str, float]) -> float:
    return row["user"] + row["sys"]


if __name__ == "__main__":
    main()
