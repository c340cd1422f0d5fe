"""One run: config -> dataset -> scenario -> model -> trainer -> results.json (+ W&B).

`run(cfg)` is what the command line and the tests call. Every check of the config happens
before any data is touched or any training starts, and a failure then writes nothing.
"""

from __future__ import annotations

import functools
import logging
import platform
import random
import time
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
from cgl.datasets.layout import with_feature_layout
from cgl.errors import CglError, ConfigError
from cgl.metrics import summarize
from cgl.scenarios import check_supported
from cgl.scenarios.common import INCR_TYPES, supported_pairs_text
from cgl.sinks import WandbLogger, write_json_atomic
from cgl.trainers import TrainingDivergedError

log = logging.getLogger(__name__)


@dataclass
class Result:
    """What a run produced; `payload` is exactly what results.json holds."""

    status: str
    path: Path
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, float]:
        return self.payload.get("summary", {})


def seed_everything(seed: int) -> None:
    """Every generator a run draws from, DGL's neighbour sampler included."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    dgl.seed(seed)


def dataset_setting(cfg: DictConfig) -> DictConfig:
    """The dataset's declared defaults (num_tasks, metric) for this level x scenario."""
    level, scenario = cfg.level.name, cfg.scenario.name
    check_supported(level, scenario)
    settings = cfg.dataset.settings
    if level not in settings or scenario not in settings[level]:
        offered = "; ".join(f"{lvl}: {', '.join(scs)}" for lvl, scs in settings.items())
        raise ConfigError(
            f"dataset={cfg.dataset.name} does not offer level={level} scenario={scenario}. "
            f"It offers {offered}. (Pairs any dataset may offer: {supported_pairs_text()}.)"
        )
    return settings[level][scenario]


def validate(cfg: DictConfig) -> None:
    """Refuse bad values before anything runs (SPEC §10)."""
    dataset_setting(cfg)
    if cfg.lamb < 0:
        raise ConfigError(f"lamb must be >= 0 (it weighs the MAS penalty), got {cfg.lamb}.")
    if cfg.epochs < 1:
        raise ConfigError(f"epochs must be at least 1, got {cfg.epochs}.")
    if cfg.lr <= 0:
        raise ConfigError(f"lr must be positive, got {cfg.lr}.")
    if not 0 <= cfg.sparse_max_density <= 1:
        raise ConfigError(
            f"sparse_max_density is a share of non-zero features, between 0 (always dense) "
            f"and 1 (always sparse), got {cfg.sparse_max_density}."
        )
    if cfg.num_tasks is not None and cfg.num_tasks < 1:
        raise ConfigError(
            f"num_tasks must be at least 1 (or null for the dataset's default), "
            f"got {cfg.num_tasks}."
        )
    for group in ("scenario_kwargs", "trainer_kwargs"):
        for key, value in cfg.level[group].items():
            if isinstance(value, int) and value < 1:
                raise ConfigError(f"level.{group}.{key} must be a positive integer, got {value}.")
    trainer_class(cfg.method.name, cfg.level.name, cfg.scenario.name, cfg.trainer.minibatch)


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
    setting = dataset_setting(cfg)
    return get_class(cfg.level.scenario_loader)(
        data,
        incr_type=INCR_TYPES[cfg.scenario.name],
        num_tasks=cfg.num_tasks or setting.num_tasks,
        metric=setting.metric,
        seed=cfg.seed,
        split_ratio=tuple(cfg.split_ratio),
        **OmegaConf.to_container(cfg.level.scenario_kwargs, resolve=True),
    )


def trainer_kwargs(cfg: DictConfig) -> dict[str, Any]:
    """The level's trainer settings (e.g. gc's batch size), then the trainer group's, which
    win where both set a key (trainer=minibatch's batch size)."""
    return OmegaConf.to_container(cfg.level.trainer_kwargs, resolve=True) | OmegaConf.to_container(
        cfg.trainer.kwargs, resolve=True
    )


def task_loss(scenario) -> torch.nn.Module:
    """The loss follows from the labels, so it is not a config key: one binary cross-entropy
    per label for multi-label data, cross-entropy over the classes otherwise."""
    if getattr(scenario, "multilabel", False):
        return torch.nn.BCEWithLogitsLoss()
    return torch.nn.CrossEntropyLoss()


def run(cfg: DictConfig, output_dir: Path | None = None) -> Result:
    """Run one configuration end to end and write its results.json.

    `output_dir` defaults to the Hydra job's directory (for calls outside the CLI, pass one).
    """
    validate(cfg)
    out_dir, group, overrides = job_context(output_dir)
    seed_everything(cfg.seed)
    data = load_dataset(cfg)
    scenario = build_scenario(cfg, data)
    model = instantiate(cfg.model[cfg.level.name], **scenario.model_kwargs())
    trainer_cls = trainer_class(
        cfg.method.name, cfg.level.name, cfg.scenario.name, cfg.trainer.minibatch
    )
    config = OmegaConf.to_container(cfg, resolve=True)
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
        )
    trainer = trainer_cls(
        model,
        scenario,
        functools.partial(torch.optim.Adam, lr=cfg.lr, weight_decay=cfg.weight_decay),
        task_loss(scenario),
        cfg.device,
        num_epochs=cfg.epochs,
        patience=cfg.patience,
        lr_factor=cfg.lr_factor,
        min_lr_ratio=cfg.min_lr_ratio,
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
    status, message, start = "completed", None, time.perf_counter()
    try:
        trainer.run()
    except TrainingDivergedError as err:
        status, message = "diverged", str(err)
    except Exception as err:
        status, message = "failed", f"{type(err).__name__}: {err}"
        raise
    finally:
        payload = results_payload(
            cfg, config, overrides, scenario, trainer, status, message, time.perf_counter() - start
        )
        path = write_json_atomic(out_dir / "results.json", payload)
        if wandb_logger:
            wandb_logger.finish(payload["summary"], np.asarray(payload["matrices"]["test"]), status)
    log.info(
        "%s: AP %.4f AF %.4f -> %s",
        status,
        payload["summary"]["AP"],
        payload["summary"]["AF"],
        path,
    )
    return Result(status=status, path=path, payload=payload)


def results_payload(cfg, config, overrides, scenario, trainer, status, message, seconds) -> dict:
    """The content of results.json (SPEC §7)."""
    matrices = scenario.matrices()
    complete = matrices["test"].shape[0] == scenario.num_tasks
    summary = (
        summarize(matrices["test"], matrices["val"], matrices["init_test"])
        if complete
        else {key: float("nan") for key in ("AP", "AF", "FWT", "val_AP")}
    )
    return {
        "status": status,
        "message": message,
        "choices": {
            group: cfg[group].name
            for group in ("level", "scenario", "method", "model", "dataset", "logger")
        }
        | {"trainer": "minibatch" if cfg.trainer.minibatch else "fullbatch"},
        "hyperparameters": {key: config[key] for key in HYPERPARAMETERS},
        "method_kwargs": config["method"]["kwargs"],
        "overrides": overrides,
        "seed": cfg.seed,
        "metric": scenario.metric,
        "num_tasks": scenario.num_tasks,
        "trainer_class": type(trainer).__name__,
        "matrices": {"val": matrices["val"], "test": matrices["test"]},
        "init": {"val": matrices["init_val"], "test": matrices["init_test"]},
        "summary": summary,
        "timings": {"total": seconds} | trainer.timings,
        "versions": {
            "cgl": __version__,
            "torch": torch.__version__,
            "dgl": dgl.__version__,
            "python": platform.python_version(),
        },
        "config": config,
    }


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
