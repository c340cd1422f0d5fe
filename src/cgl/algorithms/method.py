"""What a method is: one mixin over the level trainers, and what it declares about itself.

A method module (`cgl.algorithms.<name>`) builds one `Method` and calls `export`, which
generates BeGin's class names for every level x scenario (x minibatch) the method supports
(`NCClassILEWCTrainer`, `LPTimeILLwFTrainer`, `NCTaskILMASMinibatchTrainer`, ...) and puts them
in the module's namespace, so `from cgl.algorithms.ewc import NCClassILEWCTrainer` works like
BeGin's imports. The classes differ only in their bases, so they are built, not written out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cgl.scenarios.common import SUPPORTED

#: level -> its trainer classes' name prefix; scenario -> BeGin's infix
LEVEL_PREFIX = {"nc": "NC", "lc": "LC", "lp": "LP", "gc": "GC"}
SCENARIO_INFIX = {
    "taskil": "TaskIL",
    "classil": "ClassIL",
    "domainil": "DomainIL",
    "timeil": "TimeIL",
}

#: (level, scenario, minibatch) -> trainer class
TrainerTable = dict[tuple[str, str, bool], type]


def _every_pair() -> dict[str, tuple[str, ...]]:
    return {level: tuple(scenarios) for level, scenarios in SUPPORTED.items()}


@dataclass(frozen=True)
class Method:
    """A continual-learning method as the registry sees it.

    `mixin` goes before the level trainer in the bases (None: the level trainer itself, as
    for bare); `title` is the method's part of BeGin's class names; `supports` the level ->
    scenarios it runs on; `minibatch` whether node level also runs with `trainer=minibatch`;
    `check` refuses bad settings of its own (the method's `kwargs`, as the config gives them)
    with a ConfigError before anything runs. Each generated class records the scenario it was
    made for (`declared_scenario`): a Task-IL trainer refuses batches without task masks.
    """

    name: str
    title: str
    mixin: type | None
    supports: Mapping[str, tuple[str, ...]] = field(default_factory=_every_pair)
    minibatch: bool = True
    check: Callable[[Mapping[str, Any]], None] | None = None

    def trainers(self, module: str) -> TrainerTable:
        """BeGin-named trainer classes for every supported pair, defined in `module`."""
        from cgl.trainers import LEVEL_TRAINERS

        table: TrainerTable = {}
        for (level, minibatch), base in LEVEL_TRAINERS.items():
            if minibatch and not self.minibatch:
                continue
            for scenario in self.supports.get(level, ()):
                name = (
                    f"{LEVEL_PREFIX[level]}{SCENARIO_INFIX[scenario]}{self.title}"
                    f"{'Minibatch' if minibatch else ''}Trainer"
                )
                bases = (base,) if self.mixin is None else (self.mixin, base)
                doc = f"{self.title or 'Bare'} for {level} {scenario} ({base.__name__})."
                table[(level, scenario, minibatch)] = type(
                    name,
                    bases,
                    {"__module__": module, "__doc__": doc, "declared_scenario": scenario},
                )
        return table


def export(method: Method, namespace: dict[str, Any]) -> list[str]:
    """Put `method`'s generated trainers (and `METHOD`, `TRAINERS`) into a method module's
    namespace; returns the names for its `__all__`."""
    trainers = method.trainers(namespace["__name__"])
    namespace["METHOD"] = method
    namespace["TRAINERS"] = trainers
    namespace.update({cls.__name__: cls for cls in trainers.values()})
    return ["METHOD", "TRAINERS", *sorted(cls.__name__ for cls in trainers.values())]
