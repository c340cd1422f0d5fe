"""Sweep directories -> one tidy DataFrame, one row per run (SPEC §8).

Every Hydra job directory below the given roots becomes a row, whatever happened to it: the
status in its results.json (completed, diverged, failed), `missing` for a job directory
without results.json (refused, killed or still running), `unreadable` for a broken file.
Nothing is dropped; the boolean column `ok` says which runs enter the statistics.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

CHOICES = ("dataset", "level", "scenario", "method", "model", "trainer", "protocol")
SUMMARY = ("AP", "AF", "FWT", "val_AP")
# Override keys that change where or how a run is shown, not what it computes.
NOT_HYPERPARAMETERS = ("seed", "progress", "device", "data_dir", "logger", "hydra")


class NoResultsError(ValueError):
    """A directory given to the reports does not exist or holds no results.json."""


@dataclass(frozen=True)
class Sweep:
    """The runs, and which columns make a configuration (everything but the seed)."""

    runs: pd.DataFrame
    key: list[str]  # choices + hyperparameters + swept override keys
    swept: list[str]  # hyperparameters that take more than one value across the runs


def find_jobs(roots: Iterable[str | Path]) -> list[Path]:
    """Every Hydra job directory (has results.json or .hydra/) below each root, sorted.

    Raises NoResultsError naming the first root that does not exist or has no results.json.
    """
    jobs: list[Path] = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise NoResultsError(f"{root}: no such directory")
        found, any_results = [], False
        for dirpath, dirnames, filenames in os.walk(root):
            has_results = "results.json" in filenames
            if has_results or ".hydra" in dirnames:
                found.append(Path(dirpath))
            any_results |= has_results
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "wandb")
        if not any_results:
            raise NoResultsError(
                f"{root}: no results.json below it (expected Hydra job directories such as "
                "multirun/DATE/TIME/N/results.json)"
            )
        jobs += found
    return sorted(set(jobs))


def load_sweep(roots: Iterable[str | Path]) -> Sweep:
    """Read every run below `roots` into a Sweep; see the module docstring for statuses."""
    payloads = [_read_job(job) for job in find_jobs(roots)]
    named = (k for p in payloads for k in p.get("hyperparameters", {}))
    hyper = [k for k in dict.fromkeys(named) if k != "seed"]
    extra = [k for k in _override_keys(payloads) if k not in hyper]
    runs = pd.DataFrame([_record(p, hyper, extra) for p in payloads])
    varying = runs[hyper + extra].nunique(dropna=False) > 1
    swept = sorted(varying[varying].index)
    runs = runs.drop(columns=[k for k in extra if k not in swept])
    runs.insert(0, "config", _labels(runs, swept))
    return Sweep(runs=runs, key=[*CHOICES, *hyper, *(k for k in extra if k in swept)], swept=swept)


def _read_job(job: Path) -> dict[str, Any]:
    """The run's results.json, or what Hydra saved about it when that file is absent or broken."""
    path = job / "results.json"
    if not path.is_file():
        return _hydra_payload(job) | {
            "status": "missing",
            "message": "no results.json: the job was refused, killed or is still running",
        }
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle) | {"run": str(job)}
    except (OSError, ValueError) as err:
        return _hydra_payload(job) | {"status": "unreadable", "message": f"{path}: {err}"}


def _hydra_payload(job: Path) -> dict[str, Any]:
    """Choices, hyperparameters and overrides from the job's .hydra/ files (unresolved)."""
    payload: dict[str, Any] = {"run": str(job)}
    hydra = job / ".hydra"
    if (hydra / "config.yaml").is_file():
        config = yaml.load((hydra / "config.yaml").read_text(), Loader=yaml.CSafeLoader)
        minibatch = (config.get("trainer") or {}).get("minibatch")
        payload["config"] = config
        payload["choices"] = {g: (config.get(g) or {}).get("name") for g in CHOICES} | {
            "trainer": "minibatch" if minibatch else "fullbatch"
        }
        payload["seed"] = config.get("seed")
    if (hydra / "overrides.yaml").is_file():
        payload["overrides"] = yaml.load((hydra / "overrides.yaml").read_text(), yaml.CSafeLoader)
    return payload


