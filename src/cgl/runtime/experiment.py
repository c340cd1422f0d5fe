"""One run: config -> dataset -> scenario -> model -> trainer -> results.json (+ W&B).

`run(cfg)` is what the command line and the tests call. Every check of the config happens
before any data is touched or any training starts, and a refusal then writes nothing. A run
records the truth: `completed` only when every task finished, `interrupted` (with the finished
rows and the signal) when SIGINT/SIGTERM stopped it, `diverged` or `failed` otherwise. After
every task the trainer checkpoints the job directory, so the same command in the same
directory resumes an unfinished run and skips a finished one (`cgl.runtime.resume`).
"""

from __future__ import annotations

import datetime
import functools
import logging
import platform
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dgl
import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from cgl import __version__
from cgl.algorithms import trainer_class
from cgl.config.errors import CglError, ConfigError
from cgl.config.validation import check_output_dir, dataset_setting, protocol_rules, validate
from cgl.datasets.layout import with_feature_layout
from cgl.evaluation.metrics import summarize
from cgl.output.sinks import WandbLogger, run_name, write_json_atomic
from cgl.output.summary import run_summary
from cgl.runtime.checkpoint import TaskCheckpoint
from cgl.runtime.interrupts import RunInterrupted, raise_if_requested, signal_name, stop_on_signals
from cgl.runtime.joblock import hold
from cgl.runtime.launchers import preemption_signals
from cgl.runtime.resume import (
    CHECKPOINT_NAME,
    PREVIOUS_NAME,
    RESULTS_NAME,
    JobPlan,
    identity,
    plan_job,
)
from cgl.scenarios.protocols import plan_tasks
from cgl.sweeps.study import study_trial
from cgl.trainers import TrainingDivergedError
from cgl.trainers.losses import ClassBalancedCrossEntropy

__all__ = ["Result", "run", "validate"]

log = logging.getLogger(__name__)


@dataclass
class Result:
    """What a run produced; `payload` is exactly what results.json holds. `skipped`: the job
    directory held this config's finished run, returned as it was; `signal`: the number of
    a SIGINT/SIGTERM received during the run (then a sweep must stop), else None."""

    status: str
    path: Path
    payload: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False
    signal: int | None = None

    @property
    def summary(self) -> dict[str, float]:
        return self.payload.get("summary", {})


def seed_everything(seed: int) -> None:
    """Every generator a run draws from, DGL's neighbour sampler included."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    dgl.seed(seed)


def job_context(output_dir: Path | None) -> tuple[Path, str | None, list[str]]:
    """Output directory, W&B group (the sweep) and the command-line overrides of this job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if output_dir is not None or not HydraConfig.initialized():
        return Path(output_dir or "outputs/run"), None, []
    hc = HydraConfig.get()
    group = Path(hc.sweep.dir).as_posix() if hc.mode == RunMode.MULTIRUN else None
    return Path(hc.runtime.output_dir), group, list(hc.overrides.task)


def load_dataset(cfg: DictConfig) -> Any:
    """The dataset's loader, called; a CglError it raises (such as a dataset missing offline)
    reaches the CLI as it is, not wrapped in Hydra's InstantiationException. Node features
    come out sparse or dense by `sparse_max_density` (cgl.datasets.layout)."""
    try:
        data = instantiate(cfg.dataset.loader)
    except InstantiationException as err:
        if isinstance(err.__cause__, CglError):
            raise err.__cause__ from None
        raise
    return with_feature_layout(data, cfg.sparse_max_density)


def build_scenario(cfg: DictConfig, data) -> Any:
    """The scenario loader, cutting `data` as the protocol's plan says. A protocol with a
    fixed task size (CGLB: 2 classes) decides the number of tasks unless `num_tasks` is set."""
    setting = dataset_setting(cfg)
    rules = protocol_rules(cfg)
    incr_type = cfg.scenario.incr_type
    sized_by_rules = rules.classes_per_task and incr_type in ("task", "class")
    num_tasks = cfg.num_tasks or (None if sized_by_rules else setting.num_tasks)
    plan = plan_tasks(data, incr_type, num_tasks, rules, cfg.seed)
    return get_class(cfg.level.scenario_loader)(
        data,
        incr_type=incr_type,
        num_tasks=plan.num_tasks,
        metric=rules.metric or setting.metric,
        seed=cfg.seed,
        plan=plan,
        **OmegaConf.to_container(cfg.level.scenario_kwargs, resolve=True),
    )


def build_model(cfg: DictConfig, scenario) -> torch.nn.Module:
    """The level's model, sized by the scenario. A setting the model does not take (say
    `+model.nc.foo=1`) is bad input, refused like any other, not a crash."""
    try:
        return instantiate(cfg.model[cfg.level.name], **scenario.model_kwargs())
    except InstantiationException as err:
        if isinstance(err.__cause__, TypeError):
            target = cfg.model[cfg.level.name]._target_
            raise ConfigError(
                f"model.{cfg.level.name} cannot be built: {err.__cause__}. Give {target} only "
                f"the settings it takes."
            ) from None
        raise


