"""Graph-level trainer (GCTrainer): minibatches of whole graphs, plain fine-tuning.

Batches come from DGL's GraphDataLoader over the scenario's GraphSet, as GraphBatches (BeGin's
`(graphs, labels)`, under Task-IL `(graphs, labels, task_masks)`). Under Task-IL each graph
brings its task's class mask, and inference restricts the logits with it, so one inference
serves every scenario (methods such as MAS are mixed in on top).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dgl
import torch
from dgl.dataloading import GraphCollator, GraphDataLoader

from cgl.trainers.base import BaseTrainer
from cgl.trainers.classification import ClassificationEvents
from cgl.trainers.copies import ItemCopies
from cgl.trainers.nodes import masked_loss


def with_self_loops(batch: dgl.DGLGraph) -> dgl.DGLGraph:
    """The batched graph with one self-loop per node (GraphConv needs every node to hear
    itself), carrying zero edge features. Unlike dgl.add_self_loop, which appends the loops
    after all edges and forgets the batch, each graph keeps its own edges together."""
    batch = dgl.remove_self_loop(batch)  # keeps the batch
    sizes, edge_counts = batch.batch_num_nodes(), batch.batch_num_edges()
    graph_ids = torch.arange(sizes.numel(), device=sizes.device)
    owner = torch.cat(
        [graph_ids.repeat_interleave(edge_counts), graph_ids.repeat_interleave(sizes)]
    )
    order = torch.argsort(owner, stable=True)
    src, dst = batch.edges()
    nodes = batch.nodes()
    looped = dgl.graph(
        (torch.cat([src, nodes])[order], torch.cat([dst, nodes])[order]),
        num_nodes=batch.num_nodes(),
    )
    looped.ndata.update(batch.ndata)
    for name, value in batch.edata.items():
        zeros = value.new_zeros((batch.num_nodes(), *value.shape[1:]))
        looped.edata[name] = torch.cat([value, zeros])[order]
    looped.set_batch_num_nodes(sizes)
    looped.set_batch_num_edges(edge_counts + sizes)
    return looped


@dataclass(frozen=True)
class GraphBatch:
    """A minibatch of graphs: the batched graph (self-looped), visible labels, the graphs'
    positions in their GraphSet and, under Task-IL, their class masks. cgl reads it by name
    (also `batch["label"]`); unpacked or indexed it is BeGin's `(graphs, labels)`, under
    Task-IL `(graphs, labels, task_masks)`."""

    graph: dgl.DGLGraph
    label: torch.Tensor
    index: torch.Tensor
    task_mask: torch.Tensor | None = None

    @classmethod
    def collate(cls, items: list[dict]) -> GraphBatch:
        """DGL's collation of GraphSet items, then the self-loops GraphConv needs."""
        batch = GraphCollator().collate(items)
        batch["graph"] = with_self_loops(batch["graph"])
        return cls(**batch)

    def begin_tuple(self) -> tuple:
        if self.task_mask is None:
            return self.graph, self.label
        return self.graph, self.label, self.task_mask

    def __iter__(self) -> Iterator:
        return iter(self.begin_tuple())

    def __len__(self) -> int:
        return len(self.begin_tuple())

    def __getitem__(self, key: int | str) -> Any:
        return getattr(self, key) if isinstance(key, str) else self.begin_tuple()[key]

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, None)
        return default if value is None else value


def graph_loader(graphs: Any, batch_size: int, shuffle: bool = False) -> GraphDataLoader:
    """DGL's GraphDataLoader yielding GraphBatches."""
    return GraphDataLoader(
        graphs, batch_size=batch_size, shuffle=shuffle, collate_fn=GraphBatch.collate
    )


