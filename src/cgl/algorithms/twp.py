"""TWP: Topology-aware Weight Preserving (Liu, Yang & Wang, AAAI 2021), once for every level.

After task t, at the trained weights θ*_t and on the task's training items:
- loss importance I^l_t = (d L / dθ)², the squared gradient of the task loss;
- topology importance I^t_t = (d ||e|| / dθ)², the squared gradient of the L2 norm of the first
  layer's attention scores e over the graph's edges.
While later tasks train: loss = L + Σ_t Σ_i (λ_l I^l_t,i + λ_t I^t_t,i)(θ_i - θ*_t,i)²
+ β ||d L / dθ||₁ (the paper's term for a flat minimum, differentiated through: double backward).

On GAT (`model=gat`) e is the first layer's real attention: its coefficients, which weight the
messages (the paper's form). The other backbones have no attention, so their scores are the
pseudo-attention of BeGin's TWP models: per edge u -> v of the first layer,
leaky_relu(Σ_k (x_u W)_k tanh(x_v W)_k), softmax-normalised over v's in-edges, with W the
layer's projection (GraphConv's weight, with x scaled by its source normalisation where it
multiplies by W before aggregating; SAGE's neighbour weight; GIN's first MLP layer). They are
scores only: message passing stays the backbone's.

BeGin 0.4 (and CGLB, following TWP's official code) differs in three places, reproduced by
`begin_step=true` (on in BeGin's presets): the topology gradient is taken without clearing the
loss gradient (I^t = (dL/dθ + d||e||/dθ)²), and the step backpropagates the task loss once on its
own and then again with the penalty, so the task gradient counts twice, while β multiplies a
detached number and adds no gradient.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

import dgl
import torch
from dgl.nn import GATConv, GraphConv, SAGEConv
from torch import nn
from torch.nn import functional

from cgl.algorithms.method import Method, export
from cgl.algorithms.penalty import AnchoredPenalty, NamedTensors, PenaltyStep, parameter_grads
from cgl.algorithms.settings import check_bool, check_nonnegative, check_number
from cgl.models.layers import GINLayer
from cgl.models.sparse_input import SparseProduct, degree_norm, sparse_rows

#: LeakyReLU slope of the pseudo-attention (GAT's and BeGin's TWP models')
NEGATIVE_SLOPE = 0.2


#: the first-layer modules TWP reads its scores from (GIN: the aggregation and its MLP)
SCORED_LAYERS = (GraphConv, GATConv, SAGEConv, GINLayer)


def first_layer(model: nn.Module) -> nn.Module:
    """The model's first message-passing layer, whose scores TWP reads."""
    for module in model.modules():
        if isinstance(module, SCORED_LAYERS):
            return module
    raise ValueError(f"{type(model).__name__} has no message-passing layer for TWP's scores")


@contextlib.contextmanager
def layer_inputs(layer: nn.Module) -> Iterator[list[tuple]]:
    """Collect (graph, feat) of each call of `layer` inside the block."""
    captured: list[tuple] = []

    def hook(module, args, kwargs, output) -> None:
        captured.append((args[0], args[1] if len(args) > 1 else kwargs["feat"]))

    handle = layer.register_forward_hook(hook, with_kwargs=True)
    try:
        yield captured
    finally:
        handle.remove()


def pseudo_attention(conv: GraphConv, graph: dgl.DGLGraph, feat: torch.Tensor) -> torch.Tensor:
    """The edge scores of BeGin's TWPGraphConv for `conv` on (graph, feat), one per edge."""
    scale = None
    if conv._norm in ("left", "both"):
        scale = degree_norm(graph.out_degrees(), conv._norm, feat).unsqueeze(-1)
    if feat.is_sparse:  # (D X) W = D (X W): scale after the sparse product
        projected = SparseProduct.apply(conv.weight, sparse_rows(feat))
        source = projected if scale is None else projected * scale
    else:  # in BeGin's order, so that dense features give its numbers
        projected = feat @ conv.weight
        source = projected if scale is None else (feat * scale) @ conv.weight
    # GraphConv multiplies by W first when it narrows the features; the scores then read the
    # normalised features at both ends, else the raw ones at the destination.
    target = source if conv._in_feats > conv._out_feats else projected
    return edge_scores(graph, source, target)


