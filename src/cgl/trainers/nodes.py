"""Node-level trainers: full-graph (NCTrainer) and neighbour-sampled (NCMinibatchTrainer).

Both do plain fine-tuning; methods (MAS, joint, ...) are mixed in on top. Under Task-IL the
scenario puts `task_specific_mask` on the nodes and inference restricts logits with it, so one
inference serves every scenario.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import dgl
import torch

from cgl.config.errors import ConfigError
from cgl.models.node import WHOLE_OUT_DEGREE
from cgl.trainers.base import BaseTrainer, own_event
from cgl.trainers.classification import ClassificationEvents
from cgl.trainers.copies import ItemCopies, ReceptiveFields, message_passing_depth


def with_self_loops(graph: dgl.DGLGraph) -> dgl.DGLGraph:
    """GraphConv needs every node to hear itself; the loader's graphs come without self-loops."""
    return dgl.add_self_loop(dgl.remove_self_loop(graph))


def masked_loss(loss_fn, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Loss over the visible labels (evaluation views hide every label). Multi-label targets
    ([items, labels] of 0/1) are taken entry by entry, as the floats a BCE loss expects."""
    visible = labels >= 0
    if not bool(visible.any()):
        return logits.new_zeros(())
    if labels.dim() == 2:
        return loss_fn(logits[visible], labels[visible].to(logits.dtype))
    return loss_fn(logits[visible], labels[visible])


def local_nodes(graph: dgl.DGLGraph, nodes: torch.Tensor) -> torch.Tensor:
    """Where the scenario's (global) node ids sit in `graph`, a subgraph that stores them
    sorted in ndata[dgl.NID] (a growing graph's task keeps the nodes seen so far)."""
    if dgl.NID not in graph.ndata:
        return nodes.to(graph.device)
    return torch.searchsorted(graph.ndata[dgl.NID], nodes.to(graph.device))


def with_labels(
    data: dict, rows: torch.Tensor, items: dict[str, torch.Tensor], names=("label", "task_mask")
) -> dict[str, torch.Tensor]:
    """Copies of a node frame's `label` (and `task_specific_mask`) with the remembered items'
    own values written at `rows`: the frame itself stays as the scenario gave it."""
    out = {}
    for key, frame_key in (("label", "label"), ("task_mask", "task_specific_mask")):
        if key in items and frame_key in data:
            values = data[frame_key].clone()
            values[rows] = items[key].to(values.device)
            out[frame_key] = values
    return out


class WholeGraph(NamedTuple):
    """A batch that is the whole graph; `mask` picks the nodes it predicts."""

    graph: dgl.DGLGraph
    mask: torch.Tensor


class FieldBlocks(NamedTuple):
    """An evaluation batch: the (self-looped) graph, the nodes it predicts, the blocks of
    their receptive field (cut from the graph, with its out-degrees: GNNEncoder then
    normalises exactly as on the whole graph), the field's input features and the nodes'
    labels and task masks."""

    graph: dgl.DGLGraph
    nodes: torch.Tensor
    blocks: list[dgl.DGLGraph]
    feat: torch.Tensor
    labels: torch.Tensor
    task_masks: torch.Tensor | None

    def logits(self, model: torch.nn.Module) -> torch.Tensor:
        return model(self.blocks, self.feat, task_masks=self.task_masks)


def receptive_field(
    graph: dgl.DGLGraph, mask: torch.Tensor, depth: int, max_share: float = 0.5
) -> FieldBlocks | None:
    """The `depth` blocks that compute the outputs of the `mask` nodes and nothing else, or
    None when they would hold more than `max_share` of the rows that the whole graph's layers
    compute (depth x nodes): evaluation then runs on the whole graph, which costs as much.

    Each block is a node set's in-edges, all of them, so its in-degrees are the graph's; its
    out-degrees are not, hence WHOLE_OUT_DEGREE."""
    nodes = torch.nonzero(mask).view(-1)
    out_degree = graph.out_degrees()
    budget = max_share * depth * graph.num_nodes()
    blocks, dst, rows = [], nodes, 0
    for _ in range(depth):
        rows += dst.numel()
        if rows > budget:
            return None
        in_edges = dgl.graph(graph.in_edges(dst), num_nodes=graph.num_nodes())
        block = dgl.to_block(in_edges, dst)
        dst = block.srcdata[dgl.NID]
        block.srcdata[WHOLE_OUT_DEGREE] = out_degree[dst]
        blocks.insert(0, block)
    task_masks = graph.ndata.get("task_specific_mask")
    return FieldBlocks(
        graph,
        nodes,
        blocks,
        graph.ndata["feat"].index_select(0, dst),
        graph.ndata["label"][nodes],
        None if task_masks is None else task_masks[nodes],
    )


class NCTrainer(ClassificationEvents, BaseTrainer):
    """Full-graph node classification: one training batch, the whole graph, BeGin's
    `(graph, mask)`. Evaluation computes only the evaluated nodes' receptive field where that
    is much smaller than the graph (`receptive_field`: the same outputs for fewer rows), else
    the whole graph; a trainer whose own `inference` reads BeGin's `(graph, mask)` (a ported
    BeGin trainer) always evaluates on the whole graph."""

    def prepareLoader(self, curr_dataset, curr_training_states):
        graph = with_self_loops(curr_dataset).to(self.device)
        train = [WholeGraph(graph, graph.ndata["train_mask"])]
        return train, *(self.eval_batches(graph, graph.ndata[f"{s}_mask"]) for s in ("val", "test"))

    def eval_batches(self, graph: dgl.DGLGraph, mask: torch.Tensor) -> list:
        """The one batch that predicts the `mask` nodes of the (self-looped) `graph`."""
        if not own_event(self, "inference", "processEvalIteration"):
            return [WholeGraph(graph, mask)]
        field = receptive_field(graph, mask, message_passing_depth(self.model))
        return [WholeGraph(graph, mask) if field is None else field]

    def train_labels(self, dataset: dgl.DGLGraph) -> torch.Tensor:
        return dataset.ndata["label"][dataset.ndata["train_mask"]]

    def _forward(self, model, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked logits and labels of the batch's items."""
        if isinstance(batch, FieldBlocks):
            return batch.logits(model), batch.labels
        graph, mask = batch
        logits = model(graph, graph.ndata["feat"], task_masks=graph.ndata.get("task_specific_mask"))
        return logits[mask], graph.ndata["label"][mask]

    def inference(self, model, _curr_batch, training_states) -> dict:
        """BeGin's results: the items' logits as `preds` (restricted to each item's task
        under Task-IL) and the loss over their visible labels."""
        logits, labels = self._forward(model, _curr_batch)
        return {"preds": logits, "loss": masked_loss(self.loss_fn, logits, labels)}

    def batch_targets(self, batch) -> torch.Tensor:
        if isinstance(batch, FieldBlocks):
            return batch.labels
        graph, mask = batch
        return graph.ndata["label"][mask]

    def batch_item_ids(self, batch) -> torch.Tensor:
        if isinstance(batch, FieldBlocks):
            return batch.nodes
        return torch.nonzero(batch[1]).view(-1)

    def batch_outputs(self, model, batch) -> torch.Tensor:
        graph, mask = batch
        task_masks = graph.ndata.get("task_specific_mask")
        return model.observed_logits(graph, graph.ndata["feat"], task_masks=task_masks)[mask]

    def training_items(self, dataset: dgl.DGLGraph) -> dict[str, torch.Tensor]:
        """The training nodes: their scenario-wide ids (`item`), labels and Task-IL masks."""
        nodes = torch.nonzero(dataset.ndata["train_mask"]).view(-1)
        ids = dataset.ndata[dgl.NID] if dgl.NID in dataset.ndata else dataset.nodes()
        items = {"item": ids[nodes], "label": dataset.ndata["label"][nodes]}
        if "task_specific_mask" in dataset.ndata:
            items["task_mask"] = dataset.ndata["task_specific_mask"][nodes]
        return items

    def with_remembered(self, batch, items, dataset, only=False):
        """The whole graph predicts its mask's nodes and the remembered ones, in one forward
        (BeGin's ER-GNN scores its buffer in the training pass), labels on a local copy."""
        graph, mask = batch
        nodes = local_nodes(graph, items["item"])
        view = graph.local_var()
        view.ndata.update(with_labels(graph.ndata, nodes, items))
        remembered = torch.zeros_like(mask)
        remembered[nodes] = True
        predicted = remembered if only else mask | remembered
        return WholeGraph(view, predicted), remembered[predicted]

    def item_copies(
        self, dataset: dgl.DGLGraph, training_states: dict, chunk_size: int
    ) -> Iterator[ItemCopies]:
        """Each training node in its own copy of its receptive field in the (self-looped)
        graph, with its label, in chunks of `chunk_size` copies: (copies, mask of the items'
        nodes), as `batch_outputs` and `inference` read. Memory grows as chunk_size x a
        receptive field's size."""
        graph = with_self_loops(dataset).to(self.device)
        fields = ReceptiveFields(graph, message_passing_depth(self.model))
        items = torch.nonzero(graph.ndata["train_mask"]).view(-1)
        for chunk in items.split(chunk_size):
            cut = fields.copies(chunk.unsqueeze(-1))
            mask = torch.zeros(cut.graph.num_nodes(), dtype=torch.bool, device=self.device)
            mask[cut.seeds.view(-1)] = True  # rows come out in copy order: item b is row b
            if "label" in graph.ndata:  # the items' own (visible) labels, for a per-item loss
                labels = graph.ndata["label"]
                copied = labels.new_full((cut.graph.num_nodes(), *labels.shape[1:]), -1)
                copied[cut.seeds.view(-1)] = labels[chunk]
                cut.graph.ndata["label"] = copied
            if "task_specific_mask" in graph.ndata:  # Task-IL: the items' own classes count
                task_masks = graph.ndata["task_specific_mask"]
                copied = task_masks.new_ones((cut.graph.num_nodes(), task_masks.shape[1]))
                copied[cut.seeds.view(-1)] = task_masks[chunk]
                cut.graph.ndata["task_specific_mask"] = copied
            yield ItemCopies(WholeGraph(cut.graph, mask), cut.owner, chunk.numel())


#: the batches NCTrainer's events read (as opposed to sampled minibatches)
EVALUATION_BATCHES = (WholeGraph, FieldBlocks)


class NCMinibatchTrainer(NCTrainer):
    """Node classification on sampled blocks (DGL NeighborSampler), for graphs too big for
    full-graph training. kwargs: `batch_size`, `fanouts` (one per GNN layer), `eval_fanouts`.

    Evaluation is exact by default (`eval_fanouts` None): layer-wise inference, as DGL's
    examples do it offline, each layer computed once for all nodes of the whole graph under
    no_grad (here without splitting a layer into node batches), where batches of full
    neighbourhoods would compute a shared neighbour's layers again in every batch, and with
    every node's own degree, where a block's degrees count only the block's edges. It predicts
    what NCTrainer predicts. A list of `eval_fanouts` samples evaluation instead; so does a
    trainer whose own `inference` reads BeGin's `(input_nodes, output_nodes, blocks)` (a
    ported BeGin trainer), with every neighbour when `eval_fanouts` is None."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.batch_size = int(kwargs.pop("batch_size", 512))
        self.fanouts = list(kwargs.pop("fanouts", [10, 10, 10]))
        eval_fanouts = kwargs.pop("eval_fanouts", None)
        self.eval_fanouts = None if eval_fanouts is None else list(eval_fanouts)
        if self.eval_fanouts is not None and len(self.eval_fanouts) != len(self.fanouts):
            raise ConfigError(
                f"eval_fanouts {self.eval_fanouts} needs one entry per GNN layer, like "
                f"fanouts {self.fanouts}."
            )
        super().__init__(*args, **kwargs)

    def prepareLoader(self, curr_dataset, curr_training_states):
        graph = with_self_loops(curr_dataset)

        def loader(split: str, sampler, shuffle: bool):
            nodes = torch.nonzero(graph.ndata[f"{split}_mask"]).view(-1)
            return dgl.dataloading.DataLoader(
                graph,
                nodes,
                sampler,
                batch_size=self.batch_size,
                shuffle=shuffle,
                # batch norm cannot train on a batch of one node: when the shuffled training
                # nodes would leave one over, that node (a different one each epoch) waits
                drop_last=shuffle and nodes.numel() % self.batch_size == 1,
                device=self.device,
            )

        train = loader("train", dgl.dataloading.NeighborSampler(self.fanouts), True)
        if not own_event(self, "inference", "processEvalIteration"):
            fanouts = self.eval_fanouts or [-1] * len(self.fanouts)
            sampler = dgl.dataloading.NeighborSampler(fanouts)
            return train, loader("val", sampler, False), loader("test", sampler, False)
        if self.eval_fanouts is None:
            whole = graph.to(self.device)
            masks = (whole.ndata[f"{split}_mask"] for split in ("val", "test"))
            return train, *(self.eval_batches(whole, mask) for mask in masks)
        sampler = dgl.dataloading.NeighborSampler(self.eval_fanouts)
        return train, loader("val", sampler, False), loader("test", sampler, False)

    def _forward(self, model, batch):
        if isinstance(batch, EVALUATION_BATCHES):
            return super()._forward(model, batch)
        _, _, blocks = batch
        dst = blocks[-1].dstdata
        logits = model(blocks, blocks[0].srcdata["feat"], task_masks=dst.get("task_specific_mask"))
        return logits, dst["label"]

    def batch_targets(self, batch) -> torch.Tensor:
        if isinstance(batch, EVALUATION_BATCHES):
            return super().batch_targets(batch)
        return batch[2][-1].dstdata["label"]

    def batch_item_ids(self, batch) -> torch.Tensor:
        if isinstance(batch, EVALUATION_BATCHES):
            return super().batch_item_ids(batch)
        return batch[1]

    def batch_outputs(self, model, batch) -> torch.Tensor:
        _, _, blocks = batch
        task_masks = blocks[-1].dstdata.get("task_specific_mask")
        return model.observed_logits(blocks, blocks[0].srcdata["feat"], task_masks=task_masks)

    def with_remembered(self, batch, items, dataset, only=False):
        """Blocks sampled afresh (the training fanouts) for the batch's nodes followed by the
        remembered ones, which carry their own labels."""
        graph = self._looped(dataset)
        nodes = local_nodes(graph, items["item"].cpu())
        seeds = nodes if only else torch.cat([batch[1].to(nodes.device), nodes])
        sampler = dgl.dataloading.NeighborSampler(self.fanouts)
        input_nodes, output_nodes, blocks = sampler.sample_blocks(graph, seeds)
        remembered = torch.zeros(seeds.numel(), dtype=torch.bool)
        remembered[seeds.numel() - nodes.numel() :] = True
        blocks[-1].dstdata.update(with_labels(blocks[-1].dstdata, remembered, items))
        blocks = [block.to(self.device) for block in blocks]
        return (input_nodes, output_nodes, blocks), remembered.to(self.device)

    def _looped(self, dataset: dgl.DGLGraph) -> dgl.DGLGraph:
        """The task's self-looped graph, built once per task (each replayed batch samples it)."""
        cached = getattr(self, "_looped_graph", None)
        if cached is None or cached[0] is not dataset:
            cached = self._looped_graph = (dataset, with_self_loops(dataset))
        return cached[1]

    def item_copy_outputs(self, model, batch) -> torch.Tensor:
        """Per-item importance runs on the items' receptive fields cut as graphs (the model
        takes a graph as well as blocks), as NCTrainer does: exact, every neighbour counted."""
        return NCTrainer.batch_outputs(self, model, batch)
