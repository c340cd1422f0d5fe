"""Graph-level scenarios (GC): items are whole graphs.

At task t the learner gets the graphs of tasks 0..t, with labels only on the train/val graphs
of the task(s) it trains on (-1 elsewhere), and train/val/test masks over those graphs, the
same shape of data NC gets. Graphs are independent, so Time-IL needs no growing graph: tasks
are simply the graphs of successive time steps. Under Task-IL every graph carries its task's
class mask, since the task id is known at inference.
"""

from __future__ import annotations

import dgl
import torch
from torch.utils.data import Dataset, Subset

from cgl.scenarios.common import EvalView, ScenarioLoader


class GraphSet(Dataset):
    """Graphs a trainer may see: visible labels (-1: hidden), split masks, Task-IL masks.

    An item is a dict (`graph`, `label`, `index`, and `task_mask` under Task-IL), so DGL's
    GraphDataLoader batches it as it is; `index` is the item's position in this set.
    """

    def __init__(
        self,
        graphs: list[dgl.DGLGraph],
        label: torch.Tensor,
        masks: dict[str, torch.Tensor],
        task_masks: torch.Tensor | None = None,
    ) -> None:
        self.graphs = graphs
        self.label = label
        self.masks = masks
        self.task_masks = task_masks

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> dict:
        item = {"graph": self.graphs[index], "label": self.label[index], "index": index}
        if self.task_masks is not None:
            item["task_mask"] = self.task_masks[index]
        return item

    def split(self, name: str) -> Subset:
        """The items of split `name` ('train', 'val' or 'test')."""
        return Subset(self, torch.nonzero(self.masks[name]).view(-1).tolist())


def learner_graphs(graphs: list[dgl.DGLGraph]) -> list[dgl.DGLGraph]:
    """Copies holding structure and features only, so no other field of the raw data travels."""
    edata = ["feat"] if "feat" in graphs[0].edata else None
    return dgl.unbatch(dgl.batch(graphs, ndata=["feat"], edata=edata))


class GCScenarioLoader(ScenarioLoader):
    level = "gc"

    def __init__(self, data, incr_type, num_tasks, **kwargs) -> None:
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
        return torch.nonzero((self.task_of_item >= 0) & (self.task_of_item <= self._curr_task)).view(-1)

    def _graph_set(self, items: torch.Tensor, label: torch.Tensor, masks: dict) -> GraphSet:
        task_masks = None
        if self.incr_type == "task":
            task_masks = self.task_class_mask()[self.task_of_item[items]]
        return GraphSet([self._graphs[i] for i in items.tolist()], label, masks, task_masks)

    def _dataset(self, tasks: list[int]) -> GraphSet:
        items = self.current_item_ids()
        masks = {s: self.split_mask(s, tasks)[items] for s in ("train", "val", "test")}
        return self._graph_set(items, self.visible_labels(tasks)[items], masks)

    def get_current_dataset(self) -> GraphSet:
        return self._dataset([self._curr_task])

    def get_accumulated_dataset(self) -> GraphSet:
        return self._dataset(list(range(self._curr_task + 1)))

    def eval_views(self) -> list[EvalView]:
        """One view: the val and test graphs of every task, all labels hidden."""
        tasks = list(range(self.num_tasks))
        items = torch.nonzero(self.split_mask("val", tasks) | self.split_mask("test", tasks)).view(-1)
        hidden = torch.full((items.numel(),), -1, dtype=torch.long)
        none = torch.zeros(items.numel(), dtype=torch.bool)
        masks = {"train": none, "val": none, "test": ~none}
        return [EvalView(dataset=self._graph_set(items, hidden, masks), item_ids=items, tasks=tasks)]
