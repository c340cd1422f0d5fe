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
        """Final metrics, the accuracy matrix as a table and as a heatmap, then close the run:
        as finished when `status` is completed, else as failed. The matrix may be partial
        (N' < N rows of N + 1 columns) or hold NaN."""
        try:
            self.run.summary.update({k: v for k, v in _plain(summary).items() if v is not None})
            self.run.summary["status"] = status
            if test_matrix is not None and test_matrix.size:
                n = test_matrix.shape[1] - 1  # tasks; the last column is all tasks seen
                columns = [f"task_{j}" for j in range(n)] + ["seen"]
                table = self._wandb.Table(
                    columns=["after_task", *columns],
                    data=[[i, *map(float, r)] for i, r in enumerate(test_matrix)],
                )
                self.run.log(
                    {"matrix/test": table, "matrix/test_heatmap": self._heatmap(test_matrix)}
                )
        finally:
            self.run.finish(exit_code=0 if status == "completed" else 1)

    def _heatmap(self, matrix: np.ndarray):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 3.5))
        image = ax.imshow(matrix[:, : matrix.shape[0]], vmin=0, vmax=1, cmap="viridis")
        ax.set_xlabel("evaluated task")
        ax.set_ylabel("after training task")
        fig.colorbar(image, ax=ax)
        picture = self._wandb.Image(fig)
        plt.close(fig)
        return picture
