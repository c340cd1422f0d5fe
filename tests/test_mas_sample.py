"""MAS's `sample` estimator: exact per-item importance at every level, against a plain loop.

The reference differentiates ||o_i||² once per item on the original data (the single graph,
the single molecule), with the trainer's own outputs; the estimator must match it although
it runs one backward pass per chunk of items in independent copies.
"""

from __future__ import annotations

import dgl
import pytest
import torch
from dgl.nn import GraphConv
from helpers import build_trainer, make_trainer, path_graph, tiny_nodes
from runs import FAST, results_under, run_cli
from torch import nn

from cgl.algorithms.mas import (
    GCClassILMASTrainer,
    LCClassILMASTrainer,
    LPTimeILMASTrainer,
    MASRegularizer,
    NCClassILMASMinibatchTrainer,
    NCClassILMASTrainer,
    batch_importance,
)
from cgl.algorithms.per_item import sample_importance
from cgl.config.errors import ConfigError
from cgl.datasets.layout import in_layout
from cgl.datasets.synthetic.graphs import synthetic_graphs
from cgl.datasets.synthetic.links import synthetic_links
from cgl.models import GCNLinkClassifier, GCNLinkPredictor, GCNNode
from cgl.models.graph import GCNGraph
from cgl.scenarios.graphs import GCScenarioLoader
from cgl.scenarios.link_data import LinkDataset
from cgl.scenarios.links import LCScenarioLoader, LPScenarioLoader
from cgl.scenarios.nodes import NCScenarioLoader
from cgl.trainers.copies import ItemCopies, ReceptiveFields
from cgl.trainers.graphs import graph_loader
from cgl.trainers.nodes import with_self_loops

CHUNK = 5  # small, so that every level has several chunks and a partial last one


def graph_copies(graph: dgl.DGLGraph, num_copies: int) -> tuple[dgl.DGLGraph, torch.Tensor]:
    """`num_copies` whole copies of `graph` in one graph, and each node's copy: for the tests
    of the per-item rules, which need no receptive-field cut."""
    owner = torch.arange(num_copies).repeat_interleave(graph.num_nodes())
    return dgl.batch([graph] * num_copies), owner


def randomise_batch_norm(model: nn.Module) -> None:
    """Non-trivial running statistics and affine weights, for the eval-mode batch norms."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.5, 0.5)


def reference_importance(model: nn.Module, rows: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """mean_i |d/dθ ||o_i||²|, one autograd.grad per item: the plain loop the estimator avoids."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    for row in rows:
        grads = torch.autograd.grad(
            row.pow(2).sum(), list(params.values()), retain_graph=True, allow_unused=True
        )
        for name, grad in zip(params, grads, strict=True):
            if grad is not None:
                total[name] += grad.abs()
    return {n: value / len(rows) for n, value in total.items()}


def consolidated(trainer, dataset, seed: int = 0) -> dict[str, torch.Tensor]:
    """Ω after the trainer's own MAS consolidation of task 0 (importance=sample)."""
    states = trainer.initTrainingStates(trainer.scenario, trainer.model, None)
    trainer.processBeforeTraining(0, dataset, trainer.model, None, states)  # observe classes
    torch.manual_seed(seed)  # LP: the negatives drawn with the items
    trainer.processAfterTraining(0, dataset, trainer.model, None, states)
    trainer.model.eval()  # the references, like the consolidation, see the model as it predicts
    return states["mas"].omega


def assert_same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6, msg=name)


# ---- exactness at every level ---------------------------------------------------------------
@pytest.mark.parametrize("trainer_cls", [NCClassILMASTrainer, NCClassILMASMinibatchTrainer])
def test_node_level_equals_per_item_loop(trainer_cls):
    """Batch norm in eval mode, two of eight classes observed (the other logits are masked);
    the minibatch trainer takes the same receptive-field copies."""
    trainer = make_trainer(trainer_cls, importance="sample", chunk_size=CHUNK)
    randomise_batch_norm(trainer.model)
    dataset = trainer.scenario.get_current_dataset()
    got = consolidated(trainer, dataset)
    assert int(trainer.model.head.observed.sum()) == 2

    graph = with_self_loops(dataset)
    outputs = trainer.model.observed_logits(graph, graph.ndata["feat"])[graph.ndata["train_mask"]]
    assert outputs.shape[0] > 3 * CHUNK
    assert_same(got, reference_importance(trainer.model, list(outputs)))
    assert float(got["head.linear.weight"][~trainer.model.head.observed].abs().sum()) == 0.0


