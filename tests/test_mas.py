"""MAS core: importance, accumulation, anchors and penalty against hand computation."""

from __future__ import annotations

import copy

import dgl
import pytest
import torch
from helpers import make_trainer, path_graph

from cgl.algorithms.mas import MASRegularizer, NCClassILMASTrainer, batch_importance
from cgl.algorithms.penalty import fit_shape
from cgl.models import GCNNode
from cgl.models.heads import ObservedClassHead
from cgl.trainers import NCTrainer

OBSERVED = [0, 1]


@pytest.fixture
def tiny():
    """A 1-layer GCN without batch norm on a 4-node path with self-loops, two classes observed."""
    torch.manual_seed(3)
    model = GCNNode(in_feats=2, num_classes=3, hidden=2, num_layers=1, batch_norm=False)
    model.observe_labels(torch.tensor(OBSERVED))
    graph = dgl.add_self_loop(path_graph(4))
    feat = torch.tensor([[1.0, 0.0], [0.5, -1.0], [-1.0, 2.0], [0.0, 1.5]])
    return model, graph, feat


def dense_outputs(params: dict, feat: torch.Tensor) -> torch.Tensor:
    """The same network written with a dense normalised adjacency, independent of DGL."""
    adj = torch.zeros(4, 4)
    for i in range(3):
        adj[i, i + 1] = adj[i + 1, i] = 1.0
    adj += torch.eye(4)
    d = adj.sum(1).pow(-0.5)
    norm_adj = d[:, None] * adj * d[None, :]
    h = torch.relu(
        norm_adj @ feat @ params["encoder.convs.0.weight"] + params["encoder.convs.0.bias"]
    )
    logits = h @ params["head.linear.weight"].T + params["head.linear.bias"]
    return logits[:, OBSERVED], h


def expected_importance(model, feat, items) -> dict[str, torch.Tensor]:
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    out, _ = dense_outputs(params, feat)
    loss = out[items].pow(2).sum(1).mean()
    grads = torch.autograd.grad(loss, list(params.values()))
    return {n: g.abs() for n, g in zip(params, grads, strict=True)}


def outputs_fn(graph, feat):
    return lambda model, items: model.observed_logits(graph, feat)[items]


def test_importance_matches_dense_computation(tiny):
    model, graph, feat = tiny
    items = torch.tensor([0, 2, 3])
    got = batch_importance(model, [items], outputs_fn(graph, feat))
    want = expected_importance(model, feat, items)
    for name in want:
        torch.testing.assert_close(got[name], want[name])


def test_head_importance_in_closed_form(tiny):
    """d/dW_k of mean_i ||o_i||^2 = (2/n) sum_i o_ik h_i; unobserved class rows get nothing."""
    model, graph, feat = tiny
    items = torch.tensor([0, 1, 2, 3])
    params = {n: p.detach() for n, p in model.named_parameters()}
    out, h = dense_outputs(params, feat)
    got = batch_importance(model, [items], outputs_fn(graph, feat))
    weight = torch.zeros(3, 2)
    weight[OBSERVED] = (2 / 4) * (out.T @ h)
    torch.testing.assert_close(got["head.linear.weight"], weight.abs())
    bias = torch.zeros(3)
    bias[OBSERVED] = (2 / 4) * out.sum(0)
    torch.testing.assert_close(got["head.linear.bias"], bias.abs())
    assert torch.all(got["head.linear.weight"][2] == 0)


def test_batch_estimator_weights_batches_by_size(tiny):
    model, graph, feat = tiny
    first, second = torch.tensor([0]), torch.tensor([1, 2, 3])
    got = batch_importance(model, [first, second], outputs_fn(graph, feat))
    w1 = expected_importance(model, feat, first)
    w2 = expected_importance(model, feat, second)
    for name in got:
        torch.testing.assert_close(got[name], (1 * w1[name] + 3 * w2[name]) / 4)


def test_omega_accumulates_and_anchor_is_latest_weights(tiny):
    model, graph, feat = tiny
    mas = MASRegularizer(lamb=2.0)
    assert mas.penalty(model) is None  # before the first task: Omega = 0
    mas.consolidate(model, [torch.tensor([0, 1])], outputs_fn(graph, feat))
    w1 = expected_importance(model, feat, torch.tensor([0, 1]))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3)
    mas.consolidate(model, [torch.tensor([2, 3])], outputs_fn(graph, feat))
    w2 = expected_importance(model, feat, torch.tensor([2, 3]))
    for name, p in model.named_parameters():
        torch.testing.assert_close(mas.omega[name], w1[name] + w2[name])
        assert torch.equal(mas.anchor[name], p.detach())


