"""CGLB's NCGL protocol, element by element, on tiny graphs (docs/cglb.md):
the split counts and the split drawn once, task-t-only graphs, the backbone, the loss,
balanced accuracy, one optimiser state, the last weights, MAS's CGLB estimator, arxiv's
direction and the published rows' labels."""

from __future__ import annotations

import csv
import math

import dgl
import pandas as pd
import pytest
import tiny_files
import torch
from helpers import build_trainer, tiny_nodes
from runs import make_cfg, run_cli

from cgl.algorithms import trainer_class
from cgl.algorithms.mas.core import MASRegularizer
from cgl.datasets import ogb
from cgl.datasets.base import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL
from cgl.evaluation.evaluators import balanced_accuracy
from cgl.models import CGLBGCN
from cgl.reports.load import load_sweep
from cgl.reports.reproduce import PUBLISHED, inter_task_edges
from cgl.reports.reproduce import main as reproduce
from cgl.runtime import experiment
from cgl.scenarios.nodes import NCScenarioLoader
from cgl.scenarios.protocols import cglb_split
from cgl.trainers.losses import ClassBalancedCrossEntropy
from cgl.trainers.nodes import with_self_loops


def codes(split: torch.Tensor, items: range) -> tuple[list[int], list[int], list[int]]:
    part = split[list(items)]
    return tuple(
        [items[i] for i in torch.nonzero(part == code).view(-1).tolist()]
        for code in (SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST)
    )


def test_cglb_split_has_cglbs_counts_and_its_very_nodes():
    """Classes of 3, 8 and 13 nodes: train floor(0.6 n), test ceil(ceil(0.4 n) / 2), val the
    rest (1/1/1, 4/2/2, 7/3/3; rounding gives 2/1/0 and 5/2/1 for the first two), and the
    nodes CGLB's own train_valid_test_split picks after np.random.seed(1) (sklearn 1.9,
    run once outside the project on ids 0..n-1 per class)."""
    group = torch.tensor([0] * 3 + [1] * 8 + [2] * 13)
    split = cglb_split(group, (0.6, 0.2, 0.2), seed=1)
    three, eight, thirteen = range(0, 3), range(3, 11), range(11, 24)
    assert codes(split, three) == ([1], [0], [2])
    assert codes(split, eight) == ([3, 4, 6, 10], [7, 8], [5, 9])
    assert codes(split, thirteen) == (
        [13, 15, 16, 17, 20, 21, 22], [11, 18, 23], [12, 14, 19]
    )  # fmt: skip
    for n in (3, 8, 13, 2, 100):
        counts = torch.bincount(cglb_split(torch.zeros(n, dtype=torch.long), (0.6, 0.2, 0.2), 7))
        held = math.ceil(0.4 * n)
        assert counts.tolist() == [n - held, held - math.ceil(held / 2), math.ceil(held / 2)]


def scenario_and_model(*overrides: str):
    cfg = make_cfg(
        "protocol=cglb", "logger=none", "dataset.loader.nodes.num_nodes=200",
        "dataset.loader.seed=0", *overrides,
    )  # fmt: skip
    data = experiment.load_dataset(cfg)
    return experiment.build_scenario_and_model(cfg, data)


def test_one_split_for_every_run_seed_unless_split_seed_changes():
    """CGLB caches its split: every run seed gets split_seed's split (and its own weights);
    the data are generated from seed 0 for both."""
    first, model_a = scenario_and_model("seed=0")
    second, model_b = scenario_and_model("seed=5")
    other, _ = scenario_and_model("seed=0", "protocol.split_seed=2")
    assert torch.equal(first.split_of_item, second.split_of_item)
    assert not torch.equal(first.split_of_item, other.split_of_item)
    assert not torch.equal(model_a.convs[0].weight, model_b.convs[0].weight)
    assert first.metric == "balanced_accuracy" and isinstance(model_a, CGLBGCN)


def test_without_inter_task_edges_task_t_trains_on_task_t_alone():
    """CGLB's --inter-task-edges False: task t's training graph is task t's nodes and the
    edges among them; Joint's (accumulated) graph holds tasks 0..t, still unlinked."""
    with_edges, _ = scenario_and_model("scenario=taskil")
    alone, _ = scenario_and_model("scenario=taskil", "scenario.inter_task_edges=false")
    task = alone.task_of_item
    for t in (0, 2):
        with_edges._curr_task = alone._curr_task = t
        kept, own = with_edges.get_current_dataset(), alone.get_current_dataset()
        assert torch.equal(own.ndata[dgl.NID], torch.nonzero(task == t).view(-1))
        assert torch.equal(kept.ndata[dgl.NID], torch.nonzero((task >= 0) & (task <= t)).view(-1))
        ids = own.ndata[dgl.NID]
        src, dst = own.edges()
        assert (task[ids[src]] == t).all() and (task[ids[dst]] == t).all()
        assert torch.equal(alone.current_item_ids(), ids)
    joint = alone.get_accumulated_dataset()
    ids = joint.ndata[dgl.NID]
    src, dst = joint.edges()
    assert torch.equal(ids, torch.nonzero((task >= 0) & (task <= 2)).view(-1))
    assert (task[ids[src]] == task[ids[dst]]).all() and joint.num_edges() > 0


