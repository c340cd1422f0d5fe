"""Sweep directories -> one tidy DataFrame, one row per run, read from Hydra's own files
(each job's results.json and .hydra/), never from directory names.

Every Hydra job directory below the given roots becomes a row, whatever happened to it: the
status in its results.json (completed, diverged, failed, interrupted), `missing` for a job
directory without results.json (killed or still running), `refused` for one whose saved
config could never have run (say `lamb: abc`, left by older versions), `unreadable` for a
broken or non-numeric results.json. Nothing is dropped and nothing crashes the reports.

Which runs make the numbers: per configuration and seed, the newest *finished* run
(completed, diverged or failed: an outcome of that configuration) is `final`; older finished
runs of the same configuration and seed are kept as duplicates, with a warning. A final run
that completed with a well-formed matrix is `ok` and enters the statistics; a final run that
diverged or failed counts against its configuration. Unfinished attempts (interrupted,
missing, refused, unreadable) are listed only: they neither enter nor block the numbers.

`stage` tells a hyperparameter search's trials (`search`, with their `trial` number) from
every other run (`evaluation`); where a method has both, only its evaluation runs count.
"""

from __future__ import annotations

import datetime
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
METHOD_ROW = CHOICES[:4]  # a method in a setting: a row of the paper table
SUMMARY = ("AP", "AF", "FWT", "val_AP")
# Override keys that change where or how a run is shown, not what it computes.
NOT_HYPERPARAMETERS = (
    "seed",
    "progress",
    "device",
    "data_dir",
    "logger",
    "hydra",
    "resume",
    "hparams_search",
    "lock",
)
#: Statuses of a run that ended: its outcome belongs to its configuration.
FINISHED = ("completed", "diverged", "failed")


class NoResultsError(ValueError):
    """A directory given to the reports does not exist or holds no results.json."""


@dataclass(frozen=True)
class Sweep:
    """The runs, and which columns make a configuration (everything but the seed)."""

    runs: pd.DataFrame
    key: list[str]  # choices + hyperparameters + swept override keys
    swept: list[str]  # hyperparameters that take more than one value across finished runs
    warnings: tuple[str, ...] = ()  # duplicates: which run counts, which do not


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
    """Read every run below `roots` into a Sweep; see the module docstring for statuses and
    for which runs count."""
    payloads = [_read_job(job) for job in find_jobs(roots)]
    finished = [p for p in payloads if p["status"] in FINISHED] or payloads
    named = (k for p in finished for k in p.get("hyperparameters") or {})
    hyper = [k for k in dict.fromkeys(named) if k != "seed"]
    extra = [k for k in _override_keys(finished) if k not in hyper]
    runs = pd.DataFrame([_record(p, hyper, extra) for p in payloads])
    runs["trial"] = runs["trial"].astype("Int64")  # a number, or empty where not a trial
    in_finished = runs["status"].isin(FINISHED)
    varying = runs.loc[in_finished if in_finished.any() else runs.index, hyper + extra].nunique(
        dropna=False
    )
    swept = sorted(varying[varying > 1].index)
    runs = runs.drop(columns=[k for k in extra if k not in swept])
    runs.insert(0, "config", _labels(runs, swept))
    runs, warnings = _newest_per_seed(_set_search_apart(runs))
    key = [*CHOICES, *hyper, *(k for k in extra if k in swept)]
    return Sweep(runs=runs, key=key, swept=swept, warnings=tuple(warnings))


def _set_search_apart(runs: pd.DataFrame) -> pd.DataFrame:
    """A hyperparameter search's trials (`stage` search) of a method whose evaluation runs
    (any other run: a seed sweep, a grid) are here too are listed, not counted: they chose
    the configuration on their seed, so their numbers would favour it (docs/hparams.md). A
    search alone counts like any sweep. Marked `final` False here."""
    finished = runs["status"].isin(FINISHED)
    evaluated = runs.loc[finished & (runs["stage"] == "evaluation"), list(METHOD_ROW)]
    keys = runs[list(METHOD_ROW)].apply(tuple, axis=1)
    apart = (runs["stage"] == "search") & keys.isin(set(evaluated.apply(tuple, axis=1)))
    runs = runs.assign(final=finished & ~apart)
    runs.loc[apart, "ok"] = False
    runs.loc[apart, "note"] = "search trial: the method's evaluation runs make the numbers"
    return runs


