"""Wall time of MAS's importance after one NC Class-IL task: `batch` vs `sample` (exact, per item).

`sample` runs one forward and backward pass of each training item's receptive field (its 3-hop
in-neighbourhood, in chunks of copies), so its cost grows as items x field size, where `batch`
costs one pass of the graph per batch. Untrained default GCN (3 x 256); the weights do not
change the cost.

    OMP_NUM_THREADS=1 python bench/bench_mas_sample.py [--datasets synthetic cora]
        [--chunk-sizes 1 8 32 64] [--data-dir DIR]

Real datasets are read from `--data-dir` (the config's data_dir, default data/), where the
command line downloads them.
"""

from __future__ import annotations

import argparse
import functools

import torch
from hydra.utils import instantiate

from cgl.algorithms.mas import NCClassILMASTrainer
from cgl.config.compose import compose_config
from cgl.runtime.experiment import build_scenario, load_dataset


def importance_seconds(cfg, chunk_sizes: list[int]) -> tuple[int, int, dict[str, float]]:
    """(nodes, training items of task 0, seconds per estimator) for the composed config."""
    scenario = build_scenario(cfg, load_dataset(cfg))
    dataset = scenario.get_current_dataset()
    model = instantiate(cfg.model.nc, **scenario.model_kwargs())
    settings = [("batch", {})] + [
        (f"sample (chunk {c})", {"importance": "sample", "chunk_size": c}) for c in chunk_sizes
    ]
    seconds = {}
    for label, kwargs in settings:
        trainer = NCClassILMASTrainer(
            model,
            scenario,
            functools.partial(torch.optim.Adam, lr=cfg.lr),
            torch.nn.CrossEntropyLoss(),
            "cpu",
            progress=False,
            **kwargs,
        )
        states = trainer.initTrainingStates(scenario, model, None)
        trainer.processBeforeTraining(0, dataset, model, None, states)
        trainer.processAfterTraining(0, dataset, model, None, states)
        seconds[label] = trainer.timings["importance"][0]
    return dataset.num_nodes(), int(dataset.ndata["train_mask"].sum()), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["synthetic", "cora"])
    parser.add_argument("--chunk-sizes", nargs="+", type=int, default=[8])
    parser.add_argument("--data-dir", default="data", help="where the real datasets are")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    for name in args.datasets:
        cfg = compose_config("logger=none", f"dataset={name}", f"data_dir={args.data_dir}")
        nodes, items, seconds = importance_seconds(cfg, args.chunk_sizes)
        print(f"{name}: {nodes} nodes, {items} training items in task 1")
        for label, value in seconds.items():
            print(f"  {label:18s} {value:8.3f} s   ({1e3 * value / items:.2f} ms per item)")


if __name__ == "__main__":
    main()
