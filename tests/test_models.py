"""The backbones (model=gcn|gat|gin|sage): each layer against a dense hand computation, MAS's
exact `sample` importance and layer-wise evaluation for each, and every level x scenario
through the real configs."""

from __future__ import annotations

import dgl
import pytest
import torch
from helpers import build_trainer, tiny_nodes
from runs import FAST, make_cfg, results_under, run_cli
from test_layerwise_eval import batch_logits, whole_graph_logits
from test_mas_sample import (
    CHUNK,
    assert_same,
    consolidated,
    randomise_batch_norm,
    reference_importance,
)
from torch import nn
from torch.nn.functional import leaky_relu

from cgl.algorithms.mas import (
    GCClassILMASTrainer,
    LCClassILMASTrainer,
    LPTimeILMASTrainer,
    NCClassILMASMinibatchTrainer,
)
from cgl.config.errors import ConfigError
from cgl.datasets.synthetic.graphs import synthetic_graphs
from cgl.datasets.synthetic.links import synthetic_links
from cgl.models import GraphClassifier, LinkClassifier, LinkPredictor, NodeClassifier
from cgl.models.layers import GATLayers, GCNLayers, GINLayers, SAGELayers
from cgl.runtime.experiment import run
from cgl.scenarios.common import SUPPORTED
from cgl.scenarios.graphs import GCScenarioLoader
from cgl.scenarios.links import LCScenarioLoader, LPScenarioLoader
from cgl.scenarios.nodes import NCScenarioLoader
from cgl.trainers.graphs import graph_loader
from cgl.trainers.nodes import FieldBlocks, WholeGraph, with_self_loops

#: every backbone, with settings under which each of its parameters matters
LAYERS = {
    "gcn": GCNLayers(),
    "gat": GATLayers(heads=2, negative_slope=0.3),
    "gin": GINLayers(eps=0.3, learn_eps=True),
    "sage-mean": SAGELayers("mean"),
    "sage-gcn": SAGELayers("gcn"),
    "sage-pool": SAGELayers("pool"),
}


# ---- one layer against its dense formula ----------------------------------------------------
def tiny_directed_graph() -> tuple[dgl.DGLGraph, torch.Tensor, torch.Tensor]:
    """5 nodes, directed edges (in- and out-degrees differ) and self-loops, as the trainers
    give them; its features and its dense adjacency A[v, u] = edges u -> v."""
    src = torch.tensor([0, 0, 1, 2, 3, 3, 4, 1])
    dst = torch.tensor([1, 2, 2, 3, 1, 4, 0, 4])
    graph = dgl.add_self_loop(dgl.graph((src, dst)))
    adjacency = torch.zeros(5, 5)
    adjacency[graph.edges()[1], graph.edges()[0]] = 1.0
    return graph, torch.randn(5, 3), adjacency


