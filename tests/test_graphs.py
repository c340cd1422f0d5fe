"""The graph level (GC): synthetic graphs, GCScenarioLoader, GCN graph model, GC trainers, MAS.

Unit tests run in-process on tiny data; the command-line tests cover every scenario x method
in one Hydra multirun, a lamb sweep, and `--help`.
"""

from __future__ import annotations

import itertools

import dgl
import numpy as np
import pytest
import torch
from helpers import build_trainer
from runs import FAST, REPO, make_cfg, results_under, run_cli

from cgl.algorithms import trainer_class
from cgl.algorithms.mas import GCClassILMASTrainer, GCTaskILMASTrainer
from cgl.config.errors import ConfigError
from cgl.datasets.base import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL, ContinualData
from cgl.datasets.synthetic.graphs import synthetic_graphs
from cgl.models.graph import GCNGraph
from cgl.runtime.experiment import run
from cgl.scenarios.graphs import GCScenarioLoader
from cgl.trainers.graphs import GCTrainer, with_self_loops

#: Command-line overrides for test-size GC runs (a second or two each).
SMALL_GC = [
    "logger=none", "progress=false", "epochs=2", "level=gc",
    "dataset.loader.graphs.num_graphs=160", "model.gc.hidden=16",
]  # fmt: skip


def tiny_graphs(seed: int = 0, **sizes) -> ContinualData:
    return synthetic_graphs(seed=seed, **({"num_graphs": 160} | sizes))


def make_gc_trainer(trainer_cls, incr_type="class", epochs=2, seed=0, **kwargs):
    """A trainer on tiny synthetic graphs with a small graph GCN, seeded like a CLI run."""
    torch.manual_seed(seed)
    scenario = GCScenarioLoader(tiny_graphs(seed), incr_type, num_tasks=4, seed=seed)
    model = GCNGraph(**scenario.model_kwargs(), hidden=16, num_layers=2)
    return build_trainer(trainer_cls, model, scenario, num_epochs=epochs, **kwargs)


# ---- synthetic data ---------------------------------------------------------------------------
def test_synthetic_graphs_are_deterministic_by_seed():
    first, again, other = tiny_graphs(0), tiny_graphs(0), tiny_graphs(1)
    for a, b in zip(first.graphs, again.graphs, strict=True):
        assert torch.equal(torch.stack(a.edges()), torch.stack(b.edges()))
        assert torch.equal(a.ndata["feat"], b.ndata["feat"])
        assert torch.equal(a.edata["feat"], b.edata["feat"])
    assert torch.equal(first.label, again.label) and torch.equal(first.time, again.time)
    assert not torch.equal(first.label, other.label)


def test_domains_shift_graph_size_and_density():
    data = synthetic_graphs(seed=0, num_graphs=400)
    nodes = torch.tensor([g.num_nodes() for g in data.graphs], dtype=torch.float)
    degree = torch.tensor([g.num_edges() / g.num_nodes() for g in data.graphs])
    per_domain = [
        (nodes[data.domain == d].mean(), degree[data.domain == d].mean()) for d in range(4)
    ]
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(per_domain))
    assert set(data.time.tolist()) == {0, 1, 2, 3}
    for graph in data.graphs[:20]:  # simple and undirected: both directions, no loops
        src, dst = graph.edges()
        assert not bool((src == dst).any())
        assert graph.has_edges_between(dst, src).all()


def test_edge_features_are_optional():
    data = tiny_graphs(num_edge_feats=0)
    assert "feat" not in data.graphs[0].edata
    scenario = GCScenarioLoader(data, "class", num_tasks=4)
    assert "in_edge_feats" not in scenario.model_kwargs()
    assert GCScenarioLoader(tiny_graphs(), "class", 4).model_kwargs()["in_edge_feats"] == 4


def edge_list(graph: dgl.DGLGraph) -> list:
    """(src, dst, features) of every edge, sorted: equal for graphs equal up to edge order."""
    return sorted(
        zip(*(t.tolist() for t in graph.edges()), graph.edata["feat"].tolist(), strict=True)
    )


def test_self_loops_keep_each_graph_together():
    graphs = [tiny_graphs().graphs[i] for i in range(3)]
    batched = with_self_loops(dgl.batch(graphs))
    for got, graph in zip(dgl.unbatch(batched), graphs, strict=True):
        want = dgl.add_self_loop(graph, fill_data=0.0)
        assert edge_list(got) == edge_list(want)


