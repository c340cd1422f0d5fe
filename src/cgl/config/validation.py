"""Every check of a composed config, in one place, before anything runs: bad input is refused
with one paragraph (exit 2) before a directory, a dataset or a W&B run exists.

Types are the schema's job (`cgl.config.schema`, at composition); this module checks values and
combinations. `validate(cfg)` raises a ConfigError whose message is one paragraph naming the
fix. The value checks import neither torch nor DGL (except to ask whether a requested CUDA
device exists), so the command line refuses most bad input within a second; the combination
checks need the trainer registry and come last.
"""

from __future__ import annotations

import difflib
import math
import re
import tempfile
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from cgl.config import schema
from cgl.config.errors import ConfigError

if typing.TYPE_CHECKING:
    from cgl.scenarios.protocols import ProtocolRules

#: The modes wandb.init accepts (tests compare this with wandb's own signature).
WANDB_MODES = ("online", "offline", "disabled", "shared")
#: SAGEConv aggregators cgl runs (cgl.models.layers.SAGE_AGGREGATORS; compared in the tests).
SAGE_AGGREGATORS = ("mean", "gcn", "pool")
SEED_LIMIT = 2**32  # numpy's seeds are 32-bit
DEVICE = re.compile(r"(cpu|cuda)(:\d+)?")


def validate(cfg: DictConfig, runs_here: bool = True) -> None:
    """Refuse a config that cannot run or would run something other than asked.

    `runs_here=False` (a job a launcher sends to another machine, such as a Slurm node):
    whether the device exists is left to the job itself, which validates again there.
    """
    check_values(cfg, runs_here)
    check_combination(cfg)


def check_values(cfg: DictConfig, runs_here: bool = True) -> None:
    """Unknown keys, ranges and settings that need no data and no trainer registry."""
    _check_known_keys(cfg)
    _check_root_values(cfg)
    _check_split_ratio(list(cfg.split_ratio))
    _check_device(cfg.device, runs_here)
    if cfg.logger.name == "wandb" and cfg.logger.mode not in WANDB_MODES:
        raise ConfigError(
            f"logger.mode={cfg.logger.mode} is not a W&B mode: use one of "
            f"{', '.join(WANDB_MODES)} (offline needs no account), or logger=none for no W&B run."
        )
    for group in ("scenario_kwargs", "trainer_kwargs"):
        for key, value in cfg.level[group].items():
            if isinstance(value, int) and value < 1:
                raise ConfigError(f"level.{group}.{key} must be a positive integer, got {value}.")
    model = cfg.model.get(cfg.level.name)
    for key in ("hidden", "num_layers"):
        if model is not None and key in model:
            _positive_int(f"model.{cfg.level.name}.{key}", model[key])
    _check_layer(cfg, model)
    if cfg.trainer.minibatch:
        _check_minibatch(cfg, model)


def check_combination(cfg: DictConfig) -> None:
    """The level x scenario pair, the dataset's offer, the method's settings and a trainer
    for the method."""
    from cgl.algorithms import trainer_class

    dataset_setting(cfg)
    protocol_rules(cfg)
    _check_method(cfg)
    if cfg.model.get(cfg.level.name) is None:
        offered = [level for level in ("nc", "lc", "lp", "gc") if cfg.model.get(level)]
        raise ConfigError(
            f"model={cfg.model.name} has no {cfg.level.name} model: it is defined for "
            f"level={', '.join(offered)}. Use model=gcn for level={cfg.level.name}."
        )
    trainer_class(cfg.method.name, cfg.level.name, cfg.scenario.name, cfg.trainer.minibatch)


def dataset_setting(cfg: DictConfig) -> DictConfig:
    """The dataset's declared defaults (num_tasks, metric) for this level x scenario."""
    from cgl.scenarios import check_supported
    from cgl.scenarios.common import supported_pairs_text

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


def protocol_rules(cfg: DictConfig) -> ProtocolRules:
    """The protocol's rules for this dataset, level and scenario (conf/protocol/); a
    combination the protocol does not cover is refused here."""
    from cgl.scenarios.protocols import ProtocolRules

    return ProtocolRules.select(
        OmegaConf.to_container(cfg.protocol, resolve=True),
        dataset=cfg.dataset.name,
        level=cfg.level.name,
        scenario=cfg.scenario.name,
        split_ratio=tuple(cfg.split_ratio),
        inter_task_edges=cfg.scenario.get("inter_task_edges", True),
    )


