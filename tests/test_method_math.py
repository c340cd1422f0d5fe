"""EWC's Fisher, LwF's distillation and TWP's importances against hand computations on tiny
models, and the anchored penalty they share."""

from __future__ import annotations

import dgl
import pytest
import torch
from helpers import make_trainer, path_graph
from torch.nn import functional

from cgl.algorithms.ewc import NCClassILEWCTrainer, batch_fisher, sample_fisher
from cgl.algorithms.lwf import NCClassILLwFTrainer, NCTaskILLwFTrainer, Teacher, distillation
from cgl.algorithms.penalty import AnchoredPenalty
from cgl.algorithms.twp import NCClassILTWPTrainer, pseudo_attention, twp_importance
from cgl.models.sparse_input import SparseInputGraphConv
from cgl.trainers.nodes import with_self_loops


def trained_first_task(trainer_cls, **kwargs):
    """A tiny trainer after its first task's `processBeforeTraining`, in eval mode."""
    trainer = make_trainer(trainer_cls, num_tasks=2, epochs=2, **kwargs)
    dataset = trainer.scenario.get_current_dataset()
    optimizer = torch.optim.Adam(trainer.model.parameters())
    states = trainer.initTrainingStates(trainer.scenario, trainer.model, optimizer)
    trainer.processBeforeTraining(0, dataset, trainer.model, optimizer, states)
    trainer.model.eval()
    return trainer, dataset, states


def per_node_grads(model, dataset):
    """Each training node's gradient of its own cross-entropy, by a loop over the whole graph."""
    graph = with_self_loops(dataset)
    nodes = torch.nonzero(graph.ndata["train_mask"]).view(-1)
    params = [p for p in model.parameters() if p.requires_grad]
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    out = []
    for node in nodes:
        logits = model(graph, graph.ndata["feat"])[node : node + 1]
        loss = functional.cross_entropy(logits, graph.ndata["label"][node : node + 1])
        out.append(dict(zip(names, torch.autograd.grad(loss, params), strict=True)))
    return out


def test_sample_fisher_is_the_mean_of_per_item_squared_gradients():
    trainer, dataset, states = trained_first_task(NCClassILEWCTrainer)
    fisher = sample_fisher(trainer, trainer.model, dataset, states, chunk_size=5)
    grads = per_node_grads(trainer.model, dataset)
    for name, value in fisher.items():
        expected = torch.stack([g[name].pow(2) for g in grads]).mean(0)
        assert torch.allclose(value, expected, atol=1e-6, rtol=1e-4), name


def test_batch_fisher_is_the_square_of_the_mean_gradient():
    trainer, dataset, states = trained_first_task(NCClassILEWCTrainer)
    fisher = batch_fisher(trainer, trainer.model, dataset, states)
    grads = per_node_grads(trainer.model, dataset)
    for name, value in fisher.items():
        expected = torch.stack([g[name] for g in grads]).mean(0).pow(2)
        assert torch.allclose(value, expected, atol=1e-7, rtol=1e-4), name


def test_anchored_penalty_is_the_sum_over_tasks_of_weighted_squares():
    model = torch.nn.Linear(3, 2)
    penalty = AnchoredPenalty({"a": 2.0, "b": 0.5})
    importances = []
    for _ in range(2):
        imp = {n: torch.rand_like(p) for n, p in model.named_parameters()}
        other = {n: torch.rand_like(p) for n, p in model.named_parameters()}
        anchor = {n: p.detach().clone() for n, p in model.named_parameters()}
        penalty.add_task(model, {"a": imp, "b": other})
        importances.append((imp, other, anchor))
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
    expected = sum(
        ((2.0 * imp[n] + 0.5 * other[n]) * (p - anchor[n]).pow(2)).sum()
        for imp, other, anchor in importances
        for n, p in model.named_parameters()
    )
    assert torch.allclose(penalty.penalty(model), expected)


def test_distillation_value_and_gradient_by_hand():
    teacher = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    student = torch.tensor([[0.3, 0.1, 0.2], [1.0, 1.0, -2.0]], requires_grad=True)
    temperature = 2.0
    value = distillation(teacher, student, temperature)
    p = torch.exp(teacher / 2) / torch.exp(teacher / 2).sum(-1, keepdim=True)
    q = torch.exp(student / 2) / torch.exp(student / 2).sum(-1, keepdim=True)
    assert torch.allclose(value, -(p * torch.log(q)).sum(-1).mean())
    value.backward()
    # d/ds of -Σ p log softmax(s/T), averaged over 2 items: (q - p) / (T · 2)
    assert torch.allclose(student.grad, (q - p).detach() / (temperature * 2))


def test_pseudo_attention_by_hand_on_a_path():
    """leaky_relu(Σ_k (x_u W)_k tanh(x_v W)_k), softmax over v's in-edges; GraphConv scales x
    by out-degree^-1/2 first, and both ends read the scaled features when W narrows."""
    torch.manual_seed(0)
    graph = dgl.add_self_loop(path_graph(4))
    conv = SparseInputGraphConv(5, 3, bias=False, allow_zero_in_degree=True)
    x = torch.randn(4, 5)
    scores = pseudo_attention(conv, graph, x)
    scaled = x * graph.out_degrees().float().pow(-0.5).unsqueeze(-1)
    h = scaled @ conv.weight
    src, dst = graph.edges()
    raw = functional.leaky_relu((h[src] * torch.tanh(h[dst])).sum(-1), 0.2)
    for v in range(4):
        into = dst == v
        assert torch.allclose(scores[into], torch.softmax(raw[into], 0), atol=1e-6)
    assert torch.allclose(pseudo_attention(conv, graph, x.to_sparse()), scores, atol=1e-6)


