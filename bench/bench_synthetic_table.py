"""Does the embedded synthetic benchmark tell methods apart? AP and AF of bare, MAS, EWC, LwF
and TWP at their BeGin strengths and at a sweep of lamb, replay, ER-GNN and GEM at their
defaults, and joint, in every level x scenario pair each method supports, per backbone, mean ±
std over seeds.

    python bench/bench_synthetic_table.py [--jobs 2] [--seeds 0 1 2] [--out FILE]
        [--models gcn gat gin sage] [--pairs nc/classil gc/domainil ...] [--lambs 1 10000]

Every run uses the defaults (conf/, dataset=synthetic) with `logger=none`; `--jobs` worker
processes run one job at a time each, with one torch thread. Jobs run method by method
(bare, MAS at lamb=1e4, joint, then the other lambs), every seed and pair of one before the
next, so that a stopped table still compares them in every pair over every seed. Each
finished run is appended to `--out` (JSON lines) at once, so a stopped table resumes where
it stopped when rerun with the same `--out`; the table is printed from that file as
Markdown at the end, and with `--page docs/results/synthetic-table.md` written as the
site's results page (`--no-run` rewrites it without running anything). The table holds the
selected runs only (`--models`, `--pairs`, `--methods`, `--lambs`, `--seeds`), so one rows
file serves several pages: bench/results/synthetic.jsonl holds the rows of the site's pages.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd

from cgl.algorithms import get_method
from cgl.output.results_page import commit, write_page
from cgl.reports.render import DASH, markdown, mean_std

REPO = Path(__file__).resolve().parents[1]

PAIRS = [
    ("nc", "taskil"), ("nc", "classil"), ("nc", "domainil"), ("nc", "timeil"),
    ("lc", "taskil"), ("lc", "classil"), ("lc", "timeil"),
    ("lp", "domainil"), ("lp", "timeil"),
    ("gc", "taskil"), ("gc", "classil"), ("gc", "domainil"), ("gc", "timeil"),
]  # fmt: skip
LAMBS = (1, 10, 100, 1000, 10000)
MODELS = ["gcn", "gat", "gin", "sage"]
#: methods with a strength; None: the method's BeGin benchmark value (conf/method/)
STRONG = ("mas", "ewc", "lwf", "twp")
#: memory methods at their defaults (conf/method/), each where it is declared (ER-GNN: nc)
MEMORY = ("replay", "ergnn", "gem")
#: The order methods run in, most telling first, so that a stopped table still compares bare,
#: the strongest MAS, joint and every method at BeGin's value in every pair, over every seed.
RUN_ORDER = [
    ("bare", None),
    ("mas", 10000),
    ("joint", None),
    *((method, None) for method in STRONG if method != "mas"),
    *((method, None) for method in MEMORY),
    *((method, lamb) for lamb in (100, 1000, 10, 1) for method in STRONG),
    *((method, 10000) for method in STRONG if method != "mas"),
]


def supports(method: str, level: str, scenario: str) -> bool:
    """Whether the method declares this pair (cgl.algorithms.<method>.METHOD.supports)."""
    return scenario in get_method(method).supports.get(level, ())


def label(method: str, lamb: float | None) -> str:
    """A column of the table: the method, and its lamb where the run set one."""
    return method if lamb is None else f"{method} lamb={lamb:g}"


def one_run(
    level: str, scenario: str, method: str, lamb: float | None, seed: int, model: str
) -> dict:
    """One default run in this worker process: its AP, AF and CPU seconds."""
    import torch

    from cgl.config.compose import compose_config
    from cgl.runtime.experiment import run

    torch.set_num_threads(1)
    overrides = [f"level={level}", f"scenario={scenario}", f"method={method}", f"seed={seed}"]
    overrides.append(f"model={model}")
    overrides += ["logger=none", "progress=false"] + ([f"lamb={lamb}"] if lamb else [])
    cfg = compose_config(*overrides, conf_dir=REPO / "conf")
    start = time.process_time()
    with tempfile.TemporaryDirectory() as out:
        summary = run(cfg, output_dir=Path(out)).summary
    return {
        "model": model,
        "pair": f"{level}/{scenario}",
        "method": label(method, lamb),
        "seed": seed,
        "AP": summary["AP"],
        "AF": summary["AF"],
        "cpu_s": time.process_time() - start,
    }


def _worker_setup() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["WANDB_MODE"] = "disabled"


def table(rows: pd.DataFrame) -> str:
    """AP and AF as `mean ± std` per model and pair (rows) and method (columns), Markdown."""
    stats = rows.groupby(["model", "pair", "method"])[["AP", "AF"]].agg(["mean", "std"])
    ap, af = (mean_std(stats[key, "mean"], stats[key, "std"], 1, 3) for key in ("AP", "AF"))
    method_order = [
        "bare",
        *(label(m, lamb) for m in STRONG for lamb in (None, *LAMBS) if (m, lamb) != ("mas", None)),
        *MEMORY,
        "joint",
    ]
    pair_order = [f"{lvl}/{sc}" for lvl, sc in PAIRS]
    wide = (ap + " / " + af).unstack("method")
    order = sorted(wide.index, key=lambda key: (MODELS.index(key[0]), pair_order.index(key[1])))
    wide = wide.reindex(index=order, columns=[m for m in method_order if m in wide.columns]).fillna(
        DASH
    )
    shown = wide.rename_axis(["model", "pair"]).reset_index()
    return "AP / AF (mean ± std over seeds)\n\n" + markdown(shown)


KEY = ["model", "pair", "method", "seed"]


def selection(args: argparse.Namespace) -> list[tuple]:
    """The runs the command line names, in RUN_ORDER: (level, scenario, method, lamb, seed,
    model) for every selected method and lamb, seed, model and pair the method supports."""
    return [
        (level, scenario, method, lamb, seed, model)
        for method, lamb in RUN_ORDER  # a stopped table has every pair and seed of the first
        if (lamb is None or lamb in args.lambs) and (args.methods is None or method in args.methods)
        for seed in args.seeds
        for model in args.models
        for level, scenario in PAIRS
        if f"{level}/{scenario}" in args.pairs and supports(method, level, scenario)
    ]


def job_key(level: str, scenario: str, method: str, lamb, seed: int, model: str) -> tuple:
    """A run's identity in the rows file: (model, pair, method label, seed)."""
    return (model, f"{level}/{scenario}", label(method, lamb), seed)


