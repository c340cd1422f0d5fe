"""The typed schema of conf/: a wrong type fails when Hydra composes the config.

`conf/config.yaml` names `cgl_schema` first in its defaults list, so every value the YAML files
and the command line give is merged into these dataclasses: `lamb=abc` or `epochs=1.5` is
refused by Hydra before anything runs, and a key the schema does not know is a typo. Values
live in conf/ (the dataclasses hold types, and defaults only for optional keys that a group's
options may leave out); ranges are checked in `cgl.config.validation`.

Adding a root key or a typed key of a group is one line here (plus its value in conf/). A new
config group is one line in `Config`. Groups whose options carry free-form settings
(`level.scenario_kwargs`, `method.kwargs`, a dataset's loader, a model) are dicts that stay open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

SCHEMA_NAME = "cgl_schema"


@dataclass
class LevelSchema:
    name: str = MISSING
    scenario_loader: str = MISSING  # the ScenarioLoader class, by import path
    scenario_kwargs: dict[str, Any] = field(default_factory=dict)
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScenarioSchema:
    name: str = MISSING
    incr_type: str = MISSING  # BeGin's incr_type: task, class, domain or time
    #: false: drop edges between nodes of different tasks (CGLB's switch; nc only). The same
    #: default for every scenario, so it is set here rather than in each conf/scenario file.
    inter_task_edges: bool = True


@dataclass
class ProtocolSchema:
    """How a reference benchmark cuts a dataset into tasks (conf/protocol/)."""

    name: str = MISSING
    class_order: str = MISSING
    domain_order: str = MISSING
    classes_per_task: int | None = None
    graph: str = MISSING
    split_within: str = MISSING
    covers: Any = None  # null: every level and scenario; else level -> scenarios
    splits: dict[str, Any] = field(default_factory=dict)  # dataset -> public | shares
    split_counts: str = "round"  # round | cglb (CGLB's sklearn counts)
    split_seed: int | None = None  # null: the run's seed; else one split for every run
    metric: str | None = None  # null: the dataset's metric
    keep_direction: bool = False  # a directed dataset (ogbn-arxiv) keeps OGB's edge direction


@dataclass
class MethodSchema:
    name: str = MISSING
    strength: str | None = None  # the key of `kwargs` that the root key `lamb` sets
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelSchema:
    """One `_target_` + kwargs per level, instantiated with the scenario's sizes; `layer`:
    the backbone's layer factory and its own settings, which the levels interpolate."""

    name: str = MISSING
    layer: Any = None
    nc: Any = None
    lc: Any = None
    lp: Any = None
    gc: Any = None


@dataclass
class DatasetSchema:
    name: str = MISSING
    loader: Any = MISSING  # `_target_` + the loader's kwargs
    settings: dict[str, Any] = field(default_factory=dict)  # level -> scenario -> num_tasks, metric


@dataclass
class TrainerSchema:
    minibatch: bool = MISSING
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoggerSchema:
    name: str = MISSING
    project: str | None = None
    entity: str | None = None
    mode: str | None = None
    group: str | None = None
    run_name: str | None = None


@dataclass
class LockSchema:
    """The job directory's lock (cgl.runtime.joblock), in seconds."""

    heartbeat: float = MISSING
    stale_after: float = MISSING


@dataclass
class Config:
    level: LevelSchema = MISSING
    scenario: ScenarioSchema = MISSING
    method: MethodSchema = MISSING
    model: ModelSchema = MISSING
    dataset: DatasetSchema = MISSING
    trainer: TrainerSchema = MISSING
    logger: LoggerSchema = MISSING
    protocol: ProtocolSchema = MISSING
    seed: int = MISSING
    lamb: float | None = MISSING
    begin_methods: bool = MISSING
    begin_memory: int | None = MISSING
    lr: float = MISSING
    weight_decay: float = MISSING
    dropout: float = MISSING
    epochs: int = MISSING
    patience: int = MISSING
    lr_factor: float = MISSING
    min_lr_ratio: float = MISSING
    keep_optimizer_state: bool = MISSING
    restore_best: bool = MISSING
    class_balanced_loss: bool = MISSING
    num_tasks: int | None = MISSING
    split_ratio: list[float] = MISSING
    device: str = MISSING
    data_dir: str = MISSING
    sparse_max_density: float = MISSING
    progress: bool = MISSING
    resume: bool = MISSING
    threads: int | None = MISSING
    lock: LockSchema = MISSING


ConfigStore.instance().store(name=SCHEMA_NAME, node=Config)


def _strength(default: float, *, _root_: DictConfig) -> float:
    """`${strength:D}` in a method's kwargs: the root key `lamb`, or D (the method's BeGin
    benchmark value) when `lamb` is null."""
    return default if _root_.lamb is None else _root_.lamb


def _begin(paper: Any, begin: Any, *, _root_: DictConfig) -> Any:
    """`${begin:P,B}` in a method's kwargs: P, the paper's choice, or B, what BeGin 0.4's
    code does, when the root key `begin_methods` is true (BeGin's presets set it)."""
    return begin if _root_.begin_methods else paper


OmegaConf.register_new_resolver("strength", _strength, replace=True)
OmegaConf.register_new_resolver("begin", _begin, replace=True)
