"""The keyword arguments BeGin 0.4's `run_benchmark.py` passes every trainer, with BeGin's
meaning where cgl has one and a one-paragraph refusal where it does not.

A BeGin user's script builds a trainer as `Trainer(model, scenario, optimizer_fn, loss_fn,
device, scheduler_fn=..., benchmark=True, seed=s, verbose=True, binary=..., pretraining=None,
**method_kwargs)`; this module takes those keys out of the trainer's kwargs, so that only the
method's own settings (lamb, T, ...) remain in `trainer.kwargs`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy
import torch

from cgl.config.errors import ConfigError

#: `training_states` entries BeGin's base events set for the current task only; they start
#: afresh with every task, so they are never checkpointed
PER_TASK_STATES = ("scheduler", "best_val_loss", "best_val_score", "best_weights", "graph")


@dataclass
class BeginOptions:
    """What the BeGin keys ask for: a scheduler factory (None: cgl's plateau rule) and whether
    `processTrainingLogs` fires after every epoch (`verbose`, on by default as in BeGin)."""

    scheduler_fn: Callable[[torch.optim.Optimizer], Any] | None
    verbose: bool


def pop_begin_kwargs(kwargs: dict[str, Any], scenario_binary: bool | None) -> BeginOptions:
    """Take BeGin's trainer keys out of `kwargs`; refuse those cgl does not do.

    `scenario_binary` is the scenario's binary flag, None where a level has none (LP)."""
    if kwargs.pop("full_mode", False):
        raise ConfigError(
            "full_mode=True (BeGin's extra base and joint models trained beside the method in "
            "the same run) is not a cgl trainer option: cgl runs them as runs of their own, "
            "method=bare for the base model and method=joint for the joint one (e.g. "
            "`-m method=<yours>,bare,joint`), and the reports compute INT and FWT from them."
        )
    if kwargs.pop("pretraining", None) is not None:
        raise ConfigError(
            "pretraining (BeGin's self-supervised pre-training of the model on the first "
            "task: DGI, InfoGraph, LightGCL, GraphCL) is not supported by cgl trainers; pass "
            "pretraining=None or leave the key out."
        )
    binary = kwargs.pop("binary", None)
    if binary is not None and scenario_binary is not None and bool(binary) != scenario_binary:
        raise ConfigError(
            f"binary={binary} contradicts the scenario, whose metric makes it "
            f"{'binary' if scenario_binary else 'not binary'}: in cgl the scenario decides "
            "(a score metric such as ROC-AUC is binary, accuracy is not); pass "
            f"binary={scenario_binary} or leave the key out."
        )
    # cgl writes no temporary files (the initial weights stay in memory): nothing to place
    kwargs.pop("tmp_save_path", None)
    if kwargs.pop("benchmark", False):
        seed = int(kwargs.pop("seed", 0))
        torch.manual_seed(seed)
        random.seed(seed)
        numpy.random.seed(seed)
    else:
        kwargs.pop("seed", None)
    return BeginOptions(kwargs.pop("scheduler_fn", None), bool(kwargs.pop("verbose", True)))


def lr_exhausted(optimizer: torch.optim.Optimizer, scheduler: Any) -> bool:
    """BeGin's end of a task: the learning rate reached the plateau scheduler's floor
    (`min_lrs`; it stops there, so equality up to rounding is the test). A scheduler without
    a floor never ends the task: the epoch budget does."""
    floor = scheduler.min_lrs[0]
    return floor > 0 and optimizer.param_groups[0]["lr"] <= floor * (1 + 1e-6)
