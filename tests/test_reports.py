"""Reports end to end: a real small sweep through the command line (MAS over lamb and seeds,
bare and joint over seeds), then `python reports/make_tables.py` on it; every number the
reports print is recomputed here from the results.json files themselves."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from runs import REPO, make_cfg

from cgl.evaluation.metrics import forgetting_matrix, intransigence
from cgl.output.heatmap import MatrixHeatmap
from cgl.reports import baselines, matrices
from cgl.reports.load import load_sweep
from cgl.reports.make_tables import main as make_tables
from cgl.reports.render import best_mask
from cgl.reports.tables import intransigence_by_seed
from cgl.runtime.experiment import run

TINY = [
    "level=nc",
    "scenario=classil",
    "logger=none",
    "progress=false",
    "epochs=2",
    "dataset.loader.nodes.num_nodes=300",
    "model.nc.hidden=32",
]
SWEEPS = {
    "mas": ["method=mas", "-m", "lamb=1,10", "seed=0,1"],
    "bare": ["method=bare", "-m", "seed=0,1"],
    "joint": ["method=joint", "-m", "seed=0,1"],
}
PNG = b"\x89PNG\r\n\x1a\n"


def cli(*args: str, cwd: Path) -> subprocess.Popen:
    """`python ARGS` in `cwd`, one thread per process: the sweeps run side by side, and
    spinning OpenMP threads on a busy 2-core machine make each tiny torch op many times slower."""
    env = dict(os.environ, WANDB_MODE="disabled", HYDRA_FULL_ERROR="1", OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory) -> Path:
    """The three sweeps, run side by side (one process each), under one directory."""
    root = tmp_path_factory.mktemp("multirun")
    jobs = [
        cli(str(REPO / "src" / "main.py"), *TINY, *args, f"hydra.sweep.dir={root / name}", cwd=root)
        for name, args in SWEEPS.items()
    ]
    for job in jobs:
        _, err = job.communicate(timeout=900)
        assert job.returncode == 0, err[-3000:]
    return root


@pytest.fixture(scope="module")
def report(sweep_root, tmp_path_factory) -> tuple[Path, str]:
    """`python reports/make_tables.py SWEEP --out OUT` from the repo root: (OUT, stdout)."""
    out = tmp_path_factory.mktemp("report")
    job = cli("reports/make_tables.py", str(sweep_root), "--out", str(out), cwd=REPO)
    stdout, stderr = job.communicate(timeout=600)
    assert job.returncode == 0, stderr
    return out, stdout


@pytest.fixture(scope="module")
def results(sweep_root) -> pd.DataFrame:
    """The results.json files, read here independently of reports/: one row per file."""
    rows = []
    for path in sorted(sweep_root.rglob("results.json")):
        run = json.loads(path.read_text())
        rows.append(
            {
                "method": run["choices"]["method"],
                "lamb": run["hyperparameters"]["lamb"],
                "seed": run["seed"],
                "test": np.array(run["matrices"]["test"], float),
                **run["summary"],
            }
        )
    return pd.DataFrame(rows)


def best_mas_lamb(results: pd.DataFrame) -> float:
    mas = results[results["method"] == "mas"]
    return mas.groupby("lamb")["val_AP"].mean().idxmax()


def selected_runs(results: pd.DataFrame, method: str) -> pd.DataFrame:
    runs = results[results["method"] == method]
    return runs[runs["lamb"] == best_mas_lamb(results)] if method == "mas" else runs


def test_one_row_per_run(sweep_root, report, results):
    sweep = load_sweep([sweep_root])
    assert len(sweep.runs) == len(results) == 8
    assert sweep.runs["run"].is_unique
    assert sweep.swept == ["lamb"]
    assert set(sweep.runs["status"]) == {"completed"}
    required = "level scenario method dataset model lamb seed status AP AF FWT val_AP time_total"
    assert set(required.split()) <= set(sweep.runs.columns)
    runs_csv = pd.read_csv(report[0] / "runs.csv")
    assert len(runs_csv) == 8
    assert runs_csv.groupby("method").size().to_dict() == {"bare": 2, "joint": 2, "mas": 4}


def test_selection_is_the_best_mean_val_ap(report, results):
    table = pd.read_csv(report[0] / "table.csv").set_index("method")
    lamb = best_mas_lamb(results)
    assert table.loc["mas", "config"].endswith(f"lamb={lamb:g}")
    assert table.loc["mas", "selected"] == f"lamb={lamb:g}"
    best_val = results[results["method"] == "mas"].groupby("lamb")["val_AP"].mean().max()
    assert table.loc["mas", "val_AP_mean"] == pytest.approx(best_val, rel=1e-12)
    assert f"| lamb={lamb:g} |" in (report[0] / "table.md").read_text()


@pytest.mark.parametrize("method", ["mas", "bare", "joint"])
def test_table_numbers_are_mean_and_std_over_seeds(report, results, method):
    table = pd.read_csv(report[0] / "table.csv").set_index("method")
    runs = selected_runs(results, method)
    assert table.loc[method, "seeds"] == len(runs) == 2
    markdown = (report[0] / "table.md").read_text()
    for metric in ("AP", "AF"):
        mean, std = statistics.mean(runs[metric]), statistics.stdev(runs[metric])
        assert table.loc[method, f"{metric}_mean"] == pytest.approx(mean, rel=1e-12, abs=1e-15)
        assert table.loc[method, f"{metric}_std"] == pytest.approx(std, rel=1e-12, abs=1e-15)
        assert f"{100 * mean:.1f} ± {100 * std:.1f}" in markdown


def test_class_il_forward_transfer_is_undefined_and_shown_as_a_dash(report, results):
    """The sweep is Class-IL: a task's classes cannot be predicted before it is trained, so
    results.json holds no FWT and the paper table shows — (never a bold 0.0)."""
    assert results["FWT"].isna().all()
    lines = [line.split(" | ") for line in (report[0] / "table.md").read_text().splitlines()]
    column = lines[0].index("FWT (accuracy, %)")
    rows = [cells for cells in lines[2:] if len(cells) == len(lines[0])]
    assert {cells[column] for cells in rows} == {"—"}


def test_int_pairs_each_run_with_the_joint_run_of_the_same_seed(report, results):
    table = pd.read_csv(report[0] / "table.csv").set_index("method")
    mas = selected_runs(results, "mas").set_index("seed")["test"]
    joint = results[results["method"] == "joint"].set_index("seed")["test"]
    paired = [intransigence(mas[seed], joint[seed]) for seed in (0, 1)]
    assert table.loc["mas", "INT_mean"] == pytest.approx(statistics.mean(paired), abs=1e-12)
    assert table.loc["mas", "INT_std"] == pytest.approx(statistics.stdev(paired), abs=1e-12)
    assert table.loc["joint", "INT_mean"] == pytest.approx(0.0, abs=1e-12)


def test_int_pairing_ignores_row_order():
    """Joint rows listed in the opposite seed order must still pair by seed."""
    own = [
        np.array([[0.5, 0.0, 0.5], [0.4, 0.6, 0.5]]),
        np.array([[0.7, 0.0, 0.7], [0.5, 0.8, 0.6]]),
    ]
    ref = [
        np.array([[0.9, 0.0, 0.9], [0.8, 0.9, 0.8]]),
        np.array([[1.0, 0.0, 1.0], [0.9, 1.0, 0.9]]),
    ]
    block = {"dataset": "d", "level": "nc", "scenario": "classil", "model": "gcn", "ok": True}
    runs = pd.DataFrame(
        [block | {"config": "m", "method": "mas", "seed": s, "test_matrix": own[s]} for s in (0, 1)]
        + [
            block | {"config": "j", "method": "joint", "seed": s, "test_matrix": ref[s]}
            for s in (1, 0)
        ]
    )
    selected = pd.DataFrame(
        [block | {"config": c, "method": m} for c, m in (("m", "mas"), ("j", "joint"))]
    )
    per_seed = intransigence_by_seed(runs, selected).query("config == 'm'").set_index("seed")["INT"]
    assert per_seed[0] == pytest.approx(np.mean([0.9 - 0.5, 0.9 - 0.6]))
    assert per_seed[1] == pytest.approx(np.mean([1.0 - 0.7, 1.0 - 0.8]))


def test_forgetting_matrix_on_a_known_matrix():
    m = np.array([[0.9, 0.1, 0.2, 0.9], [0.7, 0.8, 0.3, 0.75], [0.4, 0.6, 0.9, 0.63]])
    expected = np.array([[0.0, np.nan, np.nan], [-0.2, 0.0, np.nan], [-0.5, -0.2, 0.0]])
    np.testing.assert_allclose(forgetting_matrix(m), expected, equal_nan=True)
    runs = pd.DataFrame(
        {
            "config": "c",
            "metric": "accuracy",
            "scenario": "domainil",  # every cell a score (Class-IL blanks the upper triangle)
            "ok": [True, True, False],
            "test_matrix": [m, m - 0.1, None],
        }
    )
    (result,) = matrices.config_matrices(runs)
    assert result.seeds == 2
    np.testing.assert_allclose(result.mean, m - 0.05)
    np.testing.assert_allclose(result.std, np.full(m.shape, np.std([0.0, 0.1], ddof=1)))
    np.testing.assert_allclose(result.forgetting, expected, equal_nan=True)


def test_matrix_csvs_match_the_runs(report, results):
    runs = selected_runs(results, "mas")
    lamb = f"{best_mas_lamb(results):g}"
    folder = next((report[0] / "matrices").glob(f"*-mas-*lamb={lamb}"))
    mean = np.mean(np.stack(runs["test"].to_list()), axis=0)
    csv = pd.read_csv(folder / "accuracy_mean.csv", index_col=0)
    assert list(csv.columns) == ["task 0", "task 1", "task 2", "task 3", "all"]
    learnt = np.tril(np.ones((4, 4), dtype=bool))  # Class-IL: no score before a task is learnt
    np.testing.assert_allclose(csv.to_numpy()[:, :4][learnt], mean[:, :4][learnt])
    np.testing.assert_allclose(csv["all"], mean[:, 4])
    assert np.isnan(csv.to_numpy()[:, :4][~learnt]).all()  # empty cells in the CSV
    forgetting = pd.read_csv(folder / "forgetting.csv", index_col=0).to_numpy()
    np.testing.assert_allclose(forgetting, forgetting_matrix(mean), equal_nan=True)


def test_figures_are_png_images(report):
    out, stdout = report
    heatmaps = sorted((out / "matrices").glob("*/heatmap.png"))
    plots = sorted((out / "baselines").glob("*.png"))
    assert len(heatmaps) == 4  # mas lamb=1, mas lamb=10, bare, joint
    assert len(plots) == 1
    for png in heatmaps + plots:
        assert png.read_bytes()[:8] == PNG
        height, width, _ = imread(png).shape
        assert height > 200 and width > 400
    assert str(out) in stdout


def test_heatmaps_drawn_in_worker_processes_are_the_same(sweep_root, tmp_path, monkeypatch):
    monkeypatch.setattr(matrices, "CONFIGS_PER_WORKER", 1)  # 4 configurations -> 2 workers
    runs = load_sweep([sweep_root]).runs
    serial = matrices.write_matrices(runs, tmp_path / "serial", jobs=1)
    forked = matrices.write_matrices(runs, tmp_path / "forked", jobs=2)
    assert len(serial) == len(forked) == 16
    for path in serial:
        twin = tmp_path / "forked" / path.relative_to(tmp_path / "serial")
        assert twin.read_bytes() == path.read_bytes()


def test_latex_is_booktabs_with_the_metric_in_every_score_header(report):
    latex = (report[0] / "table.tex").read_text()
    markdown = (report[0] / "table.md").read_text()
    assert all(rule in latex for rule in ("\\toprule", "\\midrule", "\\bottomrule"))
    for key in ("AP", "AF", "INT", "FWT"):
        assert f"{key} (accuracy, \\%)" in latex and f"| {key} (accuracy, %) |" in markdown
    assert "| AP |" not in markdown and "| AP (%) |" not in markdown


def test_baselines_compare_mas_at_each_lamb_with_bare_and_joint(report, results):
    table = pd.read_csv(report[0] / "baselines.csv")
    assert sorted(table["method"]) == ["bare", "joint", "mas", "mas"]
    for lamb, runs in results[results["method"] == "mas"].groupby("lamb"):
        row = table[(table["method"] == "mas") & (table["lamb"] == lamb)].iloc[0]
        assert row["AP_mean"] == pytest.approx(runs["AP"].mean(), rel=1e-12)
        assert row["AF_mean"] == pytest.approx(runs["AF"].mean(), rel=1e-12)


def test_failed_and_missing_runs_are_kept_flagged_and_never_selected(sweep_root, results, tmp_path):
    root = tmp_path / "multirun"
    shutil.copytree(sweep_root, root)
    template = json.loads((root / "mas" / "0" / "results.json").read_text())
    for seed, status in ((0, "completed"), (1, "failed")):
        run = json.loads(json.dumps(template))
        run["hyperparameters"] |= {"lamb": 1000.0, "seed": seed}
        run |= {
            "seed": seed,
            "status": status,
            "overrides": ["method=mas", "lamb=1000", f"seed={seed}"],
        }
        run["summary"] |= (
            {"val_AP": 1.0} if status == "completed" else dict.fromkeys(run["summary"])
        )
        run["message"] = "RuntimeError: fabricated" if status == "failed" else None
        (root / "extra" / str(seed)).mkdir(parents=True)
        (root / "extra" / str(seed) / "results.json").write_text(json.dumps(run))
    killed = root / "extra" / "2"
    shutil.copytree(root / "mas" / "0" / ".hydra", killed / ".hydra")

    runs = load_sweep([root]).runs
    assert len(runs) == 11
    assert runs["status"].value_counts().to_dict() == {"completed": 9, "failed": 1, "missing": 1}
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert not failed["ok"] and failed["message"] == "RuntimeError: fabricated"
    assert failed["lamb"] == 1000.0 and np.isnan(failed["AP"])
    assert runs.loc[runs["status"] == "missing", "run"].iloc[0] == str(killed)

    out = tmp_path / "out"
    assert make_tables([str(root), "--out", str(out)]) == 0
    assert pd.read_csv(out / "runs.csv")["status"].value_counts()["failed"] == 1
    # lamb=1000 has the best val AP but a failed seed: not eligible. The killed job is an
    # unfinished attempt, not an outcome: lamb=1 stays eligible beside lamb=10.
    table = pd.read_csv(out / "table.csv").set_index("method")
    assert table.loc["mas", "selected"] == f"lamb={best_mas_lamb(results):g}"


@pytest.mark.parametrize("make_dir", [True, False])
def test_refuses_an_empty_or_missing_directory(tmp_path, make_dir):
    target = tmp_path / "sweep"
    if make_dir:
        target.mkdir()
        (target / "notes.txt").write_text("no runs here")
    job = cli("reports/make_tables.py", str(target), "--out", str(tmp_path / "out"), cwd=REPO)
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == 2
    assert stderr.count("\n") == 1 and str(target) in stderr
    assert ("no results.json below it" if make_dir else "no such directory") in stderr
    assert not (tmp_path / "out").exists()


# ---- figures that say what they mean --------------------------------------------------------
def cell_pixel(image: np.ndarray, ax, row: int, col: int) -> np.ndarray:
    """The RGB colour near the lower-left corner of cell (row, col), clear of its number."""
    x, y = ax.transData.transform((col - 0.35, row + 0.35))
    return image[image.shape[0] - 1 - int(y), int(x), :3]


def test_heatmaps_blank_only_the_cells_a_scenario_leaves_undefined(tmp_path):
    """A Class-IL and a Domain-IL run through the reports: under Class-IL a task not learnt yet
    has no score (blank, not 0); under Domain-IL every cell is one."""
    tiny = [a for a in TINY if not a.startswith("scenario=")]
    for scenario in ("classil", "domainil"):
        run(make_cfg(*tiny, f"scenario={scenario}"), output_dir=tmp_path / "runs" / scenario)
    written = matrices.write_matrices(load_sweep([tmp_path / "runs"]).runs, tmp_path / "out")
    layout = MatrixHeatmap(4)  # the same figure the reports draw on: the same cell positions
    metric_ax, forgetting_ax = layout.metric.axes, layout.forgetting.axes
    for scenario, future_blank in (("classil", True), ("domainil", False)):
        (png,) = [p for p in written if p.name == "heatmap.png" and f"-{scenario}-" in str(p)]
        image = (imread(png) * 255).round()
        assert image.shape[:2] == tuple(reversed(layout.figure.canvas.get_width_height()))
        csv = pd.read_csv(png.parent / "accuracy_mean.csv", index_col=0).to_numpy()
        for i in range(4):
            for j in range(5):
                blank = future_blank and i < j < 4
                assert np.isnan(csv[i, j]) == blank, (scenario, i, j)
                white = (cell_pixel(image, metric_ax, i, j) == 255).all()
                assert white == blank, (scenario, i, j)
            for j in range(4):  # forgetting: defined for tasks already learnt only
                white = (cell_pixel(image, forgetting_ax, i, j) == 255).all()
                assert white == (j > i), (scenario, "forgetting", i, j)


def baseline_rows(lambs: list[float], methods: tuple[str, ...]) -> pd.DataFrame:
    block = {"dataset": "synthetic", "level": "nc", "scenario": "classil", "metric": "rocauc"}
    rows = [block | {"method": "mas", "lamb": lamb} for lamb in lambs]
    rows += [block | {"method": method, "lamb": np.nan} for method in methods]
    stats = {"AP_mean": 0.6, "AP_std": 0.01, "AF_mean": -0.2, "AF_std": 0.02, "seeds": 2}
    return pd.DataFrame([row | stats for row in rows])


def test_baselines_figure_titles_every_panel_and_says_what_is_missing():
    one = baselines.plot_scenario(baseline_rows([10.0], ("bare",)), "one lamb")
    assert [ax.get_xscale() for ax in one.axes] == ["linear", "linear"]
    assert [float(t) for t in one.axes[0].get_xticks()] == [10.0]
    titles = [ax.get_title() for ax in one.axes]
    assert titles[0].startswith("AP (ROC-AUC)") and titles[1].startswith("AF (ROC-AUC)")
    notes = " ".join(text.get_text() for text in one.texts)
    assert "no completed joint run" in notes and "bare" not in notes
    several = baselines.plot_scenario(baseline_rows([1.0, 10.0], ("bare", "joint")), "two")
    assert [ax.get_xscale() for ax in several.axes] == ["log", "log"]
    assert "no completed" not in " ".join(text.get_text() for text in several.texts)


def test_bold_only_where_another_method_shows_a_worse_value():
    table = pd.DataFrame(
        {
            "block": ["lone", "pair", "pair", "tie", "tie", "tie"],
            "method": ["mas", "mas", "bare", "mas", "bare", "joint"],
            "AP_mean": [0.5, 0.7, 0.6, 0.5, 0.5, 0.9],
        }
    )
    bold = best_mask(table, {"AP_mean": "max"}, ["block"], exclude=table["method"] == "joint")
    assert bold["AP_mean"].tolist() == [False, True, False, False, False, False]


def test_make_tables_help_shows_where_it_writes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        make_tables(["--help"])
    assert exit_info.value.code == 0
    assert "(default: reports/out)" in capsys.readouterr().out