def build_scenario_and_model(cfg: DictConfig, data) -> tuple[Any, torch.nn.Module]:
    """Scenario, then model, in BeGin's draw order: seed every generator, draw the
    protocol's class (or domain) order as the first draw, then the model's initial weights;
    then seed again, as BeGin's trainer does, so training draws (dropout, samplers) start from
    the seed. The same seed thus gives BeGin 0.4's permutation and initial weights."""
    seed_everything(cfg.seed)
    scenario = build_scenario(cfg, data)
    model = build_model(cfg, scenario)
    seed_everything(cfg.seed)
    return scenario, model


def trainer_kwargs(cfg: DictConfig) -> dict[str, Any]:
    """The level's trainer settings (e.g. gc's batch size), then the trainer group's, which
    win where both set a key (trainer=minibatch's batch size)."""
    return OmegaConf.to_container(cfg.level.trainer_kwargs, resolve=True) | OmegaConf.to_container(
        cfg.trainer.kwargs, resolve=True
    )


def task_loss(scenario, class_balanced: bool = False) -> torch.nn.Module:
    """The loss follows from the labels: one binary cross-entropy per label for multi-label
    data, cross-entropy over the classes otherwise; `class_balanced` (CGLB's) weights each
    class 1/n_c and sums the tasks' losses (cgl.trainers.losses)."""
    if getattr(scenario, "multilabel", False):
        return torch.nn.BCEWithLogitsLoss()
    if class_balanced:
        return ClassBalancedCrossEntropy(scenario.plan.task_classes, scenario.num_classes)
    return torch.nn.CrossEntropyLoss()


def run(cfg: DictConfig, output_dir: Path | None = None) -> Result:
    """Run one configuration end to end and write its results.json.

    `output_dir` defaults to the Hydra job's directory (for calls outside the CLI, pass one).
    """
    validate(cfg)
    out_dir, group, overrides = job_context(output_dir)
    check_output_dir(out_dir, "output_dir" if output_dir is not None else "hydra.run.dir")
    config = OmegaConf.to_container(cfg, resolve=True)
    with hold(out_dir, cfg.lock):  # one process per job directory (cgl.runtime.joblock)
        plan = plan_job(out_dir, config, resume=cfg.resume)
        if plan.action == "skip":
            status = plan.results["status"]
            log.info(
                "%s already holds this configuration's finished run (%s): skipped. "
                "resume=false runs it again.",
                out_dir,
                status,
            )
            return Result(status, out_dir / RESULTS_NAME, plan.results, skipped=True)
        if plan.damaged:  # the generation before was loaded: it takes the damaged one's place
            log.warning(
                "%s; resuming from the checkpoint before it (%s, %d finished task(s)), one "
                "task more to redo. The damaged file is removed.",
                plan.damaged,
                PREVIOUS_NAME,
                plan.tasks_done,
            )
            (out_dir / CHECKPOINT_NAME).unlink()
        with stop_on_signals(preemption_signals()) as stop:
            result = _run(cfg, config, out_dir, group, overrides, plan)
    result.signal = stop.signum
    return result


