"""BaseTrainer: the event loop every level and every method runs through.

The loop (per task: the task's data, epochs of training and validation, after-training, then
the scenario scores the predictions and moves on) is fixed; behaviour lives in the event
functions, whose names and arguments are BeGin's public API. A method overrides a few events
and leaves the loop alone. Level trainers (NCTrainer, LCTrainer, ...) fill in how to batch,
infer and predict.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import dgl
import torch

from cgl.runtime.checkpoint import (
    TaskCheckpoint,
    capture_rng,
    checkpoint_data,
    restore_rng,
    task_seed,
    to_device,
)
from cgl.runtime.interrupts import raise_if_requested
from cgl.scenarios.common import EvalView, ScenarioLoader
from cgl.trainers.begin_kwargs import PER_TASK_STATES, lr_exhausted, pop_begin_kwargs
from cgl.trainers.copies import ItemCopies
from cgl.trainers.progress import TaskProgress

log = logging.getLogger(__name__)


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or infinite."""


def own_event(trainer: object, *names: str) -> bool:
    """Whether the trainer's events `names` are all cgl's own (of a level trainer or a cgl
    method), not a ported BeGin trainer's that read BeGin's batch formats."""
    return all(getattr(type(trainer), name).__module__.startswith("cgl.") for name in names)