def test_minibatches_cover_each_training_graph_once():
    trainer = make_gc_trainer(GCTrainer, batch_size=16)
    dataset = trainer.scenario.get_current_dataset()
    train, _, _ = trainer.prepareLoader(dataset, {})
    batches = list(train)
    assert max(batch["graph"].batch_size for batch in batches) == 16
    seen = torch.cat([batch["index"] for batch in batches])
    assert sorted(seen.tolist()) == torch.nonzero(dataset.train_mask).view(-1).tolist()
    for batch in batches:
        assert torch.equal(batch["label"], dataset.label[batch["index"]])


# ---- MAS importance against a hand computation ------------------------------------------------
def tiny_labelled_graphs() -> ContinualData:
    """Task 0 (classes 0, 1): four training graphs, one val, one test; task 1: two graphs."""
    gen = torch.Generator().manual_seed(0)
    shapes = [[(0, 1), (1, 2), (2, 0)], [(0, 1), (1, 2)], [(0, 1), (0, 2), (0, 3)], [(0, 1)]] * 2
    graphs = []
    for pairs in shapes:
        u, v = torch.tensor(pairs).T
        graph = dgl.graph((torch.cat([u, v]), torch.cat([v, u])))
        graph.ndata["feat"] = torch.randn(graph.num_nodes(), 3, generator=gen)
        graph.edata["feat"] = torch.randn(graph.num_edges(), 2, generator=gen)  # per direction
        graphs.append(graph)
    split = [SPLIT_TRAIN] * 4 + [SPLIT_VAL, SPLIT_TEST, SPLIT_TRAIN, SPLIT_TRAIN]
    return ContinualData(
        name="tiny", level="gc", num_classes=4, graphs=graphs,
        label=torch.tensor([0, 1, 0, 1, 0, 1, 2, 3]), split=torch.tensor(split),
    )  # fmt: skip