def edge_scores(graph: dgl.DGLGraph, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """leaky_relu(Σ_k source_u,k tanh(target_v,k)) per edge u -> v, softmax over v's in-edges."""
    src, dst = graph.edges()
    scores = functional.leaky_relu((source[src] * torch.tanh(target[dst])).sum(-1), NEGATIVE_SLOPE)
    return dgl.nn.functional.edge_softmax(graph, scores)


def layer_scores(layer: nn.Module, graph: dgl.DGLGraph, feat: torch.Tensor) -> torch.Tensor:
    """The first layer's edge scores: GAT's attention coefficients, else pseudo-attention."""
    if isinstance(layer, GATConv):
        return layer(graph, feat, get_attention=True)[1]
    if isinstance(layer, GraphConv):
        return pseudo_attention(layer, graph, feat)
    if isinstance(layer, SAGEConv):
        projected = feat @ layer.fc_neigh.weight.t()
    else:  # GINLayer: its MLP's first linear map
        linear = next(m for m in layer.mlp.modules() if isinstance(m, nn.Linear))
        projected = feat @ linear.weight.t()
    return edge_scores(graph, projected, projected)


def attention_scores(model: nn.Module, captured: list[tuple]) -> torch.Tensor:
    """The first layer's scores on the input it saw in the (first) forward pass."""
    graph, feat = captured[0]
    return layer_scores(first_layer(model), graph, feat)


def twp_importance(trainer: Any, model: nn.Module, dataset: Any, states: dict, begin: bool):
    """(I^l, I^t) over the task's training batches, each weighted by its items."""
    loss_total: NamedTensors = {}
    topo_total: NamedTensors = {}
    count = 0
    layer = first_layer(model)
    for batch in trainer.training_batches(dataset, states):
        with layer_inputs(layer) as captured:
            results = trainer.inference(model, trainer.training_batch(batch), states)
        items = int(results["preds"].shape[0])
        loss_grads = parameter_grads(model, results["loss"], retain_graph=True)
        topo_grads = parameter_grads(model, attention_scores(model, captured).norm())
        if begin:  # BeGin backpropagates the norm into gradients still holding the loss's
            topo_grads = {name: g + loss_grads[name] for name, g in topo_grads.items()}
        for total, grads in ((loss_total, loss_grads), (topo_total, topo_grads)):
            for name, grad in grads.items():
                total[name] = total.get(name, 0) + grad.pow(2) * items
        count += items
    scale = 1 / max(count, 1)
    return (
        {n: v * scale for n, v in loss_total.items()},
        {n: v * scale for n, v in topo_total.items()},
    )


def counted_again(model: nn.Module) -> torch.Tensor:
    """A term of value 0 whose gradient is each parameter's current `.grad`.

    BeGin's step backpropagates the task loss, then the task loss plus the penalty, through
    the model a second time. Added to the loss in place of the task loss, this term hands the
    second pass the task gradient the first one computed, without a second pass through the
    model: the gradient of Σ θ·g is g itself (times 1), so each parameter ends with
    g + (g + penalty gradient), the numbers of BeGin's two passes."""
    terms = [(p * p.grad.detach()).sum() for p in model.parameters() if p.grad is not None]
    if not terms:
        return torch.zeros(())
    total = torch.stack(terms).sum()
    return total - total.detach()


class TWPMixin(PenaltyStep):
    """TWP for any level trainer: put it before the trainer in the bases.

    kwargs: `lambda_l` (loss importance weight), `lambda_t` (topology importance weight; the
    root key `lamb` sets it), `beta` (weight of the gradient-norm term), `begin_step`.
    """

    penalty_state = "twp"  # the anchored penalty, added to the task loss (PenaltyStep)

    def initTrainingStates(self, scenario, model, optimizer) -> dict:
        states = super().initTrainingStates(scenario, model, optimizer)
        first_layer(model)  # refuses a model without message passing before training
        states["twp"] = AnchoredPenalty(
            {
                "loss": float(self.kwargs.get("lambda_l", 1e4)),
                "topology": float(self.kwargs.get("lambda_t", 100.0)),
            }
        )
        return states

    def afterInference(self, results, model, optimizer, _curr_batch, training_states) -> dict:
        """Task loss + β · the L1 norm of the task loss's gradient, then the anchored penalty
        (PenaltyStep)."""
        task_loss = results["loss"]
        beta = float(self.kwargs.get("beta", 0.01))
        flatness = None
        if self.kwargs.get("begin_step", False):
            task_loss.backward()  # BeGin: the task gradient counts twice
            with torch.no_grad():
                flatness = sum(p.grad.abs().sum() for p in model.parameters() if p.grad is not None)
            results["loss"] = task_loss.detach() + counted_again(model)
        elif beta > 0:
            params = [p for p in model.parameters() if p.requires_grad]
            grads = torch.autograd.grad(task_loss, params, create_graph=True, allow_unused=True)
            flatness = sum(g.abs().sum() for g in grads if g is not None)
        if flatness is not None and beta > 0:
            results["loss"] = results["loss"] + beta * flatness
        return super().afterInference(results, model, optimizer, _curr_batch, training_states)

    def processAfterTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ) -> None:
        """TWP stores θ*_t with the task's loss and topology importances (best weights, eval
        mode)."""
        super().processAfterTraining(
            task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
        )
        if not curr_training_states["twp"].active:  # switched off: compute (and draw) nothing
            return
        start = time.perf_counter()
        curr_model.eval()
        begin = bool(self.kwargs.get("begin_step", False))
        with torch.enable_grad():
            loss_imp, topo_imp = twp_importance(
                self, curr_model, curr_dataset, curr_training_states, begin
            )
        curr_training_states["twp"].add_task(curr_model, {"loss": loss_imp, "topology": topo_imp})
        self.timings.setdefault("importance", []).append(time.perf_counter() - start)


def check_settings(kwargs: Mapping[str, Any]) -> None:
    check_nonnegative("twp", kwargs, "lambda_t", "the weight of the topology importance")
    check_number("twp", kwargs, "lambda_l", "the weight of the loss importance")
    check_number("twp", kwargs, "beta", "the weight of the gradient-norm term")
    check_bool("twp", kwargs, "begin_step", "BeGin's TWP step and topology importance")


METHOD = Method(name="twp", title="TWP", mixin=TWPMixin, check=check_settings)
__all__ = [*export(METHOD, globals()), "TWPMixin", "pseudo_attention", "twp_importance"]