def test_balanced_accuracy_is_the_mean_of_per_class_accuracies():
    """Class 0: 3 of 4 right; class 1: 0 of 1; class 5: 1 of 1 -> (0.75 + 0 + 1) / 3, where
    plain accuracy says 4 / 6."""
    gts = torch.tensor([0, 0, 0, 0, 1, 5])
    preds = torch.tensor([0, 0, 0, 1, 0, 5])
    assert balanced_accuracy(preds, gts) == pytest.approx((0.75 + 0.0 + 1.0) / 3)
    assert math.isnan(balanced_accuracy(preds[:0], gts[:0]))


def test_cglb_backbone_is_an_unnormalised_sum_over_in_neighbours():
    """logits = A relu(A X W1^T) W2^T with A[v, u] = 1 for an edge u -> v or u = v: a dense
    hand computation on a directed graph (no degree scaling, no bias, no batch norm)."""
    torch.manual_seed(0)
    graph = with_self_loops(dgl.graph(([0, 0, 1, 3], [1, 2, 2, 2]), num_nodes=4))
    feat = torch.randn(4, 5)
    model = CGLBGCN(5, 3, hidden=6)
    adjacency = torch.eye(4)
    adjacency[[1, 2, 2, 2], [0, 0, 1, 3]] = 1  # row v sums over its in-neighbours u
    w1, w2 = model.convs[0].weight, model.convs[1].weight
    expected = adjacency @ torch.relu(adjacency @ feat @ w1.t()) @ w2.t()
    assert torch.allclose(model.embed(graph, feat), expected, atol=1e-6)
    assert torch.allclose(model(graph, feat.to_sparse()), expected, atol=1e-6)  # all observed
    assert [p.shape for p in model.parameters()] == [(6, 5), (3, 6)]  # no bias, no head
    torch.manual_seed(0)
    linear = torch.nn.Linear(5, 6, bias=False)  # CGLB's layer: nn.Linear's default draw
    torch.manual_seed(0)
    assert torch.equal(CGLBGCN(5, 3, hidden=6).convs[0].weight, linear.weight)
    model.observe_labels(torch.tensor([0, 1]))
    assert torch.isinf(model(graph, feat)[:, 2]).all()  # unobserved class 2 is masked


def test_class_balanced_loss_weights_classes_by_one_over_their_count():
    """Per task, sum_c (1/n_c) sum_{i in c} l_i / sum_i (1/n_{y_i}); summed over tasks."""
    logits = torch.tensor([[2.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    labels = torch.tensor([0, 0, 1, 2])
    nll = -torch.log_softmax(logits, -1)[torch.arange(4), labels]
    one_task = ClassBalancedCrossEntropy([[0, 1, 2]], 3)
    expected = ((nll[0] + nll[1]) / 2 + nll[2] + nll[3]) / 3  # class 0 counts once, not twice
    assert one_task(logits, labels) == pytest.approx(float(expected))
    two_tasks = ClassBalancedCrossEntropy([[0, 1], [2]], 3)  # Joint: per-task losses summed
    expected = ((nll[0] + nll[1]) / 2 + nll[2]) / 2 + nll[3]
    assert two_tasks(logits, labels) == pytest.approx(float(expected))


def trained(keep_optimizer_state: bool, restore_best: bool):
    """Two tasks of 4 epochs whose validation loss rises every epoch (the first is best);
    returns the trainer, the weights after every step, and Adam's step count per task."""
    torch.manual_seed(0)
    scenario = NCScenarioLoader(tiny_nodes(0), "class", 2, seed=0)
    model = CGLBGCN(scenario.num_feats, scenario.num_classes, hidden=8)
    trainer = build_trainer(
        trainer_class("bare", "nc", "classil", False), model, scenario, num_epochs=4,
        keep_optimizer_state=keep_optimizer_state, restore_best=restore_best,
    )  # fmt: skip
    rising = iter(range(100))
    trainer._validate = lambda loader: {"loss": float(next(rising)), "metric": 0.0}
    weights: list[dict] = []
    keep_best = trainer.processAfterEachIteration  # the per-epoch event keeps the best weights

    def record(model, *args):
        weights.append({k: v.clone() for k, v in model.state_dict().items()})
        return keep_best(model, *args)

    trainer.processAfterEachIteration = record
    steps = []
    trainer.processAfterTraining = lambda task, data, model, optimizer, states: steps.append(
        max(int(s["step"]) for s in optimizer.state.values())
    )
    trainer.run()
    return trainer, weights, steps


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_one_optimiser_state_across_tasks_and_the_last_weights_kept():
    """keep_optimizer_state: Adam's step count runs on over 2 tasks of 4 epochs (4, 8), a
    fresh state starts again (4, 4). restore_best=False ends on the last epoch's weights;
    restore_best=True on the best validation epoch's (here the first)."""
    trainer, weights, steps = trained(keep_optimizer_state=True, restore_best=False)
    assert steps == [4, 8]
    assert same(trainer.model.state_dict(), weights[-1])
    trainer, weights, steps = trained(keep_optimizer_state=False, restore_best=True)
    assert steps == [4, 4]
    final = trainer.model.state_dict()
    assert same(final, weights[4]) and not same(final, weights[-1])  # task 2's first epoch


def test_mas_cglb_estimator_squares_gradients_and_averages_tasks_by_items():
    """Ω after two tasks of 2 and 1 items = (2 w_0 + 1 w_1) / 3, w_t = (d/dθ mean o²)² with
    o = θ x, the mean over items and outputs."""
    model = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0], [0.5, -1.0]]))
    mas = MASRegularizer(lamb=1.0, importance="cglb")

    def by_hand(x: torch.Tensor) -> torch.Tensor:
        out = x @ model.weight.detach().t()
        grad = 2 * out.t() @ x / out.numel()  # d/dW of mean(out^2)
        return grad.pow(2)

    first, second = torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.0, 2.0]])
    mas.consolidate(model, [first], lambda m, x: m(x))
    assert torch.allclose(mas.omega["weight"], by_hand(first))
    mas.consolidate(model, [second], lambda m, x: m(x))
    expected = (2 * by_hand(first) + by_hand(second)) / 3
    assert torch.allclose(mas.omega["weight"], expected) and mas.items_seen == 3