def dense_observed_logits(params: dict, graph: dgl.DGLGraph, model: GCNGraph) -> torch.Tensor:
    """GCNGraph's observed logits for one graph, re-derived with dense matrices from the
    formulas (GraphConv 'both' norm with self-loops, edge term, BN in eval, mean readout)."""
    n = graph.num_nodes()
    src, dst = graph.edges()
    adj = torch.eye(n)
    adj[dst, src] = 1.0  # adj[v, u]: an edge u -> v
    edge_feats = torch.zeros(n, n, graph.edata["feat"].shape[1])
    edge_feats[dst, src] = graph.edata["feat"]
    in_norm, out_norm = adj.sum(1).pow(-0.5), adj.sum(0).pow(-0.5)
    norm_adj = in_norm[:, None] * adj * out_norm[None, :]
    h = graph.ndata["feat"]
    for i, bn in enumerate(model.encoder.norms):
        layer = {
            name[len(f"encoder.convs.{i}.") :]: p
            for name, p in params.items()
            if name.startswith(f"encoder.convs.{i}.")
        }
        conv = norm_adj @ h @ layer["conv.weight"] + layer["conv.bias"]
        edge = torch.einsum("vu,vuf->vf", norm_adj, edge_feats) @ layer["edge.weight"].T
        x = (conv + edge - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
        h = torch.relu(x * params[f"encoder.norms.{i}.weight"] + params[f"encoder.norms.{i}.bias"])
    logits = h.mean(0) @ params["head.linear.weight"].T + params["head.linear.bias"]
    return logits[model.head.observed]


@pytest.mark.parametrize(("batch_size", "one_batch"), [(1, False), (128, True)])
def test_mas_importance_equals_hand_computation(batch_size, one_batch):
    """BeGin's estimator: per batch |d/dθ mean_g ||o_g||²|, weighted by batch size. With one
    graph per batch that is mean_g |∇ ||o_g||²|; with every graph in one batch it is
    |mean_g ∇ ||o_g||²|. Both are checked against gradients of a dense re-derivation."""
    torch.manual_seed(0)
    scenario = GCScenarioLoader(tiny_labelled_graphs(), "class", num_tasks=2)
    model = GCNGraph(**scenario.model_kwargs(), hidden=5, num_layers=2)
    for bn in model.encoder.norms:  # non-trivial running statistics for the eval-mode BN
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    trainer = GCClassILMASTrainer(
        model, scenario, torch.optim.Adam, torch.nn.CrossEntropyLoss(), "cpu",
        batch_size=batch_size, progress=False,
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters())
    states = trainer.initTrainingStates(scenario, model, optimizer)
    dataset = scenario.get_current_dataset()
    trainer.processBeforeTraining(0, dataset, model, optimizer, states)
    trainer.processAfterTraining(0, dataset, model, optimizer, states)
    omega = states["mas"].omega

    model.eval()
    params = {n: p.detach().clone().requires_grad_() for n, p in model.named_parameters()}
    per_graph = []
    for graph in scenario.data.graphs[:4]:  # the training graphs of task 0
        norm = dense_observed_logits(params, graph, model).pow(2).sum()
        grads = torch.autograd.grad(norm, list(params.values()), allow_unused=True)
        per_graph.append(
            [
                torch.zeros_like(p) if g is None else g
                for p, g in zip(params.values(), grads, strict=True)
            ]
        )
    mean_of_abs = {
        n: torch.stack([g[i].abs() for g in per_graph]).mean(0) for i, n in enumerate(params)
    }
    abs_of_mean = {
        n: torch.stack([g[i] for g in per_graph]).mean(0).abs() for i, n in enumerate(params)
    }
    expected = abs_of_mean if one_batch else mean_of_abs

    assert set(omega) == set(params)
    for name in params:
        torch.testing.assert_close(omega[name], expected[name], rtol=1e-4, atol=1e-6)
    assert omega["head.linear.weight"][2:].abs().sum() == 0  # unobserved classes: no importance
    differs = any(not torch.allclose(mean_of_abs[n], abs_of_mean[n]) for n in params)
    assert differs, "the two batchings must give different importances here"


# ---- Task-IL, label hiding ----------------------------------------------------------------------
@pytest.mark.parametrize("trainer_cls", [GCTaskILMASTrainer, GCTrainer])
def test_task_il_predictions_stay_in_the_task(trainer_cls):
    trainer = make_gc_trainer(trainer_cls, incr_type="task")
    scenario, recorded = trainer.scenario, []
    for hook in ("record_initial", "next_task"):
        original = getattr(scenario, hook)

        def spy(views, preds, original=original):
            recorded.append((views, preds))
            return original(views, preds)

        setattr(scenario, hook, spy)
    trainer.run()
    assert len(recorded) == 1 + scenario.num_tasks
    for views, preds in recorded:
        for view, pred in zip(views, preds, strict=True):
            allowed = scenario.task_class_mask()[scenario.task_of_item[view.item_ids]]
            assert bool(allowed[torch.arange(pred.numel()), pred].all())


def test_task_il_mas_refuses_batches_without_task_masks():
    trainer = make_gc_trainer(GCTaskILMASTrainer, incr_type="class")
    batch = next(iter(trainer.prepareLoader(trainer.scenario.get_current_dataset(), {})[0]))
    with pytest.raises(ValueError, match="task_mask"):
        trainer.inference(trainer.model, batch, {})


@pytest.mark.parametrize(
    ("method", "scenario", "incr_type"),
    [("mas", "classil", "class"), ("joint", "timeil", "time"), ("bare", "taskil", "task")],
)
def test_no_test_or_future_label_reaches_the_trainer(method, scenario, incr_type):
    trainer = make_gc_trainer(trainer_class(method, "gc", scenario, False), incr_type=incr_type)
    loader, handed = trainer.scenario, []
    truth = loader.data.label
    for name in ("get_current_dataset", "get_accumulated_dataset"):
        original = getattr(loader, name)

        def spy(original=original, accumulated=name == "get_accumulated_dataset"):
            dataset = original()
            tasks = range(loader.current_task + 1) if accumulated else [loader.current_task]
            handed.append((dataset, loader.current_item_ids(), list(tasks)))
            return dataset

        setattr(loader, name, spy)
    original_views = loader.eval_views

    def spy_views():
        views = original_views()
        handed.extend((view.dataset, view.item_ids, []) for view in views)
        return views

    loader.eval_views = spy_views
    trainer.run()
    assert len(handed) == 2 * loader.num_tasks + 1
    for dataset, item_ids, tasks in handed:
        shown = dataset.label >= 0
        ids = item_ids[shown]
        assert torch.isin(loader.task_of_item[ids], torch.tensor(tasks, dtype=torch.long)).all()
        assert bool((loader.split_of_item[ids] != SPLIT_TEST).all())
        assert torch.equal(dataset.label[shown], truth[ids])
        for graph in dataset.graphs:  # no label travels inside the graphs either
            assert set(graph.ndata) == {"feat"} and set(graph.edata) <= {"feat"}


def test_binary_score_metric_predicts_scores():
    data = tiny_graphs(num_classes=2)
    scenario = GCScenarioLoader(data, "domain", num_tasks=2, metric="rocauc")
    model = GCNGraph(**scenario.model_kwargs(), hidden=16, num_layers=2)
    trainer = GCTrainer(
        model, scenario, torch.optim.Adam, torch.nn.CrossEntropyLoss(), "cpu",
        num_epochs=2, progress=False,
    )  # fmt: skip
    matrices = trainer.run()
    assert np.isfinite(matrices["test"]).all() and matrices["test"].shape == (2, 3)
    with pytest.raises(ConfigError, match="binary"):
        GCScenarioLoader(tiny_graphs(), "domain", num_tasks=2, metric="rocauc")


def test_same_seed_same_matrices():
    first = make_gc_trainer(GCClassILMASTrainer).run()
    again = make_gc_trainer(GCClassILMASTrainer).run()
    np.testing.assert_array_equal(first["test"], again["test"])
    np.testing.assert_array_equal(first["init_val"], again["init_val"])


# ---- learning and forgetting --------------------------------------------------------------------
def test_bare_fine_tuning_learns_then_forgets_in_class_il(tmp_path):
    """At the default size, 30 epochs per task."""
    cfg = make_cfg(*FAST, "level=gc", "method=bare", "epochs=30")
    result = run(cfg, output_dir=tmp_path)
    matrix = np.array(result.payload["matrices"]["test"], dtype=float)
    assert np.diag(matrix)[:4].min() > 0.7  # every two-class task is learnt when it is current
    assert result.summary["AF"] < -0.5


# ---- the command line ---------------------------------------------------------------------------
def test_every_gc_scenario_and_method_completes(tmp_path):
    proc = run_cli(
        *SMALL_GC,
        f"hydra.sweep.dir={tmp_path}",
        "-m",
        "scenario=classil,taskil,domainil,timeil",
        "method=mas,bare,joint",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_under(tmp_path)
    assert {(r["choices"]["scenario"], r["choices"]["method"]) for r in results} == {
        (s, m)
        for s in ("classil", "taskil", "domainil", "timeil")
        for m in ("mas", "bare", "joint")
    }
    assert len(results) == 12
    for r in results:
        n = r["num_tasks"]
        assert r["status"] == "completed" and r["choices"]["level"] == "gc"
        assert np.array(r["matrices"]["test"], dtype=float).shape == (n, n + 1)
        assert np.array(r["matrices"]["val"], dtype=float).shape == (n, n + 1)
        if r["choices"]["method"] == "mas":
            scenario = {
                "classil": "ClassIL",
                "taskil": "TaskIL",
                "domainil": "DomainIL",
                "timeil": "TimeIL",
            }
            assert r["trainer_class"] == f"GC{scenario[r['choices']['scenario']]}MASTrainer"


def test_gc_lamb_sweep_as_users_type_it(tmp_path):
    proc = run_cli(
        *SMALL_GC, "scenario=classil", f"hydra.sweep.dir={tmp_path}", "-m", "lamb=1,10,100"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_under(tmp_path)
    assert sorted(r["hyperparameters"]["lamb"] for r in results) == [1, 10, 100]
    assert {r["method_kwargs"]["lamb"] for r in results} == {1, 10, 100}
    assert all(r["trainer_class"] == "GCClassILMASTrainer" for r in results)


def test_help_lists_every_group_and_option():
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr[-3000:]
    listing = proc.stdout.split("Options:")[1].split("== Root keys")[0]
    lines = {line.partition(":")[0]: line.partition(":")[2] for line in listing.splitlines()}
    groups = [d for d in sorted((REPO / "conf").iterdir()) if d.is_dir() and d.name != "hydra"]
    assert {"level", "scenario", "method", "model", "dataset", "logger"} <= {d.name for d in groups}
    for group in groups:
        listed = {option.strip() for option in lines[group.name].split(",")}
        assert {path.stem for path in group.glob("*.yaml")} <= listed, group.name
    assert {"nc", "lc", "lp", "gc"} <= {o.strip() for o in lines["level"].split(",")}