def test_penalty_by_hand(tiny):
    model, graph, feat = tiny
    mas = MASRegularizer(lamb=3.0)
    mas.consolidate(model, [torch.tensor([0, 1, 2, 3])], outputs_fn(graph, feat))
    assert float(mas.penalty(model).detach()) == 0.0  # zero at theta = theta*
    torch.manual_seed(0)
    deltas = {n: torch.randn_like(p) * 0.1 for n, p in model.named_parameters()}
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.add_(deltas[n])
    want = 3.0 * sum(float((mas.omega[n] * deltas[n].pow(2)).sum()) for n in deltas)
    penalty = mas.penalty(model)
    assert float(penalty.detach()) == pytest.approx(want, rel=1e-5)
    penalty.backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, 2 * 3.0 * mas.omega[n] * deltas[n])


def test_grown_parameter_starts_with_zero_importance():
    old = torch.tensor([[1.0, 2.0]])
    grown = fit_shape(old, torch.zeros(3, 2), 0.0)
    assert torch.equal(grown, torch.tensor([[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]]))


def test_negative_lamb_is_refused():
    with pytest.raises(ValueError, match="lamb"):
        MASRegularizer(lamb=-1.0)


class Recording(NCClassILMASTrainer):
    """Keeps the weights as they stand right after each task's consolidation."""

    def processAfterTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ):
        before = copy.deepcopy(curr_training_states["mas"].omega)
        super().processAfterTraining(
            task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
        )
        mas = curr_training_states["mas"]
        self.records.append(
            (
                before,
                copy.deepcopy(mas.omega),
                copy.deepcopy(mas.anchor),
                {n: p.detach().clone() for n, p in curr_model.named_parameters()},
            )
        )


def test_trainer_accumulates_importance_over_tasks():
    trainer = make_trainer(Recording, num_tasks=3, lamb=5.0)
    trainer.records = []
    trainer.run()
    assert len(trainer.records) == 3
    for before, after, anchor, weights in trainer.records:
        for name, value in weights.items():
            assert torch.equal(anchor[name], value)  # theta* is the weights after the task
            increment = after[name] - before.get(name, torch.zeros_like(value))
            assert torch.all(increment >= 0)  # importances are absolute values
    # task 2's importance is added to, not replacing, task 1's
    assert any(bool((trainer.records[1][1][n] > trainer.records[1][0][n]).any()) for n in weights)


def test_lamb_zero_reproduces_bare_training_exactly():
    bare = make_trainer(NCTrainer, seed=1)
    mas = make_trainer(NCClassILMASTrainer, seed=1, lamb=0.0)
    m_bare, m_mas = bare.run(), mas.run()
    assert (m_bare["test"] == m_mas["test"]).all()
    for (_, a), (_, b) in zip(
        bare.model.state_dict().items(), mas.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b)


def test_positive_lamb_changes_training():
    bare = make_trainer(NCTrainer, seed=1)
    mas = make_trainer(NCClassILMASTrainer, seed=1, lamb=1e4)
    bare.run(), mas.run()
    weight = "head.linear.weight"
    assert not torch.equal(bare.model.state_dict()[weight], mas.model.state_dict()[weight])


def test_task_il_importance_output_counts_only_each_items_task_classes():
    """Under Task-IL an item can only be predicted among its task's classes, so MAS's output
    (BeGin's Task-IL MAS takes the task-masked logits) zeroes the other observed classes."""
    torch.manual_seed(0)
    head = ObservedClassHead(4, 6)
    head.observe_labels(torch.tensor([0, 1, 2, 3]))  # tasks {0, 1} and {2, 3} seen
    h = torch.randn(3, 4)
    masks = torch.zeros(3, 6, dtype=torch.bool)
    masks[0, [0, 1]] = masks[1, [2, 3]] = masks[2, [4, 5]] = True  # item 2: a future task
    raw = head.linear(h)
    out = head.observed_logits(h, masks)
    assert out.shape == (3, 4)  # the observed classes' columns
    assert torch.equal(out[0], torch.cat([raw[0, :2], torch.zeros(2)]))
    assert torch.equal(out[1], torch.cat([torch.zeros(2), raw[1, 2:4]]))
    assert torch.equal(out[2], torch.zeros(4))  # none of its classes observed: nothing counts
    assert torch.equal(head.observed_logits(h), raw[:, :4])  # Class-IL: every observed class