def _overrides(payload: dict[str, Any]) -> dict[str, str]:
    """`["lamb=10", "+x.y=3"]` -> {"lamb": "10", "x.y": "3"} (Hydra's +, ++ and ~ dropped)."""
    pairs = (item.split("=", 1) for item in payload.get("overrides") or [] if "=" in item)
    return {key.lstrip("+~"): value for key, value in pairs}


def _override_keys(payloads: list[dict[str, Any]]) -> list[str]:
    """Override keys that may be hyperparameters: not a group choice, not the seed, not I/O."""
    keys = dict.fromkeys(k for p in payloads for k in _overrides(p))
    return [k for k in keys if k not in CHOICES and k.split(".")[0] not in NOT_HYPERPARAMETERS]


def _resolved(config: dict[str, Any], dotted: str, overrides: dict[str, str]) -> Any:
    """config["a"]["b"] for "a.b" (the value the run used); the override's text if absent."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return overrides.get(dotted)
        node = node[part]
    return node


def _hashable(value: Any) -> Any:
    """Lists and dicts as JSON text, so that values can be grouped and compared."""
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _timings(timings: dict[str, Any]) -> dict[str, float]:
    """{"total": 9.1, "per_task": [2, 3]} -> {"time_total": 9.1, "time_per_task_mean": 2.5}."""
    scalars = {f"time_{k}": _number(v) for k, v in timings.items() if not isinstance(v, list)}
    lists = {f"time_{k}_mean": float(np.mean(v)) for k, v in timings.items() if isinstance(v, list)}
    return scalars | lists


def _record(payload: dict[str, Any], hyper: list[str], extra: list[str]) -> dict[str, Any]:
    """One run as a flat row: identity, hyperparameters, outcome, timings, the test matrix.

    A hyperparameter comes from results.json's `hyperparameters`, else from the config (a run
    without results.json); a swept override key from the resolved config, else its text.
    """
    choices = payload.get("choices") or {}
    hyperparameters = payload.get("hyperparameters") or {}
    config = payload.get("config") or {}
    overrides = _overrides(payload)
    status = payload.get("status", "unknown")
    summary = payload.get("summary") or {}
    test = (payload.get("matrices") or {}).get("test")
    return (
        {"run": payload["run"], "status": status, "ok": status == "completed"}
        | {"message": payload.get("message")}
        | {group: choices.get(group) for group in CHOICES}
        | {key: _hashable(hyperparameters.get(key, config.get(key))) for key in hyper}
        | {key: _hashable(_resolved(config, key, overrides)) for key in extra}
        | {"seed": payload.get("seed"), "metric": payload.get("metric")}
        | {key: _number(summary.get(key)) for key in SUMMARY}
        | _timings(payload.get("timings") or {})
        | {"test_matrix": None if test is None else np.array(test, dtype=float)}
    )


def format_value(value: Any) -> str:
    """Short, exact text for a label: 10.0 -> "10", 0.001 -> "0.001"."""
    if isinstance(value, float) and float(f"{value:g}") == value:
        return f"{value:g}"
    return str(value)


def _labels(runs: pd.DataFrame, swept: list[str]) -> pd.Series:
    """The configuration's name: its choices and its swept values, e.g.
    `synthetic/nc/classil/mas/gcn/fullbatch/begin lamb=10`. Unique per configuration, because every
    key column that is not swept has one value across all runs."""
    label = runs[CHOICES[0]].fillna("?").astype(str)
    for group in CHOICES[1:]:
        label = label + "/" + runs[group].fillna("?").astype(str)
    for key in swept:
        label = label + f" {key}=" + runs[key].map(format_value)
    return label
