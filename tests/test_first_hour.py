"""A researcher's first hour: the tests on a fresh clone, what a run prints, `level=X` alone,
`--help`, and the W&B run (its name, its heatmap, a run that did not finish)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from runs import REPO, TEST_DATA_ENV, make_cfg, results_under, run_cli
from wandb_offline import records as wandb_log

from cgl.output.sinks import WandbLogger, run_name
from cgl.output.summary import matrix_table, run_summary
from cgl.trainers.progress import TaskProgress, cuts_to_stop

#: Every level's synthetic data made small: a sweep over the four levels takes seconds.
SMALL_ALL_LEVELS = [
    "logger=none", "epochs=3",
    *(f"model.{level}.hidden=32" for level in ("nc", "lc", "lp", "gc")),
    "dataset.loader.nodes.num_nodes=400", "dataset.loader.links.num_nodes=300",
    "dataset.loader.links.num_edges=1500", "dataset.loader.graphs.num_graphs=200",
]  # fmt: skip


# ---- a fresh clone --------------------------------------------------------------------------
def test_fresh_clone_collects_everything_and_skips_only_for_the_raw_files(tmp_path):
    """The committed HEAD, cloned where no ../shared exists: collection is clean and the tests
    that need the raw dataset files skip with a reason naming CGL_TEST_DATA."""
    clone = tmp_path / "cgl"  # its parent, tmp_path, has no shared/datasets
    for git in (
        ["init", "-q", str(clone)],
        ["-C", str(clone), "fetch", "-q", "--depth=1", str(REPO), "HEAD"],
        ["-C", str(clone), "checkout", "-q", "FETCH_HEAD"],
    ):
        subprocess.run(["git", *git], check=True)
    env = {k: v for k, v in os.environ.items() if k != TEST_DATA_ENV and not k.startswith("PYTEST")}
    env |= {"PYTHONPATH": str(clone / "src"), "WANDB_MODE": "disabled"}

    # collects every test file (a collection error fails the session), runs those that need
    # the files
    needing = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-rs",
         "-m", "shared_datasets"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert needing.returncode == 0, needing.stdout[-3000:] + needing.stderr[-3000:]
    summary = needing.stdout.splitlines()[-1]
    assert re.fullmatch(r"=* ?\d+ skipped, \d+ deselected in .*", summary), summary
    skips = [line for line in needing.stdout.splitlines() if line.startswith("SKIPPED")]
    skipped = int(summary.split(" skipped")[0].split()[-1])
    assert skipped >= 16 and skips and all(TEST_DATA_ENV in line for line in skips)
    assert f"{TEST_DATA_ENV}=" in needing.stdout and f"{skipped} skipped" in needing.stdout


# ---- a run that reads well ------------------------------------------------------------------
def test_every_level_runs_from_level_alone_and_prints_one_line_per_task(tmp_path):
    proc = run_cli(*SMALL_ALL_LEVELS, f"hydra.sweep.dir={tmp_path}", "-m", "level=nc,lc,lp,gc")
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = {r["choices"]["level"]: r for r in results_under(tmp_path)}
    assert {level: r["choices"]["scenario"] for level, r in runs.items()} == {
        "nc": "classil", "lc": "classil", "lp": "domainil", "gc": "classil"
    }  # fmt: skip
    assert all(r["status"] == "completed" for r in runs.values())
    # off a terminal: no bar, no carriage returns, one line per task, then the summary
    assert "\r" not in proc.stderr and "\r" not in proc.stdout
    task_line = r"task (\d+)/(\d+): 3 epochs, val (\S+) [\d.]+ .* [\d.]+ s"
    task_lines = re.findall(task_line, proc.stdout)
    assert len(task_lines) == sum(r["num_tasks"] for r in runs.values())
    assert {metric for *_, metric in task_lines} == {"accuracy", "Hits@50"}
    assert proc.stdout.count("AP (accuracy) ") == 3 and proc.stdout.count("AP (Hits@50) ") == 1
    for job in range(4):
        assert f"results: {tmp_path / str(job) / 'results.json'}" in proc.stdout


def test_a_scenario_on_the_command_line_wins_over_the_level_default():
    assert make_cfg("level=lp").scenario.name == "domainil"
    assert make_cfg("level=lp", "scenario=timeil").scenario.name == "timeil"
    assert make_cfg("scenario=timeil", "level=lp").scenario.name == "timeil"
    assert make_cfg().scenario.name == "classil"


def test_the_bar_shows_epoch_loss_metric_and_lr_cuts_not_an_eta(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    progress = TaskProgress(1, 4, "rocauc", initial_lr=1e-3, lr_factor=0.1, min_lr_ratio=0.002)
    progress.bar.mininterval = 0  # draw every update
    for epoch, lr in enumerate([1e-3, 1e-3, 1e-4, 1e-5]):
        progress.update(epoch, train_loss=0.5, val_loss=1.0 - epoch / 10, val_metric=0.7, lr=lr)
    shown = terminal.getvalue()
    assert "task 2/4, epoch 4, loss 0.5000, val ROC-AUC 0.7000, lr cuts 2/3" in shown
    assert "1000" not in shown and "<" not in shown  # no count to a cap, no ETA
    progress.close()


def test_lr_cuts_that_end_a_task():
    assert cuts_to_stop(0.1, 0.002) == 3  # BeGin: 1e-3 -> 1e-6 < 2e-6
    assert cuts_to_stop(0.5, 0.002) == 9
    assert cuts_to_stop(1.0, 0.002) is None


def test_summary_of_an_unfinished_run_names_the_metric_and_blanks_what_is_no_score(tmp_path):
    payload = {
        "status": "interrupted", "metric": "rocauc", "num_tasks": 3,
        "trainer_class": "LCTimeILMASTrainer", "timings": {"total": 2.5},
        "choices": {"scenario": "classil", "dataset": "bitcoin"},
        "matrices": {"test": [[0.9, 0.0, 0.0, 0.9], [0.8, 0.7, 0.0, 0.75]]},
        "summary": {"AP": None, "AF": None, "FWT": None},
    }  # fmt: skip
    text = run_summary(payload, tmp_path / "results.json")
    assert text.startswith("interrupted after 2 of 3 tasks in 2.5 s")
    assert "AP (ROC-AUC) -   AF (ROC-AUC) -   FWT (ROC-AUC) -" in text
    rows = [line.split() for line in text.splitlines() if line.startswith("after task")]
    assert rows == [
        ["after", "task", "0", "0.900", "0.900"],
        ["after", "task", "1", "0.800", "0.700", "0.750"],
    ]
    assert f"results: {tmp_path / 'results.json'}" in text
    in_process = payload | {"matrices": {"test": np.array(payload["matrices"]["test"])}}
    assert run_summary(in_process, tmp_path / "results.json") == text  # as run() passes it
    before_any_task = payload | {"metric": None, "num_tasks": None, "trainer_class": None}
    before_any_task["matrices"] = {"test": []}
    assert run_summary(before_any_task, tmp_path).startswith("interrupted after 0 of ? tasks")


def test_a_long_matrix_is_shown_with_its_middle_rows_and_columns_elided():
    """20 tasks: the first and last 6 rows, and of the 21 columns (20 tasks and `all`) the
    first and last 6, with `...` between; each shown cell is its own score."""
    matrix = np.arange(20 * 21).reshape(20, 21) / 1000
    lines = matrix_table(matrix, "taskil", 20).splitlines()
    assert len(lines) == 1 + 6 + 1 + 6
    shown = [*range(6), None, *range(15, 21)]  # column indices; None: elided
    names = ["..." if j is None else "all" if j == 20 else f"task {j}" for j in shown]
    assert lines[0].split() == " ".join(names).split()
    assert lines[7].split() == ["..."] * 14
    for line, i in ((lines[1], 0), (lines[6], 5), (lines[8], 14), (lines[-1], 19)):
        cells = ["..." if j is None else f"{matrix[i, j]:.3f}" for j in shown]
        assert line.split() == ["after", "task", str(i), *cells]


# ---- --help ---------------------------------------------------------------------------------
def test_help_gives_every_group_and_root_key_a_line_of_meaning():
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    config = (REPO / "conf" / "config.yaml").read_text()
    keys = [k for k in OmegaConf.load(REPO / "conf" / "config.yaml") if k != "defaults"]
    assert {"seed", "lamb", "epochs", "patience", "min_lr_ratio"} <= set(keys)
    for key in keys:  # the help line is the key's comment in config.yaml, word for word
        comment = re.search(rf"^{key}:.*?#\s*(.+)$", config, re.MULTILINE)
        assert comment, f"conf/config.yaml: root key {key} has no comment saying what it means"
        width = max(14, len(key) + 2)  # a key longer than the column: two spaces
        assert f"{key:<{width}}{comment.group(1).strip()}" in lines, key
    groups = [d.name for d in (REPO / "conf").iterdir() if d.is_dir() and d.name != "hydra"]
    for group in groups:
        assert any(re.match(rf"{group} +\w", line) for line in lines), group
    assert "-sc install=bash" in proc.stdout and "--cfg job" in proc.stdout
    assert len(lines) < 80  # not the whole config: that is behind --cfg job


# ---- W&B ------------------------------------------------------------------------------------
def offline_run(run_dir: Path, timeout: float = 60.0) -> dict:
    """Name, exit code and history keys of an offline run. W&B's service writes the file after
    `finish()` returns, so wait until it holds the run's exit record."""
    deadline = time.monotonic() + timeout
    while True:
        (log_file,) = run_dir.glob("run-*.wandb")
        records = wandb_log(log_file)
        kinds = [record.WhichOneof("record_type") for record in records]
        if "exit" in kinds or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    found = {"name": None, "exit_code": None, "keys": set()}
    for record, kind in zip(records, kinds, strict=True):
        if kind == "run":
            found["name"] = record.run.display_name
        elif kind == "exit":
            found["exit_code"] = record.exit.exit_code
        elif kind == "history":
            found["keys"] |= {item.key or "/".join(item.nested_key) for item in record.history.item}
    return found


