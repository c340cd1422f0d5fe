"""Shared fixtures: the repo's paths, an in-process config composer and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
#: Overrides that keep an end-to-end run to a few seconds on 2 CPU cores.
FAST = ["logger=none", "progress=false", "epochs=5"]


@pytest.fixture(autouse=True)
def _offline_wandb(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


def make_cfg(*overrides: str):
    """Compose conf/ exactly as the CLI would, without starting a Hydra job."""
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `python src/main.py ARGS` as a user would type it."""
    # One thread: tiny models gain nothing from two, and parallel jobs would fight over cores.
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, str(REPO / "src" / "main.py"), *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def results_under(root: Path) -> list[dict]:
    """Every results.json below `root`, parsed, in job order."""
    return [json.loads(p.read_text()) for p in sorted(root.rglob("results.json"))]
