"""The embedded benchmark tells methods apart: a bare learner forgets clearly and MAS with a
strong lamb forgets clearly less, so a regulariser that stops working fails here.

Short budgets (a small model, a few tens of epochs) keep each run to seconds; the full
default table is bench/bench_synthetic_table.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from runs import make_cfg

from cgl.datasets.synthetic import make_synthetic
from cgl.runtime.experiment import run

#: level x scenario -> overrides that shrink the default run; each pair forgets by a shift
#: MAS can hold back (a domain turn; link signs flipping over time).
SHORT = {
    ("nc", "domainil"): ["model.nc.hidden=64", "epochs=40"],
    ("gc", "domainil"): ["dataset.loader.graphs.num_graphs=400", "model.gc.hidden=64", "epochs=30"],
    ("lc", "timeil"): ["model.lc.hidden=64", "epochs=40"],
}


def short_run(tmp_path, level: str, scenario: str, method: str, *extra: str) -> float:
    cfg = make_cfg(
        "logger=none", "progress=false", f"level={level}", f"scenario={scenario}",
        f"method={method}", *SHORT[level, scenario], *extra,
    )  # fmt: skip
    result = run(cfg, output_dir=tmp_path / method)
    assert result.status == "completed"
    return result.summary["AF"]


@pytest.mark.parametrize(("level", "scenario"), list(SHORT))
def test_bare_forgets_and_strong_mas_forgets_less(tmp_path, level, scenario):
    bare = short_run(tmp_path, level, scenario, "bare")
    mas = short_run(tmp_path, level, scenario, "mas", "lamb=10000")
    assert bare < -0.1, f"bare fine-tuning should forget clearly, AF {bare:+.3f}"
    assert mas > bare + 0.05, f"MAS lamb=1e4 AF {mas:+.3f} against bare {bare:+.3f}"


@pytest.mark.parametrize("level", ["nc", "lc", "lp", "gc"])
def test_synthetic_data_is_deterministic_by_seed(level):
    scenario = "domainil" if level != "lc" else "timeil"
    blocks = {"nodes": {"num_nodes": 300}, "links": {"num_nodes": 300, "num_edges": 1200,
              "scenario": scenario}, "graphs": {"num_graphs": 60}}  # fmt: skip
    if level in ("nc", "gc"):
        blocks["nodes" if level == "nc" else "graphs"]["scenario"] = scenario
    a, b, other = (make_synthetic(level, seed, **blocks) for seed in (3, 3, 4))
    assert np.array_equal(a.label.numpy(), b.label.numpy())
    feats = [
        d.graphs[0].ndata["feat"] if level == "gc" else d.graph.ndata["feat"] for d in (a, b, other)
    ]
    assert np.array_equal(feats[0].numpy(), feats[1].numpy())
    assert not np.array_equal(feats[0].numpy(), feats[2].numpy()[: feats[0].shape[0]])
