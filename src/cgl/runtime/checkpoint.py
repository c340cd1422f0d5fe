"""Task-level checkpoints: two generations per job directory, replaced atomically after every
task. The newest is `checkpoint.pt`; the one before stays (as `checkpoint.prev.pt`) until the
newest is whole on disk, so a newest file damaged after all costs one task, not the run.

The trainer loop is the only writer (`BaseTrainer.run`); `cgl.runtime.resume` is the only reader
that decides what a rerun does with it. The file holds tensors, numbers, strings and plain
containers only, so it is read with `torch.load(weights_only=True)` and never unpickled.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "cgl-checkpoint/1"
FILE_MODE = 0o644  # readable by the group, like the rest of the job directory


def save_atomic(path: Path, payload: dict[str, Any], previous: Path | None = None) -> Path:
    """torch.save through a temp file in the same directory, then rename it into place: a
    reader, or a rerun after SIGKILL, sees the previous checkpoint or the new one, whole.
    With `previous`, the file at `path` is kept there (once the new one is on disk)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        if previous is not None and path.exists():
            _keep_as(path, previous)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _keep_as(path: Path, previous: Path) -> None:
    """Make `previous` the file now at `path`: a hard link, so that `path` never goes missing
    for a reader; a rename on file systems without hard links."""
    previous.unlink(missing_ok=True)
    try:
        os.link(path, previous)
    except OSError:
        os.replace(path, previous)


def load(path: Path) -> dict[str, Any]:
    """A checkpoint's content, tensors on the CPU (weights only: nothing is unpickled)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def capture_rng() -> dict[str, Any]:
    """Every global generator a run draws from, as tensors and numbers. DGL's sampler keeps
    its state in C and cannot be captured: the trainer re-seeds it at every task instead."""
    _, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "python": {"version": py_version, "state": torch.tensor(py_state), "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back what `capture_rng` took."""
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy["keys"].numpy().astype(np.uint32),
            numpy["pos"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_data(key: str, value: Any) -> Any:
    """A trainer's training-state entry as checkpoint data: its `state_dict()` when it has one
    (MAS's regularizer), else the value itself if it is tensors and plain data."""
    if hasattr(value, "state_dict"):
        return value.state_dict()
    if _plain(value):
        return value
    raise TypeError(
        f"training state '{key}' ({type(value).__name__}) cannot be checkpointed: give it "
        "state_dict() and load_state_dict(), or keep tensors and plain data in it"
    )


def to_device(value: Any, device: torch.device) -> Any:
    """Every tensor in nested dicts and lists moved to `device` (checkpoints load on the CPU)."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {key: to_device(item, device) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_device(item, device) for item in value)
    return value


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, torch.Tensor | str | int | float | bool)


def task_seed(seed: int, task_id: int) -> int:
    """A well-mixed seed for one task of a run (for generators whose state cannot be saved),
    below 2^31 (DGL takes a C int)."""
    return int(np.random.SeedSequence([seed, task_id]).generate_state(1)[0]) % 2**31


@dataclass
class TaskCheckpoint:
    """What a trainer needs to checkpoint a job: where, for which config
    (`cgl.runtime.resume.identity`), in which attempt (1 for a fresh start, +1 for each
    resume), the trainer state to resume from (None: start at the first task) and the seconds
    earlier attempts took."""

    path: Path
    previous: Path
    config_json: str
    attempt: int = 1
    trainer_state: dict[str, Any] | None = None
    seconds_before: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def after(
        cls, saved: dict[str, Any] | None, path: Path, previous: Path, config_json: str
    ) -> TaskCheckpoint:
        """The checkpoint of the attempt that follows `saved` (a file `save` wrote, as loaded),
        or of a fresh start when there is none; `previous` keeps the generation before."""
        if saved is None:
            return cls(path, previous, config_json)
        return cls(
            path,
            previous,
            config_json,
            attempt=saved["attempt"] + 1,
            trainer_state=saved["trainer"],
            seconds_before=saved["seconds"],
        )

    def seconds(self) -> float:
        """Wall time of the run so far, over all its attempts."""
        return self.seconds_before + time.perf_counter() - self.started

    def save(self, trainer_state: dict[str, Any]) -> None:
        save_atomic(
            self.path,
            {
                "format": FORMAT,
                "config": self.config_json,
                "attempt": self.attempt,
                "seconds": self.seconds(),
                "trainer": trainer_state,
            },
            previous=self.previous,
        )

    def discard(self) -> None:
        """A run that reached its final status needs no checkpoint (it is never resumed)."""
        self.path.unlink(missing_ok=True)
        self.previous.unlink(missing_ok=True)
