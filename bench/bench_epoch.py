"""Per-epoch cost of cgl's node trainer against a plain hand-written DGL loop on the same graph.

Both train the same model shape (3 layers of 256 of the backbone, `--models` gcn gat gin sage:
GraphConv, GATConv with 4 heads of 64, GINConv with a 2-layer MLP, SAGEConv mean; batch norm,
ReLU, a linear head), with Adam, on the first Class-IL task of the same dataset, and run one
validation forward per epoch: cgl's `NCTrainer` / `NCMinibatchTrainer` through its whole
event loop (plain fine-tuning; a task's first epochs are the same work for every method),
against a loop a DGL user would write (dense features, `model(g, x)`, `loss.backward()`,
`opt.step()`, a no-grad evaluation forward; minibatch: DGL's NeighborSampler for training and
one full-graph forward for evaluation, DGL's exact offline inference).

Every measurement runs in its own process, cgl and plain in turn (A B A B ...), so that drifts
in machine load hit both; medians over `--repeats`. cgl's process gets the malloc settings its
command line starts with (cgl.runtime.allocator); the plain loop runs with glibc's defaults.
Printed per graph and mode: generation (or loading) seconds, wall ms per epoch, the ratio
cgl / plain, CPU (user and system) ms per epoch, the CPU ms of the validation pass inside an
epoch (cgl: through its events; minibatch: exact, see NCMinibatchTrainer), and each process's
peak RSS.

    OMP_NUM_THREADS=1 python bench/bench_epoch.py [--graphs cora 1e4 1e5 1e6 1e7]
        [--modes fullbatch minibatch] [--models gcn gat gin sage] [--epochs N] [--repeats 3]
        [--data-dir DIR] [--checkout DIR]

`--checkout DIR` measures another checkout's cgl (its src/ and conf/) with this bench, e.g. the
commit before a change, for a before/after table; the checkout must have cgl's subpackage
layout (cgl.config, cgl.runtime: from commit fccaf60 on).

Synthetic graphs are the NC generator's (avg degree 8, 32 dense features) sized to about the
given number of edges; `cora` reads Planetoid's files from `--data-dir` (the real loader).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: timed epochs by default, by graph size: enough to average out, few where epochs are long
DEFAULT_EPOCHS = {"cora": 30, "1e4": 30, "1e5": 10, "1e6": 4, "1e7": 2}
WARMUP_EPOCHS = 1


class EnoughEpochsError(Exception):
    """Stops cgl's trainer once the timed epochs are done (raised from a callback)."""


def compose(graph: str, mode: str, data_dir: str, checkout: Path, model: str):
    from cgl.config.compose import compose_config  # the checkout's: its src/ is on PYTHONPATH

    overrides = ["logger=none", "progress=false", "method=bare", f"trainer={mode}"]
    overrides.append(f"model={model}")
    if graph == "cora":
        overrides += ["dataset=cora", f"data_dir={data_dir}"]
    else:
        overrides.append(f"dataset.loader.nodes.num_nodes={round(float(graph) / 8)}")
    return compose_config(*overrides, conf_dir=checkout / "conf")


def usage() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime, own.ru_stime


def epoch_clock():
    """Records wall and CPU time at every epoch end."""
    marks: list[tuple[float, float, float]] = []

    def mark() -> None:
        marks.append((time.perf_counter(), *usage()))

    return marks, mark


def run_cgl(cfg, epochs: int) -> list:
    import torch
    from hydra.utils import instantiate

    from cgl.algorithms import trainer_class
    from cgl.runtime.experiment import build_scenario, load_dataset, trainer_kwargs

    start = time.perf_counter()
    data = load_dataset(cfg)
    generation = time.perf_counter() - start
    scenario = build_scenario(cfg, data)
    model = instantiate(cfg.model.nc, **scenario.model_kwargs())
    marks, mark = epoch_clock()

    class Clock:
        def on_epoch_end(self, *args) -> None:
            mark()
            if len(marks) == WARMUP_EPOCHS + epochs:
                raise EnoughEpochsError

    trainer = trainer_class("bare", "nc", "classil", cfg.trainer.minibatch)(
        model,
        scenario,
        lambda params: torch.optim.Adam(params, lr=cfg.lr),
        torch.nn.CrossEntropyLoss(),
        "cpu",
        num_epochs=WARMUP_EPOCHS + epochs,
        patience=10**9,
        progress=False,
        callbacks=[Clock()],
        **trainer_kwargs(cfg),
    )
    with contextlib.suppress(EnoughEpochsError):
        trainer.run()
    eval_ms = validation_ms(trainer, scenario.get_current_dataset())
    return [generation, data.graph.num_nodes(), data.graph.num_edges(), marks, eval_ms]


