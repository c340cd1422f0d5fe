"""Where a run's results go: results.json (always, atomically) and Weights & Biases (optional)."""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from cgl.output.display import shown_matrix

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """JSON-safe copy: arrays to lists, NaN/inf to None (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_json_atomic(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write JSON through a temp file in the same directory and rename it into place, so a
    reader never sees half a file and a crash never leaves one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(_plain(payload), handle, indent=2, allow_nan=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the job directory is the group's
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


#: Override keys that say where or how a run is shown, not what it computes: left out of
#: the W&B run name (the group choices in the name are given there once).
NOT_IN_RUN_NAME = ("hydra", "logger", "progress", "data_dir", "device")
NAMED_CHOICES = ("level", "scenario", "method", "dataset")


def run_name(config: dict, overrides: list[str]) -> str:
    """`lc-timeil-mas-synthetic-lamb=10-seed=0`: the level, scenario, method and dataset, then
    this job's other command-line overrides (in a sweep, the swept values), so that runs of
    one sweep are told apart by name in W&B."""
    choices = [str((config.get(group) or {}).get("name", "?")) for group in NAMED_CHOICES]
    extra = []
    for item in (override.lstrip("+~") for override in overrides):  # Hydra's +key, ~key
        key = item.split("=")[0]
        if key not in NAMED_CHOICES and key.split(".")[0] not in NOT_IN_RUN_NAME:
            extra.append(item)
    return "-".join([*choices, *extra])


class WandbLogger:
    """Trainer callback that logs per-epoch stats, per-task rows and the final matrices."""

    def __init__(
        self,
        config: dict,
        run_dir: Path,
        project: str,
        mode: str,
        group: str | None,
        tags: list[str],
        entity: str | None = None,
        name: str | None = None,
    ) -> None:
        import wandb

        self._wandb = wandb
        self.scenario = str((config.get("scenario") or {}).get("name", ""))
        self.metric = _metric_of(config)
        self.run = wandb.init(
            project=project,
            entity=entity,
            mode=mode,
            group=group,
            tags=tags,
            name=name,
            config=config,
            dir=str(run_dir),
            reinit="finish_previous",
            # W&B's start lines say where the run is saved; its end-of-run history and summary
            # would bury cgl's own summary
            settings=wandb.Settings(quiet=True),
        )
        self._step = 0

    def on_epoch_end(
        self, task_id: int, epoch: int, train_stats: dict, val_stats: dict, val_metric: float
    ) -> None:
        row = {f"train/{k}": v for k, v in train_stats.items()}
        row.update({f"val/{k}": v for k, v in val_stats.items()})
        row.update({"val/metric": val_metric, "task": task_id, "epoch": epoch})
        self.run.log(row, step=self._step)
        self._step += 1

    def on_task_end(self, task_id: int, rows: dict[str, np.ndarray]) -> None:
        row = {"task": task_id}
        for split, values in rows.items():
            row[f"{split}/seen_tasks"] = float(values[-1])
            row.update({f"{split}/task_{j}": float(v) for j, v in enumerate(values[:-1])})
        self.run.log(row, step=self._step)
        self._step += 1

    def finish(
        self, summary: dict[str, float], test_matrix: np.ndarray | None, status: str
    ) -> None:
        """Final metrics, the test matrix as a table and as a heatmap, then close the run;
        a run whose status is not `completed` closes with exit code 1, so W&B marks it
        failed. The matrix may have any number of finished rows (0 to N, NaN allowed)."""
        try:
            self.run.summary.update({k: v for k, v in _plain(summary).items() if v is not None})
            self.run.summary["status"] = status
            matrix = None if test_matrix is None else np.asarray(test_matrix, dtype=float)
            if matrix is not None and matrix.ndim == 2 and matrix.shape[0] > 0:
                self.run.log(
                    {
                        "matrix/test": self._table(matrix),
                        "matrix/test_heatmap": self._heatmap(matrix, status),
                    }
                )
        finally:
            self.run.finish(exit_code=0 if status == "completed" else 1)

    def _table(self, matrix: np.ndarray):
        n = matrix.shape[1] - 1
        columns = ["after_task", *(f"task_{j}" for j in range(n)), "seen"]
        rows = [[i, *_plain([float(v) for v in row])] for i, row in enumerate(matrix)]
        return self._wandb.Table(columns=columns, data=rows)

    def _heatmap(self, matrix: np.ndarray, status: str):
        from cgl.evaluation.metrics import forgetting_matrix
        from cgl.output.heatmap import MatrixHeatmap

        n = matrix.shape[1] - 1
        shown = shown_matrix(matrix, self.scenario)
        done = f"{min(matrix.shape[0], n)} of {n} tasks"
        title = f"{self.run.name}\n{status}, {done}"
        pixels = MatrixHeatmap(n).render(title, self.metric, shown, forgetting_matrix(shown))
        return self._wandb.Image(np.ascontiguousarray(pixels[..., :3]))


def _metric_of(config: dict) -> str:
    """The run's metric name as the dataset declares it for its level and scenario."""
    level = (config.get("level") or {}).get("name")
    scenario = (config.get("scenario") or {}).get("name")
    settings = (config.get("dataset") or {}).get("settings") or {}
    return str(((settings.get(level) or {}).get(scenario) or {}).get("metric", "metric"))
