"""Command line: python reports/make_tables.py multirun/ [more dirs ...] --out reports/out

Reads every run below the given sweep or run directories and writes the tidy run table, the
per-configuration statistics, the accuracy / forgetting matrices, the paper table and the
baselines comparison, then prints where each went, and every run that is not in the numbers
with its status. The output directory is replaced as a whole at the end, never half-written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from cgl.reports.aggregate import configurations
from cgl.reports.baselines import write_baselines
from cgl.reports.files import staged_directory, write_csv
from cgl.reports.load import NoResultsError, Sweep, load_sweep
from cgl.reports.matrices import write_matrices
from cgl.reports.tables import paper_table, write_table


def write_report(sweep: Sweep, out: Path, jobs: int = 1) -> dict[str, list[Path]]:
    """Every output of the reports for `sweep` under `out`, grouped by what it is; `jobs`
    processes at most draw the heatmaps."""
    configs = configurations(sweep)
    return {
        "runs": [write_csv(out / "runs.csv", sweep.runs.drop(columns="test_matrix"))],
        "configurations": [write_csv(out / "configurations.csv", configs)],
        "paper table": write_table(paper_table(sweep, configs), out),
        "baselines": write_baselines(configs, out),
        "matrices": write_matrices(sweep.runs, out / "matrices", jobs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep or run directories")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("reports/out"),
        help="output directory (default: %(default)s)",
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="processes for the heatmaps"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        sweep = load_sweep(args.dirs)
    except NoResultsError as err:
        print(f"make_tables: error: {err}", file=sys.stderr)
        return 2
    statuses = sweep.runs["status"].value_counts().to_dict()
    print(
        f"{len(sweep.runs)} runs ({', '.join(f'{n} {s}' for s, n in statuses.items())}), "
        f"{sweep.runs['config'].nunique()} configurations, swept: {', '.join(sweep.swept) or '-'}"
    )
    for warning in sweep.warnings:
        print(f"make_tables: warning: {warning}", file=sys.stderr)
    for run in sweep.runs[~sweep.runs["ok"]].itertuples():
        print(f"not in the numbers: {run.run} ({run.status}: {run.note or run.message or '-'})")
    with staged_directory(args.out) as staging:
        written = write_report(sweep, staging, args.jobs)
    for what, paths in written.items():
        print(f"{what}: {_describe([args.out / p.relative_to(staging) for p in paths])}")
    print(f"done in {time.perf_counter() - start:.1f}s")
    return 0


def _describe(paths: list[Path]) -> str:
    """The files themselves when few, else how many and below which directory."""
    if len(paths) <= 4:
        return ", ".join(map(str, paths)) or "nothing to write"
    return f"{len(paths)} files under {os.path.commonpath(paths)}/"


if __name__ == "__main__":
    sys.exit(main())
