"""Shared fixtures: the repo's paths, an in-process config composer and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Tests run in two pytest-xdist workers on two cores: one torch thread each, or the workers'
# thread pools fight over the cores and tiny models run many times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch
from hydra import compose, initialize_config_dir

torch.set_num_threads(1)

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
    import cgl  # noqa: F401  registers the typed schema that conf/config.yaml names

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


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the figures tests recorded with `record_property("figure", ...)` (also under
    pytest-xdist, whose workers send user properties back with their reports)."""
    figures = sorted(
        value
        for report in terminalreporter.stats.get("passed", [])
        for name, value in report.user_properties
        if name == "figure"
    )
    if figures:
        terminalreporter.section("figures")
        for line in figures:
            terminalreporter.line(line)