def check_output_dir(path: str | Path, key: str) -> None:
    """Refuse an output directory that cannot be created or written, by trying: create a
    temporary directory in the nearest existing ancestor (as root, permission bits say
    little, and /proc or a read-only mount refuse only when asked)."""
    path = Path(path).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is a file, not a directory"
    else:
        try:
            Path(tempfile.mkdtemp(dir=existing, prefix=".cgl-write-test-")).rmdir()
        except OSError as err:
            problem = f"nothing can be created in {existing} ({err.strerror})"
    if problem:
        raise ConfigError(
            f"The output directory {path} cannot be used: {problem}. Choose a writable "
            f"directory with {key}=..."
        )


# ---- the checks ------------------------------------------------------------------------------
def _check_known_keys(cfg: DictConfig) -> None:
    """A key the schema does not know (added with `+key=...`) is read by nothing: a typo."""
    unknown = [
        (f"{prefix}{key}", known)
        for prefix, node, known in _typed_nodes(cfg)
        for key in node
        if key not in known and key != "hydra"
    ]
    if unknown:
        key, known = unknown[0]
        raise ConfigError(f"There is no config key {key}: nothing reads it.{_hint(key, known)}")


def _typed_nodes(cfg: DictConfig) -> list[tuple[str, DictConfig, list[str]]]:
    """(prefix, node, the keys its schema declares) for the root and every typed group."""
    nodes = [("", cfg, [f.name for f in fields(schema.Config)])]
    for name, kind in typing.get_type_hints(schema.Config).items():
        if is_dataclass(kind) and isinstance(cfg.get(name), DictConfig):
            nodes.append((f"{name}.", cfg[name], [f.name for f in fields(kind)]))
    return nodes


def _hint(key: str, known: list[str]) -> str:
    prefix, _, last = key.rpartition(".")
    close = difflib.get_close_matches(last, known, n=1)
    return f" Did you mean {prefix + '.' if prefix else ''}{close[0]}?" if close else ""


def _check_root_values(cfg: DictConfig) -> None:
    if not 0 <= cfg.seed < SEED_LIMIT:
        raise ConfigError(f"seed must be an integer in [0, 2^32), got {cfg.seed}.")
    if cfg.lamb is not None:
        _number("lamb", cfg.lamb, low=0.0, what="(the method's strength; null: its BeGin value)")
    _number("lr", cfg.lr, low=0.0, low_open=True)
    _number("weight_decay", cfg.weight_decay, low=0.0)
    _number("dropout", cfg.dropout, low=0.0, high=1.0, high_open=True)
    _number("lr_factor", cfg.lr_factor, low=0.0, low_open=True, high=1.0, high_open=True)
    _number("min_lr_ratio", cfg.min_lr_ratio, low=0.0, low_open=True, high=1.0)
    _number(
        "sparse_max_density",
        cfg.sparse_max_density,
        low=0.0,
        high=1.0,
        what="(the share of non-zero features up to which they stay sparse)",
    )
    if cfg.epochs < 1:
        raise ConfigError(f"epochs must be at least 1 (most epochs per task), got {cfg.epochs}.")
    if cfg.patience < 0:
        raise ConfigError(f"patience must be >= 0 (epochs without gain), got {cfg.patience}.")
    if cfg.threads is not None and cfg.threads < 1:
        raise ConfigError(
            f"threads must be at least 1 (null: the job's share of the cores), got {cfg.threads}."
        )
    _number("lock.heartbeat", cfg.lock.heartbeat, low=0.0, low_open=True)
    _number(
        "lock.stale_after",
        cfg.lock.stale_after,
        low=cfg.lock.heartbeat,
        low_open=True,
        what="(seconds; more than lock.heartbeat)",
    )
    if cfg.num_tasks is not None and cfg.num_tasks < 1:
        raise ConfigError(
            f"num_tasks must be at least 1 (null: the dataset's default), got {cfg.num_tasks}."
        )


def _number(
    key: str,
    value: float,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    what: str = "",
) -> None:
    """Refuse NaN, infinity and values outside [low, high] (or the open bounds)."""
    inside = math.isfinite(value) and (low < value if low_open else low <= value)
    inside = inside and (value < high if high_open else value <= high)
    if not inside:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        interval = f"in {left}{low:g}, {high:g}{right}" if math.isfinite(high) else bound
        raise ConfigError(
            f"{key} must be a finite number {interval}{' ' + what if what else ''}, got {value}."
        )