def validation_ms(trainer, dataset) -> float:
    """CPU ms of the validation pass every epoch runs, through the trainer's own events (the
    last of three: the first builds what a task's epochs share)."""
    import torch

    _, val_loader, _ = trainer.prepareLoader(dataset, {})
    trainer.model.eval()
    with torch.no_grad():
        for _ in range(3):
            start = time.process_time()
            for batch in val_loader:
                trainer.processEvalIteration(trainer.model, batch)
            seconds = time.process_time() - start
    return seconds * 1e3


def plain_model(name: str, in_feats: int, num_classes: int):
    import torch
    from dgl.nn import GATConv, GINConv, GraphConv, SAGEConv
    from torch import nn

    def layer(n_in: int) -> nn.Module:
        if name == "gat":
            return GATConv(n_in, 64, 4, allow_zero_in_degree=True)
        if name == "gin":
            mlp = nn.Sequential(nn.Linear(n_in, 256), nn.ReLU(), nn.Linear(256, 256))
            return GINConv(mlp, "sum")
        if name == "sage":
            return SAGEConv(n_in, 256, "mean")
        return GraphConv(n_in, 256, allow_zero_in_degree=True)

    class Plain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.ModuleList(layer(n) for n in (in_feats, 256, 256))
            self.norms = nn.ModuleList(nn.BatchNorm1d(256) for _ in range(3))
            self.head = nn.Linear(256, num_classes)

        def forward(self, graphs, h):
            for conv, norm, graph in zip(self.convs, self.norms, graphs, strict=True):
                h = torch.relu(norm(conv(graph, h).flatten(1)))
            return self.head(h)

    return Plain()


def run_plain(cfg, epochs: int) -> list:
    """The yardstick: what a DGL user writes by hand for the same task."""
    import dgl
    import torch
    from torch.nn.functional import cross_entropy

    from cgl.runtime.experiment import build_scenario, load_dataset

    start = time.perf_counter()
    data = load_dataset(cfg)
    generation = time.perf_counter() - start
    task = build_scenario(cfg, data).get_current_dataset()
    graph = dgl.add_self_loop(dgl.remove_self_loop(task))
    feat = graph.ndata.pop("feat")
    x = feat.to_dense() if feat.is_sparse else feat
    y = graph.ndata["label"]
    train, val = graph.ndata["train_mask"], graph.ndata["val_mask"]
    model = plain_model(cfg.model.name, x.shape[1], int(data.num_classes))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    full = [graph] * 3
    loader = None
    if cfg.trainer.minibatch:
        kwargs = cfg.trainer.kwargs
        graph.ndata["x"] = x
        loader = dgl.dataloading.DataLoader(
            graph,
            torch.nonzero(train).view(-1),
            dgl.dataloading.NeighborSampler(list(kwargs.fanouts)),
            batch_size=kwargs.batch_size,
            shuffle=True,
        )
    marks, mark = epoch_clock()
    for _ in range(WARMUP_EPOCHS + epochs):
        model.train()
        if loader is None:
            opt.zero_grad()
            cross_entropy(model(full, x)[train], y[train]).backward()
            opt.step()
        else:
            for _, _, blocks in loader:
                opt.zero_grad()
                logits = model(blocks, blocks[0].srcdata["x"])
                cross_entropy(logits, blocks[-1].dstdata["label"]).backward()
                opt.step()
        model.eval()
        start = time.process_time()
        with torch.no_grad():
            cross_entropy(model(full, x)[val], y[val]).item()
        eval_seconds = time.process_time() - start
        mark()
    return [generation, data.graph.num_nodes(), data.graph.num_edges(), marks, eval_seconds * 1e3]


def child(spec: dict) -> None:
    """One measurement, in this process: print a JSON line of figures."""
    import torch

    cfg = compose(
        spec["graph"], spec["mode"], spec["data_dir"], Path(spec["checkout"]), spec["model"]
    )
    torch.set_num_threads(spec["threads"])
    run = run_cgl if spec["impl"] == "cgl" else run_plain
    generation, nodes, edges, marks, eval_ms = run(cfg, spec["epochs"])
    (t0, u0, s0), (t1, u1, s1) = marks[WARMUP_EPOCHS - 1], marks[-1]
    n = len(marks) - WARMUP_EPOCHS
    figures = {
        "generation": generation,
        "nodes": nodes,
        "edges": edges,
        "ms": (t1 - t0) / n * 1e3,
        "user_ms": (u1 - u0) / n * 1e3,
        "sys_ms": (s1 - s0) / n * 1e3,
        "eval_ms": eval_ms,
    }
    print(json.dumps(figures), flush=True)


