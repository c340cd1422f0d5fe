"""Hyperparameter search (`hparams_search=...`): an Optuna study in SQLite in the sweep
directory that survives a stop (the same command continues it, its cut-off trial resumed by
cgl's own resume), is shared by parallel jobs, says how each run ended, and whose trials the
reports read as a sweep and keep apart from the evaluation over seeds (reports/best_trial.py)."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus
from optuna.trial import TrialState
from processes import finish, start_cli
from runs import run_cli

from cgl.reports import best_trial
from cgl.reports.load import load_sweep
from cgl.sweeps.study import STUDY_FILE, storage_url
from cgl.sweeps.study_sweeper import trial_outcome

TINY = [
    "logger=none",
    "progress=false",
    "epochs=2",
    "dataset.loader.nodes.num_nodes=300",
    "model.nc.hidden=16",
]
SEARCH = ["method=mas", "hparams_search=mas", "hydra.sweeper.n_trials=6", *TINY]


def study_of(sweep_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name="cgl", storage=storage_url(sweep_dir))


def results_of(job_dir: Path) -> dict:
    return json.loads((job_dir / "results.json").read_text())


def wait_for(path: Path, proc, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"ended before {path} appeared: {proc.communicate()[1][-3000:]}"
        assert time.monotonic() < deadline, f"no {path} within {timeout} s"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def resumed(tmp_path_factory) -> dict:
    """A 6-trial study stopped by SIGTERM as its 4th trial (number 3) starts, then the same
    command again. What the first command left, and the rerun's exit status and output."""
    cwd = tmp_path_factory.mktemp("study")
    sweep_dir = cwd / "search"
    args = [*SEARCH, f"hydra.sweep.dir={sweep_dir}"]
    proc = start_cli(*args, cwd=cwd)
    wait_for(sweep_dir / "3" / ".hydra", proc)
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc)
    # 143: the run recorded `interrupted`; -SIGTERM: the signal came before the run set its
    # handler (the job's set-up), and ended the process at once
    assert code in (143, -signal.SIGTERM), err[-3000:]
    trials = study_of(sweep_dir).get_trials()
    states = {t.number: t.state for t in trials}
    finished = [n for n, state in states.items() if state == TrialState.COMPLETE]
    before = {
        "code": code,
        "trials": {t.number: (t.state, t.params) for t in trials},
        "stamps": {n: (sweep_dir / str(n) / "results.json").stat().st_mtime_ns for n in finished},
        "checkpoints": {
            t.number for t in trials if (sweep_dir / str(t.number) / "checkpoint.pt").exists()
        },
    }
    rerun = run_cli(*args, cwd=cwd)
    return {"dir": sweep_dir, "before": before, "rerun": rerun}


def test_a_stopped_study_resumes_and_ends_with_the_trials_asked(resumed):
    sweep_dir, before, rerun = resumed["dir"], resumed["before"], resumed["rerun"]
    states = {n: state for n, (state, _) in before["trials"].items()}
    assert [states[n] for n in range(3)] == [TrialState.COMPLETE] * 3
    # the cut-off trial was told no number: queued again (143), or left running by the
    # process that the signal ended, which the rerun queues again
    cut = TrialState.WAITING if before["code"] == 143 else TrialState.RUNNING
    assert states[3] == cut and len(states) == 4
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    trials = study_of(sweep_dir).get_trials()
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert trials[3].params == before["trials"][3][1]  # the same trial, not a new one
    for n, stamp in before["stamps"].items():  # finished trials are not run again
        assert (sweep_dir / str(n) / "results.json").stat().st_mtime_ns == stamp
    for trial in trials:  # every trial is an ordinary job in the directory of its number
        results = results_of(sweep_dir / str(trial.number))
        assert results["status"] == "completed"
        assert results["study"] == {
            "study": "cgl",
            "storage": storage_url(sweep_dir),
            "trial": trial.number,
        }
        assert results["summary"]["val_AP"] == pytest.approx(trial.value)
        assert results["hyperparameters"]["lr"] == pytest.approx(trial.params["lr"])
        assert results["hyperparameters"]["lamb"] == pytest.approx(trial.params["lamb"])
        # resumed by cgl's resume after its last finished task, or run once
        assert results["attempt"] == (2 if trial.number in before["checkpoints"] else 1)
    assert (sweep_dir / STUDY_FILE).is_file()


def test_the_study_best_value_is_the_best_validation_ap(resumed):
    sweep_dir = resumed["dir"]
    val_aps = {n: results_of(sweep_dir / str(n))["summary"]["val_AP"] for n in range(6)}
    study = study_of(sweep_dir)
    assert study.best_value == max(val_aps.values())
    assert study.best_trial.number == max(val_aps, key=val_aps.get)