def test_wandb_runs_of_a_sweep_are_named_after_what_they_ran(tmp_path):
    proc = run_cli(
        *[a for a in SMALL_ALL_LEVELS if a != "logger=none"], "logger=wandb", "progress=false",
        f"hydra.sweep.dir={tmp_path}", "level=lc", "scenario=timeil", "-m", "lamb=1,10",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {}
    for job in ("0", "1"):
        (run_dir,) = (tmp_path / job / "wandb").glob("offline-run-*")
        run = offline_run(run_dir)
        assert run["exit_code"] == 0
        assert any(key.startswith("matrix/test_heatmap/") for key in run["keys"])
        names[job] = run["name"]
    assert names["0"].startswith("lc-timeil-mas-synthetic-") and names["0"].endswith("-lamb=1")
    assert names["1"] == names["0"].removesuffix("lamb=1") + "lamb=10"
    assert "hydra" not in names["0"] and "logger" not in names["0"]


def test_run_name_keeps_the_overrides_that_change_the_run():
    config = {g: {"name": n} for g, n in [("level", "lc"), ("scenario", "timeil"),
                                          ("method", "mas"), ("dataset", "synthetic")]}  # fmt: skip
    overrides = ["level=lc", "lamb=10", "seed=0", "hydra.sweep.dir=x", "logger.mode=offline",
                 "progress=false", "method.kwargs.importance=sample"]  # fmt: skip
    assert run_name(config, overrides) == (
        "lc-timeil-mas-synthetic-lamb=10-seed=0-method.kwargs.importance=sample"
    )


@pytest.mark.parametrize(
    ("rows", "status"), [(0, "interrupted"), (1, "diverged"), (3, "interrupted"), (4, "completed")]
)
def test_wandb_logs_any_partial_matrix_and_fails_unfinished_runs(tmp_path, rows, status):
    """An interrupted or diverged run logs the rows it finished (none, one, all but one; NaN
    in them) and is closed with exit code 1, which W&B shows as failed."""
    config = {"level": {"name": "nc"}, "scenario": {"name": "classil"}}
    logger = WandbLogger(
        config, tmp_path, project="cgl", mode="offline", group=None, tags=[], name=f"r{rows}"
    )
    matrix = np.tril(np.full((4, 5), 0.8))[:rows]
    matrix[:, 4] = 0.8
    if rows:
        matrix[-1, 0] = np.nan if status == "diverged" else matrix[-1, 0]
    logger.finish({"AP": float("nan"), "AF": None}, matrix, status)
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    run = offline_run(run_dir)
    assert run["name"] == f"r{rows}"
    assert run["exit_code"] == (0 if status == "completed" else 1)
    assert any(key.startswith("matrix/test_heatmap/") for key in run["keys"]) == (rows > 0)
