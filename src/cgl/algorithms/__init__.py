"""Continual-learning methods: one module (or package) and one `conf/method/<name>.yaml` each.

A method module builds a `cgl.algorithms.method.Method` and exports its generated trainers
(BeGin's class names) with `TRAINERS`: (level, scenario, minibatch) -> trainer class. Nothing
else names methods: the registry is the set of config files, validation and the help text
read it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from cgl.config.errors import ConfigError

if TYPE_CHECKING:
    from cgl.algorithms.method import Method


def get_method(name: str) -> Method:
    """The method declared by `cgl.algorithms.<name>`."""
    try:
        return importlib.import_module(f"cgl.algorithms.{name}").METHOD
    except ModuleNotFoundError as err:
        if err.name != f"cgl.algorithms.{name}":
            raise
        raise ConfigError(
            f"method={name} has no module cgl.algorithms.{name}: every conf/method/<name>.yaml "
            f"needs src/cgl/algorithms/<name>(.py)."
        ) from None


def trainer_class(name: str, level: str, scenario: str, minibatch: bool) -> type:
    """The trainer class of method `name` for this level x scenario (and batching)."""
    trainers = importlib.import_module(f"cgl.algorithms.{name}").TRAINERS
    try:
        return trainers[(level, scenario, minibatch)]
    except KeyError:
        have = ", ".join(
            f"{lvl}/{sc}{' (minibatch)' if mb else ''}" for lvl, sc, mb in sorted(trainers)
        )
        raise ConfigError(
            f"method={name} has no trainer for level={level} scenario={scenario}"
            f"{' with trainer=minibatch' if minibatch else ''}. It has: {have}."
        ) from None