def test_node_level_with_sparse_features_equals_per_item_loop():
    """The first layer reads sparse features (cgl.models.sparse_input): same rule, same Ω."""
    trainer = make_trainer(NCClassILMASTrainer, importance="sample", chunk_size=CHUNK)
    randomise_batch_norm(trainer.model)
    graph = trainer.scenario.data.graph
    keep = torch.rand(graph.ndata["feat"].shape, generator=torch.Generator().manual_seed(0)) < 0.3
    graph.ndata["feat"] = in_layout(graph.ndata["feat"] * keep, max_density=1.0)
    dataset = trainer.scenario.get_current_dataset()
    assert dataset.ndata["feat"].is_sparse
    got = consolidated(trainer, dataset)

    graph = with_self_loops(dataset)
    outputs = trainer.model.observed_logits(graph, graph.ndata["feat"])[graph.ndata["train_mask"]]
    assert_same(got, reference_importance(trainer.model, list(outputs)))


def link_trainer(level: str):
    data = synthetic_links(level, 0, "classil" if level == "lc" else "timeil", num_feats=8,
                           num_nodes=60, num_edges=240)  # fmt: skip
    if level == "lc":
        scenario = LCScenarioLoader(data, "class", 3, metric="accuracy", seed=0)
        model = GCNLinkClassifier(**scenario.model_kwargs(), hidden=8, num_layers=2)
        trainer_cls = LCClassILMASTrainer
    else:
        scenario = LPScenarioLoader(data, "time", 4, metric="hits@50", seed=0, num_negatives=5)
        model = GCNLinkPredictor(**scenario.model_kwargs(), hidden=8, num_layers=2)
        trainer_cls = LPTimeILMASTrainer
    randomise_batch_norm(model)
    return build_trainer(trainer_cls, model, scenario, importance="sample", chunk_size=CHUNK)


@pytest.mark.parametrize("level", ["lc", "lp"])
def test_link_level_equals_per_item_loop(level):
    """LC: observed-class logits per pair; LP: the score of every positive and of the negatives
    drawn with them (the same draws: same seed, same order of sampling)."""
    torch.manual_seed(0)
    trainer = link_trainer(level)
    dataset = trainer.scenario.get_current_dataset()
    got = consolidated(trainer, dataset, seed=7)

    (batch,) = trainer.training_batches(dataset, {})
    torch.manual_seed(7)
    outputs = trainer.batch_outputs(trainer.model, batch)  # on the original graph
    assert outputs.shape[0] > 3 * CHUNK
    if level == "lp":
        assert outputs.shape[0] == 2 * batch.pairs.shape[0]  # positives and negatives
    assert_same(got, reference_importance(trainer.model, list(outputs)))


def test_graph_level_with_edge_features_equals_per_graph_loop():
    torch.manual_seed(0)
    scenario = GCScenarioLoader(synthetic_graphs(seed=0, num_graphs=160), "class", num_tasks=4)
    assert scenario.model_kwargs()["in_edge_feats"] > 0
    model = GCNGraph(**scenario.model_kwargs(), hidden=8, num_layers=2)
    randomise_batch_norm(model)
    trainer = build_trainer(GCClassILMASTrainer, model, scenario, importance="sample",
                            chunk_size=CHUNK)  # fmt: skip
    dataset = scenario.get_current_dataset()
    got = consolidated(trainer, dataset)

    singles = graph_loader(dataset.split("train"), 1)  # each graph on its own
    rows = [trainer.batch_outputs(model, batch)[0] for batch in singles]
    assert len(rows) > 3 * CHUNK
    assert_same(got, reference_importance(model, rows))


class ConvThenLinear(nn.Module):
    """A GraphConv of a given normalisation (with edge weights) and a Linear, per node."""

    def __init__(self, norm: str, in_feats: int) -> None:
        super().__init__()
        self.conv = GraphConv(in_feats, 3, norm=norm, allow_zero_in_degree=True)
        self.out = nn.Linear(3, 2)

    def forward(self, graph, feat, edge_weight=None):
        return self.out(torch.tanh(self.conv(graph, feat, edge_weight=edge_weight)))


