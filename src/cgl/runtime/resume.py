"""The one reader that decides what a run does in its job directory: start, resume or skip.

Rerunning a command with the same `hydra.run.dir` (or `hydra.sweep.dir`) must not redo
finished work nor mix two experiments in one directory:

- results.json says `completed` or `diverged` for the same config: skip (the outcome would
  be the same; `diverged` is a result too, reproduced exactly by the same seed);
- a checkpoint for the same config (the run was interrupted, killed or failed): resume after
  its last finished task. The trainer keeps two generations (`cgl.runtime.checkpoint`): when the
  newest cannot be read, the run resumes from the one before (one task more to redo) and
  says so;
- results.json or checkpoint of another config: refused, nothing is overwritten;
- nothing of ours: a fresh start. `resume=false` always starts over and discards results.json
  and the checkpoints.

"Same config" ignores the keys that change how a run is shown, where its inputs are found or
how many threads compute it, not what it computes (IGNORED_KEYS).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cgl.config.errors import ConfigError

log = logging.getLogger(__name__)

RESULTS_NAME = "results.json"
CHECKPOINT_NAME = "checkpoint.pt"  # written by the trainer loop through cgl.runtime.checkpoint
PREVIOUS_NAME = "checkpoint.prev.pt"  # the generation before CHECKPOINT_NAME
FINAL_STATUSES = ("completed", "diverged")
IGNORED_KEYS = ("progress", "logger", "resume", "data_dir", "threads", "lock")


@dataclass(frozen=True)
class JobPlan:
    """What to do in a job directory. `checkpoint` is the loaded file when resuming,
    `results` the finished run's results.json when skipping; `damaged` says why the newest
    checkpoint could not be read when the one before was loaded instead."""

    action: str  # "fresh", "resume" or "skip"
    checkpoint: dict[str, Any] | None = None
    results: dict[str, Any] | None = None
    damaged: str | None = None

    @property
    def tasks_done(self) -> int:
        return int(self.checkpoint["trainer"]["tasks_done"]) if self.checkpoint else 0


def identity(config: dict[str, Any]) -> str:
    """The config as it decides the numbers: canonical JSON without IGNORED_KEYS."""
    kept = {key: value for key, value in config.items() if key not in IGNORED_KEYS}
    return json.dumps(kept, sort_keys=True)


def plan_job(job_dir: Path, config: dict[str, Any], resume: bool = True) -> JobPlan:
    """Read results.json and the checkpoint in `job_dir` and decide (see the module docstring).
    Raises ConfigError when they belong to another config or cannot be read."""
    results_path = job_dir / RESULTS_NAME
    generations = [job_dir / CHECKPOINT_NAME, job_dir / PREVIOUS_NAME]
    if not resume:
        for path in (results_path, *generations):
            if path.exists():
                log.info("resume=false: discarding %s", path)
                path.unlink()
        return JobPlan("fresh")
    wanted = identity(config)
    results = _read_results(results_path) if results_path.exists() else None
    if results is not None:
        _refuse_other_config(job_dir, json.loads(identity(results.get("config") or {})), config)
        if results.get("status") in FINAL_STATUSES:
            return JobPlan("skip", results=results)
    checkpoint, damaged = _newest_readable([path for path in generations if path.exists()])
    if checkpoint is None:
        return JobPlan("fresh")
    if checkpoint["config"] != wanted:
        _refuse_other_config(job_dir, json.loads(checkpoint["config"]), config)
    return JobPlan("resume", checkpoint=checkpoint, damaged=damaged)


def _newest_readable(paths: list[Path]) -> tuple[dict[str, Any] | None, str | None]:
    """The newest of the checkpoint generations that can be read, and why the newest could
    not be (None when it could). Refuses when none can be read."""
    problems = []
    for path in paths:
        try:
            content = _read_checkpoint(path)
        except _UnreadableError as err:
            problems.append(f"{path} {err}")
            continue
        return content, problems[0] if problems else None
    if problems:
        names = "them" if len(problems) > 1 else "it"
        raise ConfigError(
            f"{'; nor can the one before it: '.join(problems)}. Remove {names}, or pass "
            f"resume=false to start over in {paths[0].parent}."
        )
    return None, None


def check_job_dir(job_dir: Path, config: dict[str, Any], resume: bool = True) -> None:
    """`plan_job`'s refusals without acting on anything (the command line calls this for
    every job before Hydra writes into any job directory)."""
    names = (RESULTS_NAME, CHECKPOINT_NAME, PREVIOUS_NAME)
    if resume and any((job_dir / name).exists() for name in names):
        plan_job(job_dir, config, resume=True)


def _read_results(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"{path} cannot be read ({err}), so it is unknown what ran in {path.parent}. "
            f"Remove it, or pass resume=false to start over there."
        ) from None


class _UnreadableError(Exception):
    """A checkpoint file that is not a whole cgl checkpoint (the message says why)."""


def _read_checkpoint(path: Path) -> dict[str, Any]:
    from cgl.runtime import checkpoint  # imports torch: only when there is a checkpoint to read

    try:
        content = checkpoint.load(path)
    except Exception as err:  # a truncated or foreign file: torch raises several kinds
        raise _UnreadableError(
            f"cannot be read as a cgl checkpoint ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(content, dict) or content.get("format") != checkpoint.FORMAT:
        raise _UnreadableError(f"is not a {checkpoint.FORMAT} file")
    return content


def _refuse_other_config(job_dir: Path, there: dict[str, Any], config: dict[str, Any]) -> None:
    here = json.loads(identity(config))
    differences = _differences(there, here)
    if not differences:
        return
    shown = "; ".join(f"{key}: {a} there, {b} here" for key, a, b in differences[:6])
    more = f" and {len(differences) - 6} more" if len(differences) > 6 else ""
    raise ConfigError(
        f"{job_dir} holds a run of another configuration ({shown}{more}). Nothing was run, so "
        f"as not to mix two experiments in one directory. Give this run its own directory "
        f"(hydra.run.dir=..., or hydra.sweep.dir=... for a sweep), or pass resume=false to "
        f"discard the run in {job_dir} and start over."
    )


def _differences(there: Any, here: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, value there, value here) for every leaf that differs."""
    if isinstance(there, dict) and isinstance(here, dict):
        found = []
        for key in sorted(set(there) | set(here)):
            dotted = f"{prefix}.{key}" if prefix else str(key)
            found += _differences(there.get(key, "<absent>"), here.get(key, "<absent>"), dotted)
        return found
    return [] if there == here else [(prefix, there, here)]
