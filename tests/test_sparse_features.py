"""Sparse input features: the sparse first layer computes what the dense one computes, sparse
datasets stay sparse from loader to model, dense ones keep the dense path, and runs end with
the same matrices either way."""

from __future__ import annotations

import dgl
import numpy as np
import pytest
import torch
from helpers import build_trainer
from real_files import place_planetoid
from runs import FAST, make_cfg

from cgl.algorithms.mas import NCClassILMASTrainer
from cgl.datasets.layout import density, in_layout
from cgl.models import GCNNode
from cgl.models.sparse_input import SparseProduct
from cgl.runtime.experiment import load_dataset, run
from cgl.scenarios.nodes import NCScenarioLoader


def sparse_features(num_nodes: int, num_feats: int, share: float, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    keep = torch.rand(num_nodes, num_feats, generator=gen) < share
    return torch.rand(num_nodes, num_feats, generator=gen) * keep


def outputs_and_grads(model, graph, feat) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad()
    out = model(graph, feat)
    labels = torch.arange(out.shape[0]) % out.shape[1]
    torch.nn.functional.cross_entropy(out, labels).backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def assert_within(got, want, tol: float = 1e-5) -> None:
    assert float((got - want).abs().max()) <= tol


@pytest.mark.parametrize("blocks", [False, True])
def test_sparse_and_dense_inputs_give_the_same_outputs_and_gradients(blocks):
    """Whole graph and sampled blocks (the minibatch trainer's input), training mode."""
    torch.manual_seed(0)
    graph = dgl.add_self_loop(dgl.rand_graph(80, 400))
    dense = sparse_features(80, 50, share=0.05)
    model = GCNNode(50, 6, hidden=16, num_layers=2)
    model.observe_labels(torch.arange(6))
    if blocks:
        sampler = dgl.dataloading.NeighborSampler([4, 4])
        src, _, layers = sampler.sample_blocks(graph, torch.arange(0, 80, 3))
        feat_dense, feat_sparse, inputs = dense[src], in_layout(dense[src], 1.0), layers
    else:
        feat_dense, feat_sparse, inputs = dense, in_layout(dense, 1.0), graph
    assert feat_sparse.is_sparse and not feat_dense.is_sparse
    out_sparse, grads_sparse = outputs_and_grads(model, inputs, feat_sparse)
    out_dense, grads_dense = outputs_and_grads(model, inputs, feat_dense)
    assert_within(out_sparse, out_dense)
    assert grads_sparse.keys() == grads_dense.keys()
    for name in grads_dense:
        assert_within(grads_sparse[name], grads_dense[name])
    assert float(grads_sparse["encoder.convs.0.weight"].abs().sum()) > 0


def test_the_layout_follows_the_share_of_nonzeros():
    feat = sparse_features(200, 40, share=0.08)
    assert density(feat) == pytest.approx(0.08, abs=0.02)
    assert in_layout(feat, 0.1).is_sparse
    assert not in_layout(feat, 0.05).is_sparse
    assert not in_layout(in_layout(feat, 0.1), 0.0).is_sparse  # a sparse one turns dense too
    assert torch.equal(in_layout(feat, 0.1).to_dense(), feat)


def count_sparse_products(monkeypatch) -> list[int]:
    calls = [0]
    apply = SparseProduct.apply

    def counted(*args):
        calls[0] += 1
        return apply(*args)

    monkeypatch.setattr(SparseProduct, "apply", counted)
    return calls


def one_epoch(data) -> None:
    torch.manual_seed(0)
    scenario = NCScenarioLoader(data, "class", data.num_classes // 2, seed=0)
    model = GCNNode(scenario.num_feats, scenario.num_classes, hidden=16, num_layers=2)
    build_trainer(NCClassILMASTrainer, model, scenario, num_epochs=1).run()


def test_a_dense_dataset_keeps_the_dense_path(monkeypatch):
    """The synthetic default's Gaussian features are dense: no sparse product is taken."""
    data = load_dataset(make_cfg("dataset.loader.nodes.num_nodes=200"))
    assert not data.graph.ndata["feat"].is_sparse
    calls = count_sparse_products(monkeypatch)
    one_epoch(data)
    assert calls[0] == 0


@pytest.fixture(scope="module")
def cora_dir(shared_datasets, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    place_planetoid(shared_datasets, data_dir, "cora")
    return data_dir


def test_cora_stays_sparse_from_loader_to_first_layer(cora_dir, monkeypatch):
    monkeypatch.setenv("CGL_OFFLINE", "1")
    data = load_dataset(make_cfg("dataset=cora", f"data_dir={cora_dir}"))
    feat = data.graph.ndata["feat"]
    assert feat.is_sparse and feat.shape == (2708, 1433)
    assert 0.01 < density(feat) < 0.02
    calls = count_sparse_products(monkeypatch)
    one_epoch(data)
    assert calls[0] > 0


@pytest.mark.parametrize(
    "job",
    [
        pytest.param(["epochs=3"], id="main job"),
        pytest.param(["dataset=cora", "epochs=3"], id="cora"),
        pytest.param(["trainer=minibatch", "dataset=cora", "epochs=2"], id="cora minibatch"),
    ],
)
def test_sparse_and_dense_runs_end_with_the_same_matrices(job, cora_dir, tmp_path, monkeypatch):
    """The main job (forced sparse) and Cora (forced dense) against their default layout, with
    BeGin's bias-free GraphConv. (A bias before batch norm has a true gradient of zero, so
    its computed gradient is rounding noise, which Adam scales to ±lr steps: two roundings of
    the same product then move those biases, and the running means, apart by ~lr per step.)"""
    monkeypatch.setenv("CGL_OFFLINE", "1")
    matrices = []
    for share in (0.0, 1.0):  # always dense, always sparse
        cfg = make_cfg(
            *FAST, *job, "++model.nc.conv_bias=false", f"data_dir={cora_dir}",
            f"sparse_max_density={share}",
        )  # fmt: skip
        result = run(cfg, output_dir=tmp_path / str(share))
        assert result.status == "completed"
        matrices.append(result.payload["matrices"])
    dense, sparse = matrices
    for split in ("val", "test"):
        np.testing.assert_allclose(sparse[split], dense[split], atol=1e-4, rtol=0)
