"""Hydra's basic sweeper without the jobs that would repeat a configuration of the sweep.

`-m method=bare,mas,ewc lamb=1,10` is six jobs to Hydra, but bare (like joint) has no strength:
its two jobs would train the same thing twice and count twice in the reports. Here a job of a
method without a strength drops its `lamb` override, and a job whose overrides then equal an
earlier job's is left out. Everything else is Hydra's BasicSweeper: the sweeper itself,
`hydra_plugins.cgl_sweeper.DistinctJobsSweeper`, subclasses it (Hydra loads plugins only from
its `hydra_plugins` namespace) and changes the job list only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig

#: the root key that sets a method's strength
STRENGTH_KEY = "lamb"


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def distinct_jobs(
    batches: Sequence[Sequence[Sequence[str]]], loader: Any, config: DictConfig
) -> list[list[list[str]]]:
    """The jobs of `batches` (Hydra's batches of override lists) without repeats, in order."""
    seen: set[tuple[str, ...]] = set()
    out: list[list[list[str]]] = []
    for batch in batches:
        kept = []
        for overrides in batch:
            overrides = list(overrides)
            if any(_key(o) == STRENGTH_KEY for o in overrides):
                job = loader.load_sweep_config(config, overrides)
                if job.method.get("strength") is None:
                    overrides = [o for o in overrides if _key(o) != STRENGTH_KEY]
            key = tuple(overrides)
            if key not in seen:
                seen.add(key)
                kept.append(overrides)
        if kept:
            out.append(kept)
    return out