class WeightSnapshot:
    """A copy of a model's state (the best epoch's weights), taken at creation and retaken on
    demand into the same buffers: an epoch that improves costs one memory copy, no allocation."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def take(self) -> None:
        for key, value in self.model.state_dict().items():
            saved = self.state.get(key)
            if saved is not None and saved.shape == value.shape:
                saved.copy_(value)
            else:  # a model that grew (a new or larger tensor) gets a new buffer
                self.state[key] = value.detach().clone()

    def restore(self) -> None:
        self.model.load_state_dict(self.state)


class BaseTrainer:
    """Runs `scenario.num_tasks` tasks: train with early stopping, restore the best weights,
    `processAfterTraining`, then predict every task's val/test items for the result matrices.

    kwargs: `num_epochs` (most epochs per task), `patience` and `lr_factor` (ReduceLROnPlateau
    on the validation loss), `min_lr_ratio` (its floor, initial lr x this: a task ends when lr
    reaches it), `keep_optimizer_state` (one optimiser state across tasks instead of a fresh
    one per task), `restore_best` (False: keep the last epoch's weights, not the best
    validation ones), `callbacks` (objects with `on_epoch_end`/`on_task_end`, e.g. the W&B
    sink), `progress` (a live bar per task on a terminal, see cgl.trainers.progress), BeGin's
    trainer keys (`scheduler_fn`, `benchmark`, `seed`, ...: cgl.trainers.begin_kwargs), plus
    method settings such as MAS's `lamb`, which stay in `self.kwargs`.

    BeGin's trainer attributes keep their meaning (docs/begin-contract.md): `eval_fn`,
    `loss_fn`, `device`, `num_tasks`, `incr_type`, `curr_task`, `max_num_epochs`,
    `optimizer_fn`, `scheduler_fn`, `_reset_optimizer`, `add_parameters`.
    """

    #: Joint training sets this to train on the data of all tasks seen so far.
    uses_accumulated_data = False

    def __init__(
        self,
        model: torch.nn.Module,
        scenario: ScenarioLoader,
        optimizer_fn: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer],
        loss_fn: Callable[..., torch.Tensor],
        device: str | torch.device,
        **kwargs: Any,
    ) -> None:
        """BeGin's constructor.

        Args:
            model: the model to train (moved to `device`).
            scenario: the ScenarioLoader that hands out the tasks and alone scores them.
            optimizer_fn: builds the optimizer from the model's parameters (once per run).
            loss_fn: the task loss, e.g. `torch.nn.CrossEntropyLoss(ignore_index=-1)`.
            device: where the model and the batches live (`cpu`, `cuda`, ...).
            **kwargs: the loop's settings and the method's, listed in the class docstring.
        """
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.scenario = scenario
        self.optimizer_fn = optimizer_fn
        self.loss_fn = loss_fn
        self.num_tasks = scenario.num_tasks
        self.max_num_epochs = int(kwargs.pop("num_epochs", 1000))
        self.patience = int(kwargs.pop("patience", 20))
        self.lr_factor = float(kwargs.pop("lr_factor", 0.1))
        self.min_lr_ratio = float(kwargs.pop("min_lr_ratio", 0.002))
        self.callbacks = list(kwargs.pop("callbacks", []))
        self.show_progress = bool(kwargs.pop("progress", True))
        begin = pop_begin_kwargs(kwargs, self._scores_items(scenario))
        self.scheduler_fn = begin.scheduler_fn or self._plateau_scheduler
        self.verbose = begin.verbose
        # CGLB's loop: one optimiser state across all tasks, the last epoch's weights kept
        self.keep_optimizer_state = bool(kwargs.pop("keep_optimizer_state", False))
        self.restore_best = bool(kwargs.pop("restore_best", True))
        self.kwargs = kwargs
        self.eval_fn = scenario.get_simple_eval_result
        head = getattr(self.model, "head", None)
        if head is not None:  # BeGin's heads keep each task's classes apart only under Task-IL
            head.accumulate = scenario.incr_type != "task"
        self._initial_optimizer_state: dict | None = None
        self._best_weights: WeightSnapshot | None = None
        self.timings: dict[str, Any] = {
            "per_task": [],
            "training": [],
            "after_training": [],
            "epochs": [],
        }

    @staticmethod
    def _scores_items(scenario: ScenarioLoader) -> bool | None:
        """BeGin's `binary` for the scenario (a score metric, not accuracy); None for link
        prediction, which scores pairs whatever BeGin's flag says."""
        if getattr(scenario, "level", None) == "lp":
            return None
        return bool(getattr(scenario, "binary", False) or getattr(scenario, "multilabel", False))

    @property
    def binary(self) -> bool:
        """Whether the scenario predicts a score per item (a binary label, e.g. ROC-AUC)."""
        return bool(getattr(self.scenario, "binary", False))

    @property
    def incr_type(self) -> str:
        """The scenario's incremental setting: task, class, domain or time."""
        return self.scenario.incr_type

    @property
    def curr_task(self) -> int:
        """The index of the task being trained (0 .. num_tasks - 1)."""
        return self.scenario.current_task

    def _plateau_scheduler(self, optimizer: torch.optim.Optimizer):
        """cgl's per-task schedule (BeGin's benchmark one): ReduceLROnPlateau on the validation
        loss, its floor initial lr x `min_lr_ratio`."""
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=self.lr_factor,
            patience=self.patience,
            min_lr=optimizer.param_groups[0]["lr"] * self.min_lr_ratio,
        )

    def _reset_optimizer(self, target_optimizer: torch.optim.Optimizer) -> None:
        """Put the optimizer back to its state before the first task (BeGin's reset; the loop
        already does it before every task)."""
        target_optimizer.load_state_dict(self._initial_optimizer_state)

    def add_parameters(
        self, target_model: torch.nn.Module, target_optimizer: torch.optim.Optimizer
    ) -> None:
        """Register the model's parameters the optimizer does not hold yet (a grown model) in
        a group of their own, also in the state a reset goes back to."""
        known = {id(p) for group in target_optimizer.param_groups for p in group["params"]}
        new = [p for p in target_model.parameters() if id(p) not in known]
        if new:
            target_optimizer.add_param_group({"params": new})
            self._initial_optimizer_state = copy.deepcopy(target_optimizer.state_dict())

    # ---- the loop -------------------------------------------------------------------------
    def run(
        self, epoch_per_task: int | None = None, checkpoint: TaskCheckpoint | None = None
    ) -> dict[str, Any]:
        """Train on every task in turn; return the val/test matrices and the initial rows.

        Between batches and tasks the loop stops with RunInterrupted once SIGINT/SIGTERM
        arrived (see `cgl.runtime.interrupts`).

        Args:
            epoch_per_task: the most epochs of each task (default: the `num_epochs` kwarg).
            checkpoint: where the state after every task is saved; a run given one that holds
                a trainer state continues after that state's last finished task.

        Returns:
            dict: the N x (N+1) result matrices `val` and `test` (row i after task i, column j
            task j, the last column all tasks so far) and the untrained model's rows
            `init_val` and `init_test`.
        """
        max_epochs = epoch_per_task or self.max_num_epochs
        optimizer = self.optimizer_fn(self.model.parameters())
        self._initial_optimizer_state = copy.deepcopy(optimizer.state_dict())
        states = self.initTrainingStates(self.scenario, self.model, optimizer)
        first_task = 0
        if checkpoint is not None and checkpoint.trainer_state is not None:
            first_task = self.load_training_state(checkpoint.trainer_state, optimizer, states)
        else:
            self.scenario.record_initial(*self._predict_views(states))
        for task_id in range(first_task, self.num_tasks):
            # DGL's sampler state cannot be saved: seeding it per task from (seed, task) makes
            # a resumed run draw what an uninterrupted one draws.
            dgl.seed(task_seed(torch.initial_seed(), task_id))
            start = time.perf_counter()
            dataset = (
                self.scenario.get_accumulated_dataset()
                if self.uses_accumulated_data
                else self.scenario.get_current_dataset()
            )
            if not self.keep_optimizer_state:
                self._reset_optimizer(optimizer)
            else:  # Adam's moments carry over; each task starts at the configured lr
                initial = self._initial_optimizer_state["param_groups"]
                for group, first in zip(optimizer.param_groups, initial, strict=True):
                    group["lr"] = first["lr"]
            self._train_task(task_id, dataset, optimizer, states, max_epochs)
            after = time.perf_counter()
            self.timings["training"].append(after - start)  # the epochs (training + validation)
            self.processAfterTraining(task_id, dataset, self.model, optimizer, states)
            self.timings["after_training"].append(time.perf_counter() - after)
            rows = self.scenario.next_task(*self._predict_views(states))
            self.timings["per_task"].append(time.perf_counter() - start)
            for callback in self.callbacks:
                callback.on_task_end(task_id, rows)
            if checkpoint is not None:
                checkpoint.save(self.training_state(task_id + 1, optimizer, states))
            raise_if_requested()
        return self.scenario.matrices()

    # ---- checkpoints ----------------------------------------------------------------------
    def training_state(self, tasks_done: int, optimizer, states: dict) -> dict[str, Any]:
        """Everything the loop carries from one task to the next, as tensors and plain data."""
        return {
            "tasks_done": tasks_done,
            "model": self.model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "training_states": {
                key: checkpoint_data(key, value)
                for key, value in states.items()
                if key not in PER_TASK_STATES
            },
            "scenario": self.scenario.state_dict(),
            "timings": copy.deepcopy(self.timings),
            "rng": capture_rng(),
        }

    def load_training_state(self, saved: dict[str, Any], optimizer, states: dict) -> int:
        """Put back what `training_state` saved; returns the number of finished tasks."""
        self.model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        for key, value in to_device(saved["training_states"], self.device).items():
            if hasattr(states.get(key), "load_state_dict"):
                states[key].load_state_dict(value)
            else:
                states[key] = value
        self.scenario.load_state_dict(saved["scenario"])
        self.timings = saved["timings"]
        restore_rng(saved["rng"])
        return int(saved["tasks_done"])

    def _train_task(self, task_id, dataset, optimizer, states, max_epochs) -> None:
        """Train one task: BeGin's per-task states (`scheduler`, `best_val_loss`, then
        `best_weights`), epochs until `processAfterEachIteration` says stop or the budget ends,
        then the best weights back."""
        for key in PER_TASK_STATES:
            states.pop(key, None)
        states["scheduler"] = self.scheduler_fn(optimizer)
        states["best_val_loss"] = math.inf
        self.processBeforeTraining(task_id, dataset, self.model, optimizer, states)
        train_loader, val_loader, _ = self.prepareLoader(dataset, states)
        self._best_weights = WeightSnapshot(self.model)
        states["best_weights"] = self._best_weights.state
        initial_lr = optimizer.param_groups[0]["lr"]
        progress = TaskProgress(
            task_id,
            self.num_tasks,
            getattr(self.scenario, "metric", "metric"),
            initial_lr,
            self.lr_factor,
            self.min_lr_ratio,
            bar=self.show_progress,
            keep_last=not self.restore_best,
        )
        for epoch in range(max_epochs):
            self.model.train()
            train_stats = self._accumulate(
                self._train_iteration(optimizer, batch, states) for batch in train_loader
            )
            val_stats = self._validate(val_loader)
            val_metric = val_stats.pop("metric")
            if self.verbose:
                self.processTrainingLogs(task_id, epoch, val_metric, train_stats, val_stats)
            for callback in self.callbacks:
                callback.on_epoch_end(task_id, epoch, train_stats, val_stats, val_metric)
            results = {"val_metric": val_metric, "train_stats": train_stats, "val_stats": val_stats}
            keep_going = self.processAfterEachIteration(self.model, optimizer, states, results)
            progress.update(
                epoch,
                train_stats.get("loss", math.nan),
                val_stats.get("loss", math.nan),
                val_metric,
                optimizer.param_groups[0]["lr"],
            )
            if keep_going is False:
                break
        progress.close()
        self.timings["epochs"].append(epoch + 1)
        if self.restore_best:
            self.model.load_state_dict(states["best_weights"])

    def _train_iteration(self, optimizer, batch, states) -> dict[str, float]:
        raise_if_requested()
        stats = self.processTrainIteration(self.model, optimizer, batch, states)
        if not math.isfinite(stats.get("loss", 0.0)):
            raise TrainingDivergedError(f"training loss became {stats['loss']}")
        return stats

    @staticmethod
    def _accumulate(batch_stats: Iterable[dict[str, float]]) -> dict[str, float]:
        """Item-weighted means of per-batch stats (each batch reports its item count, as `n`
        or as BeGin's `_num_items`)."""
        totals: dict[str, float] = {}
        count = 0
        for stats in batch_stats:
            stats = dict(stats or {})
            n = stats.pop("_num_items", stats.get("n", 1))
            count += n
            for key, value in stats.items():
                if key != "n":
                    totals[key] = totals.get(key, 0.0) + value * n
        return {key: value / max(count, 1) for key, value in totals.items()}

    @torch.no_grad()
    def _validate(self, val_loader) -> dict[str, float]:
        self.model.eval()
        preds, gts, stats = [], [], []
        for batch in val_loader:
            batch_preds, batch_stats = self.processEvalIteration(self.model, batch)
            preds.append(batch_preds.cpu())
            gts.append(self.batch_targets(batch).cpu())
            stats.append(batch_stats)
        result = self._accumulate(stats)
        result["metric"] = self.scenario.get_simple_eval_result(torch.cat(preds), torch.cat(gts))
        return result

    @torch.no_grad()
    def _predict_views(self, states) -> tuple[list[EvalView], list[torch.Tensor]]:
        """Predictions for every view the scenario asks about (labels are hidden in views)."""
        self.model.eval()
        views = self.scenario.eval_views()
        preds = []
        for view in views:
            _, _, test_loader = self.prepareLoader(view.dataset, states)
            out = None
            for batch in test_loader:
                batch_preds, _ = self.processEvalIteration(self.model, batch)
                if out is None:
                    fill = -1 if not batch_preds.is_floating_point() else math.nan
                    shape = (view.item_ids.numel(), *batch_preds.shape[1:])
                    out = torch.full(shape, fill, dtype=batch_preds.dtype)
                out[self.batch_item_ids(batch).cpu()] = batch_preds.cpu()
            preds.append(out)
        return views, preds

    # ---- level hooks (filled in by NCTrainer, LCTrainer, ...) -------------------------------
    def batch_targets(self, batch: Any) -> torch.Tensor:
        """The visible labels of the items a val batch predicts."""
        raise NotImplementedError

    def batch_item_ids(self, batch: Any) -> torch.Tensor:
        """Dataset-local indices of the items a batch predicts."""
        raise NotImplementedError

    def batch_outputs(self, model: torch.nn.Module, batch: Any) -> torch.Tensor:
        """[items, k] outputs of the model on a training batch's items: the logits of the
        classes it can currently predict (under Task-IL only each item's task's), a link
        score for LP (MAS's output, LwF's and the distillation's input)."""
        raise NotImplementedError

    def training_batches(self, dataset: Any, training_states: dict) -> Iterable[Any]:
        """The task's training batches, as a pass after training reads them (importance,
        Fisher, the items a method remembers)."""
        train_loader, _, _ = self.prepareLoader(dataset, training_states)
        return train_loader

    def training_batch(self, batch: Any) -> Any:
        """What a training step feeds `inference` for a loader's batch (LP adds sampled
        negatives), so that a pass after training scores what training scored."""
        return batch

    def training_items(self, dataset: Any) -> dict[str, torch.Tensor]:
        """The task's training items as a memory keeps them (cgl.algorithms.memory): tensors
        with one row per item, `label` (visible now, hidden once the task is over) and the
        keys `with_remembered` needs to find the item again in a later task's data."""
        raise NotImplementedError(f"{type(self).__name__} cannot remember items")

    def with_remembered(
        self, batch: Any, items: dict[str, torch.Tensor], dataset: Any, only: bool = False
    ) -> tuple[Any, torch.Tensor]:
        """A training batch that also holds the remembered `items` (rows of
        `training_items`), with their own labels (and Task-IL masks), in the current task's
        `dataset`; with `only`, the remembered items alone (the batch gives the graph). Also
        returns which of the batch's item rows (in `inference`'s output order) are remembered."""
        raise NotImplementedError(f"{type(self).__name__} cannot replay items")

    def item_copies(
        self, dataset: Any, training_states: dict, chunk_size: int
    ) -> Iterable[ItemCopies]:
        """The task's training items, `chunk_size` at a time, each in its own connected
        component, so one backward pass keeps their gradients apart (exact per-item
        gradients: MAS's `sample` importance, EWC's Fisher)."""
        raise NotImplementedError(f"{type(self).__name__} cannot put items in independent copies")

    def item_copy_outputs(self, model: torch.nn.Module, batch: Any) -> torch.Tensor:
        """[items, k] outputs on an `ItemCopies` batch, one row per item (by default what
        `batch_outputs` computes on it)."""
        return self.batch_outputs(model, batch)

    # ---- event functions (BeGin's API) ------------------------------------------------------
    def initTrainingStates(self, scenario, model, optimizer) -> dict:
        """Fires once before the first task: build the dict that carries state across tasks.

        Every value must be tensors and plain data or have `state_dict()` and
        `load_state_dict()`: it goes into the checkpoint after every task.

        Args:
            scenario (ScenarioLoader): the scenario given to the trainer.
            model (torch.nn.Module): the model given to the trainer.
            optimizer (torch.optim.Optimizer): the optimizer built by `optimizer_fn`.

        Returns:
            dict: the initial training states.
        """
        return {}

    def prepareLoader(self, curr_dataset, curr_training_states) -> tuple:
        """Fires before each task (and for every evaluation view): the loaders of a dataset.

        Args:
            curr_dataset (object): the current task's dataset (or an evaluation view).
            curr_training_states (dict): the current training states.

        Returns:
            tuple: the train, val and test loaders, each an iterable of batches.
        """
        raise NotImplementedError

    def processBeforeTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ) -> None:
        """Fires before a task's first epoch: e.g. let the model observe the task's classes.

        Args:
            task_id (int): the index of the current task.
            curr_dataset (object): the current task's dataset.
            curr_model (torch.nn.Module): the model being trained.
            curr_optimizer (torch.optim.Optimizer): its optimizer.
            curr_training_states (dict): the current training states.
        """

    def processTrainIteration(self, model, optimizer, _curr_batch, training_states) -> dict:
        """One training step on the loader's batch as `training_batch` completes it (LP: with
        sampled negatives): zero grads, `beforeInference`, `inference`, `afterInference`.

        Args:
            model (torch.nn.Module): the model being trained.
            optimizer (torch.optim.Optimizer): its optimizer.
            _curr_batch (object): the batch, as the training loader yields it.
            training_states (dict): the current training states.

        Returns:
            dict: the step's stats (`loss`, `n` items, ...), averaged over the epoch.
        """
        batch = self.training_batch(_curr_batch)
        optimizer.zero_grad()
        self.beforeInference(model, optimizer, batch, training_states)
        results = self.inference(model, batch, training_states)
        return self.afterInference(results, model, optimizer, batch, training_states)

    def beforeInference(self, model, optimizer, _curr_batch, training_states) -> None:
        """Fires right before the training forward pass (gradients already zeroed).

        Args:
            model (torch.nn.Module): the model being trained.
            optimizer (torch.optim.Optimizer): its optimizer.
            _curr_batch (object): the training batch.
            training_states (dict): the current training states.
        """

    def inference(self, model, _curr_batch, training_states) -> dict:
        """The forward pass, for training and for evaluation.

        Args:
            model (torch.nn.Module): the model.
            _curr_batch (object): the batch.
            training_states (dict | None): the current training states (None in evaluation).

        Returns:
            dict: at least `preds` (the items' raw outputs, logits or LP's scores) and `loss`
            (a tensor, over the items' visible labels).
        """
        raise NotImplementedError

    def afterInference(self, results, model, optimizer, _curr_batch, training_states) -> dict:
        """Fires after the forward pass: backpropagate, `beforeOptimizerStep`, step. Methods
        add their penalties to `results["loss"]` here before calling this; a ported BeGin
        trainer may instead do its own backward and step.

        Args:
            results (dict): what `inference` returned.
            model (torch.nn.Module): the model being trained.
            optimizer (torch.optim.Optimizer): its optimizer.
            _curr_batch (object): the training batch.
            training_states (dict): the current training states.

        Returns:
            dict: the step's stats, `loss` as a float and `n` items.
        """
        results["loss"].backward()
        self.beforeOptimizerStep(model, optimizer, _curr_batch, training_states)
        optimizer.step()
        return {"loss": results["loss"].item(), "n": int(results["preds"].shape[0])}

    def beforeOptimizerStep(self, model, optimizer, _curr_batch, training_states) -> None:
        """Fires between backpropagation and the optimizer step, gradients in `.grad`: a
        method may read or change them here (GEM projects them). Not one of BeGin's events.

        Args:
            model (torch.nn.Module): the model being trained, its gradients in `.grad`.
            optimizer (torch.optim.Optimizer): its optimizer, about to step.
            _curr_batch (object): the training batch.
            training_states (dict): the current training states.
        """

    def processEvalIteration(self, model, _curr_batch) -> tuple[torch.Tensor, dict]:
        """Predict one evaluation batch (validation, and the result matrices' views).

        Args:
            model (torch.nn.Module): the model, in eval mode.
            _curr_batch (object): the evaluation batch.

        Returns:
            tuple: `predictionFormat` of `inference`'s results, and stats with `loss` and `n`.
        """
        results = self.inference(model, _curr_batch, None)
        return self.predictionFormat(results), {
            "loss": results["loss"].item(),
            "n": int(results["preds"].shape[0]),
        }

    def processAfterEachIteration(
        self, curr_model, curr_optimizer, curr_training_states, curr_iter_results
    ) -> bool:
        """Fires once per epoch, after validation. Keeps the best weights (lowest validation
        loss, or highest `val_metric` under a scheduler in mode 'max', as BeGin's LP), steps
        the task's `scheduler` and stops once the learning rate reached its floor.

        Args:
            curr_model (torch.nn.Module): the model being trained.
            curr_optimizer (torch.optim.Optimizer): its optimizer.
            curr_training_states (dict): the current training states.
            curr_iter_results (dict): the epoch's `val_metric`, `train_stats`, `val_stats`.

        Returns:
            bool: False to end the task now, True to go on.
        """
        scheduler = curr_training_states["scheduler"]
        if getattr(scheduler, "mode", "min") == "max":
            value = curr_iter_results["val_metric"]
            improved = value > curr_training_states.get("best_val_score", -math.inf)
            if improved:
                curr_training_states["best_val_score"] = value
        else:
            value = curr_iter_results["val_stats"]["loss"]
            improved = value < curr_training_states["best_val_loss"]
            if improved:
                curr_training_states["best_val_loss"] = value
        if improved:
            self._best_weights.take()
            curr_training_states["best_weights"] = self._best_weights.state
        scheduler.step(value)
        return not lr_exhausted(curr_optimizer, scheduler)

    def processTrainingLogs(
        self, task_id, epoch_cnt, val_metric_result, train_stats, val_stats
    ) -> None:
        """Fires after every epoch when the `verbose` kwarg is true (the default).

        Args:
            task_id (int): the index of the current task.
            epoch_cnt (int): the epoch within the task, from 0.
            val_metric_result (float): the validation metric of the epoch.
            train_stats (dict): the epoch's training stats (item-weighted means).
            val_stats (dict): the epoch's validation stats.
        """
        log.debug(
            "task %d epoch %d train %s val %s (%.4f)",
            task_id,
            epoch_cnt,
            train_stats,
            val_stats,
            val_metric_result,
        )

    def processAfterTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ) -> None:
        """Fires after a task's training, once the best validation weights (the per-task
        `best_weights` state) are restored: a method computes importances, keeps a teacher or
        fills a memory here.

        Args:
            task_id (int): the index of the task just trained.
            curr_dataset (object): its dataset.
            curr_model (torch.nn.Module): the trained model.
            curr_optimizer (torch.optim.Optimizer): its optimizer.
            curr_training_states (dict): the current training states.
        """

    def predictionFormat(self, results: dict) -> torch.Tensor:
        """Turn `inference`'s raw `preds` (logits; LP: scores) into what the metric scores.

        Args:
            results (dict): what `inference` returned.

        Returns:
            torch.Tensor: one prediction per item, class ids or scores.
        """
        return results["preds"]
