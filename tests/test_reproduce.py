"""`python reports/reproduce.py`: published numbers next to a real sweep's, with a planted run
far from its published number flagged."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pandas as pd
import pytest
from real_files import place_planetoid
from runs import results_under, run_cli

from cgl.reports.reproduce import compare, read_published
from cgl.reports.reproduce import main as reproduce

QUICK = ["logger=none", "progress=false", "epochs=2", "model.nc.hidden=16", "method=mas"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, shared_datasets) -> Path:
    """A real sweep (Cora Class-IL, BeGin's protocol, seeds 0 and 1), plus one planted
    Citeseer Task-IL run whose AP is far below the BeGin paper's .843."""
    data_dir = place_planetoid(shared_datasets, tmp_path_factory.mktemp("data"), "cora").parent
    root = tmp_path_factory.mktemp("multirun")
    result = run_cli(
        "-m", "dataset=cora", "scenario=classil", "seed=0,1", *QUICK,
        f"data_dir={data_dir}", f"hydra.sweep.dir={root / 'cora'}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    planted = root / "planted" / "0"
    shutil.copytree(root / "cora" / "0", planted)
    payload = json.loads((planted / "results.json").read_text())
    payload["choices"] |= {"dataset": "citeseer", "scenario": "taskil"}
    payload["summary"] |= {"AP": 0.2, "AF": -0.3}
    payload["config"]["dataset"]["name"] = "citeseer"
    (planted / "results.json").write_text(json.dumps(payload))
    return root


def test_reproduction_table_for_a_real_sweep_flags_the_planted_row(sweep, tmp_path, capsys):
    assert reproduce([str(sweep), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "reproduction.csv")
    ran = table[table["flag"] != "no runs"].set_index(
        ["reference", "dataset", "scenario", "metric"]
    )
    settings = {("cora", "classil"), ("citeseer", "taskil")}
    assert set(ran.index) == {
        *(("BeGin paper", *setting, "AP") for setting in settings),  # the paper gives AP only
        *(("BeGin 0.4 code", *setting, metric) for setting in settings for metric in ("AP", "AF")),
    }
    ran = ran.loc["BeGin paper"]

    cora = ran.loc[("cora", "classil", "AP")]
    aps = [r["summary"]["AP"] for r in results_under(sweep / "cora")]
    assert cora["published"] == 0.741 and cora["seeds"] == 2
    assert cora["ours"] == pytest.approx(statistics.mean(aps))
    assert cora["ours_std"] == pytest.approx(statistics.stdev(aps))
    # the paper gives no std: the difference is in units of ours
    assert cora["diff_sigma"] == pytest.approx((cora["ours"] - 0.741) / cora["ours_std"])

    planted = ran.loc[("citeseer", "taskil", "AP")]
    assert planted["ours"] == 0.2 and planted["seeds"] == 1
    assert planted["diff_sigma"] == float("-inf") and planted["flag"] == "outside"
    assert "| BeGin paper | citeseer taskil mas begin | AP (%) | 84.3 | 20.0 (1 seeds) |" in printed
    assert (tmp_path / "reproduction.md").read_text() in printed


def test_a_published_std_widens_the_band(tmp_path):
    """Within one std of the larger spread is `within`; the CGLB row's std counts."""
    published = tmp_path / "published.csv"
    published.write_text(
        "reference,dataset,level,scenario,method,protocol,inter_task_edges,AP,AP_std,AF,AF_std,"
        "seeds,source\nX,cora,nc,classil,mas,begin,true,0.5,0.4,,,,hand-made\n"
    )
    ours = pd.DataFrame(
        [{"dataset": "cora", "level": "nc", "scenario": "classil", "method": "mas",
          "protocol": "begin", "inter_task_edges": True, "AP_mean": 0.8, "AP_std": 0.1,
          "AF_mean": -0.1, "AF_std": 0.05, "seeds": 5, "config": "c"}]
    )  # fmt: skip
    (row,) = compare(read_published(published), ours, tolerance=1.0).to_dict("records")
    assert row["diff_sigma"] == pytest.approx((0.8 - 0.5) / 0.4) and row["flag"] == "within"
