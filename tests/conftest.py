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
#: Names the folder of raw real-dataset files some tests need (tests/real_files.py).
TEST_DATA_ENV = "CGL_TEST_DATA"
DEFAULT_TEST_DATA = REPO.parent / "shared" / "datasets"
#: Overrides that keep an end-to-end run to a few seconds on 2 CPU cores.
FAST = ["logger=none", "progress=false", "epochs=5"]


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The folder of raw real-dataset files: where $CGL_TEST_DATA says, else
    ../shared/datasets beside the repo. A fresh clone has no such folder: the tests that need
    it are skipped, saying so. When CGL_TEST_DATA is set (as .ci/run does), a missing folder
    fails them instead, so that CI never skips them silently."""
    given = os.environ.get(TEST_DATA_ENV)
    root = Path(given) if given else DEFAULT_TEST_DATA
    if not (root / "MD5SUMS").is_file():
        reason = (
            f"needs the raw dataset files: set {TEST_DATA_ENV} to their folder "
            f"(looked in {root}{'' if given else f', the default when {TEST_DATA_ENV} is unset'})"
        )
        (pytest.fail if given else pytest.skip)(reason)
    return root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the raw dataset files (`-m shared_datasets` selects them)."""
    for item in items:
        if "shared_datasets" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_datasets)


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
    """Say how the tests that need the raw dataset files went (CI's log shows that they ran),
    and print the figures tests recorded with `record_property("figure", ...)` (also under
    pytest-xdist, whose workers send user properties back with their reports)."""
    outcomes = {
        outcome: sum(
            1
            for report in terminalreporter.stats.get(outcome, [])
            if report.when in ("setup", "call") and "shared_datasets" in report.keywords
        )
        for outcome in ("passed", "failed", "error", "skipped")
    }
    if any(outcomes.values()):
        where = os.environ.get(TEST_DATA_ENV) or f"{DEFAULT_TEST_DATA} (default)"
        counts = ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items() if n)
        terminalreporter.section("raw dataset files")
        terminalreporter.line(f"{TEST_DATA_ENV}={where}: tests that use them: {counts}")
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
