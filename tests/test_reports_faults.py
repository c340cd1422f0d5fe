"""Reports that cannot be fooled: an interrupted run, an older duplicate of a seed, a failed
run and a refused job beside the good runs change no number; a report that fails half-way
leaves the previous output directory as it was."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pandas as pd
import pytest
import yaml
from runs import FAST, make_cfg

import cgl.reports.make_tables as make_tables_module
from cgl.reports.load import load_sweep
from cgl.runtime.experiment import run
from cgl.trainers.base import BaseTrainer

TINY = [*FAST, "dataset.loader.nodes.num_nodes=300", "model.nc.hidden=16", "epochs=3"]
GOOD = [(lamb, seed) for lamb in (1, 10) for seed in (0, 1)]


def job(root, name, *overrides):
    """A real run in root/name, with the overrides a Hydra job records."""
    result = run(make_cfg(*TINY, *overrides), output_dir=root / name)
    payload = json.loads(result.path.read_text())
    payload["overrides"] = list(overrides)
    result.path.write_text(json.dumps(payload))
    return result.path


@pytest.fixture(scope="module")
def good_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("good")
    for lamb, seed in GOOD:
        job(root, f"lamb{lamb}-seed{seed}", f"lamb={lamb}", f"seed={seed}")
    return root


@pytest.fixture
def faulty_runs(good_runs, tmp_path, monkeypatch):
    """The good runs plus one run of each kind that must not count."""
    root = tmp_path / "runs"
    shutil.copytree(good_runs, root)
    # interrupted: a real SIGINT after task 1 of a lamb=10 seed=2 run
    keep = BaseTrainer.training_state

    def signal_after_task_1(self, tasks_done, *args):
        if tasks_done == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return keep(self, tasks_done, *args)

    monkeypatch.setattr(BaseTrainer, "training_state", signal_after_task_1)
    job(root, "interrupted", "lamb=10", "seed=2")
    monkeypatch.undo()
    # failed: a real exception in task 2 of a lamb=1000 seed=0 run
    monkeypatch.setattr(BaseTrainer, "processAfterTraining", fail_in_task_2)
    with pytest.raises(RuntimeError, match="out of memory"):
        job(root, "failed", "lamb=1000", "seed=0")
    monkeypatch.undo()
    # an older duplicate of lamb=1 seed=0 whose numbers would show if it were counted
    older = root / "older-duplicate"
    shutil.copytree(root / "lamb1-seed0", older)
    payload = json.loads((older / "results.json").read_text())
    payload["summary"] = {key: 0.99 for key in payload["summary"]}
    payload["finished_at"] = "2000-01-01T00:00:00+00:00"
    (older / "results.json").write_text(json.dumps(payload))
    # what an older version left for `lamb=abc`: Hydra's files, no results.json
    refused = root / "refused" / ".hydra"
    refused.mkdir(parents=True)
    config = yaml.safe_load(yaml.safe_dump(payload["config"])) | {"lamb": "abc"}
    (refused / "config.yaml").write_text(yaml.safe_dump(config))
    (refused / "overrides.yaml").write_text(yaml.safe_dump(["lamb=abc"]))
    return root


def fail_in_task_2(self, task_id, *args):
    if task_id == 1:
        raise RuntimeError("CUDA out of memory (simulated)")


def test_only_good_runs_make_the_numbers(good_runs, faulty_runs, tmp_path, capsys):
    clean, mixed = tmp_path / "clean", tmp_path / "mixed"
    assert make_tables_module.main([str(good_runs), "--out", str(clean), "--jobs", "1"]) == 0
    capsys.readouterr()
    assert make_tables_module.main([str(faulty_runs), "--out", str(mixed), "--jobs", "1"]) == 0
    out, err = capsys.readouterr()

    runs = pd.read_csv(mixed / "runs.csv").set_index("run")
    status = {os.path.basename(r): s for r, s in runs["status"].items()}
    assert status == {
        **{f"lamb{lamb}-seed{seed}": "completed" for lamb, seed in GOOD},
        "older-duplicate": "completed",
        "interrupted": "interrupted",
        "failed": "failed",
        "refused": "refused",
    }
    for name in ("older-duplicate", "interrupted", "failed", "refused"):
        assert f"not in the numbers: {faulty_runs / name} (" in out
    assert "older duplicate of" in runs.loc[str(faulty_runs / "older-duplicate"), "note"]
    assert "warning: 2 finished runs of" in err and "older-duplicate" in err

    table = pd.read_csv(mixed / "table.csv")
    pd.testing.assert_frame_equal(table, pd.read_csv(clean / "table.csv"))
    configs = pd.read_csv(mixed / "configurations.csv").set_index("config")
    good = pd.read_csv(clean / "configurations.csv").set_index("config")
    pd.testing.assert_frame_equal(configs.loc[good.index], good)
    assert configs.loc[configs.index.str.endswith("lamb=1000"), "complete"].tolist() == [False]
    for csv in sorted((clean / "matrices").rglob("*.csv")):
        assert (mixed / csv.relative_to(clean)).read_bytes() == csv.read_bytes()


def test_non_numeric_results_are_listed_not_read(good_runs, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(good_runs, root)
    broken = json.loads((root / "lamb1-seed0" / "results.json").read_text())
    broken["matrices"]["test"][0][0] = "n/a"
    (root / "lamb1-seed0" / "results.json").write_text(json.dumps(broken))
    (root / "lamb10-seed0" / "results.json").write_text('{"status": "completed", "summ')
    runs = load_sweep([root]).runs.set_index("run")
    assert runs.loc[str(root / "lamb1-seed0"), "status"] == "unreadable"
    assert "non-numeric" in runs.loc[str(root / "lamb1-seed0"), "message"]
    assert runs.loc[str(root / "lamb10-seed0"), "status"] == "unreadable"
    assert runs["ok"].sum() == 2
    assert make_tables_module.main([str(root), "--out", str(tmp_path / "out")]) == 0


def test_a_failure_while_writing_leaves_the_previous_output_intact(
    good_runs, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    assert make_tables_module.main([str(good_runs), "--out", str(out), "--jobs", "1"]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    write_matrices = make_tables_module.write_matrices

    def fail_half_way(runs, folder, jobs=1):
        write_matrices(runs, folder, jobs)
        raise OSError("No space left on device")

    monkeypatch.setattr(make_tables_module, "write_matrices", fail_half_way)
    with pytest.raises(OSError, match="No space left"):
        make_tables_module.main([str(good_runs), "--out", str(out), "--jobs", "1"])
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind
