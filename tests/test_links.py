"""Link level (LC, LP): synthetic data, scenarios, negatives, MAS importance, and the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import build_trainer
from runs import FAST, make_cfg, results_under, run_cli

from cgl.algorithms.mas import LCClassILMASTrainer, LPTimeILMASTrainer
from cgl.config.errors import ConfigError
from cgl.datasets.synthetic.links import synthetic_links
from cgl.models import GCNLinkClassifier, GCNLinkPredictor
from cgl.runtime.experiment import build_scenario, load_dataset, run, trainer_kwargs, validate
from cgl.scenarios.common import SPLIT_CODES
from cgl.scenarios.link_data import pair_keys
from cgl.scenarios.links import LCScenarioLoader, LPScenarioLoader
from cgl.trainers import LCTrainer, LPTrainer

LOADERS = {"lc": LCScenarioLoader, "lp": LPScenarioLoader}
METRICS = {("lc", "time"): "rocauc", ("lc", "class"): "accuracy", ("lc", "task"): "accuracy"}


def link_scenario(level, incr_type, num_tasks=4, seed=0, loader_kw=None, **data_kw):
    scenario = {"time": "timeil", "class": "classil", "task": "taskil"}.get(incr_type, "domainil")
    data = synthetic_links(level, seed, scenario, **{"num_feats": 8, **data_kw})
    metric = METRICS.get((level, incr_type), "hits@50")
    return LOADERS[level](data, incr_type, num_tasks, metric=metric, seed=seed, **(loader_kw or {}))


def make_link_trainer(trainer_cls, scenario, **model_kw):
    """A trainer with a small link model (`model_kw` overrides its sizes)."""
    torch.manual_seed(0)
    model_cls = GCNLinkClassifier if scenario.level == "lc" else GCNLinkPredictor
    model = model_cls(**scenario.model_kwargs(), **{"hidden": 8, "num_layers": 2, **model_kw})
    return build_trainer(trainer_cls, model, scenario)


def keys_of(src, dst, num_nodes) -> set[int]:
    return set(pair_keys(src, dst, num_nodes).tolist())


def advance(scenario) -> None:
    """Move the scenario to its next task with placeholder predictions."""
    views = scenario.eval_views()
    scenario.next_task(views, [torch.zeros(v.item_ids.numel()) for v in views])


# ---- synthetic data -------------------------------------------------------------------------
def test_synthetic_links_are_deterministic_by_seed():
    a, b = synthetic_links("lc", 3, "classil"), synthetic_links("lc", 3, "classil")
    assert all(torch.equal(x, y) for x, y in zip(a.graph.edges(), b.graph.edges(), strict=True))
    assert torch.equal(a.graph.ndata["feat"], b.graph.ndata["feat"])
    assert torch.equal(a.label, b.label) and torch.equal(a.time, b.time)
    other = synthetic_links("lc", 4, "classil")
    assert not torch.equal(a.graph.ndata["feat"], other.graph.ndata["feat"])


def test_synthetic_links_labels_per_level_and_scenario():
    classes = synthetic_links("lc", 0, "classil")
    assert classes.num_classes == 6 and set(classes.label.unique().tolist()) == set(range(6))
    binary = synthetic_links("lc", 0, "timeil")
    assert binary.num_classes == 2 and set(binary.label.unique().tolist()) == {0, 1}
    links = synthetic_links("lp", 0, "timeil")
    assert bool((links.label == 1).all())
    for data in (classes, binary, links):
        src, dst = data.graph.edges()
        assert bool((src != dst).all())
        assert len(keys_of(src, dst, data.graph.num_nodes())) == data.num_items  # distinct


# ---- Time-IL: the graph grows, nothing of a later time leaks -----------------------------------
@pytest.mark.parametrize("level", ["lc", "lp"])
def test_no_future_link_is_visible_in_an_earlier_task(level):
    """At task t no link of a later task is an edge of any graph the trainer gets (current,
    accumulated, evaluation views) nor a pair of its training data; the graph grows."""
    scenario = link_scenario(level, "time", num_nodes=300, num_edges=1200)
    num_nodes = scenario.data.graph.num_nodes()
    link_task = scenario.arrival  # the task of each link, by its time step
    previous: set[int] = set()
    for task in range(scenario.num_tasks):
        later = link_task > task
        future = keys_of(scenario.src[later], scenario.dst[later], num_nodes)
        assert future or task == scenario.num_tasks - 1
        current = scenario.get_current_dataset()
        graphs = [current.graph, scenario.get_accumulated_dataset().graph]
        graphs += [view.dataset.graph for view in scenario.eval_views()]
        for graph in graphs:
            assert not keys_of(*graph.edges(), num_nodes) & future
        assert not keys_of(current.pairs[:, 0], current.pairs[:, 1], num_nodes) & future
        seen = keys_of(*current.graph.edges(), num_nodes)
        assert previous < seen, "the graph must grow with every task"
        previous = seen
        advance(scenario)


def test_lp_graph_holds_no_val_or_test_link():
    for incr_type in ("time", "domain"):
        scenario = link_scenario("lp", incr_type, num_nodes=300, num_edges=1200)
        num_nodes = scenario.data.graph.num_nodes()
        held_out = scenario.split_of_item != SPLIT_CODES["train"]
        hidden = keys_of(scenario.src[held_out], scenario.dst[held_out], num_nodes)
        for _ in range(scenario.num_tasks):
            assert not keys_of(*scenario.get_current_dataset().graph.edges(), num_nodes) & hidden
            advance(scenario)


# ---- negatives --------------------------------------------------------------------------------
@pytest.mark.parametrize("incr_type", ["time", "domain"])
def test_evaluation_negatives_never_coincide_with_a_link(incr_type):
    """Rule: a task's val/test negatives are distinct pairs of distinct endpoints of the task's
    links, never a link of the dataset (any task, split or time): zero coincidences."""
    scenario = link_scenario(
        "lp", incr_type, num_nodes=300, num_edges=1200, loader_kw={"num_negatives": 100}
    )
    num_nodes = scenario.data.graph.num_nodes()
    links = keys_of(scenario.src, scenario.dst, num_nodes)
    negative = scenario.candidate_truth == 0
    for task in range(scenario.num_tasks):
        mine = negative & (scenario.candidate_task == task)
        pairs = scenario.candidate_pairs[mine]
        assert pairs.shape[0] == 200  # 100 val + 100 test
        assert set(scenario.candidate_split[mine].tolist()) == {
            SPLIT_CODES["val"],
            SPLIT_CODES["test"],
        }
        keys = pair_keys(pairs[:, 0], pairs[:, 1], num_nodes).tolist()
        assert not set(keys) & links
        assert len(set(keys)) == len(keys)
        assert bool((pairs[:, 0] != pairs[:, 1]).all())
        in_task = scenario.task_of_item == task
        nodes = set(torch.cat([scenario.src[in_task], scenario.dst[in_task]]).tolist())
        assert set(pairs.view(-1).tolist()) <= nodes


def test_level_config_sets_the_negative_counts():
    cfg = make_cfg("level=lp", "scenario=timeil", "level.scenario_kwargs.num_negatives=7")
    scenario = build_scenario(cfg, load_dataset(cfg))
    negatives = scenario.candidate_truth == 0
    for task in range(scenario.num_tasks):
        for split in ("val", "test"):
            in_split = scenario.candidate_split == SPLIT_CODES[split]
            assert int((negatives & in_split & (scenario.candidate_task == task)).sum()) == 7
    cfg = make_cfg("level=lp", "scenario=timeil", "level.trainer_kwargs.negative_ratio=3")
    assert trainer_kwargs(cfg) == {"negative_ratio": 3}
    with pytest.raises(ConfigError, match="positive integer"):
        validate(make_cfg("level=lp", "scenario=timeil", "level.scenario_kwargs.num_negatives=0"))
    cfg = make_cfg("level=lp", "scenario=timeil", "level.scenario_kwargs.num_negatives=10000000")
    with pytest.raises(ConfigError, match=r"Lower level\.scenario_kwargs\.num_negatives"):
        build_scenario(cfg, load_dataset(cfg))


def test_training_negatives_hit_hidden_links_only_by_chance():
    """Rule: training negatives are drawn uniformly among pairs of the batch's endpoints and are
    never an edge of the visible graph; a hidden (val/test) link can only be hit by chance, at
    the rate uniform sampling gives: within 4 standard deviations of that rate, both ways."""
    scenario = link_scenario(
        "lp", "domain", num_tasks=1, num_nodes=120, num_edges=900, num_domains=1
    )
    trainer = make_link_trainer(LPTrainer, scenario)
    (batch,), _, _ = trainer.prepareLoader(scenario.get_current_dataset(), {})
    num_nodes = batch.graph.num_nodes()
    nodes = set(torch.unique(batch.pairs).tolist())
    visible = keys_of(*batch.graph.edges(), num_nodes)
    hidden = keys_of(scenario.src, scenario.dst, num_nodes) - visible
    torch.manual_seed(0)
    drawn = []
    for _ in range(30):
        full = trainer.with_negatives(batch)
        drawn.append(full.pairs[full.labels == 0])
    negatives = torch.cat(drawn)
    keys = pair_keys(negatives[:, 0], negatives[:, 1], num_nodes)
    assert not set(keys.tolist()) & visible
    assert bool((negatives[:, 0] != negatives[:, 1]).all())

    def within(key: int) -> bool:
        return key // num_nodes in nodes and key % num_nodes in nodes

    n = len(nodes)
    allowed = n * (n - 1) - 2 * sum(within(k) for k in visible if k // num_nodes != k % num_nodes)
    rate = 2 * sum(within(k) for k in hidden) / allowed
    expected = rate * keys.numel()
    hits = int(torch.isin(keys, torch.tensor(sorted(hidden))).sum())
    assert expected > 20, "the check needs enough expected hits to mean something"
    assert abs(hits - expected) <= 4 * math.sqrt(expected) + 1


# ---- MAS importance for link models, against a plain-torch computation ---------------------
def dense_link_outputs(params, prefix, dataset, pairs) -> torch.Tensor:
    """The link model's pair representation, written with a dense adjacency, without DGL."""
    num_nodes = dataset.graph.num_nodes()
    src, dst = dataset.graph.edges()
    adj = torch.zeros(num_nodes, num_nodes)
    adj[dst, src] = 1.0
    adj.fill_diagonal_(1.0)  # the trainer's self-loops
    norm = adj.sum(1).pow(-0.5)
    h = dataset.graph.ndata["feat"]
    h = (norm[:, None] * adj * norm[None, :]) @ h @ params[f"{prefix}encoder.convs.0.weight"]
    h = torch.relu(h + params[f"{prefix}encoder.convs.0.bias"])
    z = h[pairs[:, 0]] * h[pairs[:, 1]]
    return torch.relu(z @ params[f"{prefix}pair.0.weight"].T + params[f"{prefix}pair.0.bias"])


def expected_importance(model, outputs_fn) -> dict[str, torch.Tensor]:
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    loss = outputs_fn(params).pow(2).sum(-1).mean()
    grads = torch.autograd.grad(loss, list(params.values()))
    return {n: g.abs() for n, g in zip(params, grads, strict=True)}


def consolidated_importance(trainer, dataset) -> dict[str, torch.Tensor]:
    states = trainer.initTrainingStates(trainer.scenario, trainer.model, None)
    trainer.processBeforeTraining(0, dataset, trainer.model, None, states)
    trainer.processAfterTraining(0, dataset, trainer.model, None, states)
    return states["mas"].omega


def test_mas_importance_of_link_classifier_equals_dense_computation():
    scenario = link_scenario("lc", "class", num_tasks=3, num_nodes=40, num_edges=160)
    trainer = make_link_trainer(
        LCClassILMASTrainer, scenario, hidden=4, num_layers=1, batch_norm=False
    )
    dataset = scenario.get_current_dataset()
    got = consolidated_importance(trainer, dataset)
    train = dataset.pairs[dataset.train_mask]
    observed = sorted(dataset.label[dataset.train_mask].unique().tolist())
    assert observed == scenario.task_classes[0]

    def outputs(params):
        z = dense_link_outputs(params, "pairs.", dataset, train)
        return (z @ params["head.linear.weight"].T + params["head.linear.bias"])[:, observed]

    want = expected_importance(trainer.model, outputs)
    assert set(got) == set(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name])
    assert float(got["head.linear.weight"][2:].abs().sum()) == 0.0  # unobserved class rows


def test_mas_importance_of_link_predictor_uses_positive_and_negative_scores(monkeypatch):
    scenario = link_scenario(
        "lp", "time", num_nodes=40, num_edges=120, loader_kw={"num_negatives": 5}
    )
    trainer = make_link_trainer(
        LPTimeILMASTrainer, scenario, hidden=4, num_layers=1, batch_norm=False
    )
    dataset = scenario.get_current_dataset()
    positives = dataset.pairs[dataset.train_mask]
    negatives = torch.randint(
        0, 40, (positives.shape[0], 2), generator=torch.Generator().manual_seed(1)
    )
    # the sampler is the trainer's business (tested above); fixed here to compute by hand
    monkeypatch.setattr("cgl.trainers.links.sample_negative_pairs", lambda *a, **k: negatives)
    got = consolidated_importance(trainer, dataset)

    def outputs(params):
        z = dense_link_outputs(params, "pairs.", dataset, torch.cat([positives, negatives]))
        return z @ params["score.weight"].T + params["score.bias"]

    want = expected_importance(trainer.model, outputs)
    for name in want:
        torch.testing.assert_close(got[name], want[name])


# ---- level trainers ---------------------------------------------------------------------------
def test_lc_time_il_is_binary_and_predicts_scores():
    scenario = link_scenario("lc", "time", num_nodes=200, num_edges=800)
    assert scenario.binary and scenario.metric == "rocauc"
    trainer = make_link_trainer(LCTrainer, scenario)
    dataset = scenario.get_current_dataset()
    trainer.processBeforeTraining(0, dataset, trainer.model, None, {})
    assert trainer.model.head.observed.tolist() == [True, True]
    _, (val_batch,), _ = trainer.prepareLoader(dataset, {})
    preds, stats = trainer.processEvalIteration(trainer.model, val_batch)
    assert preds.is_floating_point() and preds.shape == val_batch.labels.shape
    assert stats["n"] == preds.shape[0]


