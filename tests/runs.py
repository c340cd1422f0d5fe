"""The repo's paths, the in-process config composer and a runner of the command line, shared
by the tests (conftest.py keeps only fixtures and hooks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from omegaconf import DictConfig

from cgl.config.compose import compose_config

REPO = Path(__file__).resolve().parents[1]
#: Names the folder of raw real-dataset files some tests need (tests/real_files.py).
TEST_DATA_ENV = "CGL_TEST_DATA"
DEFAULT_TEST_DATA = REPO.parent / "shared" / "datasets"
#: Overrides that keep an end-to-end run to a few seconds on 2 CPU cores.
FAST = ["logger=none", "progress=false", "epochs=5"]


def make_cfg(*overrides: str) -> DictConfig:
    """Compose the repo's conf/ exactly as the CLI would, without starting a Hydra job."""
    return compose_config(*overrides, conf_dir=REPO / "conf")


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
