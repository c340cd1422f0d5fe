"""What every ScenarioLoader shares: cutting items into tasks, splits, and the result matrices.

The loader alone keeps the ground truth. Trainers receive datasets whose hidden labels are -1
and hand back predictions; the loader turns them into N x (N+1) result matrices: row i after
training tasks 0..i, column j the score on task j, the last column over every task seen so far.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cgl.config.errors import ConfigError
from cgl.datasets.base import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL, ContinualData
from cgl.evaluation.evaluators import SCORE_METRICS, get_evaluator
from cgl.scenarios.protocols import TaskPlan, default_plan

SUPPORTED = {
    "nc": ("taskil", "classil", "domainil", "timeil"),
    "lc": ("taskil", "classil", "timeil"),
    "lp": ("domainil", "timeil"),
    "gc": ("taskil", "classil", "domainil", "timeil"),
}
SPLIT_CODES = {"train": SPLIT_TRAIN, "val": SPLIT_VAL, "test": SPLIT_TEST}


def supported_pairs_text() -> str:
    return "; ".join(f"{lvl}: {', '.join(scs)}" for lvl, scs in SUPPORTED.items())


def check_supported(level: str, scenario: str) -> None:
    """Refuse a level x scenario pair that BeGin does not define."""
    if scenario not in SUPPORTED.get(level, ()):
        choices = " or ".join(f"scenario={s}" for s in SUPPORTED.get(level, ()))
        raise ConfigError(
            f"level={level} with scenario={scenario} is not supported"
            + (f": use {choices}. " if choices else ". ")
            + f"Supported pairs are {supported_pairs_text()}."
        )


@dataclass
class EvalView:
    """A label-free dataset to predict on, and the global item id of each of its items."""

    dataset: Any
    item_ids: torch.Tensor
    tasks: list[int]


class ScenarioLoader(ABC):
    """Cuts a ContinualData into tasks and scores predictions; subclasses build the datasets."""

    level: str = ""

    def __init__(
        self,
        data: ContinualData,
        incr_type: str,
        num_tasks: int | None,
        metric: str = "accuracy",
        seed: int = 0,
        split_ratio: tuple[float, float, float] = (0.6, 0.2, 0.2),
        plan: TaskPlan | None = None,
    ) -> None:
        """`plan` (from `cgl.scenarios.protocols.plan_tasks`) says how to cut the data into
        tasks; without one, `default_plan` does (dataset order, the data's own split or a
        random one at `split_ratio`), and `num_tasks` must be given."""
        self.data = data
        self.incr_type = incr_type
        if plan is None:
            plan = default_plan(data, incr_type, num_tasks, seed, split_ratio)
        self.plan = plan
        self.num_tasks = plan.num_tasks
        self.num_classes = data.num_classes
        self.num_feats = data.num_feats
        self.metric = metric
        self.evaluator = get_evaluator(metric)
        self.multilabel = data.multilabel
        self.binary = metric in SCORE_METRICS and not self.multilabel
        if self.multilabel and metric not in SCORE_METRICS:
            raise ConfigError(
                f"{data.name} is multi-label: it is scored per label with one of "
                f"{list(SCORE_METRICS)}, not metric={metric}."
            )
        if self.binary and self.num_classes != 2:
            raise ConfigError(
                f"metric={metric} scores a binary label per item, but {data.name} has "
                f"{self.num_classes} classes in this scenario."
            )
        self.task_of_item, self.task_classes = plan.task_of_item, plan.task_classes
        self.split_of_item = plan.split
        self._curr_task = 0
        self._rows: dict[str, list[np.ndarray]] = {"val": [], "test": []}
        self._init: dict[str, np.ndarray] = {}

    # ---- what the trainer sees -------------------------------------------------------------
    @property
    def current_task(self) -> int:
        return self._curr_task

    def task_class_mask(self) -> torch.Tensor:
        """[num_tasks, num_classes] bool: the classes of each task (Task-IL inference masks)."""
        mask = torch.zeros(self.num_tasks, self.num_classes, dtype=torch.bool)
        for task, classes in enumerate(self.task_classes):
            mask[task, classes] = True
        return mask

    def visible_labels(self, tasks: list[int]) -> torch.Tensor:
        """Labels of train/val items of `tasks`; -1 everywhere else (test and other tasks)."""
        shown = (
            torch.isin(self.task_of_item, torch.tensor(tasks))
            & (self.split_of_item != SPLIT_TEST)
            & (self.split_of_item >= 0)
        )
        if self.multilabel:
            shown = shown.unsqueeze(1)  # an item's labels are shown or hidden together
        return torch.where(shown, self.data.label, torch.full_like(self.data.label, -1))

    def hidden_labels(self, num_items: int) -> torch.Tensor:
        """Labels for `num_items` items with every label hidden (evaluation views)."""
        return torch.full((num_items, *self.data.label.shape[1:]), -1, dtype=torch.long)

    def split_mask(self, split: str, tasks: list[int]) -> torch.Tensor:
        """Items of `tasks` in `split` ('train', 'val', 'test')."""
        return torch.isin(self.task_of_item, torch.tensor(tasks)) & (
            self.split_of_item == SPLIT_CODES[split]
        )

    def model_kwargs(self) -> dict[str, int]:
        """Sizes the model is built with (passed to the model config at instantiate time)."""
        return {"in_feats": self.num_feats, "num_classes": self.num_classes}

    @property
    def forward_transfer_defined(self) -> bool:
        """Whether FWT compares like with like: M[j-1, j] (task j before it is trained) and the
        untrained model's init[j] must be scored among the same classes.

        They are under Task-IL (the task's classes in both), for scores (binary, multi-label,
        link prediction), and wherever task 0's training items already show every class the
        later tasks are scored on. Otherwise the trained model predicts only the classes it has
        observed while the untrained one may predict any: in Class-IL task j's classes are
        never observed before task j, so M[j-1, j] is 0 by construction and FWT is undefined.
        """
        if self.incr_type == "task" or self.binary or self.multilabel or self.level == "lp":
            return True
        first = self.data.label[self.split_mask("train", [0])].unique()
        later = self.data.label[(self.task_of_item > 0) & (self.split_of_item >= 0)].unique()
        return bool(torch.isin(later, first).all())

    @abstractmethod
    def get_current_dataset(self) -> Any:
        """The current task's data, test and future labels hidden."""

    @abstractmethod
    def get_accumulated_dataset(self) -> Any:
        """Data of tasks 0..current, for joint training; test labels hidden."""

    @abstractmethod
    def eval_views(self) -> list[EvalView]:
        """Label-free datasets whose predictions cover every task's val and test items."""

    # ---- evaluation (ground truth never leaves this object) ---------------------------------
    def _scatter(self, views: list[EvalView], preds: list[torch.Tensor]) -> dict[int, tuple]:
        """Per task: the view predictions and the global item ids they belong to."""
        per_task = {}
        for view, pred in zip(views, preds, strict=True):
            tasks_here = self.task_of_item[view.item_ids]
            for task in view.tasks:
                sel = tasks_here == task
                per_task[task] = (pred[sel], view.item_ids[sel])
        return per_task

    def _metric_on(self, pred: torch.Tensor, items: torch.Tensor, split: str) -> tuple:
        keep = self.split_of_item[items] == SPLIT_CODES[split]
        return pred[keep], self.data.label[items[keep]]

    def evaluate_row(self, views: list[EvalView], preds: list[torch.Tensor], upto: int) -> dict:
        """Rows of the val and test matrices: every task, then all tasks 0..upto together."""
        per_task = self._scatter(views, preds)
        rows = {}
        for split in ("val", "test"):
            row = np.full(self.num_tasks + 1, np.nan)
            seen_pred, seen_gts = [], []
            for task in range(self.num_tasks):
                pred, gts = self._metric_on(*per_task[task], split)
                row[task] = self.evaluator(pred, gts)
                if task <= upto:
                    seen_pred.append(pred)
                    seen_gts.append(gts)
            row[self.num_tasks] = self.evaluator(torch.cat(seen_pred), torch.cat(seen_gts))
            rows[split] = row
        return rows

    def record_initial(self, views: list[EvalView], preds: list[torch.Tensor]) -> None:
        """Store the untrained model's row (for FWT)."""
        self._init = self.evaluate_row(views, preds, upto=self._curr_task)

    def next_task(self, views: list[EvalView], preds: list[torch.Tensor]) -> dict:
        """Record the row of the task just trained and move on to the next task."""
        rows = self.evaluate_row(views, preds, upto=self._curr_task)
        for split, row in rows.items():
            self._rows[split].append(row)
        self._curr_task += 1
        return rows

    def get_simple_eval_result(self, preds: torch.Tensor, gts: torch.Tensor) -> float:
        return self.evaluator(preds, gts)

    @abstractmethod
    def current_item_ids(self) -> torch.Tensor:
        """Global id of each item of the current dataset, in the dataset's own order."""

    def get_eval_result(self, preds: torch.Tensor, target_split: str = "test") -> float:
        """The metric on the current task's `target_split` items.

        `preds` holds one prediction per item of the current dataset, in its order.
        """
        return self._score_tasks(preds, target_split, [self._curr_task])

    def get_accum_eval_result(self, preds: torch.Tensor, target_split: str = "test") -> float:
        """The metric on the `target_split` items of tasks 0..current."""
        return self._score_tasks(preds, target_split, list(range(self._curr_task + 1)))

    def _score_tasks(self, preds: torch.Tensor, split: str, tasks: list[int]) -> float:
        item_ids = self.current_item_ids()
        keep = self.split_mask(split, tasks)[item_ids]
        return self.evaluator(preds[keep], self.data.label[item_ids[keep]])

    def state_dict(self) -> dict[str, Any]:
        """The position in the task sequence and the rows recorded so far (for checkpoints);
        everything else is rebuilt from the data and the seed."""
        matrices = self.matrices()
        return {
            "task": self._curr_task,
            "rows": {split: torch.from_numpy(matrices[split]) for split in self._rows},
            "init": {split: torch.from_numpy(row) for split, row in self._init.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._curr_task = int(state["task"])
        self._rows = {split: list(rows.numpy()) for split, rows in state["rows"].items()}
        self._init = {split: row.numpy() for split, row in state["init"].items()}

    def matrices(self) -> dict[str, Any]:
        """The N x (N+1) val and test matrices recorded so far, plus the initial rows."""
        return {
            "val": np.stack(self._rows["val"])
            if self._rows["val"]
            else np.empty((0, self.num_tasks + 1)),
            "test": np.stack(self._rows["test"])
            if self._rows["test"]
            else np.empty((0, self.num_tasks + 1)),
            "init_val": self._init.get("val"),
            "init_test": self._init.get("test"),
        }
