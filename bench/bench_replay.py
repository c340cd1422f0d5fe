"""Does replay hold Class-IL, and what does it cost? Bare against `method=replay` with a memory of
at most 5 % of the training items, on the synthetic benchmark's nc, lc and gc Class-IL.

    python bench/bench_replay.py [--seeds 0 1 2] [--levels nc lc gc] [--share 0.05]

Every run uses the defaults (conf/, dataset=synthetic, early stopping) with `logger=none`, one
torch thread. Prints per run AP, AF, CPU seconds, epochs and CPU seconds per epoch (all tasks'
epochs; an epoch's validation included), then per level the medians and replay's per-epoch
cost over bare's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: training items of the default synthetic data in Class-IL (nodes, links, graphs), as the
#: refusal of an unfillable memory_size reports them
TRAINING_ITEMS = {"nc": 600, "lc": 2902, "gc": 480}


def one_run(level: str, method: str, seed: int, memory: int) -> dict:
    import torch

    from cgl.config.compose import compose_config
    from cgl.runtime.experiment import run

    torch.set_num_threads(1)
    overrides = [f"level={level}", "scenario=classil", f"method={method}", f"seed={seed}"]
    overrides += ["logger=none", "progress=false"]
    if method == "replay":
        overrides.append(f"method.kwargs.memory_size={memory}")
    cfg = compose_config(*overrides, conf_dir=REPO / "conf")
    start = time.process_time()
    with tempfile.TemporaryDirectory() as out:
        result = run(cfg, output_dir=Path(out))
    cpu = time.process_time() - start
    epochs = sum(result.payload["timings"]["epochs"])
    summary = result.summary
    return {"AP": summary["AP"], "AF": summary["AF"], "cpu": cpu, "epochs": epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--levels", nargs="+", default=["nc", "lc", "gc"])
    parser.add_argument("--share", type=float, default=0.05)
    parser.add_argument("--page", type=Path, help="also write the medians as this docs page")
    args = parser.parse_args()
    table = [
        "| pair | memory (of training items) | bare AP / AF | replay AP / AF | AP gain "
        "| CPU per epoch, replay / bare |",
        "|---|---|---|---|---|---|",
    ]
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["WANDB_MODE"] = "disabled"
    for level in args.levels:
        memory = int(TRAINING_ITEMS[level] * args.share)
        rows: dict[str, list[dict]] = {"bare": [], "replay": []}
        for seed in args.seeds:
            for method in rows:
                row = one_run(level, method, seed, memory)
                rows[method].append(row)
                print(
                    f"{level} classil {method:6s} seed {seed}: AP {row['AP']:.4f} AF "
                    f"{row['AF']:+.4f}  {row['cpu']:.1f} CPU s, {row['epochs']} epochs, "
                    f"{row['cpu'] / row['epochs'] * 1000:.1f} CPU ms/epoch",
                    flush=True,
                )
        median = {
            method: {key: statistics.median(r[key] for r in runs) for key in ("AP", "AF")}
            | {"per_epoch": statistics.median(r["cpu"] / r["epochs"] for r in runs)}
            for method, runs in rows.items()
        }
        cost = median["replay"]["per_epoch"] / median["bare"]["per_epoch"]
        print(
            f"{level} classil, replay memory {memory} of {TRAINING_ITEMS[level]} training "
            f"items: median AP bare {median['bare']['AP']:.4f} replay "
            f"{median['replay']['AP']:.4f} (+{median['replay']['AP'] - median['bare']['AP']:.4f})"
            f", AF bare {median['bare']['AF']:+.4f} replay {median['replay']['AF']:+.4f}; "
            f"CPU per epoch replay/bare {cost:.2f}x",
            flush=True,
        )
        bare, replay = median["bare"], median["replay"]
        table.append(
            f"| {level}/classil | {memory} of {TRAINING_ITEMS[level]} "
            f"| {bare['AP']:.3f} / {bare['AF']:+.3f} | {replay['AP']:.3f} / {replay['AF']:+.3f} "
            f"| {replay['AP'] - bare['AP']:+.3f} | {cost:.2f}x |"
        )
    if args.page:
        from cgl.output.results_page import write_page

        seeds = ", ".join(map(str, args.seeds))
        intro = (
            f"Class-IL on the synthetic benchmark, replay with {args.share:.0%} of the training "
            f"items against bare; medians over seeds {seeds}, one torch thread; CPU per epoch "
            "includes validation.\n\n"
        )
        write_page(args.page, "Replay against bare", intro + "\n".join(table))


if __name__ == "__main__":
    main()