def _check_split_ratio(shares: list[float]) -> None:
    valid = len(shares) == 3 and all(0 < share <= 1 for share in shares)
    if not valid or sum(shares) > 1 + 1e-9:
        raise ConfigError(
            f"split_ratio must be three shares (train, val, test) of each task's items, each in "
            f"(0, 1] and summing to at most 1, e.g. split_ratio=[0.6,0.2,0.2]; got {shares}."
        )


def _check_device(device: str, runs_here: bool) -> None:
    match = DEVICE.fullmatch(device)
    if match is None:
        raise ConfigError(f"device must be cpu, cuda or cuda:N (a GPU's index), got '{device}'.")
    if match.group(1) == "cpu" or not runs_here:
        return
    import torch

    index = int(match.group(2)[1:]) if match.group(2) else 0
    if not torch.cuda.is_available():
        raise ConfigError(
            f"device={device} asks for a GPU, but torch {torch.__version__} sees no CUDA device "
            f"on this machine. Run on the CPU with device=cpu (or install CUDA builds of torch "
            f"and DGL on a machine with a GPU)."
        )
    if index >= torch.cuda.device_count():
        raise ConfigError(
            f"device={device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
            f"numbered from 0. Use device=cuda:0, or device=cpu."
        )


def _check_method(cfg: DictConfig) -> None:
    """The method's own checks of its settings (it declares them: `cgl.algorithms.method`),
    and that the setting `lamb` names exists."""
    from cgl.algorithms import get_method

    declared = get_method(cfg.method.name)
    kwargs = OmegaConf.to_container(cfg.method.kwargs, resolve=True)
    strength = cfg.method.strength
    if strength is not None and strength not in kwargs:
        raise ConfigError(
            f"method={cfg.method.name} says the root key lamb sets method.kwargs.{strength}, "
            f"but its kwargs have no such key (conf/method/{cfg.method.name}.yaml)."
        )
    if declared.check is not None:
        declared.check(kwargs)


def _check_layer(cfg: DictConfig, model: DictConfig | None) -> None:
    """The backbone's own settings (model.layer: cgl.models.layers)."""
    layer = cfg.model.get("layer")
    if layer is None:
        return
    if "heads" in layer:
        _positive_int("model.layer.heads", layer.heads)
        _number("model.layer.attn_dropout", layer.attn_dropout, low=0.0, high=1.0, high_open=True)
        hidden = None if model is None else model.get("hidden")
        if isinstance(hidden, int) and hidden % layer.heads:
            raise ConfigError(
                f"model.{cfg.level.name}.hidden={hidden} must be a multiple of "
                f"model.layer.heads={layer.heads}: GAT's heads of hidden / heads features each "
                f"are concatenated into the hidden width."
            )
    if "aggregator" in layer and layer.aggregator not in SAGE_AGGREGATORS:
        raise ConfigError(
            f"model.layer.aggregator={layer.aggregator} is not supported: use one of "
            f"{', '.join(SAGE_AGGREGATORS)}. (DGL's lstm aggregator reads neighbours in edge "
            f"order, which depends on the order of neighbours in a block, so evaluation on a "
            f"receptive field and MAS's per-item copies would not reproduce the whole graph.)"
        )
    if "mlp_layers" in layer:
        _positive_int("model.layer.mlp_layers", layer.mlp_layers)


def _check_minibatch(cfg: DictConfig, model: DictConfig | None) -> None:
    kwargs = cfg.trainer.kwargs
    _positive_int("trainer.kwargs.batch_size", kwargs.get("batch_size", 1))
    layers = None if model is None else model.get("num_layers")
    for key in ("fanouts", "eval_fanouts"):
        fanouts = kwargs.get(key)
        if fanouts is None and key == "eval_fanouts":
            continue
        if not isinstance(fanouts, ListConfig) or not all(
            isinstance(f, int) and f > 0 for f in fanouts
        ):
            raise ConfigError(
                f"trainer.kwargs.{key} must be a list of positive integers, one per GNN layer "
                f"(neighbours sampled per node at that layer), got {fanouts}."
            )
        if layers is not None and len(fanouts) != layers:
            raise ConfigError(
                f"trainer.kwargs.{key}={list(fanouts)} needs one entry per GNN layer, and the "
                f"model has {layers} (model.{cfg.level.name}.num_layers): e.g. "
                f"trainer.kwargs.{key}=[{','.join(['10'] * layers)}]."
            )


def _positive_int(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a positive integer, got {value}.")
