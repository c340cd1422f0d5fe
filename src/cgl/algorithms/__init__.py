"""Continual-learning methods.

Each module exposes TRAINERS: (level, scenario, minibatch) -> trainer class.
"""

from __future__ import annotations

import importlib

from cgl.errors import ConfigError


def trainer_class(method: str, level: str, scenario: str, minibatch: bool) -> type:
    """The trainer class of `method` for this level x scenario (and batching)."""
    trainers = importlib.import_module(f"cgl.algorithms.{method}").TRAINERS
    try:
        return trainers[(level, scenario, minibatch)]
    except KeyError:
        have = ", ".join(
            f"{lvl}/{sc}{' (minibatch)' if mb else ''}" for lvl, sc, mb in sorted(trainers)
        )
        raise ConfigError(
            f"method={method} has no trainer for level={level} scenario={scenario}"
            f"{' with trainer=minibatch' if minibatch else ''}. It has: {have}."
        ) from None
