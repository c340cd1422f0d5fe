"""Link-level scenarios: items are the links of one graph (LC classifies them, LP predicts them).

The GNN runs on a message-passing graph that holds only the links the learner may see. Under
Time-IL that graph grows: task t sees the links of time steps of tasks 0..t and no later link,
neither as an item nor as an edge to pass messages along; every task (later ones too) is then
evaluated on the graph of the current task. All nodes exist from the start (as in BeGin);
a node whose links lie in the future is simply isolated.

LC: Task/Class-IL classify link classes (accuracy); Time-IL is BeGin's Bitcoin-style binary
task scored by ROC-AUC (the dataset's metric decides). LP: the positives of a task are its
links; the loader draws each task's val/test negatives once, and scores with Hits@K.
"""

from __future__ import annotations

from typing import Any

import dgl
import torch

from cgl.config.errors import ConfigError
from cgl.datasets.base import ContinualData
from cgl.scenarios.common import SPLIT_CODES, EvalView, ScenarioLoader
from cgl.scenarios.link_data import LinkDataset, message_graph, pair_keys, sample_negative_pairs
from cgl.scenarios.protocols import bucket_by_value


class LinkScenarioLoader(ScenarioLoader):
    """What LC and LP share: the links' arrival (Time-IL) and the graph visible at a task."""

    def __init__(
        self, data: ContinualData, incr_type: str, num_tasks: int | None, **kwargs: Any
    ) -> None:
        super().__init__(data, incr_type, num_tasks, **kwargs)
        self.src, self.dst = data.graph.edges()
        if incr_type == "time":
            self.arrival = bucket_by_value(
                data.time, self.num_tasks, what=f"{data.name}'s time steps"
            )
        else:
            self.arrival = torch.zeros(data.num_items, dtype=torch.long)

    def graph_links(self, task: int) -> torch.Tensor:
        """Ids of the links that are edges of the message-passing graph at `task`."""
        return torch.nonzero(self.arrival <= task).view(-1)

    def graph_at(self, task: int) -> dgl.DGLGraph:
        """The graph as the learner may see it at `task`: features and visible links only."""
        links = self.graph_links(task)
        return message_graph(
            self.data.graph.num_nodes(),
            self.src[links],
            self.dst[links],
            self.data.graph.ndata["feat"],
        )

    def pairs_of(self, links: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.src[links], self.dst[links]], dim=1)


class LCScenarioLoader(LinkScenarioLoader):
    """Link classification. `binary` (metric ROC-AUC): one label 0/1 per link, predictions are
    scores; the data must then have exactly two classes."""

    level = "lc"

    def _dataset(self, tasks: list[int]) -> LinkDataset:
        """Every visible link as an item; labels and masks of `tasks` only."""
        links = self.graph_links(self._curr_task)
        masks = {split: self.split_mask(split, tasks)[links] for split in ("train", "val", "test")}
        return LinkDataset(
            graph=self.graph_at(self._curr_task),
            pairs=self.pairs_of(links),
            label=self.visible_labels(tasks)[links],
            train_mask=masks["train"],
            val_mask=masks["val"],
            test_mask=masks["test"],
            task_specific_mask=self._task_masks(links),
        )

    def _task_masks(self, links: torch.Tensor) -> torch.Tensor | None:
        """Task-IL: the classes of each link's task (all classes for links of no task)."""
        if self.incr_type != "task":
            return None
        task = self.task_of_item[links]
        masks = self.task_class_mask()[task.clamp(min=0)]
        masks[task < 0] = True
        return masks

    def get_current_dataset(self) -> LinkDataset:
        return self._dataset([self._curr_task])

    def get_accumulated_dataset(self) -> LinkDataset:
        return self._dataset(list(range(self._curr_task + 1)))

    def current_item_ids(self) -> torch.Tensor:
        return self.graph_links(self._curr_task)

    def eval_views(self) -> list[EvalView]:
        """One view: the val/test links of every task, predicted on the current graph."""
        tasks = list(range(self.num_tasks))
        evaluated = self.split_mask("val", tasks) | self.split_mask("test", tasks)
        links = torch.nonzero(evaluated).view(-1)
        hidden = torch.full((links.numel(),), -1, dtype=torch.long)
        none = torch.zeros(links.numel(), dtype=torch.bool)
        view = LinkDataset(
            graph=self.graph_at(self._curr_task),
            pairs=self.pairs_of(links),
            label=hidden,
            train_mask=none,
            val_mask=none,
            test_mask=~none,
            task_specific_mask=self._task_masks(links),
        )
        return [EvalView(dataset=view, item_ids=links, tasks=tasks)]