def test_arxiv_keeps_ogbs_direction_under_cglb(tmp_path):
    """protocol=cglb loads ogbn-arxiv's citations one way, as OGB ships them; begin makes
    them undirected."""
    tiny_files.tiny_arxiv(tmp_path)
    assert make_cfg("protocol=cglb", "dataset=ogbn-arxiv").dataset.loader.directed is True
    assert make_cfg("dataset=ogbn-arxiv").dataset.loader.directed is False
    directed = ogb.load_arxiv(str(tmp_path), directed=True).graph
    both = ogb.load_arxiv(str(tmp_path)).graph
    src, dst = directed.edges()
    assert not directed.has_edges_between(dst, src).all()
    assert both.num_edges() > directed.num_edges() and both.has_edges_between(dst, src).all()


def test_published_cglb_rows_say_the_inter_task_edges_of_their_figure():
    """A CGLB row's inter_task_edges is its source figure's: `_no_crsedge` false, `_crsedge`
    true (Class-IL comes only from ncgl_classIL_no_crsedge.png, CGLB issue 19)."""
    with PUBLISHED.open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["protocol"] == "cglb"]
    assert rows
    for row in rows:
        figure = next(w for w in row["source"].replace("(", " ").split() if "crsedge" in w)
        edges = "_no_crsedge" not in figure
        assert row["inter_task_edges"] == str(edges).lower(), row
        assert (f"ncgl_{'taskIL' if row['scenario'] == 'taskil' else 'classIL'}_") in figure


def test_reproduce_lines_cglb_rows_up_with_runs_of_their_inter_task_edges(tmp_path):
    """A protocol=cglb sweep over both inter-task-edge settings (tiny arxiv, 2 tasks): the
    published Class-IL bare row (no inter-task edges) takes the run without them."""
    tiny_files.tiny_arxiv(tmp_path / "data")
    result = run_cli(
        "-m", "protocol=cglb", "dataset=ogbn-arxiv", f"data_dir={tmp_path / 'data'}",
        "scenario=classil", "method=bare", "scenario.inter_task_edges=true,false", "num_tasks=2",
        "epochs=1",
        "model.nc.hidden=8", "logger=none", "progress=false", f"hydra.sweep.dir={tmp_path / 'm'}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert reproduce([str(tmp_path / "m"), "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "reproduction.csv")
    (row,) = table[(table["flag"] != "no runs") & (table["metric"] == "AP")].to_dict("records")
    assert (row["reference"], row["scenario"], row["inter_task_edges"]) == (
        "CGLB README", "classil", False
    )  # fmt: skip
    runs = load_sweep([tmp_path / "m"]).runs.set_index("run")["config"]
    edges = {run: inter_task_edges(run) for run in runs.index}
    assert sorted(edges.values()) == [False, True]
    assert row["config"] == runs[next(run for run, kept in edges.items() if not kept)]