def read_rows(path: Path) -> pd.DataFrame:
    """The finished runs in `path` (none if it does not exist); rows written before models
    were recorded are GCN's."""
    if not path.exists():
        return pd.DataFrame(columns=[*KEY, "AP", "AF", "cpu_s"])
    rows = pd.read_json(path, lines=True)
    return rows.assign(model=rows.get("model", pd.Series(index=rows.index)).fillna("gcn"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("synthetic_table.jsonl"))
    parser.add_argument("--models", nargs="+", default=["gcn"], choices=MODELS)
    parser.add_argument("--pairs", nargs="+", default=[f"{lvl}/{sc}" for lvl, sc in PAIRS])
    parser.add_argument("--lambs", type=float, nargs="+", default=list(LAMBS))
    parser.add_argument("--methods", nargs="+", help="only these methods (default: all)")
    parser.add_argument("--page", type=Path, help="also write the table as this docs page")
    parser.add_argument("--title", default="Synthetic benchmark: AP and AF per pair")
    parser.add_argument(
        "--no-run", action="store_true", help="only print (and --page) the table of --out as it is"
    )
    args = parser.parse_args()
    wanted = selection(args)
    rows = read_rows(args.out)
    done = set(rows[KEY].itertuples(index=False, name=None))
    jobs = [] if args.no_run else [job for job in wanted if job_key(*job) not in done]
    os.environ["OMP_NUM_THREADS"] = "1"
    checkout = commit()
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, initializer=_worker_setup) as pool:
        futures = [pool.submit(one_run, *job) for job in jobs]
        for count, future in enumerate(as_completed(futures), 1):
            row = future.result() | {"commit": checkout}  # which code made the row
            with args.out.open("a") as sink:  # one line per run: a stopped table resumes
                sink.write(json.dumps(row) + "\n")
            print(f"[{count}/{len(jobs)}] {row}", file=sys.stderr, flush=True)
    rows = read_rows(args.out)
    # the table shows the selection only, so one --out file can hold the rows of several pages
    selected = {job_key(*job) for job in wanted}
    keys = rows[KEY].itertuples(index=False, name=None)
    rows = rows.loc[pd.Series([key in selected for key in keys], index=rows.index, dtype=bool)]
    print(table(rows))
    if args.page:  # rerun with the same --out to rewrite the page without running anything
        made = rows.get("commit", pd.Series(index=rows.index, dtype=object))
        made = made.fillna("unrecorded").value_counts()
        made_at = ", ".join(f"`{commit}` ({count})" for commit, count in made.items())
        body = (
            f"{len(rows)} runs, one torch thread each, read from `{args.out}`; made at commit "
            f"{made_at or 'none'}.\n\n"
        )
        write_page(args.page, args.title, body + table(rows))
    print(f"\n{len(jobs)} runs in {time.perf_counter() - start:.0f} s wall")


if __name__ == "__main__":
    main()