@pytest.mark.parametrize("norm", ["both", "left", "right", "none"])
@pytest.mark.parametrize("in_feats", [2, 5])  # GraphConv aggregates first, or multiplies first
@pytest.mark.parametrize("weighted", [False, True])
def test_graph_conv_normalisations_and_edge_weights(norm, in_feats, weighted):
    """Directed edges (out- and in-degrees differ), one node without in-edges."""
    torch.manual_seed(1)
    graph = dgl.graph((torch.tensor([0, 0, 1, 2, 3, 3]), torch.tensor([1, 2, 2, 3, 1, 4])))
    feat = graph.ndata["feat"] = torch.randn(graph.num_nodes(), in_feats)
    weight = torch.rand(graph.num_edges()) + 0.5 if weighted else None
    model = ConvThenLinear(norm, in_feats)
    items = torch.tensor([0, 1, 2, 4])  # node 0 has no in-edge: only the biases reach it

    copies, owner = graph_copies(graph, items.numel())
    positions = items + torch.arange(items.numel()) * graph.num_nodes()
    copies_weight = None if weight is None else weight.repeat(items.numel())

    def outputs_fn(model, copies):
        return model(copies, copies.ndata["feat"], copies_weight)[positions]

    got = sample_importance(model, [ItemCopies(copies, owner, items.numel())], outputs_fn)
    rows = list(model(graph, feat, weight)[items])
    assert_same(got, reference_importance(model, rows))


# ---- receptive-field copies: smaller than the graph, and still exact ------------------------
LEAVES, PATH = 24, 6


def star_and_path(one_way: bool) -> dgl.DGLGraph:
    """A hub (node 0) with LEAVES leaves and a path of PATH nodes hanging off leaf 1, both ways;
    with `one_way`, also edges from the hub to the path's last two nodes, so that in- and
    out-neighbourhoods differ. Out-degrees from 1 to 26: a copy that lost one would show."""
    leaves = torch.arange(1, LEAVES + 1)
    path = torch.arange(LEAVES + 1, LEAVES + PATH + 1)
    src = torch.cat([torch.zeros(LEAVES, dtype=torch.long), torch.tensor([1]), path[:-1]])
    dst = torch.cat([leaves, path[:1], path[1:]])
    graph = dgl.to_bidirected(dgl.graph((src, dst)))
    if one_way:
        graph = dgl.add_edges(graph, torch.zeros(2, dtype=torch.long), path[-2:])
    graph.ndata["feat"] = torch.randn(graph.num_nodes(), 8)
    return graph


def test_a_copy_is_the_receptive_field_with_the_graphs_degrees():
    """Per item: the nodes of DGL's k-hop in-subgraph of its seeds and one sink, no edge to
    another copy; every node's out-degree as in the graph, and the in-degree of every node
    closer than k hops."""
    graph = with_self_loops(star_and_path(one_way=True))
    graph.ndata["feat"] = torch.arange(1.0, graph.num_nodes() + 1).unsqueeze(-1)  # id + 1
    seeds = torch.tensor([[LEAVES + 1, LEAVES + 5], [0, 0], [LEAVES + PATH, 3]])
    cut = ReceptiveFields(graph, depth=2).copies(seeds)
    ids = cut.graph.ndata["feat"].view(-1).long() - 1  # the sinks' features are 0: id -1
    real = ids >= 0
    src, dst = cut.graph.edges()
    assert torch.equal(cut.owner[src], cut.owner[dst])
    assert torch.equal(ids[cut.seeds], seeds)
    assert torch.equal(cut.graph.out_degrees()[real], graph.out_degrees(ids[real]))
    for item, ends in enumerate(seeds):
        mine = cut.owner == item
        assert int((mine & ~real).sum()) == 1
        field = dgl.khop_in_subgraph(graph, ends.unique(), k=2)[0].ndata[dgl.NID]
        assert torch.equal(ids[mine & real], field.sort().values)
        inner = mine & torch.isin(
            ids, dgl.khop_in_subgraph(graph, ends.unique(), k=1)[0].ndata[dgl.NID]
        )
        assert torch.equal(cut.graph.in_degrees()[inner], graph.in_degrees(ids[inner]))


def test_node_copies_are_much_smaller_than_the_graph():
    trainer = make_trainer(NCClassILMASTrainer, importance="sample", chunk_size=CHUNK)
    dataset = trainer.scenario.get_current_dataset()
    for copies in trainer.item_copies(dataset, {}, CHUNK):
        graph, _ = copies.batch
        assert graph.num_nodes() < copies.num_items * dataset.num_nodes() / 4


def test_node_copies_are_exact_around_a_hub():
    """A 3-layer GCN: the items' fields cut the hub's out-edges off at every distance."""
    torch.manual_seed(0)
    graph = star_and_path(one_way=True)
    graph.ndata["train_mask"] = torch.ones(graph.num_nodes(), dtype=torch.bool)
    scenario = NCScenarioLoader(tiny_nodes(), "class", 4, seed=0)
    model = GCNNode(scenario.num_feats, scenario.num_classes, hidden=8, num_layers=3).eval()
    randomise_batch_norm(model)
    trainer = build_trainer(NCClassILMASTrainer, model, scenario, importance="sample")
    batches = trainer.item_copies(graph, {}, CHUNK)
    got = sample_importance(model, batches, trainer.item_copy_outputs)

    looped = with_self_loops(graph)
    outputs = trainer.batch_outputs(model, (looped, looped.ndata["train_mask"]))
    assert_same(got, reference_importance(model, list(outputs)))