def dense_layer(conv: nn.Module, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The layer's formula with dense matrices, reading the layer's weights."""
    if isinstance(conv, dgl.nn.GraphConv):  # D_in^-1/2 A D_out^-1/2 X W + b
        norm_in, norm_out = a.sum(1).pow(-0.5), a.sum(0).pow(-0.5)
        return norm_in[:, None] * a * norm_out[None, :] @ x @ conv.weight + conv.bias
    if isinstance(conv, dgl.nn.GATConv):  # per head: softmax over in-edges of scores
        heads, width = conv._num_heads, conv._out_feats
        z = (x @ conv.fc.weight.T).view(-1, heads, width)
        left = (z * conv.attn_l).sum(-1)  # [nodes, heads]
        right = (z * conv.attn_r).sum(-1)
        scores = leaky_relu(left[None, :, :] + right[:, None, :], conv.leaky_relu.negative_slope)
        scores = scores.masked_fill(a[:, :, None] == 0, float("-inf"))  # [dst, src, heads]
        attention = scores.softmax(1)
        out = torch.einsum("vuh,uhf->vhf", attention, z).reshape(-1, heads * width)
        return out + conv.bias
    if hasattr(conv, "mlp"):  # GIN: MLP((1 + eps) x_v + sum over in-neighbours)
        return conv.mlp((1 + conv.conv.eps) * x + a @ x)
    mean = a / a.sum(1, keepdim=True)  # SAGE
    if conv._aggre_type == "mean":
        return x @ conv.fc_self.weight.T + conv.fc_self.bias + mean @ x @ conv.fc_neigh.weight.T
    if conv._aggre_type == "gcn":  # (sum of in-neighbours + self) / (in-degree + 1)
        return (a @ x + x) / (a.sum(1, keepdim=True) + 1) @ conv.fc_neigh.weight.T + conv.bias
    pooled = torch.relu(x @ conv.fc_pool.weight.T + conv.fc_pool.bias)  # pool: max over in-edges
    neigh = (pooled[None, :, :] + (a[:, :, None] - 1) * 1e9).amax(1)
    return x @ conv.fc_self.weight.T + conv.fc_self.bias + neigh @ conv.fc_neigh.weight.T


@pytest.mark.parametrize("name", LAYERS)
def test_one_layer_equals_its_dense_formula(name):
    """NodeClassifier with one layer, no batch norm: head(relu(layer(A, X)))."""
    torch.manual_seed(0)
    graph, x, a = tiny_directed_graph()
    model = NodeClassifier(3, 2, hidden=4, num_layers=1, batch_norm=False, layer=LAYERS[name])
    for p in model.parameters():  # no zero biases: every term of the formula shows
        nn.init.uniform_(p, -1.0, 1.0)
    (conv,) = model.encoder.convs
    with torch.no_grad():
        want = model.head.linear(torch.relu(dense_layer(conv, x, a)))
        torch.testing.assert_close(model(graph, x), want, rtol=1e-5, atol=1e-6)
        if name == "gat":  # TWP's attention: the coefficients of every edge, per head
            attention: list = []
            model.encoder(graph, x, attention=attention)
            (got,) = attention
            src, dst = graph.edges()
            z = (x @ conv.fc.weight.T).view(5, 2, 2)
            scores = leaky_relu(
                (z * conv.attn_l).sum(-1)[src] + (z * conv.attn_r).sum(-1)[dst], 0.3
            )
            scores = (scores - scores.max()).exp()
            total = torch.zeros(5, 2).index_add_(0, dst, scores)
            torch.testing.assert_close(got.squeeze(-1), scores / total[dst])


# ---- MAS's exact `sample` importance, per backbone ------------------------------------------
def node_trainer(layer, trainer_cls=NCClassILMASMinibatchTrainer, **kwargs):
    torch.manual_seed(0)
    scenario = NCScenarioLoader(tiny_nodes(), "class", 4, seed=0)
    model = NodeClassifier(scenario.num_feats, scenario.num_classes, hidden=8, num_layers=2,
                           layer=layer)  # fmt: skip
    randomise_batch_norm(model)
    return build_trainer(trainer_cls, model, scenario, num_epochs=1, **kwargs)


@pytest.mark.parametrize("name", LAYERS)
def test_node_sample_importance_equals_per_item_loop(name):
    """Receptive-field copies (the minibatch trainer's) reproduce each layer's normalisation."""
    trainer = node_trainer(LAYERS[name], importance="sample", chunk_size=CHUNK)
    dataset = trainer.scenario.get_current_dataset()
    got = consolidated(trainer, dataset)
    graph = with_self_loops(dataset)
    outputs = trainer.model.observed_logits(graph, graph.ndata["feat"])[graph.ndata["train_mask"]]
    want = reference_importance(trainer.model, list(outputs))
    assert_same(got, want)
    if name in ("gat", "gin", "sage-gcn"):  # the layer's own parameters took part
        own = {"gat": "attn_l", "gin": "conv.eps", "sage-gcn": "convs.0.bias"}[name]
        assert any(own in key and float(value.abs().sum()) > 0 for key, value in got.items())


def level_model(level: str, layer):
    """A small model and MAS trainer of `layer` at link or graph level (importance=sample)."""
    torch.manual_seed(0)
    if level == "gc":
        scenario = GCScenarioLoader(synthetic_graphs(seed=0, num_graphs=80), "class", num_tasks=4)
        model = GraphClassifier(**scenario.model_kwargs(), hidden=8, num_layers=2, layer=layer)
        trainer_cls = GCClassILMASTrainer
    else:
        data = synthetic_links(level, 0, "classil" if level == "lc" else "timeil", num_feats=8,
                               num_nodes=60, num_edges=160)  # fmt: skip
        if level == "lc":
            scenario = LCScenarioLoader(data, "class", 3, metric="accuracy", seed=0)
            model = LinkClassifier(**scenario.model_kwargs(), hidden=8, num_layers=2, layer=layer)
            trainer_cls = LCClassILMASTrainer
        else:
            scenario = LPScenarioLoader(data, "time", 4, metric="hits@50", seed=0, num_negatives=5)
            model = LinkPredictor(**scenario.model_kwargs(), hidden=8, num_layers=2, layer=layer)
            trainer_cls = LPTimeILMASTrainer
    randomise_batch_norm(model)
    return build_trainer(trainer_cls, model, scenario, importance="sample", chunk_size=CHUNK)


@pytest.mark.parametrize("level", ["lc", "lp", "gc"])
@pytest.mark.parametrize("name", ["gat", "gin", "sage-mean"])
def test_link_and_graph_sample_importance_equals_per_item_loop(level, name):
    """Pairs in copies of their two ends' fields; graphs (with edge features) as they are."""
    trainer = level_model(level, LAYERS[name])
    dataset = trainer.scenario.get_current_dataset()
    got = consolidated(trainer, dataset, seed=7)
    if level == "gc":
        loader = graph_loader(dataset.split("train"), 1, shuffle=False)
        rows = [trainer.batch_outputs(trainer.model, batch)[0] for batch in loader]
    else:
        (batch,) = trainer.training_batches(dataset, {})
        torch.manual_seed(7)  # LP: the negatives drawn with the items
        rows = list(trainer.batch_outputs(trainer.model, batch))
    assert_same(got, reference_importance(trainer.model, rows))


# ---- evaluation: receptive field and whole graph give the whole graph's logits --------------
@pytest.mark.parametrize("name", LAYERS)
def test_layerwise_evaluation_equals_the_whole_graph_forward(name):
    trainer = node_trainer(LAYERS[name], NCClassILMASMinibatchTrainer, batch_size=4,
                           fanouts=[3, 3])  # fmt: skip
    dataset = trainer.scenario.get_current_dataset()
    trainer.processBeforeTraining(0, dataset, trainer.model, None, {})
    trainer.model.eval()
    graph = with_self_loops(dataset)
    few = graph.ndata["val_mask"]
    most = torch.ones_like(few)
    most[::7] = False
    for mask, kind in ((few, FieldBlocks), (most, WholeGraph)):
        (batch,) = trainer.eval_batches(graph, mask)
        assert isinstance(batch, kind)
        want = whole_graph_logits(trainer.model, graph, mask)
        torch.testing.assert_close(batch_logits(trainer, batch), want, rtol=0, atol=1e-5)


def test_sparse_features_are_densified_for_the_other_backbones():
    """Only GCN's first layer multiplies sparse features; GAT gets the same output from them
    as from the dense features."""
    torch.manual_seed(0)
    graph, x, _ = tiny_directed_graph()
    x = x * (torch.rand(5, 3) < 0.4)
    model = NodeClassifier(3, 2, hidden=4, num_layers=2, layer=LAYERS["gat"]).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(graph, x.to_sparse()), model(graph, x))


# ---- the configs -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.layer.heads=3", "multiple of model.layer.heads"),
        ("model.layer.aggregator=lstm", "order of neighbours"),
    ],
)
def test_bad_backbone_settings_are_refused(override, message):
    model = "gat" if "heads" in override else "sage"
    with pytest.raises(ConfigError, match=message):
        from cgl.config.validation import validate

        validate(make_cfg(f"model={model}", override, "logger=none"))