def test_best_trial_prints_the_seed_sweep_of_the_best_configuration(resumed, capsys):
    sweep_dir = resumed["dir"]
    assert best_trial.main([str(sweep_dir), "--seeds", "3"]) == 0
    command = capsys.readouterr().out.splitlines()[-1].split()
    best = study_of(sweep_dir).best_trial
    assert command[:2] == ["python", "src/main.py"]
    assert f"lamb={best.params['lamb']}" in command and f"lr={best.params['lr']}" in command
    assert "method=mas" in command and "epochs=2" in command
    assert not any(arg.startswith(("hparams_search", "seed=0")) for arg in command)
    assert command[-3:] == ["-m", "seed=1,2,3", f"hydra.sweep.dir={sweep_dir}-seeds"]


def test_reports_read_a_study_as_a_sweep_and_set_it_apart_from_its_evaluation(resumed, tmp_path):
    sweep_dir = resumed["dir"]
    alone = load_sweep([sweep_dir]).runs
    assert (alone["stage"] == "search").all() and alone["ok"].all()
    assert sorted(alone["trial"]) == list(range(6))
    # an evaluation of the best trial at another seed (its results.json, as a seed sweep
    # writes it): the method's search trials no longer count
    best = study_of(sweep_dir).best_trial.number
    evaluation = tmp_path / "seeds" / "0"
    shutil.copytree(sweep_dir / str(best), evaluation, ignore=shutil.ignore_patterns("*.pt"))
    results = results_of(evaluation) | {"study": None, "seed": 1}
    (evaluation / "results.json").write_text(json.dumps(results))
    runs = load_sweep([sweep_dir, tmp_path / "seeds"]).runs.set_index("run")
    assert runs.loc[str(evaluation), "stage"] == "evaluation"
    assert runs.loc[str(evaluation), "ok"]
    trials = runs[runs["stage"] == "search"]
    assert len(trials) == 6 and not trials["ok"].any() and not trials["final"].any()
    assert trials["note"].str.startswith("search trial").all()


def test_two_joblib_workers_share_the_study_and_run_each_trial_once(tmp_path):
    sweep_dir = tmp_path / "search"
    parallel = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2"]
    proc = run_cli(*SEARCH, *parallel, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = study_of(sweep_dir).get_trials()
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 6
    for trial in trials:
        results = results_of(sweep_dir / str(trial.number))
        assert (results["status"], results["attempt"]) == ("completed", 1)
        assert results["threads"] == 1  # each worker its share of the cores
        assert results["summary"]["val_AP"] == pytest.approx(trial.value)


def test_a_sampled_value_out_of_range_is_refused_before_its_job_starts(tmp_path):
    sweep_dir = tmp_path / "search"
    proc = run_cli(*SEARCH, "dropout=interval(1.5,2)", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    assert proc.returncode == 2 and "cgl: error: dropout must be" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (sweep_dir / "0").exists()
    assert [t.state for t in study_of(sweep_dir).get_trials()] == [TrialState.FAIL]


def _job(tmp_path: Path, status: str | None, val_ap: float | None = 0.5) -> Path:
    if status is not None:
        payload = {"status": status, "summary": {"val_AP": val_ap}}
        (tmp_path / "results.json").write_text(json.dumps(payload))
    return tmp_path


@pytest.mark.parametrize(
    ("status", "val_ap", "job_status", "expected"),
    [
        ("completed", 0.625, JobStatus.COMPLETED, (TrialState.COMPLETE, 0.625)),
        ("completed", None, JobStatus.COMPLETED, (TrialState.FAIL, None)),  # no score
        ("diverged", None, JobStatus.COMPLETED, (TrialState.PRUNED, None)),
        ("failed", None, JobStatus.FAILED, (TrialState.FAIL, None)),
        ("interrupted", None, JobStatus.COMPLETED, (TrialState.WAITING, None)),
        (None, None, JobStatus.COMPLETED, (TrialState.WAITING, None)),  # never started
        (None, None, JobStatus.FAILED, (TrialState.FAIL, None)),  # raised before writing
    ],
)
def test_a_runs_status_decides_its_trials_state(tmp_path, status, val_ap, job_status, expected):
    ret = JobReturn(status=job_status, _return_value=float("nan"))
    assert trial_outcome(_job(tmp_path, status, val_ap), ret) == expected


def test_a_job_refused_or_ended_with_the_launch_is_failed_or_queued_again(tmp_path):
    assert trial_outcome(tmp_path, None, refused=True) == (TrialState.FAIL, None)
    assert trial_outcome(tmp_path, None) == (TrialState.WAITING, None)
    assert trial_outcome(_job(tmp_path, "completed", 0.25), None) == (TrialState.COMPLETE, 0.25)
