"""Wall time of MAS vs bare fine-tuning on the same NC Class-IL run (the goal: MAS within 10%).

Both runs train exactly `--epochs` epochs per task (early stopping off), so the difference is
MAS's own cost: the penalty in every step and the importance after every task. It also times
the penalty alone against a per-parameter Python loop.

    python bench/bench_mas_overhead.py [--epochs 100] [--repeats 3] [--num-nodes 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from cgl.algorithms.mas import MASRegularizer
from cgl.config.compose import compose_config
from cgl.runtime.experiment import run


def timed_run(method: str, epochs: int, num_nodes: int, seed: int) -> dict:
    cfg = compose_config(
        "logger=none",
        "progress=false",
        f"method={method}",
        f"epochs={epochs}",
        "patience=100000",
        f"dataset.loader.nodes.num_nodes={num_nodes}",
        f"seed={seed}",
    )
    with tempfile.TemporaryDirectory() as out:
        result = run(cfg, output_dir=Path(out))
    timings = result.payload["timings"]
    return {"total": sum(timings["per_task"]), "importance": sum(timings.get("importance", [0.0]))}


def penalty_micro(model: torch.nn.Module, calls: int = 200) -> tuple[float, float]:
    """Seconds per penalty+backward: the flat-vector implementation vs a per-parameter loop."""
    mas = MASRegularizer(lamb=1.0)
    mas.omega = {n: torch.rand_like(p) for n, p in model.named_parameters()}
    mas.anchor = {n: p.detach() + 0.01 for n, p in model.named_parameters()}

    def loop() -> torch.Tensor:
        return sum(
            ((mas.omega[n] * (p - mas.anchor[n]) ** 2).sum() for n, p in model.named_parameters())
        )

    results = []
    for fn in (lambda: mas.penalty(model), loop):
        fn().backward()
        start = time.perf_counter()
        for _ in range(calls):
            fn().backward()
        results.append((time.perf_counter() - start) / calls)
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-nodes", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = {"bare": [], "mas": []}
    for repeat in range(args.repeats):
        for method in ("bare", "mas"):  # interleaved, so drifts in machine load hit both
            rows[method].append(timed_run(method, args.epochs, args.num_nodes, seed=repeat))
    bare = statistics.median(r["total"] for r in rows["bare"])
    mas = statistics.median(r["total"] for r in rows["mas"])
    importance = statistics.median(r["importance"] for r in rows["mas"])
    print(
        f"NC Class-IL, synthetic {args.num_nodes} nodes, 4 tasks x {args.epochs} epochs, "
        f"median of {args.repeats}:"
    )
    print(f"  bare  {bare:8.2f} s")
    print(f"  mas   {mas:8.2f} s   (importance {importance:.3f} s)")
    print(f"  ratio mas/bare = {mas / bare:.3f}")
    from cgl.models import GCNNode

    flat, loop = penalty_micro(GCNNode(32, 8))
    print(
        f"  penalty+backward per step: flat vector {flat * 1e3:.3f} ms, "
        f"per-parameter loop {loop * 1e3:.3f} ms"
    )


if __name__ == "__main__":
    main()