def _newest_per_seed(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Mark the newest final run of each configuration and seed `final` (only a final run
    may be `ok`), the others as duplicates of it; one warning per duplicated pair."""
    warnings = []
    order = runs[runs["final"]].sort_values(["finished_at", "run"])
    for (config, seed), group in order.groupby(["config", "seed"], dropna=False, sort=True):
        if len(group) == 1:
            continue
        newest, older = group.index[-1], group.index[:-1]
        runs.loc[older, ["final", "ok"]] = False
        runs.loc[older, "note"] = f"older duplicate of {runs.at[newest, 'run']}"
        warnings.append(
            f"{len(group)} finished runs of {config} seed {seed}: counting the newest, "
            f"{runs.at[newest, 'run']}; not {', '.join(runs.loc[older, 'run'])}"
        )
    return runs, warnings


def _read_job(job: Path) -> dict[str, Any]:
    """The run's results.json, or what Hydra saved about it when that file is absent, broken
    or not what a cgl run writes."""
    path = job / "results.json"
    if not path.is_file():
        return _hydra_payload(job) | _missing_status(job)
    try:
        with path.open(encoding="utf-8") as handle:
            payload = json.load(handle)
        problem = _malformed(payload)
    except (OSError, ValueError) as err:
        problem = str(err)
    if problem:
        return _hydra_payload(job) | {"status": "unreadable", "message": f"{path}: {problem}"}
    mtime = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC)
    return {"finished_at": mtime.isoformat(timespec="seconds")} | payload | {"run": str(job)}


def _malformed(payload: Any) -> str | None:
    """What makes a parsed results.json unusable (not an object, non-numeric numbers), or None."""
    if not isinstance(payload, dict) or not isinstance(payload.get("status"), str):
        return "not a cgl results.json (no status)"
    try:
        for split in ("val", "test"):
            np.array((payload.get("matrices") or {}).get(split) or [], dtype=float)
        for key in SUMMARY:
            _number((payload.get("summary") or {}).get(key))
        _number(payload.get("seed"))
        _timings(payload.get("timings") or {})
    except (TypeError, ValueError) as err:
        return f"non-numeric content ({err})"
    return None


def _missing_status(job: Path) -> dict[str, str]:
    """`refused` when the saved config fails the typed schema (it could never have run),
    else `missing` (killed, still running, or refused for a value out of range)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import ValidationError

    from cgl.config.schema import Config

    config = job / ".hydra" / "config.yaml"
    try:
        OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(config))
    except ValidationError as err:
        return {"status": "refused", "message": f"refused: {str(err).splitlines()[0]}"}
    except Exception:  # an older or foreign config: the schema cannot judge it
        pass
    if (job / "checkpoint.pt").is_file():
        return {
            "status": "missing",
            "message": "no results.json but a checkpoint: killed or still running; the same "
            "command resumes it",
        }
    return {
        "status": "missing",
        "message": "no results.json: the job was killed, is still running, or was refused",
    }


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
    study = payload.get("study")  # a trial of a hyperparameter search (cgl.sweeps.study)
    summary = payload.get("summary") or {}
    test = (payload.get("matrices") or {}).get("test")
    matrix = None if test is None else np.array(test, dtype=float)
    shape_ok = _square_plus_one(matrix, payload.get("num_tasks"))
    note = None if shape_ok or status != "completed" else "test matrix is not N x (N+1)"
    return (
        {"run": payload["run"], "status": status, "ok": status == "completed" and shape_ok}
        | {"message": payload.get("message"), "note": note}
        | {"finished_at": payload.get("finished_at")}
        | {group: choices.get(group) for group in CHOICES}
        | {key: _hashable(hyperparameters.get(key, config.get(key))) for key in hyper}
        | {key: _hashable(_resolved(config, key, overrides)) for key in extra}
        | {"seed": payload.get("seed"), "metric": payload.get("metric")}
        | {"stage": "search" if study else "evaluation", "trial": (study or {}).get("trial")}
        | {key: _number(summary.get(key)) for key in SUMMARY}
        | _timings(payload.get("timings") or {})
        | {"test_matrix": matrix}
    )


def _square_plus_one(matrix: np.ndarray | None, num_tasks: Any) -> bool:
    """An N x (N+1) matrix for the run's N tasks: every task finished."""
    return (
        matrix is not None
        and matrix.ndim == 2
        and matrix.shape[0] >= 1
        and matrix.shape[1] == matrix.shape[0] + 1
        and num_tasks in (None, matrix.shape[0])
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