def test_lc_task_il_predicts_only_the_task_classes():
    scenario = link_scenario("lc", "task", num_tasks=3, num_nodes=200, num_edges=800)
    trainer = make_link_trainer(LCTrainer, scenario)
    trainer.model.observe_labels(torch.arange(scenario.num_classes))  # every class on
    (view,) = scenario.eval_views()
    _, _, (batch,) = trainer.prepareLoader(view.dataset, {})
    preds, _ = trainer.processEvalIteration(trainer.model, batch)
    allowed = scenario.task_class_mask()[scenario.task_of_item[view.item_ids]]
    assert bool(allowed[torch.arange(preds.numel()), preds].all())


@pytest.mark.parametrize(
    ("trainer_cls", "level", "incr_type"),
    [(LCClassILMASTrainer, "lc", "class"), (LPTimeILMASTrainer, "lp", "time")],
)
def test_same_seed_same_matrices(trainer_cls, level, incr_type):
    """Negatives are drawn from torch's seeded generator: a rerun repeats every number."""
    runs = []
    for _ in range(2):
        scenario = link_scenario(level, incr_type, num_tasks=3, num_nodes=200, num_edges=800)
        runs.append(make_link_trainer(trainer_cls, scenario).run(epoch_per_task=3))
    for key in ("test", "val", "init_test"):
        np.testing.assert_array_equal(runs[0][key], runs[1][key])


