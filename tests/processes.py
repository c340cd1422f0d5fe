"""Real command-line runs that the tests stop from outside: start, wait for a task, signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from runs import REPO


def start_cli(*args: str, cwd: Path) -> subprocess.Popen:
    """`python src/main.py ARGS` in the background, one torch thread, W&B offline."""
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, str(REPO / "src" / "main.py"), *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def tasks_done(job_dir: Path) -> int:
    """Finished tasks according to the job's checkpoint (0 without one)."""
    path = job_dir / "checkpoint.pt"
    if not path.exists():
        return 0
    return int(torch.load(path, weights_only=True)["trainer"]["tasks_done"])


def signal_after_task(
    proc: subprocess.Popen, job_dir: Path, task: int, signum: int, timeout: float = 300
) -> int:
    """Send `signum` once the job's checkpoint says `task` tasks finished; returns how many
    had finished when it was sent."""
    deadline = time.monotonic() + timeout
    done, seen = 0, None
    while done < task:
        stamp = _modified(job_dir / "checkpoint.pt")
        if stamp != seen:  # read the checkpoint only when it was replaced
            done, seen = tasks_done(job_dir), stamp
            continue
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the run ended before task {task}: {err[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no checkpoint of task {task} within {timeout} s")
        time.sleep(0.05)
    os.kill(proc.pid, signum)
    return done


def _modified(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    """Wait for the process: (exit status, stdout, stderr)."""
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


__all__ = ["finish", "signal", "signal_after_task", "start_cli", "tasks_done"]
