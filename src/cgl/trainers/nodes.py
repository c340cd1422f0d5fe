"""Node-level trainers: full-graph (NCTrainer) and neighbour-sampled (NCMinibatchTrainer).

Both do plain fine-tuning; methods (MAS, joint, ...) are mixed in on top. Under Task-IL the
scenario puts `task_specific_mask` on the nodes and inference restricts logits with it, so one
inference serves every scenario.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dgl
import torch

from cgl.errors import ConfigError
from cgl.trainers.base import BaseTrainer
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


class NCTrainer(ClassificationEvents, BaseTrainer):
    """Full-graph node classification: one batch per split, the whole graph in each."""

    def prepareLoader(self, curr_dataset, curr_training_states):
        graph = with_self_loops(curr_dataset).to(self.device)
        return tuple([(graph, graph.ndata[f"{split}_mask"])] for split in ("train", "val", "test"))

    def train_labels(self, dataset: dgl.DGLGraph) -> torch.Tensor:
        return dataset.ndata["label"][dataset.ndata["train_mask"]]

    def _forward(self, model, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked logits and labels of the batch's items."""
        graph, mask = batch
        logits = model(graph, graph.ndata["feat"], task_masks=graph.ndata.get("task_specific_mask"))
        return logits[mask], graph.ndata["label"][mask]

    def inference(self, model, _curr_batch, training_states) -> dict:
        logits, labels = self._forward(model, _curr_batch)
        loss = masked_loss(self.loss_fn, logits, labels)
        return {"preds": logits.argmax(-1), "logits": logits, "loss": loss}

    def batch_targets(self, batch) -> torch.Tensor:
        graph, mask = batch
        return graph.ndata["label"][mask]

    def batch_item_ids(self, batch) -> torch.Tensor:
        return torch.nonzero(batch[1]).view(-1)

    def importance_outputs(self, model, batch) -> torch.Tensor:
        graph, mask = batch
        task_masks = graph.ndata.get("task_specific_mask")
        return model.observed_logits(graph, graph.ndata["feat"], task_masks=task_masks)[mask]

    def independent_item_batches(
        self, dataset: dgl.DGLGraph, training_states: dict, chunk_size: int
    ) -> Iterator[ItemCopies]:
        """Each training node in its own copy of its receptive field in the (self-looped)
        graph, in chunks of `chunk_size` copies: (copies, mask of the items' nodes), as
        `importance_outputs` reads. Memory grows as chunk_size x a receptive field's size."""
        graph = with_self_loops(dataset).to(self.device)
        fields = ReceptiveFields(graph, message_passing_depth(self.model))
        items = torch.nonzero(graph.ndata["train_mask"]).view(-1)
        for chunk in items.split(chunk_size):
            cut = fields.copies(chunk.unsqueeze(-1))
            mask = torch.zeros(cut.graph.num_nodes(), dtype=torch.bool, device=self.device)
            mask[cut.seeds.view(-1)] = True  # rows come out in copy order: item b is row b
            if "task_specific_mask" in graph.ndata:  # Task-IL: the items' own classes count
                task_masks = graph.ndata["task_specific_mask"]
                copied = task_masks.new_ones((cut.graph.num_nodes(), task_masks.shape[1]))
                copied[cut.seeds.view(-1)] = task_masks[chunk]
                cut.graph.ndata["task_specific_mask"] = copied
            yield ItemCopies((cut.graph, mask), cut.owner, chunk.numel())


class NCMinibatchTrainer(NCTrainer):
    """Node classification on sampled blocks (DGL NeighborSampler), for graphs too big for
    full-graph training. kwargs: `batch_size`, `fanouts` (one per GNN layer), `eval_fanouts`
    (None: every neighbour, exact; a list samples evaluation too, for graphs as dense as
    ogbn-proteins, where a node's full 3-hop neighbourhood is most of the graph)."""

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
        train_sampler = dgl.dataloading.NeighborSampler(self.fanouts)
        eval_sampler = (
            dgl.dataloading.MultiLayerFullNeighborSampler(len(self.fanouts))
            if self.eval_fanouts is None
            else dgl.dataloading.NeighborSampler(self.eval_fanouts)
        )

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

        return (
            loader("train", train_sampler, True),
            loader("val", eval_sampler, False),
            loader("test", eval_sampler, False),
        )

    def _forward(self, model, batch):
        _, _, blocks = batch
        dst = blocks[-1].dstdata
        logits = model(blocks, blocks[0].srcdata["feat"], task_masks=dst.get("task_specific_mask"))
        return logits, dst["label"]

    def batch_targets(self, batch) -> torch.Tensor:
        return batch[2][-1].dstdata["label"]

    def batch_item_ids(self, batch) -> torch.Tensor:
        return batch[1]

    def importance_outputs(self, model, batch) -> torch.Tensor:
        _, _, blocks = batch
        task_masks = blocks[-1].dstdata.get("task_specific_mask")
        return model.observed_logits(blocks, blocks[0].srcdata["feat"], task_masks=task_masks)

    def independent_item_outputs(self, model, batch) -> torch.Tensor:
        """Per-item importance runs on the items' receptive fields cut as graphs (the model
        takes a graph as well as blocks), as NCTrainer does: exact, every neighbour counted."""
        return NCTrainer.importance_outputs(self, model, batch)