class GCTrainer(ClassificationEvents, BaseTrainer):
    """Graph classification. kwargs: `batch_size` (graphs per minibatch, default 128).

    Under a binary scenario (a score metric such as ROC-AUC) both classes are known from the
    start and evaluation predicts a score per graph instead of a class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.batch_size = int(kwargs.pop("batch_size", 128))
        super().__init__(*args, **kwargs)

    def prepareLoader(self, curr_dataset, curr_training_states):
        """GraphDataLoaders over the train (shuffled), val and test graphs; an empty split
        (e.g. train in an evaluation view) gets no loader, only an empty list."""
        loaders = []
        for split in ("train", "val", "test"):
            graphs = curr_dataset.split(split)
            loaders.append(
                graph_loader(graphs, self.batch_size, shuffle=split == "train")
                if len(graphs)
                else []
            )
        return tuple(loaders)

    def train_labels(self, dataset) -> torch.Tensor:
        return dataset.label[dataset.train_mask]

    def _graph(self, batch: GraphBatch) -> dgl.DGLGraph:
        return batch.graph.to(self.device)

    def inference(self, model, _curr_batch, training_states) -> dict:
        """Class logits of the batch's graphs as `preds`, restricted to each graph's task
        under Task-IL, and the loss over their visible labels."""
        graph = self._graph(_curr_batch)
        task_masks = _curr_batch.task_mask
        if task_masks is None and getattr(self, "declared_scenario", None) == "taskil":
            raise ValueError("Task-IL batches must carry each graph's task_mask (scenario=taskil)")
        if task_masks is not None:
            task_masks = task_masks.to(self.device)
        logits = model(graph, graph.ndata["feat"], task_masks=task_masks)
        loss = masked_loss(self.loss_fn, logits, _curr_batch.label.to(self.device))
        return {"preds": logits, "loss": loss}

    def batch_targets(self, batch) -> torch.Tensor:
        return batch.label

    def batch_item_ids(self, batch) -> torch.Tensor:
        return batch.index

    def batch_outputs(self, model, batch) -> torch.Tensor:
        graph = self._graph(batch)
        task_masks = batch.task_mask
        if task_masks is not None:
            task_masks = task_masks.to(self.device)
        return model.observed_logits(graph, graph.ndata["feat"], task_masks=task_masks)

    def training_items(self, dataset) -> dict[str, torch.Tensor]:
        """The task's training graphs: scenario-wide ids (`item`), labels and Task-IL masks."""
        positions = torch.nonzero(dataset.train_mask).view(-1)
        items = {
            "item": self.scenario.current_item_ids()[positions],
            "label": dataset.label[positions],
        }
        if dataset.task_specific_mask is not None:
            items["task_mask"] = dataset.task_specific_mask[positions]
        return items

    def with_remembered(self, batch, items, dataset, only=False):
        """The batch's graphs followed by the remembered ones, found by id in `dataset` (a
        task's set holds every graph of the tasks so far)."""
        count = items["item"].numel()
        remembered_batch = GraphBatch(
            graph=self._remembered_graphs(items["item"], dataset),
            label=items["label"].cpu(),
            index=torch.full((count,), -1, dtype=torch.long),
            task_mask=items["task_mask"].cpu() if "task_mask" in items else None,
        )
        remembered = torch.ones(count, dtype=torch.bool)
        if only:
            return remembered_batch, remembered.to(self.device)
        task_mask = None
        if remembered_batch.task_mask is not None:
            own = batch.task_mask.to(remembered_batch.task_mask.device)
            task_mask = torch.cat([own, remembered_batch.task_mask])
        mixed = GraphBatch(
            graph=dgl.batch([batch.graph, remembered_batch.graph.to(batch.graph.device)]),
            label=torch.cat([batch.label.cpu(), remembered_batch.label]),
            index=torch.cat([batch.index.cpu(), remembered_batch.index]),
            task_mask=task_mask,
        )
        own_rows = torch.zeros(batch.label.shape[0], dtype=torch.bool)
        return mixed, torch.cat([own_rows, remembered]).to(self.device)

    def _remembered_graphs(self, ids: torch.Tensor, dataset) -> dgl.DGLGraph:
        """The remembered graphs batched, built once per memory and task (every training
        batch replays the same ones)."""
        cached = getattr(self, "_remembered_batch", None)
        if cached is None or cached[0] is not ids or cached[1] is not dataset:
            positions = torch.searchsorted(self.scenario.current_item_ids(), ids.cpu())
            graphs = with_self_loops(dgl.batch([dataset.graphs[i] for i in positions.tolist()]))
            cached = self._remembered_batch = (ids, dataset, graphs)
        return cached[2]

    def item_copies(self, dataset, training_states: dict, chunk_size: int) -> Iterator[ItemCopies]:
        """Graphs are independent items already: a batch of `chunk_size` training graphs is
        block-diagonal, and each node belongs to its graph."""
        graphs = dataset.split("train")
        if not len(graphs):
            return
        for batch in graph_loader(graphs, chunk_size):
            sizes = batch.graph.batch_num_nodes()
            owner = torch.arange(sizes.numel()).repeat_interleave(sizes).to(self.device)
            yield ItemCopies(batch, owner, sizes.numel())