def test_twp_importances_are_squared_gradients_of_loss_and_attention_norm():
    trainer, dataset, states = trained_first_task(NCClassILTWPTrainer)
    model = trainer.model
    loss_imp, topo_imp = twp_importance(trainer, model, dataset, states, begin=False)
    graph = with_self_loops(dataset)
    mask = graph.ndata["train_mask"]
    params = dict(model.named_parameters())
    loss = functional.cross_entropy(
        model(graph, graph.ndata["feat"])[mask], graph.ndata["label"][mask]
    )
    loss_grads = dict(zip(params, torch.autograd.grad(loss, list(params.values())), strict=True))
    conv = model.encoder.convs[0]
    norm = pseudo_attention(conv, graph, graph.ndata["feat"]).norm()
    topo = torch.autograd.grad(norm, conv.weight)[0]
    for name in params:
        assert torch.allclose(loss_imp[name], loss_grads[name].pow(2), atol=1e-8, rtol=1e-4)
    assert torch.allclose(topo_imp["encoder.convs.0.weight"], topo.pow(2), rtol=1e-4, atol=1e-10)
    assert all(float(v.abs().sum()) == 0 for n, v in topo_imp.items() if "convs.0" not in n)
    _, begin_topo = twp_importance(trainer, model, dataset, states, begin=True)
    name = "encoder.convs.0.weight"
    expected = (topo + loss_grads[name]).pow(2)
    assert torch.allclose(begin_topo[name], expected, rtol=1e-4, atol=1e-10)


def test_twp_on_gat_reads_the_real_attention_coefficients():
    """On GAT the topology importance is the squared gradient of the norm of the first layer's
    attention coefficients (GATConv's own, which weight its messages)."""
    from cgl.models.layers import GATLayers
    from cgl.models.node import NodeClassifier

    trainer, dataset, states = trained_first_task(NCClassILTWPTrainer)
    model = NodeClassifier(8, trainer.scenario.num_classes, 8, 2, layer=GATLayers(2))
    model.observe_labels(trainer.train_labels(dataset))
    model.eval()
    trainer.model = model
    _, topo_imp = twp_importance(trainer, model, dataset, states, begin=False)
    graph = with_self_loops(dataset)
    conv = model.encoder.convs[0]
    _, coefficients = conv(graph, graph.ndata["feat"], get_attention=True)
    grads = torch.autograd.grad(coefficients.norm(), [conv.fc.weight, conv.attn_l])
    assert torch.allclose(topo_imp["encoder.convs.0.fc.weight"], grads[0].pow(2), rtol=1e-4)
    assert torch.allclose(topo_imp["encoder.convs.0.attn_l"], grads[1].pow(2), rtol=1e-4)


class NoStep:
    """An optimizer stand-in: the step leaves the gradients to be read."""

    def step(self) -> None:
        pass


def test_twp_begin_step_gradient_is_begins_two_backward_passes_to_the_bit():
    """BeGin's TWP step backpropagates the task loss, then the task loss plus β times the
    gradient's L1 norm (a constant) plus the penalty: cgl's step, with one pass through the
    model, leaves the same gradients, bit for bit, and reports the same loss."""
    trainer, dataset, states = trained_first_task(
        NCClassILTWPTrainer, begin_step=True, beta=0.5, lambda_l=3.0, lambda_t=2.0
    )
    model = trainer.model.train()
    trainer.processAfterTraining(0, dataset, model, None, states)
    with torch.no_grad():  # move off the anchor, so that the penalty has a gradient
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    batch = next(iter(trainer.prepareLoader(dataset, states)[0]))

    model.zero_grad()
    loss = trainer.inference(model, batch, states)["loss"]
    loss.backward(retain_graph=True)
    flat = sum(p.grad.abs().sum() for p in model.parameters() if p.grad is not None)
    total = loss + 0.5 * flat + states["twp"].penalty(model)
    total.backward()
    expected = [p.grad.clone() for p in model.parameters()]

    model.zero_grad()
    results = trainer.inference(model, batch, states)
    stats = trainer.afterInference(results, model, NoStep(), batch, states)
    assert stats["loss"] == total.item()
    assert float(states["twp"].penalty(model).detach()) > 0
    for p, want in zip(model.parameters(), expected, strict=True):
        assert torch.equal(p.grad, want)


def lwf_run(scenario: str, cached: bool) -> tuple[torch.nn.Module, int]:
    """A tiny LwF run (3 tasks, 3 epochs) and how often its teacher ran a forward pass."""
    trainer_cls = NCTaskILLwFTrainer if scenario == "task" else NCClassILLwFTrainer
    trainer = make_trainer(trainer_cls, incr_type=scenario, num_tasks=3, epochs=3)
    passes = 0
    real = Teacher.outputs

    def outputs(teacher, batch, compute):
        def counted():
            nonlocal passes
            passes += 1
            return compute()

        if not cached:
            teacher._cached = None
        return real(teacher, batch, counted)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Teacher, "outputs", outputs)
        trainer.run()
    return trainer.model, passes


@pytest.mark.parametrize("scenario", ["class", "task"])
def test_lwf_teacher_runs_once_per_task_on_a_full_graph_with_the_same_numbers(scenario):
    """The frozen teacher's outputs on the full-graph batch are computed once per task, and the
    run is the one that recomputes them every step, to the bit."""
    cached, once = lwf_run(scenario, True)
    fresh, every = lwf_run(scenario, False)
    assert (once, every) == (2, 2 * 3)  # tasks 1 and 2: once each, or at each of 3 steps
    for name, value in cached.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[name]), name
