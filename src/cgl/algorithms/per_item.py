"""Exact per-item gradients: MAS's `sample` importance (the mean over items of |per-item
gradient| of the squared output norm) and EWC's Fisher (the mean of squared per-item gradients
of the loss) both need each training item's own gradient, not the batch's.

Exact and vectorised, and written by hand on purpose: torch.func (vmap, jacrev) and
`is_grads_batched` fail inside DGL 1.1's message-passing kernels ("Cannot access data pointer
of Tensor that doesn't have storage"), and per-sample-gradient libraries (Opacus, BackPACK)
assume that a layer's rows are the samples, which is false for graph layers, whose rows are
nodes shared by several items' neighbourhoods.

Instead the trainer hands chunks of items in which every item lives in its own connected
component (`ItemCopies`). One backward pass of Σ_i f_i (f_i: item i's objective, say
||o_i||² or its loss) then gives, at every use of a
parameter, row gradients that each belong to exactly one item. Forward hooks record the input
and output of every module that owns a parameter, and an item's gradient is the sum, over the
rows it owns, of that module's per-row gradient (`PARAMETER_RULES`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import torch
from dgl.nn import GATConv, GINConv, GraphConv, SAGEConv
from torch import nn
from torch.func import functional_call

from cgl.config.errors import ConfigError
from cgl.models.sparse_input import SparseInputGraphConv, degree_norm
from cgl.trainers.copies import ItemCopies

OutputsFn = Callable[[nn.Module, Any], torch.Tensor]
#: (model, a chunk of items in copies) -> the sum over its items of each item's objective
ObjectiveFn = Callable[[nn.Module, ItemCopies], torch.Tensor]


class Call(NamedTuple):
    """One forward call of a module that owns parameters."""

    name: str
    module: nn.Module
    args: tuple
    kwargs: dict
    output: torch.Tensor


class RowGrads(NamedTuple):
    """The gradient of one call's output on its nonzero rows (the items' receptive fields;
    every other row contributes nothing): their indices, gradients and owning items."""

    rows: torch.Tensor
    delta: torch.Tensor
    owner: torch.Tensor
    num_items: int
    every_owner: torch.Tensor | None = None  # the item of every row, zero gradient or not

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Per item, the sum of its rows of `values`: [items, *row shape]."""
        return values.new_zeros((self.num_items, *values.shape[1:])).index_add_(
            0, self.owner, values
        )

    def outer(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """Per item, Σ_r left_rᵀ right_r over its rows: [items, left dim, right dim]. The rows
        are padded into [items, rows, dim] blocks so that one batched matmul serves all items."""
        owner, order = torch.sort(self.owner, stable=True)
        counts = torch.bincount(owner, minlength=self.num_items)
        slot = torch.arange(owner.numel(), device=owner.device) - (counts.cumsum(0) - counts)[owner]
        width = int(counts.max()) if owner.numel() else 0
        blocks = []
        for values in (left, right):
            block = values.new_zeros(self.num_items, width, values.shape[1])
            block[owner, slot] = values[order]
            blocks.append(block)
        return blocks[0].transpose(1, 2) @ blocks[1]


def unsupported(name: str, module: nn.Module, why: str) -> ConfigError:
    """The error for a module whose parameters' gradient this file cannot split per item."""
    return ConfigError(
        f"Per-item gradients (MAS importance=sample, EWC fisher=sample) cannot split the "
        f"gradient of '{name}' ({type(module).__name__}) per item: {why}. Use the method's "
        f"batch estimator, or teach cgl/algorithms/per_item.py the module."
    )


def linear_grads(call: Call, grad: RowGrads) -> dict:
    """y = x Wᵀ + b: per item Σ δ_rᵀ x_r and Σ δ_r."""
    (x,) = call.args
    grads = {"weight": grad.outer(grad.delta, x[grad.rows])}
    if call.module.bias is not None:
        grads["bias"] = grad.sum(grad.delta)
    return grads


def aggregate_rows(conv: GraphConv, arguments: dict, rows: torch.Tensor) -> torch.Tensor:
    """(Â x) at the destination nodes `rows`, normalised as `conv` does it on the whole graph
    (unweighted degrees, optional edge weights). Only the in-edges of `rows` are read, instead
    of a second aggregation over every node of every copy."""
    graph, feat = arguments["graph"], arguments["feat"]
    feat = feat[0] if isinstance(feat, tuple) else feat  # (source, destination) features
    position = torch.full((graph.num_dst_nodes(),), -1, dtype=torch.long, device=rows.device)
    position[rows] = torch.arange(rows.numel(), device=rows.device)
    src, dst = graph.edges()
    keep = position[dst] >= 0
    src, dst = src[keep], dst[keep]
    coef = torch.ones(src.numel(), dtype=feat.dtype, device=feat.device)
    if arguments.get("edge_weight") is not None:
        coef = arguments["edge_weight"][keep].view(-1)
    if conv._norm in ("left", "both"):
        coef = coef * degree_norm(graph.out_degrees(src), conv._norm, feat)
    sources = feat.index_select(0, src)
    sources = sources.to_dense() if sources.is_sparse else sources  # sparse input features
    out = torch.zeros(rows.numel(), feat.shape[1], dtype=feat.dtype, device=feat.device)
    out.index_add_(0, position[dst], sources * coef.unsqueeze(-1))
    if conv._norm in ("right", "both"):
        out = out * degree_norm(graph.in_degrees(rows), conv._norm, feat).unsqueeze(-1)
    return out


def graph_conv_grads(call: Call, grad: RowGrads) -> dict:
    """y = Â x W + b, and (Â x) W = Â (x W) whichever order GraphConv multiplies in: per item
    Σ (Âx)_rᵀ δ_r over its rows, and Σ δ_r for the bias."""
    conv = call.module
    arguments = inspect.signature(conv.forward).bind(*call.args, **call.kwargs).arguments
    if arguments.get("weight") is not None or conv._activation is not None:
        raise unsupported(call.name, conv, "an external weight or an activation is not handled")
    grads = {}
    if conv.weight is not None:
        grads["weight"] = grad.outer(aggregate_rows(conv, arguments, grad.rows), grad.delta)
    if conv.bias is not None:
        grads["bias"] = grad.sum(grad.delta)
    return grads


def batch_norm_grads(call: Call, grad: RowGrads) -> dict:
    """Eval-mode batch norm, y = x̂ w + b with x̂ from the running statistics: per item
    Σ δ_r ⊙ x̂_r and Σ δ_r. (In training mode the batch statistics would mix the items.)"""
    norm = call.module
    if norm.training or norm.running_mean is None:
        raise unsupported(call.name, norm, "it normalises with batch statistics, mixing items")
    (x,) = call.args
    x_hat = (x[grad.rows] - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps)
    grads = {}
    if norm.weight is not None:
        grads["weight"] = grad.sum(grad.delta * x_hat)
    if norm.bias is not None:
        grads["bias"] = grad.sum(grad.delta)
    return grads


def layer_arguments(call: Call, kinds: str) -> dict:
    """The call's arguments by name; refuses what the other backbones' rules do not handle
    (blocks and (source, destination) pairs never reach them: items are copied as graphs)."""
    arguments = inspect.signature(call.module.forward).bind(*call.args, **call.kwargs).arguments
    if arguments["graph"].is_block or isinstance(arguments["feat"], tuple):
        raise unsupported(call.name, call.module, f"only {kinds} on a graph are handled")
    return arguments


def gat_conv_grads(call: Call, grad: RowGrads) -> dict:
    """GATConv: h_v = Σ_u s_uv (W x_u) + b, s the softmax over v's in-edges of
    LeakyReLU(a_l·W x_u + a_r·W x_v). W is its child Linear's (that rule); b is Σ δ_r. The
    attention vectors reach an item's rows through the softmax, so the layer runs again with
    a copy of them per item, a + z[item of the node]: the gradient of Σ_r δ_r·h_r with
    respect to z[i] is item i's (δ_r is item i's own gradient on its rows), one backward
    pass for all items, and DGL's own forward makes it exact by construction."""
    conv = call.module
    arguments = layer_arguments(call, "GATConv layers without residual")
    if conv.res_fc is not None or conv.activation is not None:
        raise unsupported(call.name, conv, "a residual or an activation is not handled")
    grads = {}
    if conv.bias is not None:
        grads["bias"] = grad.sum(grad.delta.flatten(1))
    delta = torch.zeros_like(call.output)
    delta[grad.rows] = grad.delta
    detached = {k: v.detach() if torch.is_tensor(v) else v for k, v in arguments.items()}
    with torch.enable_grad():
        own = {
            name: torch.zeros((grad.num_items, *getattr(conv, name).shape[1:]), requires_grad=True)
            for name in ("attn_l", "attn_r")
            if getattr(conv, name).requires_grad
        }
        owner = grad.every_owner
        params = {name: getattr(conv, name).detach() + z[owner] for name, z in own.items()}
        # the rerun's forward hooks record calls too; per_item_grads iterates over its own list
        output = functional_call(conv, params, (), detached)
        per_item = torch.autograd.grad((output * delta).sum(), list(own.values()))
    grads.update({name: g.unsqueeze(1) for name, g in zip(own, per_item, strict=True)})
    return grads


def gin_conv_grads(call: Call, grad: RowGrads) -> dict:
    """GINConv without apply_func (cgl's GINLayer runs its MLP after it):
    y_v = (1 + eps) x_v + Σ_u x_u, so a learnt eps gets per item Σ_r δ_r·x_r."""
    conv = call.module
    arguments = layer_arguments(call, "GINConv layers")
    if conv.apply_func is not None or conv.activation is not None:
        raise unsupported(call.name, conv, "an apply_func or activation inside it is not handled")
    x = arguments["feat"]
    return {"eps": grad.sum((grad.delta * x[grad.rows]).sum(-1, keepdim=True))}


def sage_conv_grads(call: Call, grad: RowGrads) -> dict:
    """SAGEConv: its Linear children (fc_self, fc_neigh, fc_pool) have that rule, their rows
    being nodes; the layer itself owns only the 'gcn' aggregator's bias: Σ δ_r."""
    conv = call.module
    if conv.norm is not None or conv.activation is not None or conv._aggre_type == "lstm":
        raise unsupported(call.name, conv, "a norm, an activation or lstm is not handled")
    return {} if getattr(conv, "bias", None) is None else {"bias": grad.sum(grad.delta)}


#: module type -> per-item gradients of its own parameters from one forward call
PARAMETER_RULES = {
    nn.Linear: linear_grads,
    GraphConv: graph_conv_grads,
    SparseInputGraphConv: graph_conv_grads,
    nn.BatchNorm1d: batch_norm_grads,
    GATConv: gat_conv_grads,
    GINConv: gin_conv_grads,
    SAGEConv: sage_conv_grads,
}


def parameter_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules that own trainable parameters; each must have a rule in PARAMETER_RULES.
    Raises ConfigError naming the first that has none."""
    found = []
    for name, module in model.named_modules():
        if not any(p.requires_grad for p in module.parameters(recurse=False)):
            continue
        if type(module) not in PARAMETER_RULES:
            known = ", ".join(kind.__name__ for kind in PARAMETER_RULES)
            raise unsupported(name, module, f"only {known} are supported")
        found.append((name, module))
    return found


def row_owner(rows: int, copies: ItemCopies, name: str) -> torch.Tensor:
    """The item each of a tensor's rows belongs to: node rows map to their copy, item rows
    (pairs, graphs, selected nodes) to themselves."""
    items = torch.arange(copies.num_items, device=copies.node_owner.device)
    per_node, per_item = rows == copies.node_owner.numel(), rows == copies.num_items
    if per_node and per_item and not torch.equal(copies.node_owner, items):
        raise ValueError(
            f"'{name}': {rows} rows could be the batch's nodes or its items; use another chunk_size"
        )
    if per_node:
        return copies.node_owner
    if per_item:
        return items
    raise ValueError(
        f"'{name}': cannot tell which item each of its {rows} rows belongs to (the batch has "
        f"{copies.node_owner.numel()} nodes and {copies.num_items} items)"
    )


def per_item_grads(calls: list[Call], objective: torch.Tensor, copies: ItemCopies) -> dict:
    """Parameter name -> [items, *shape]: each item's gradient of its part of `objective`
    (a sum of per-item terms), from one backward."""
    calls = [call for call in calls if call.output.requires_grad]
    if not calls:
        return {}
    deltas = torch.autograd.grad(objective, [call.output for call in calls], allow_unused=True)
    grads: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for call, delta in zip(calls, deltas, strict=True):
            if delta is not None:
                add_call_grads(grads, call, delta, copies)
    return grads


def add_call_grads(grads: dict, call: Call, delta: torch.Tensor, copies: ItemCopies) -> None:
    """Add one forward call's per-item gradients to `grads` (a parameter used twice gets both)."""
    rows = torch.nonzero(delta.ne(0).flatten(1).any(-1)).view(-1)
    every_owner = row_owner(delta.shape[0], copies, call.name)
    row_grads = RowGrads(rows, delta[rows], every_owner[rows], copies.num_items, every_owner)
    for local, grad in PARAMETER_RULES[type(call.module)](call, row_grads).items():
        name = f"{call.name}.{local}" if call.name else local
        grads[name] = grad + grads[name] if name in grads else grad


def squared_norm_objective(outputs_fn: OutputsFn) -> ObjectiveFn:
    """MAS's per-item objective ||o_i||² over outputs with one row per item, summed."""

    def objective(model: nn.Module, copies: ItemCopies) -> torch.Tensor:
        outputs = outputs_fn(model, copies.batch)
        if outputs.shape[0] != copies.num_items:
            raise ValueError(
                f"the outputs have {outputs.shape[0]} rows for {copies.num_items} items"
            )
        return outputs.pow(2).sum()

    return objective


def mean_item_grads(
    model: nn.Module,
    batches: Iterable[ItemCopies],
    objective_fn: ObjectiveFn,
    reduce: Callable[[torch.Tensor], torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Mean over items of `reduce`(item i's gradient of its objective), per parameter name,
    exactly: one backward pass per chunk of items in independent copies. `reduce` is abs for
    MAS's importance, square for EWC's Fisher."""
    total = {name: torch.zeros_like(p) for name, p in model.named_parameters() if p.requires_grad}
    calls: list[Call] = []

    def record(name: str) -> Callable:
        def hook(module, args, kwargs, output) -> None:
            calls.append(Call(name, module, args, kwargs, output))

        return hook

    handles = [
        module.register_forward_hook(record(name), with_kwargs=True)
        for name, module in parameter_modules(model)
    ]
    count = 0
    try:
        for copies in batches:
            calls.clear()
            objective = objective_fn(model, copies)
            for name, grad in per_item_grads(calls, objective, copies).items():
                if name in total:
                    total[name].add_(reduce(grad).sum(0))
            count += copies.num_items
    finally:
        for handle in handles:
            handle.remove()
    return {name: value / max(count, 1) for name, value in total.items()}


def sample_importance(
    model: nn.Module, batches: Iterable[ItemCopies], outputs_fn: OutputsFn
) -> dict[str, torch.Tensor]:
    """The MAS paper's estimator: mean over items of |d/dθ ||o_i||²|, exactly."""
    return mean_item_grads(model, batches, squared_norm_objective(outputs_fn), torch.abs)