@pytest.mark.parametrize("level", ["lc", "lp"])
def test_link_copies_are_exact_around_a_hub(level):
    """Every link of the star and path as an item (LP: with sampled negatives)."""
    torch.manual_seed(0)
    trainer = link_trainer(level)
    trainer.model.eval()
    graph = star_and_path(one_way=False)
    src, dst = graph.edges()
    pairs = torch.stack([src, dst], -1)[src < dst]
    ones = torch.ones(pairs.shape[0], dtype=torch.bool)
    dataset = LinkDataset(graph, pairs, torch.zeros_like(pairs[:, 0]), ones, ~ones, ~ones)
    torch.manual_seed(7)
    batches = trainer.item_copies(dataset, {}, CHUNK)
    got = sample_importance(trainer.model, batches, trainer.item_copy_outputs)

    (batch,) = trainer.training_batches(dataset, {})
    torch.manual_seed(7)
    outputs = trainer.batch_outputs(trainer.model, batch)
    assert_same(got, reference_importance(trainer.model, list(outputs)))


# ---- why it exists, and what it refuses -----------------------------------------------------
def test_sample_differs_from_batch_when_item_gradients_disagree_in_sign():
    """On one batch, `batch` is |mean_i g_i| and `sample` is mean_i |g_i|: by the triangle
    inequality sample >= batch everywhere, with equality only where all items' gradients share
    a sign. Items of different classes pull the head's weights in opposite directions, so
    here the two must differ."""
    trainer = make_trainer(NCClassILMASTrainer, importance="sample", chunk_size=CHUNK)
    dataset = trainer.scenario.get_current_dataset()
    sample = consolidated(trainer, dataset)
    batch = batch_importance(
        trainer.model,
        trainer.training_batches(dataset, {}),
        trainer.batch_outputs,
    )
    for name in sample:
        assert torch.all(sample[name] >= batch[name] - 1e-6), name
    gap = sum(float((sample[n] - batch[n]).sum()) for n in sample)
    assert gap > 1e-3 * sum(float(v.sum()) for v in sample.values())


def test_a_module_without_a_rule_is_refused_before_training():
    trainer = make_trainer(NCClassILMASTrainer, importance="sample")
    trainer.model.encoder.norms[0] = nn.LayerNorm(16)
    with pytest.raises(ConfigError, match=r"'encoder\.norms\.0' \(LayerNorm\).*batch estimator"):
        trainer.initTrainingStates(trainer.scenario, trainer.model, None)


def test_a_graph_conv_with_an_activation_is_refused():
    model = GCNNode(in_feats=2, num_classes=2, hidden=2, num_layers=1, batch_norm=False)
    model.encoder.convs[0]._activation = torch.relu
    graph = dgl.add_self_loop(path_graph(3))
    graph.ndata["feat"] = torch.randn(3, 2)
    copies, owner = graph_copies(graph, 3)
    with pytest.raises(ConfigError, match="activation"):
        sample_importance(
            model,
            [ItemCopies(copies, owner, 3)],
            lambda m, g: m.observed_logits(g, g.ndata["feat"])[:: graph.num_nodes()],
        )


def test_rows_of_no_known_owner_are_refused():
    """A layer over 3 rows of a 2-copy batch of 5 nodes: neither nodes nor items."""
    linear = nn.Linear(2, 1)
    graph = path_graph(5)
    graph.ndata["feat"] = torch.randn(5, 2)
    copies, owner = graph_copies(graph, 2)
    feat = copies.ndata["feat"]
    with pytest.raises(ValueError, match="cannot tell which item each of its 3 rows"):
        sample_importance(linear, [ItemCopies(copies, owner, 2)], lambda m, _: m(feat[:3])[:2])


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError, match="chunk_size"):
        MASRegularizer(lamb=1.0, importance="sample", chunk_size=0)


# ---- the command line -----------------------------------------------------------------------
def test_cli_run_with_sample_importance(tmp_path):
    proc = run_cli(
        *FAST,
        "level=gc",
        "dataset.loader.graphs.num_graphs=160",
        "model.gc.hidden=16",
        "method=mas",
        "method.kwargs.importance=sample",
        f"hydra.run.dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = results_under(tmp_path)
    assert result["status"] == "completed"
    assert result["method_kwargs"]["importance"] == "sample"
    seconds = result["timings"]["importance"]
    assert len(seconds) == result["num_tasks"] and all(s > 0 for s in seconds)