TINY = [
    *FAST[:2],
    "epochs=1",
    "num_tasks=2",
    "dataset.loader.nodes.num_nodes=200",
    "dataset.loader.links.num_nodes=200",
    "dataset.loader.links.num_edges=800",
    "dataset.loader.graphs.num_graphs=80",
    "method=mas",
]


@pytest.mark.parametrize("model", ["gat", "gin", "sage"])
def test_every_level_and_scenario_runs_mas(model, tmp_path):
    """Each supported level x scenario with MAS, in process, on tiny synthetic data (GCN's
    runs are the level tests' own)."""
    for level, scenarios in SUPPORTED.items():
        for scenario in scenarios:
            choices = [f"model={model}", f"level={level}", f"scenario={scenario}"]
            sizes = [f"model.{level}.hidden=16", f"model.{level}.num_layers=2"]
            if level == "lp":  # evaluation non-links the 200 nodes can hold
                sizes.append("level.scenario_kwargs.num_negatives=20")
            result = run(make_cfg(*TINY, *sizes, *choices), output_dir=tmp_path / level / scenario)
            assert result.status == "completed", (level, scenario, result)
            assert result.payload["choices"]["model"] == model


def test_model_sweep_from_the_command_line(tmp_path):
    """`-m model=...` is a sweep like any other: MAS's exact importance and minibatch training
    on each backbone, one job each, results recording the model."""
    proc = run_cli(
        *TINY,
        "model.nc.hidden=16",
        "model.nc.num_layers=2",
        "trainer=minibatch",
        "trainer.kwargs.fanouts=[5,5]",
        "method.kwargs.importance=sample",
        f"hydra.sweep.dir={tmp_path}",
        "-m",
        "model=gat,gin,sage",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_under(tmp_path)
    assert sorted(r["choices"]["model"] for r in results) == ["gat", "gin", "sage"]
    assert all(r["status"] == "completed" for r in results)


def test_validation_knows_the_sage_aggregators():
    from cgl.config.validation import SAGE_AGGREGATORS as CHECKED
    from cgl.models.layers import SAGE_AGGREGATORS

    assert CHECKED == SAGE_AGGREGATORS


def test_reports_select_and_show_each_model_apart():
    """A sweep over models: one row per model (the selection never picks across backbones),
    labelled with the model."""
    import pandas as pd

    from cgl.reports.aggregate import ROW, select_best
    from cgl.reports.render import row_labels

    block = {"dataset": "d", "level": "nc", "scenario": "classil", "method": "mas"}
    configs = pd.DataFrame(
        [
            block | {"model": m, "config": f"{m}-{lamb}", "val_AP_mean": val, "complete": True}
            for m, lamb, val in (("gcn", 1, 0.5), ("gcn", 10, 0.6), ("gat", 1, 0.9))
        ]
    )
    best = select_best(configs, ROW)
    assert sorted(best["config"]) == ["gat-1", "gcn-10"]
    assert sorted(row_labels(best)["Model"]) == ["GAT", "GCN"]
