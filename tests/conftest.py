"""Shared fixtures and hooks: the raw dataset files, offline W&B, one torch thread per worker,
the summary of figures. The helpers the tests import live in runs.py and helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests run in two pytest-xdist workers on two cores: one torch thread each, or the workers'
# thread pools fight over the cores and tiny models run many times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch
from runs import DEFAULT_TEST_DATA, TEST_DATA_ENV

torch.set_num_threads(1)


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
