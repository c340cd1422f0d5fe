"""Graph-level scenarios (GC): items are whole graphs.

At task t the learner gets the graphs of tasks 0..t, with labels only on the train/val graphs
of the task(s) it trains on (-1 elsewhere) and split masks over them: the same shape of data
NC and LC get. Graphs are independent, so Time-IL needs no growing graph: its tasks are the
graphs of successive time steps. Under Task-IL every graph carries its task's class mask,
since the task id is known at inference. A score metric (ROC-AUC, e.g. ogbg-molhiv) makes
the scenario `binary`: predictions are then a score per graph instead of a class.
"""

from __future__ import annotations

from typing import Any

import dgl
import torch
from torch.utils.data import Dataset, Subset

from cgl.datasets.base import ContinualData
from cgl.scenarios.common import EvalView, ScenarioLoader

SPLITS = ("train", "val", "test")


class GraphSet(Dataset):
    """Graphs a trainer may see: visible labels (-1: hidden), split masks and, under Task-IL,
    `task_specific_mask` [n, num_classes].

    An item is a dict (`graph`, `label`, `index`, plus `task_mask` under Task-IL) that DGL's
    GraphDataLoader batches as it is; `index` is the item's position in this set.
    """

    def __init__(
        self,
        graphs: list[dgl.DGLGraph],
        label: torch.Tensor,
        train_mask: torch.Tensor,
        val_mask: torch.Tensor,
        test_mask: torch.Tensor,
        task_specific_mask: torch.Tensor | None = None,
    ) -> None:
        self.graphs = graphs
        self.label = label
        self.train_mask, self.val_mask, self.test_mask = train_mask, val_mask, test_mask
        self.task_specific_mask = task_specific_mask

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> dict:
        item = {"graph": self.graphs[index], "label": self.label[index], "index": index}
        if self.task_specific_mask is not None:
            item["task_mask"] = self.task_specific_mask[index]
        return item

    def split(self, name: str) -> Subset:
        """The items of split `name` ('train', 'val' or 'test')."""
        return Subset(self, torch.nonzero(getattr(self, f"{name}_mask")).view(-1).tolist())


def learner_graphs(graphs: list[dgl.DGLGraph]) -> list[dgl.DGLGraph]:
    """Copies holding structure and features only, so no other field of the raw data travels."""
    edata = ["feat"] if "feat" in graphs[0].edata else None
    return dgl.unbatch(dgl.batch(graphs, ndata=["feat"], edata=edata))


class GCScenarioLoader(ScenarioLoader):
    """Graph classification: cuts many small graphs into tasks (see the module docstring)."""

    level = "gc"

    def __init__(
        self, data: ContinualData, incr_type: str, num_tasks: int | None, **kwargs: Any
    ) -> None:
        super().__init__(data, incr_type, num_tasks, **kwargs)
        self._graphs = learner_graphs(data.graphs)

    def model_kwargs(self) -> dict[str, int]:
        """Adds `in_edge_feats` when the graphs have edge features."""
        kwargs = super().model_kwargs()
        if "feat" in self._graphs[0].edata:
            kwargs["in_edge_feats"] = int(self._graphs[0].edata["feat"].shape[1])
        return kwargs

    def current_item_ids(self) -> torch.Tensor:
        """Graphs of tasks 0..current, in id order."""
        tasks = self.task_of_item
        return torch.nonzero((tasks >= 0) & (tasks <= self._curr_task)).view(-1)

    def _graph_set(self, items: torch.Tensor, label: torch.Tensor, masks: list) -> GraphSet:
        task_masks = None
        if self.incr_type == "task":
            task_masks = self.task_class_mask()[self.task_of_item[items]]
        return GraphSet([self._graphs[i] for i in items.tolist()], label, *masks, task_masks)

    def _dataset(self, tasks: list[int]) -> GraphSet:
        items = self.current_item_ids()
        masks = [self.split_mask(split, tasks)[items] for split in SPLITS]
        return self._graph_set(items, self.visible_labels(tasks)[items], masks)

    def get_current_dataset(self) -> GraphSet:
        return self._dataset([self._curr_task])

    def get_accumulated_dataset(self) -> GraphSet:
        return self._dataset(list(range(self._curr_task + 1)))

    def eval_views(self) -> list[EvalView]:
        """One view: the val and test graphs of every task, all labels hidden."""
        tasks = list(range(self.num_tasks))
        items = torch.nonzero(self.split_mask("val", tasks) | self.split_mask("test", tasks)).view(
            -1
        )
        hidden = self.hidden_labels(items.numel())
        none = torch.zeros(items.numel(), dtype=torch.bool)
        view = self._graph_set(items, hidden, [none, none, ~none])
        return [EvalView(dataset=view, item_ids=items, tasks=tasks)]