def _run(cfg, config, out_dir: Path, group, overrides, plan: JobPlan) -> Result:
    """Set up and train; whatever happens after set-up, results.json says what it was."""
    checkpoint = TaskCheckpoint.after(
        plan.checkpoint, out_dir / CHECKPOINT_NAME, out_dir / PREVIOUS_NAME, identity(config)
    )
    seed_everything(cfg.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    scenario = trainer = wandb_logger = payload = None
    status, message, signum = "completed", None, None
    try:
        scenario, trainer, wandb_logger = _set_up(cfg, config, out_dir, group, overrides)
        if plan.action == "resume":
            log.info(
                "resuming at task %d/%d: %d finished task(s) restored from %s (attempt %d)",
                plan.tasks_done + 1,
                scenario.num_tasks,
                plan.tasks_done,
                checkpoint.path,
                checkpoint.attempt,
            )
        raise_if_requested()
        trainer.run(checkpoint=checkpoint)
    except TrainingDivergedError as err:
        status, message = "diverged", str(err)
    except RunInterrupted as stop:
        signum = stop.signum
        done = 0 if scenario is None else len(scenario.matrices()["test"])
        total = "?" if scenario is None else scenario.num_tasks
        status = "interrupted"
        message = (
            f"stopped by {signal_name(signum)} after {done} of {total} tasks; the same "
            f"command with the same output directory ({out_dir}) resumes it"
        )
    except CglError:
        status = "refused"  # bad input found while setting up: nothing ran, nothing is written
        raise
    except BaseException as err:  # a bug, or an exit forced by a library: never `completed`
        status, message = "failed", f"{type(err).__name__}: {err}"
        raise
    finally:
        if status != "refused":
            payload = results_payload(
                cfg, config, overrides, scenario, trainer, status, message, signum, checkpoint
            )
            write_json_atomic(out_dir / RESULTS_NAME, payload)
            if status in ("completed", "diverged"):
                checkpoint.discard()  # a final result is never resumed
        if wandb_logger:
            logged = payload or {"summary": {}, "matrices": {"test": []}}
            matrix = np.asarray(logged["matrices"]["test"], dtype=float)
            wandb_logger.finish(logged["summary"], matrix, status)
    log.info("%s", run_summary(payload, out_dir / RESULTS_NAME))
    return Result(status=status, path=out_dir / RESULTS_NAME, payload=payload)


def _set_up(
    cfg: DictConfig, config: dict, out_dir: Path, group: str | None, overrides: list[str]
) -> tuple:
    """Data, scenario, model, the W&B run (if any) and the trainer."""
    data = load_dataset(cfg)
    scenario, model = build_scenario_and_model(cfg, data)
    trainer_cls = trainer_class(
        cfg.method.name, cfg.level.name, cfg.scenario.name, cfg.trainer.minibatch
    )
    wandb_logger = None
    if cfg.logger.name == "wandb":
        wandb_logger = WandbLogger(
            config=config,
            run_dir=out_dir,
            project=cfg.logger.project,
            mode=cfg.logger.mode,
            group=cfg.logger.group or group,
            entity=cfg.logger.entity,
            tags=[cfg.level.name, cfg.scenario.name, cfg.method.name, cfg.dataset.name],
            name=cfg.logger.run_name or run_name(config, overrides),
        )
    trainer = trainer_cls(
        model,
        scenario,
        functools.partial(torch.optim.Adam, lr=cfg.lr, weight_decay=cfg.weight_decay),
        task_loss(scenario, cfg.class_balanced_loss),
        cfg.device,
        num_epochs=cfg.epochs,
        patience=cfg.patience,
        lr_factor=cfg.lr_factor,
        min_lr_ratio=cfg.min_lr_ratio,
        keep_optimizer_state=cfg.keep_optimizer_state,
        restore_best=cfg.restore_best,
        progress=cfg.progress,
        callbacks=[wandb_logger] if wandb_logger else [],
        **OmegaConf.to_container(cfg.method.kwargs, resolve=True),
        **trainer_kwargs(cfg),
    )
    log.info(
        "%s on %s %s/%s: %d tasks, %s",
        trainer_cls.__name__,
        cfg.dataset.name,
        cfg.level.name,
        cfg.scenario.name,
        scenario.num_tasks,
        scenario.metric,
    )
    return scenario, trainer, wandb_logger


def results_payload(
    cfg, config, overrides, scenario, trainer, status, message, signum, checkpoint
) -> dict:
    """The content of results.json: one file per run, whatever its status, holding its config,
    status and reason, result matrices, metrics and timings. A run stopped before its scenario
    existed has no rows, metric or trainer; FWT is left out where the scenario makes it
    meaningless."""
    empty = {"val": [], "test": [], "init_val": None, "init_test": None}
    matrices = empty if scenario is None else scenario.matrices()
    complete = scenario is not None and len(matrices["test"]) == scenario.num_tasks
    fwt_defined = scenario is not None and scenario.forward_transfer_defined
    init_test = matrices["init_test"] if fwt_defined else None
    summary = (
        summarize(matrices["test"], matrices["val"], init_test)
        if complete
        else {key: float("nan") for key in ("AP", "AF", "FWT", "val_AP")}
    )
    return {
        "status": status,
        "message": message,
        "signal": None if signum is None else signal_name(signum),
        "choices": {
            group: cfg[group].name
            for group in ("level", "scenario", "method", "model", "dataset", "logger", "protocol")
        }
        | {"trainer": "minibatch" if cfg.trainer.minibatch else "fullbatch"},
        "hyperparameters": {key: config[key] for key in HYPERPARAMETERS}
        | {"lamb": method_strength(config)},
        "method_kwargs": config["method"]["kwargs"],
        "overrides": overrides,
        "study": study_trial(),  # a trial of a hyperparameter search, or null
        "seed": cfg.seed,
        "metric": None if scenario is None else scenario.metric,
        "num_tasks": None if scenario is None else scenario.num_tasks,
        "tasks": None if scenario is None else scenario.plan.summary(),
        "trainer_class": None if trainer is None else type(trainer).__name__,
        "matrices": {"val": matrices["val"], "test": matrices["test"]},
        "init": {"val": matrices["init_val"], "test": matrices["init_test"]},
        "summary": summary,
        "timings": {"total": checkpoint.seconds()} | ({} if trainer is None else trainer.timings),
        "attempt": checkpoint.attempt,
        "threads": torch.get_num_threads(),
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "versions": {
            "cgl": __version__,
            "torch": torch.__version__,
            "dgl": dgl.__version__,
            "python": platform.python_version(),
        },
        "config": config,
    }


def method_strength(config: dict[str, Any]) -> float | None:
    """The strength the method ran with (what `lamb` set, or its default), None for a method
    without one: reports split configurations by it, and not bare's or joint's."""
    key = config["method"].get("strength")
    return None if key is None else config["method"]["kwargs"][key]


HYPERPARAMETERS = (
    "lamb",
    "lr",
    "weight_decay",
    "dropout",
    "epochs",
    "patience",
    "lr_factor",
    "min_lr_ratio",
    "num_tasks",
    "seed",
    "split_ratio",
)