@pytest.mark.parametrize(
    ("level", "scenario_name"), [("lc", "domainil"), ("lp", "taskil"), ("lp", "classil")]
)
def test_unsupported_link_pairs_are_refused(level, scenario_name):
    with pytest.raises(
        ConfigError, match=r"not supported.*lc: taskil, classil, timeil; lp: domainil"
    ):
        validate(make_cfg(f"level={level}", f"scenario={scenario_name}"))


@pytest.mark.parametrize(
    ("level", "scenario_name", "min_diagonal"),
    [("lc", "classil", 0.8), ("lc", "timeil", 0.8), ("lp", "domainil", 0.3)],  # Hits@50 chance ~0.1
)
def test_bare_fine_tuning_learns_each_task_then_forgets(
    tmp_path, level, scenario_name, min_diagonal
):
    cfg = make_cfg(
        "logger=none",
        "progress=false",
        "method=bare",
        "epochs=40",
        f"level={level}",
        f"scenario={scenario_name}",
        f"model.{level}.hidden=64",
    )
    result = run(cfg, output_dir=tmp_path)
    matrix = np.array(result.payload["matrices"]["test"], dtype=float)
    n = result.payload["num_tasks"]
    assert np.diag(matrix[:, :n]).mean() > min_diagonal
    assert result.summary["AF"] < -0.1


# ---- the real command line --------------------------------------------------------------------
SMALL = [*FAST, "epochs=2"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("level", "scenarios", "metrics"),
    [
        ("lc", "taskil,classil,timeil", {"accuracy", "rocauc"}),
        ("lp", "domainil,timeil", {"hits@50"}),
    ],
)
def test_every_link_scenario_and_method_completes(tmp_path, level, scenarios, metrics):
    proc = run_cli(
        *SMALL,
        f"level={level}",
        f"hydra.sweep.dir={tmp_path}",
        "-m",
        f"scenario={scenarios}",
        "method=mas,bare,joint",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_under(tmp_path)
    expected = {(s, m) for s in scenarios.split(",") for m in ("mas", "bare", "joint")}
    assert {(r["choices"]["scenario"], r["choices"]["method"]) for r in results} == expected
    assert {r["metric"] for r in results} == metrics
    for r in results:
        n = r["num_tasks"]
        assert r["status"] == "completed", r["message"]
        for split in ("test", "val"):
            matrix = np.array(r["matrices"][split], dtype=float)
            assert matrix.shape == (n, n + 1)
            assert np.isfinite(matrix).all()
        assert ("MAS" in r["trainer_class"]) == (r["choices"]["method"] == "mas")


@pytest.mark.slow
def test_lc_time_il_lamb_sweep_as_users_type_it(tmp_path):
    proc = run_cli(
        *SMALL, f"hydra.sweep.dir={tmp_path}", "level=lc", "scenario=timeil", "-m", "lamb=1,10,100"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_under(tmp_path)
    assert len(results) == 3
    assert sorted(r["hyperparameters"]["lamb"] for r in results) == [1, 10, 100]
    assert {r["method_kwargs"]["lamb"] for r in results} == {1, 10, 100}
    for r in results:
        assert r["trainer_class"] == "LCTimeILMASTrainer"
        assert r["metric"] == "rocauc"
        n = r["num_tasks"]
        matrix = np.array(r["matrices"]["test"], dtype=float)
        assert matrix.shape == (n, n + 1)
        assert ((matrix >= 0) & (matrix <= 1)).all()