def measure(spec: dict) -> dict:
    """Run one child process; add its peak RSS (GiB) from the kernel's accounting."""
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]), WANDB_MODE="disabled")
    checkout = Path(spec["checkout"])
    env["PYTHONPATH"] = os.pathsep.join([str(checkout / "src"), env.get("PYTHONPATH", "")])
    if spec["impl"] == "cgl":
        # the malloc settings cgl's command line starts with
        from cgl.runtime.allocator import TUNABLES

        env.setdefault("GLIBC_TUNABLES", TUNABLES)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", json.dumps(spec)],
            stdout=out,
            stderr=err,
            env=env,
            text=True,
        )
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            lines = err.read().strip().splitlines() or [f"exit {proc.returncode}"]
            return {"failed": lines[-1][:80]}
        figures = json.loads(out.read().strip().splitlines()[-1])
    figures["peak_gib"] = rusage.ru_maxrss / 2**20  # Linux reports KiB
    return figures


def compare(base: dict, repeats: int) -> dict[str, list[dict]]:
    """cgl and plain in turn, `repeats` times each."""
    runs: dict[str, list[dict]] = {"cgl": [], "plain": []}
    for _ in range(repeats):
        for impl in runs:
            runs[impl].append(measure(base | {"impl": impl}))
    return runs


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def cpu_ms(run: dict) -> float:
    return run["user_ms"] + run["sys_ms"]


def format_row(graph: str, mode: str, model: str, runs: dict[str, list[dict]]) -> str:
    failed = [f"{i}: {run['failed']}" for i, rs in runs.items() for run in rs if "failed" in run]
    if failed:
        return f"{graph:>6} {model:>5} {mode:>9}  failed ({failed[0]})"
    cgl, plain = runs["cgl"], runs["plain"]
    pairs = list(zip(cgl, plain, strict=True))
    wall_ratio = statistics.median(a["ms"] / b["ms"] for a, b in pairs)
    cpu_ratio = statistics.median(cpu_ms(a) / cpu_ms(b) for a, b in pairs)

    def cpu(rs: list[dict]) -> str:
        return f"{statistics.median(map(cpu_ms, rs)):7.1f} ({median(rs, 'sys_ms'):5.1f})"

    return (
        f"{graph:>6} {model:>5} {cgl[0]['nodes']:>9} {cgl[0]['edges']:>10} {mode:>9} "
        f"{median(cgl, 'generation'):6.1f} | {median(cgl, 'ms'):8.1f} {median(plain, 'ms'):8.1f} "
        f"{wall_ratio:5.2f} | {cpu(cgl)} {cpu(plain)} {cpu_ratio:5.2f} | "
        f"{median(cgl, 'eval_ms'):7.1f} {median(plain, 'eval_ms'):7.1f} | "
        f"{median(cgl, 'peak_gib'):5.2f} {median(plain, 'peak_gib'):5.2f}"
    )


HEADER = (
    f"{'':>51}| {'wall ms per epoch':^24}| {'CPU ms per epoch (of it system)':^37}| "
    f"{'eval CPU ms':^15} | {'peak GiB':^11}\n"
    f"{'graph':>6} {'model':>5} {'nodes':>9} {'edges':>10} {'mode':>9} {'gen s':>6} | "
    f"{'cgl':>8} {'plain':>8} {'ratio':>5} | {'cgl':>15} {'plain':>15} {'ratio':>5} | "
    f"{'cgl':>7} {'plain':>7} | {'cgl':>5} {'plain':>5}"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", nargs="+", default=["cora", "1e4", "1e5", "1e6"])
    parser.add_argument("--modes", nargs="+", default=["fullbatch", "minibatch"])
    parser.add_argument("--models", nargs="+", default=["gcn"], help="backbones (conf/model/)")
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs (default by size)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=str(REPO / "data"))
    parser.add_argument("--checkout", type=Path, default=REPO, help="cgl checkout to measure")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--page", type=Path, help="also write the table as this docs page")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    print(HEADER, flush=True)
    lines = [HEADER]
    for graph in args.graphs:
        for model in args.models:
            for mode in args.modes:
                epochs = args.epochs or DEFAULT_EPOCHS.get(graph, 3)
                base = {"graph": graph, "mode": mode, "epochs": epochs, "threads": args.threads}
                base |= {"data_dir": args.data_dir, "checkout": str(args.checkout.resolve())}
                base["model"] = model
                runs = compare(base, args.repeats)
                lines.append(format_row(graph, mode, model, runs))
                print(lines[-1], flush=True)
    if args.page:
        from cgl.output.results_page import write_page

        body = f"Medians of {args.repeats} runs, {args.threads} thread(s).\n\n```\n"
        write_page(
            args.page, "Per epoch against a plain DGL loop", body + "\n".join(lines) + "\n```"
        )


if __name__ == "__main__":
    main()