class LPScenarioLoader(LinkScenarioLoader):
    """Link prediction over candidates: a task's val/test candidates are its val/test links
    (truth 1) and `num_negatives` pairs per split drawn for it (truth 0).

    Candidate ids: link e is candidate e; negative k is candidate num_links + k.
    The graph holds training links only (val/test links would give the answer away): under
    Domain-IL those of every task (as in BeGin), under Time-IL those of tasks 0..current.

    Negative rule: a task's negatives are distinct pairs of distinct nodes among the endpoints
    of the task's links, drawn uniformly, and never a link of the dataset (any task, split or
    time), so they never coincide with a positive. Training negatives are the trainer's.
    """

    level = "lp"

    def __init__(
        self,
        data: ContinualData,
        incr_type: str,
        num_tasks: int,
        num_negatives: int = 500,
        **kwargs: Any,
    ) -> None:
        super().__init__(data, incr_type, num_tasks, **kwargs)
        neg_pairs, neg_task, neg_split = self._draw_negatives(num_negatives, kwargs.get("seed", 0))
        self.candidate_pairs = torch.cat([self.pairs_of(torch.arange(data.num_items)), neg_pairs])
        self.candidate_task = torch.cat([self.task_of_item, neg_task])
        self.candidate_split = torch.cat([self.split_of_item, neg_split])
        self.candidate_truth = torch.cat(
            [torch.ones_like(self.task_of_item), torch.zeros_like(neg_task)]
        )

    def model_kwargs(self) -> dict[str, int]:
        return {"in_feats": self.num_feats}

    def _draw_negatives(self, per_split: int, seed: int) -> tuple[torch.Tensor, ...]:
        """Each task's val and test negatives (see the class docstring for the rule)."""
        gen = torch.Generator().manual_seed(seed)
        num_nodes = self.data.graph.num_nodes()
        links = pair_keys(self.src, self.dst, num_nodes)
        codes = torch.tensor([SPLIT_CODES["val"], SPLIT_CODES["test"]]).repeat_interleave(per_split)
        pairs, tasks, splits = [], [], []
        for task in range(self.num_tasks):
            mine = self.task_of_item == task
            nodes = torch.unique(torch.cat([self.src[mine], self.dst[mine]]))
            inside = torch.isin(self.src, nodes) & torch.isin(self.dst, nodes)
            free = nodes.numel() * (nodes.numel() - 1) // 2 - int(inside.sum())
            if free < 2 * per_split:
                raise ConfigError(
                    f"{self.data.name}: task {task}'s links join {nodes.numel()} nodes, which "
                    f"leave {free} non-linked pairs, too few for {per_split} val and "
                    f"{per_split} test non-links. Lower level.scenario_kwargs.num_negatives."
                )
            drawn = sample_negative_pairs(
                nodes, 2 * per_split, links, num_nodes, gen, distinct=True
            )
            pairs.append(drawn)
            tasks.append(torch.full((drawn.shape[0],), task, dtype=torch.long))
            splits.append(codes)
        return torch.cat(pairs), torch.cat(tasks), torch.cat(splits)

    def graph_links(self, task: int) -> torch.Tensor:
        train = self.split_of_item == SPLIT_CODES["train"]
        return torch.nonzero(train & (self.arrival <= task)).view(-1)

    def _candidates(self, tasks: list[int], splits: tuple[str, ...]) -> torch.Tensor:
        chosen = torch.isin(self.candidate_task, torch.tensor(tasks))
        in_split = torch.isin(self.candidate_split, torch.tensor([SPLIT_CODES[s] for s in splits]))
        return torch.nonzero(chosen & in_split).view(-1)

    def _dataset(self, tasks: list[int]) -> LinkDataset:
        """Every candidate of tasks 0..current; the masks select those of `tasks`, whose
        training links (label 1) and val candidates (1 or 0) show their label."""
        ids = self.current_item_ids()
        split = self.candidate_split[ids]
        mine = torch.isin(self.candidate_task[ids], torch.tensor(tasks))
        masks = {name: mine & (split == code) for name, code in SPLIT_CODES.items()}
        shown = masks["train"] | masks["val"]
        return LinkDataset(
            graph=self.graph_at(self._curr_task),
            pairs=self.candidate_pairs[ids],
            label=torch.where(shown, self.candidate_truth[ids], torch.full_like(ids, -1)),
            train_mask=masks["train"],
            val_mask=masks["val"],
            test_mask=masks["test"],
        )

    def get_current_dataset(self) -> LinkDataset:
        return self._dataset([self._curr_task])

    def get_accumulated_dataset(self) -> LinkDataset:
        return self._dataset(list(range(self._curr_task + 1)))

    def current_item_ids(self) -> torch.Tensor:
        return self._candidates(list(range(self._curr_task + 1)), tuple(SPLIT_CODES))

    def eval_views(self) -> list[EvalView]:
        """One view: every task's val/test candidates, scored on the current graph."""
        tasks = list(range(self.num_tasks))
        ids = self._candidates(tasks, ("val", "test"))
        none = torch.zeros(ids.numel(), dtype=torch.bool)
        view = LinkDataset(
            graph=self.graph_at(self._curr_task),
            pairs=self.candidate_pairs[ids],
            label=torch.full_like(ids, -1),
            train_mask=none,
            val_mask=none,
            test_mask=~none,
        )
        return [EvalView(dataset=view, item_ids=ids, tasks=tasks)]

    # ---- evaluation over candidates instead of items --------------------------------------
    def _scatter(self, views: list[EvalView], preds: list[torch.Tensor]) -> dict[int, tuple]:
        per_task = {}
        for view, pred in zip(views, preds, strict=True):
            for task in view.tasks:
                sel = self.candidate_task[view.item_ids] == task
                per_task[task] = (pred[sel], view.item_ids[sel])
        return per_task

    def _metric_on(self, pred: torch.Tensor, items: torch.Tensor, split: str) -> tuple:
        keep = self.candidate_split[items] == SPLIT_CODES[split]
        return pred[keep], self.candidate_truth[items[keep]]

    def _score_tasks(self, preds: torch.Tensor, split: str, tasks: list[int]) -> float:
        ids = self.current_item_ids()
        keep = torch.isin(self.candidate_task[ids], torch.tensor(tasks))
        return self.evaluator(*self._metric_on(preds[keep], ids[keep], split))
