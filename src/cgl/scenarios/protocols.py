"""Protocols as data: how a reference benchmark cuts a dataset into tasks, stated once as
data rather than as branches in the loaders.

A protocol's rules live in `conf/protocol/<name>.yaml` (its `protocol:` block). This module
reads them for one dataset and scenario (`ProtocolRules.select`) and turns them, with the
dataset and the seed, into a `TaskPlan`: the task of every item, the classes of every task and
the dropped ones, the train/val/test split, and how the graph is shown. Scenario loaders
consume the plan; dataset loaders never hear of a protocol, they only publish what the data
ship with (e.g. Planetoid's public split in `ContinualData.split`).

Draw order is part of a protocol. BeGin 0.4's benchmark seeds the global generator, then its
scenario draws `torch.randperm(num_classes)` (or of the domains), then the model draws its
weights. `plan_tasks` therefore draws a shuffled order from the global generator, and must be
the first draw after seeding; random splits come from a generator of their own, so they never
shift the draws that follow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cgl.config.errors import ConfigError
from cgl.datasets.base import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL, ContinualData

ORDERS = ("dataset", "shuffled")
GRAPHS = ("whole", "seen_tasks")
WITHIN = ("task", "class")
COUNTS = ("round", "cglb")
PUBLIC = "public"


@dataclass(frozen=True)
class ProtocolRules:
    """One protocol's rules for one dataset and scenario (already looked up).

    `split` is "public" (the split the dataset ships with) or train/val/test ratios, drawn at
    random within each task or each class (`split_within`). `classes_per_task` (or None: the
    dataset's number of tasks decides) fixes the task size. `graph` is "whole" (every task sees
    the whole graph, BeGin) or "seen_tasks" (task t sees only the nodes of tasks 0..t, CGLB).
    `inter_task_edges`: keep edges whose ends lie in different tasks.
    `split_counts`: how a group's shares become counts, "round" (each share rounded) or
    "cglb" (CGLB's sklearn draw: val+test = ceil(share x n), test = ceil of its share of
    those, train the rest; see `cglb_split`). `split_seed`: the seed of a random split, the
    same for every run (CGLB draws its split once and caches it), or None: the run's seed.
    `metric`: the metric the protocol scores with (None: the dataset's).
    """

    name: str = "random"
    class_order: str = "dataset"
    domain_order: str = "dataset"
    classes_per_task: int | None = None
    split: str | tuple[float, float, float] = (0.6, 0.2, 0.2)
    split_within: str = "task"
    graph: str = "whole"
    inter_task_edges: bool = True
    split_counts: str = "round"
    split_seed: int | None = None
    metric: str | None = None

    def __post_init__(self) -> None:
        for key, value, allowed in (
            ("class_order", self.class_order, ORDERS),
            ("domain_order", self.domain_order, ORDERS),
            ("graph", self.graph, GRAPHS),
            ("split_within", self.split_within, WITHIN),
            ("split_counts", self.split_counts, COUNTS),
        ):
            if value not in allowed:
                raise ConfigError(
                    f"protocol {self.name}: {key}={value!r} is not one of {list(allowed)}."
                )
        if self.split != PUBLIC:
            ratios = tuple(float(r) for r in self.split)
            if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1) > 1e-6:
                raise ConfigError(
                    f"protocol {self.name}: a split is 'public' or three train/val/test "
                    f"shares that sum to 1, got {list(self.split)}."
                )
            object.__setattr__(self, "split", ratios)

    @classmethod
    def select(
        cls,
        protocol: Mapping[str, Any],
        dataset: str,
        level: str,
        scenario: str,
        split_ratio: Sequence[float],
        inter_task_edges: bool = True,
    ) -> ProtocolRules:
        """The rules of `protocol` (a `protocol:` config block) for this dataset and scenario.

        A dataset's entry under `splits` is a rule or a mapping scenario -> rule (with
        `default`); a dataset without an entry gets `split_ratio`. A protocol that covers only
        some levels and scenarios (`covers`) refuses the others before anything runs.
        """
        name = protocol["name"]
        covers = protocol.get("covers")
        if covers is not None and scenario not in (covers.get(level) or ()):
            offered = "; ".join(f"{lvl}: {', '.join(scs)}" for lvl, scs in covers.items())
            raise ConfigError(
                f"protocol={name} does not define level={level} scenario={scenario}; it covers "
                f"{offered}. Use protocol=begin or protocol=random for other settings."
            )
        graph = protocol.get("graph", "whole")
        if level != "nc" and (graph != "whole" or not inter_task_edges):
            raise ConfigError(
                f"Showing only the seen tasks' nodes (protocol={name}) or dropping the edges "
                f"between tasks (scenario.inter_task_edges=false) is defined for node-level "
                f"scenarios, not level={level}."
            )
        rule = (protocol.get("splits") or {}).get(dataset, split_ratio)
        if isinstance(rule, Mapping):
            rule = rule.get(scenario, rule.get("default", split_ratio))
        return cls(
            name=name,
            class_order=protocol.get("class_order", "dataset"),
            domain_order=protocol.get("domain_order", "dataset"),
            classes_per_task=protocol.get("classes_per_task"),
            split=rule if rule == PUBLIC else tuple(rule),
            split_within=protocol.get("split_within", "task"),
            graph=graph,
            inter_task_edges=inter_task_edges,
            split_counts=protocol.get("split_counts", "round"),
            split_seed=protocol.get("split_seed"),
            metric=protocol.get("metric"),
        )

    def describe_split(self) -> str:
        if self.split == PUBLIC:
            return "the dataset's public split"
        shares = "/".join(f"{round(100 * r)}" for r in self.split)
        counts = ", CGLB's counts" if self.split_counts == "cglb" else ""
        seed = "the run's seed" if self.split_seed is None else f"split_seed {self.split_seed}"
        return f"random {shares} within each {self.split_within}{counts} (seeded: {seed})"


@dataclass(frozen=True)
class TaskPlan:
    """What a scenario loader needs to cut a dataset into tasks.

    `task_of_item`: the task of every item (-1: in no task, e.g. a dropped class).
    `split`: SPLIT_TRAIN / SPLIT_VAL / SPLIT_TEST per item, -1 for items in no task.
    `task_classes`: the classes of each task (every class, for Domain- and Time-IL).
    """

    protocol: str
    num_tasks: int
    task_of_item: torch.Tensor
    task_classes: list[list[int]]
    dropped_classes: list[int]
    split: torch.Tensor
    split_rule: str
    growing_graph: bool = False
    inter_task_edges: bool = True

    def summary(self) -> dict[str, Any]:
        """What results.json records of the plan (readable, and enough to check a run)."""
        used = self.split[self.split >= 0]
        counts = torch.bincount(used, minlength=3).tolist()
        return {
            "protocol": self.protocol,
            "task_classes": self.task_classes,
            "dropped_classes": self.dropped_classes,
            "split": self.split_rule,
            "split_counts": dict(zip(("train", "val", "test"), counts, strict=True)),
            "graph": "seen tasks" if self.growing_graph else "whole",
            "inter_task_edges": self.inter_task_edges,
        }


def plan_tasks(
    data: ContinualData,
    incr_type: str,
    num_tasks: int | None,
    rules: ProtocolRules,
    seed: int,
) -> TaskPlan:
    """Cut `data` into tasks by `rules`; see the module docstring for the draw order.

    `num_tasks` None: `rules.classes_per_task` decides (Task/Class-IL); it must be given
    otherwise.
    """
    if incr_type in ("task", "class"):
        task_of_item, groups, dropped = class_tasks(data, incr_type, num_tasks, rules)
    else:
        if num_tasks is None:
            raise ConfigError(f"{incr_type}-IL needs num_tasks.")
        task_of_item, groups, dropped = ordered_tasks(data, incr_type, num_tasks, rules)
    split = plan_split(data, task_of_item, rules, seed)
    return TaskPlan(
        protocol=rules.name,
        num_tasks=len(groups),
        task_of_item=task_of_item,
        task_classes=groups,
        dropped_classes=dropped,
        split=torch.where(task_of_item >= 0, split, torch.full_like(split, -1)),
        split_rule=rules.describe_split(),
        growing_graph=rules.graph == "seen_tasks",
        inter_task_edges=rules.inter_task_edges,
    )


def class_tasks(
    data: ContinualData, incr_type: str, num_tasks: int | None, rules: ProtocolRules
) -> tuple[torch.Tensor, list[list[int]], list[int]]:
    """Task/Class-IL: classes in the protocol's order, cut into equal groups; the classes that
    do not fill a group are dropped (BeGin: `torch.split(order, C // T)[:T]`, so Cora's
    seventh class in its permutation goes; CGLB: pairs in id order, an odd class out goes)."""
    if data.multilabel:
        raise ConfigError(
            f"{data.name} is multi-label ({data.num_classes} binary labels per item): its "
            f"items have no single class to cut into tasks, so it runs Domain-IL or Time-IL, "
            f"not {incr_type.capitalize()}-IL."
        )
    num_classes = data.num_classes
    if num_tasks is None:
        num_tasks = num_classes // (rules.classes_per_task or num_classes)
    if num_tasks < 1 or num_classes // num_tasks < 1:
        raise ConfigError(
            f"{data.name} has {num_classes} classes: {num_tasks} tasks would leave tasks "
            f"without a class. Use 1 <= num_tasks <= {num_classes}."
        )
    per_task = rules.classes_per_task if rules.classes_per_task else num_classes // num_tasks
    if per_task * num_tasks > num_classes:
        raise ConfigError(
            f"{data.name} has {num_classes} classes: {num_tasks} tasks of {per_task} classes "
            f"(protocol={rules.name}) need {per_task * num_tasks}. Use num_tasks <= "
            f"{num_classes // per_task}."
        )
    order = draw_order(num_classes, rules.class_order)
    groups = [order[t * per_task : (t + 1) * per_task].tolist() for t in range(num_tasks)]
    class_task = torch.full((num_classes,), -1, dtype=torch.long)
    class_task[order[: per_task * num_tasks]] = torch.arange(per_task * num_tasks) // per_task
    task_of_item = torch.full_like(data.label, -1)
    labelled = data.label >= 0
    task_of_item[labelled] = class_task[data.label[labelled]]
    return task_of_item, groups, order[per_task * num_tasks :].tolist()


def ordered_tasks(
    data: ContinualData, incr_type: str, num_tasks: int, rules: ProtocolRules
) -> tuple[torch.Tensor, list[list[int]], list[int]]:
    """Domain/Time-IL: the distinct domains (in the protocol's order; BeGin shuffles them) or
    time steps (always in time order), cut into `num_tasks` contiguous groups."""
    key = data.domain if incr_type == "domain" else data.time
    if key is None:
        raise ConfigError(f"{data.name} has no {incr_type} per item: it cannot run {incr_type}-IL.")
    values, position = torch.unique(key, return_inverse=True)
    if incr_type == "domain":
        position = draw_order(values.numel(), rules.domain_order)[position]
    task_of_item = bucket_by_value(position, num_tasks, what=f"{data.name}'s {incr_type} values")
    task_of_item[~data.labelled] = -1
    return task_of_item, [list(range(data.num_classes))] * num_tasks, []


def draw_order(size: int, order: str) -> torch.Tensor:
    """0..size-1 as the protocol orders it: a permutation from the global generator (the
    seeded draw BeGin makes for `task_shuffle`) or the dataset's own order."""
    return torch.randperm(size) if order == "shuffled" else torch.arange(size)


def bucket_by_value(key: torch.Tensor, num_tasks: int, what: str) -> torch.Tensor:
    """Task of every entry of `key`: its sorted distinct values cut into contiguous groups."""
    values = torch.unique(key)
    if num_tasks > values.numel():
        raise ConfigError(
            f"{what} take {values.numel()} distinct values: at most that many tasks, "
            f"not {num_tasks}."
        )
    value_task = torch.empty(int(values.max()) + 1, dtype=torch.long)
    for task, chunk in enumerate(np.array_split(values.numpy(), num_tasks)):
        value_task[torch.from_numpy(chunk)] = task
    return value_task[key]


def plan_split(
    data: ContinualData, task_of_item: torch.Tensor, rules: ProtocolRules, seed: int
) -> torch.Tensor:
    """The split the rules ask for: the dataset's public one, or a seeded random one."""
    if rules.split == PUBLIC:
        if data.split is None:
            raise ConfigError(
                f"protocol={rules.name} uses the public split of {data.name}, but its loader "
                f"ships none. Use protocol=random (seeded random split) instead."
            )
        return data.split.clone()
    groups = task_of_item if rules.split_within == "task" else data.label
    groups = torch.where(task_of_item >= 0, groups, torch.full_like(groups, -1))
    split_seed = seed if rules.split_seed is None else rules.split_seed
    if rules.split_counts == "cglb":
        return cglb_split(groups, rules.split, split_seed)
    return random_split(groups, rules.split, split_seed)


def cglb_split(
    group_of_item: torch.Tensor, ratios: tuple[float, float, float], seed: int
) -> torch.Tensor:
    """CGLB's split (NCGL/Backbones/utils.py `train_valid_test_split`): per group in id
    order, two sklearn `train_test_split` calls drawing from numpy's global generator,
    seeded once with `seed`. Each call permutes its items and takes the first ceil(share x n)
    of the permutation as its held-out part: first val+test out of the group (train keeps
    floor(0.6 n) at 60/20/20), then test out of val+test (ceil(ceil(0.4 n) / 2)); val is the
    rest. Written out here, as numpy's RandomState draws it, so that the same seed gives
    CGLB's very nodes without sklearn; the float products are CGLB's, so the ceilings agree."""
    rng = np.random.RandomState(seed)
    held_out_share = ratios[1] + ratios[2]
    split = torch.full_like(group_of_item, -1)
    for group in torch.unique(group_of_item[group_of_item >= 0]).tolist():
        items = torch.nonzero(group_of_item == group).view(-1).numpy()
        n_held = math.ceil(held_out_share * len(items))
        order = rng.permutation(len(items))
        split[torch.from_numpy(items[order[n_held:]])] = SPLIT_TRAIN
        held = items[order[:n_held]]
        n_test = math.ceil(ratios[2] / held_out_share * len(held))
        order = rng.permutation(len(held))
        split[torch.from_numpy(held[order[:n_test]])] = SPLIT_TEST
        split[torch.from_numpy(held[order[n_test:]])] = SPLIT_VAL
    return split


def random_split(
    group_of_item: torch.Tensor, ratios: tuple[float, float, float], seed: int
) -> torch.Tensor:
    """Split every group's items (a task or a class; -1: none) into train/val/test at
    `ratios`, independently per group, from a generator of its own seeded with `seed`."""
    gen = torch.Generator().manual_seed(seed)
    split = torch.full_like(group_of_item, -1)
    for group in torch.unique(group_of_item[group_of_item >= 0]).tolist():
        items = torch.nonzero(group_of_item == group).view(-1)
        items = items[torch.randperm(items.numel(), generator=gen)]
        n_train = round(ratios[0] * items.numel())
        n_val = round(ratios[1] * items.numel())
        split[items[:n_train]] = SPLIT_TRAIN
        split[items[n_train : n_train + n_val]] = SPLIT_VAL
        split[items[n_train + n_val :]] = SPLIT_TEST
    return split


def default_plan(
    data: ContinualData,
    incr_type: str,
    num_tasks: int,
    seed: int = 0,
    split_ratio: Sequence[float] = (0.6, 0.2, 0.2),
) -> TaskPlan:
    """The plan of a scenario built without one (library use, unit tests): classes and
    domains in the dataset's order, the split the data ship with, else a seeded random one
    within each task. It draws nothing from the global generator."""
    rules = ProtocolRules(
        name="default", split=PUBLIC if data.split is not None else tuple(split_ratio)
    )
    return plan_tasks(data, incr_type, num_tasks, rules, seed)
