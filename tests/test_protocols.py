"""Protocols: BeGin's split, class order and draw order on the real Cora and Citeseer files;
CGLB's tasks, dropped classes, per-class split and inter-task edges on tiny CoraFull and
ogbn-products files; presets; what each protocol refuses."""

from __future__ import annotations

from pathlib import Path

import dgl
import pytest
import tiny_files
import torch
from omegaconf import OmegaConf
from real_files import place_planetoid
from runs import REPO, make_cfg

from cgl.config.errors import ConfigError
from cgl.datasets import ogb, planetoid
from cgl.datasets.base import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL
from cgl.runtime import experiment
from cgl.scenarios.nodes import NCScenarioLoader

COUNTS = {"cora": (140, 500, 1000), "citeseer": (120, 500, 1000)}


@pytest.fixture(scope="module")
def planetoid_dir(tmp_path_factory, shared_datasets) -> Path:
    data_dir = tmp_path_factory.mktemp("planetoid")
    for name in COUNTS:
        place_planetoid(shared_datasets, data_dir, name)
    return data_dir


def split_counts(split: torch.Tensor) -> tuple[int, int, int]:
    return tuple(int((split == code).sum()) for code in (SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST))


def scenario_and_model(*overrides: str):
    """What `experiment.run` builds before training, for a composed config."""
    cfg = make_cfg("logger=none", *overrides)
    return experiment.build_scenario_and_model(cfg, experiment.load_dataset(cfg))


# ---- BeGin on the real Planetoid files -----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(COUNTS))
def test_planetoid_public_split_is_dgls_masks(planetoid_dir, name):
    """Yang et al.'s public split as DGL's masks: the first len(y) nodes train (20 a class),
    the next 500 validate, the 1000 listed test ids test."""
    data = planetoid.load_planetoid(name, str(planetoid_dir))
    assert split_counts(data.split) == COUNTS[name]
    train = data.label[data.split == SPLIT_TRAIN]
    assert torch.bincount(train).tolist() == [20] * data.num_classes
    assert torch.equal(
        torch.nonzero(data.split == SPLIT_VAL).view(-1), torch.arange(len(train), len(train) + 500)
    )


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_planetoid_graph_equals_dgls_own_loader_edge_for_edge(
    planetoid_dir, shared_datasets, tmp_path, name
):
    """DGL's CoraGraphDataset / CiteseerGraphDataset (what BeGin loads), run on the same local
    files as an oracle: the same features, labels, masks and edges in the same order (message
    passing sums in edge order, so the order decides the last bits of every run)."""
    raw = tmp_path / "raw"
    place_planetoid(shared_datasets, raw, name)
    dataset = {"cora": dgl.data.CoraGraphDataset, "citeseer": dgl.data.CiteseerGraphDataset}
    reference = dataset[name](raw_dir=str(raw), verbose=False)[0]
    data = planetoid.load_planetoid(name, str(planetoid_dir))
    src, dst = reference.edges()
    loops = src == dst  # Citeseer lists some; cgl leaves self-loops to the trainers
    mine = data.graph.edges()
    assert torch.equal(mine[0], src[~loops]) and torch.equal(mine[1], dst[~loops])
    assert torch.equal(data.graph.ndata["feat"].to_dense(), reference.ndata["feat"])
    labelled = data.label >= 0  # Citeseer's 15 isolated ids: label 0 in DGL, -1 here
    assert torch.equal(data.label[labelled], reference.ndata["label"][labelled])
    for code, mask in (
        (SPLIT_TRAIN, "train_mask"),
        (SPLIT_VAL, "val_mask"),
        (SPLIT_TEST, "test_mask"),
    ):
        assert torch.equal(data.split == code, reference.ndata[mask].bool())


def test_begin_uses_the_public_split_and_other_protocols_do_not(planetoid_dir):
    """Under BeGin, Cora's tasks keep the public split (of their six classes); `random` and
    `cglb` draw 60/20/20 splits, each other's and BeGin's differ."""
    common = ("dataset=cora", f"data_dir={planetoid_dir}", "scenario=taskil", "seed=3")
    splits = {}
    for protocol in ("begin", "random", "cglb"):
        scenario, _ = scenario_and_model(*common, f"protocol={protocol}")
        splits[protocol] = scenario.split_of_item
    public = planetoid.load_planetoid("cora", str(planetoid_dir)).split
    in_tasks = splits["begin"] >= 0
    assert torch.equal(splits["begin"][in_tasks], public[in_tasks])
    assert sum(split_counts(splits["begin"])) < 1640  # only the public split's nodes
    for other in ("random", "cglb"):
        train, val, test = split_counts(splits[other])
        assert train / (train + val + test) == pytest.approx(0.6, abs=0.01)
        assert not torch.equal(splits[other], splits["begin"])
    assert not torch.equal(splits["random"], splits["cglb"])


@pytest.mark.parametrize(
    ("seed", "tasks", "dropped"),
    [(0, [[4, 0], [5, 3], [2, 6]], [1]), (1, [[0, 6], [1, 3], [5, 2]], [4])],
)
def test_class_order_is_a_seeded_randperm_drawn_first(planetoid_dir, seed, tasks, dropped):
    """BeGin's task_shuffle: torch.randperm(7), the first draw after seeding, cut in pairs; the
    seventh class of the permutation is dropped."""
    scenario, _ = scenario_and_model("dataset=cora", f"data_dir={planetoid_dir}", f"seed={seed}")
    torch.manual_seed(seed)
    order = torch.randperm(7).tolist()
    assert scenario.task_classes == [order[0:2], order[2:4], order[4:6]] == tasks
    assert scenario.plan.dropped_classes == [order[6]] == dropped
    dropped_nodes = scenario.data.label == order[6]
    assert (scenario.task_of_item[dropped_nodes] == -1).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_initial_weights_are_drawn_right_after_the_permutation(planetoid_dir, seed):
    """The model is built after the permutation, from the same generator, as in BeGin's
    run_benchmark: the same weights as GCNNode built right after a seeded randperm(7), and
    not those of a model built first."""
    _, model = scenario_and_model("dataset=cora", f"data_dir={planetoid_dir}", f"seed={seed}")
    cfg = make_cfg("dataset=cora")
    kwargs = {"in_feats": 1433, "num_classes": 7}
    torch.manual_seed(seed)
    torch.randperm(7)
    expected = experiment.instantiate(cfg.model.nc, **kwargs).state_dict()
    torch.manual_seed(seed)
    drawn_first = experiment.instantiate(cfg.model.nc, **kwargs).state_dict()
    weights = model.state_dict()
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[k], expected[k]) for k in weights)
    assert not torch.equal(weights["encoder.convs.0.weight"], drawn_first["encoder.convs.0.weight"])
    assert not any("convs.0.bias" in k for k in weights)  # BeGin's GraphConv has no bias


# ---- CGLB on tiny files -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def corafull(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("corafull")
    tiny_files.tiny_corafull(data_dir)
    return data_dir


def cglb_scenario(data_dir: Path, name: str, *overrides: str) -> NCScenarioLoader:
    scenario, _ = scenario_and_model(
        "protocol=cglb", f"dataset={name}", f"data_dir={data_dir}", "scenario=taskil", *overrides
    )
    return scenario


def test_cglb_corafull_pairs_classes_in_order_and_splits_each_class(corafull):
    """70 fields x 4 papers: 35 tasks of 2 fields in id order, nothing dropped, and every
    field split 60/20/20 (2/1/1 of 4 papers), drawn within the field."""
    scenario = cglb_scenario(corafull, "corafull")
    assert scenario.num_tasks == 35
    assert scenario.task_classes == [[2 * t, 2 * t + 1] for t in range(35)]
    assert scenario.plan.dropped_classes == []
    label, split = scenario.data.label, scenario.split_of_item
    for field in range(70):
        assert split_counts(split[label == field]) == (2, 1, 1)
    assert scenario.plan.growing_graph  # task t sees only the nodes of tasks 0..t


def test_cglb_drops_the_class_that_does_not_fill_a_task(tmp_path):
    """ogbn-products' 47 categories: 23 tasks of 2 in id order, category 46 left out."""
    tiny_files.tiny_products(tmp_path)
    data = ogb.load_products(str(tmp_path))
    scenario = cglb_scenario(tmp_path, "ogbn-products", "scenario=classil")
    assert scenario.num_tasks == 23 and scenario.task_classes[-1] == [44, 45]
    assert scenario.plan.dropped_classes == [46]
    assert (scenario.task_of_item[data.label == 46] == -1).all()
    assert (scenario.split_of_item[data.label == 46] == -1).all()


def edge_set(graph: dgl.DGLGraph) -> set[tuple[int, int]]:
    ids = graph.ndata[dgl.NID]
    src, dst = graph.edges()
    return set(zip(ids[src].tolist(), ids[dst].tolist(), strict=True))


def test_graphs_with_and_without_inter_task_edges_differ_by_exactly_those_edges(corafull):
    """With inter-task edges task t trains on tasks 0..t's nodes; without, on task t's alone
    (CGLB), with exactly the edges among them: the kept graph less every edge that leaves
    task t or joins two other tasks."""
    with_edges = cglb_scenario(corafull, "corafull")
    without = cglb_scenario(corafull, "corafull", "scenario.inter_task_edges=false")
    task = with_edges.task_of_item
    for t in (0, 1, 34):
        with_edges._curr_task = without._curr_task = t
        kept, cut = with_edges.get_current_dataset(), without.get_current_dataset()
        seen = torch.nonzero((task >= 0) & (task <= t)).view(-1)
        assert torch.equal(kept.ndata[dgl.NID], seen)
        assert torch.equal(cut.ndata[dgl.NID], torch.nonzero(task == t).view(-1))
        between = {(u, v) for u, v in edge_set(kept) if task[u] != task[v]}
        others = {(u, v) for u, v in edge_set(kept) if task[u] == task[v] != t}
        assert edge_set(kept) - edge_set(cut) == between | others
        assert edge_set(cut) <= edge_set(kept)
    assert between  # by the last task, fields of different tasks are linked: the switch acts


def test_cglb_corafull_task_il_runs_35_tasks_end_to_end(corafull, tmp_path):
    cfg = make_cfg(
        "protocol=cglb", "dataset=corafull", "scenario=taskil", f"data_dir={corafull}",
        "logger=none", "progress=false", "epochs=1", "model.nc.hidden=8", "method=mas",
    )  # fmt: skip
    assert (cfg.lr, cfg.weight_decay, cfg.patience) == (5e-3, 5e-4, 200)
    result = experiment.run(cfg, output_dir=tmp_path)
    assert result.status == "completed"
    payload = result.payload
    assert payload["num_tasks"] == 35 and len(payload["matrices"]["test"]) == 35
    assert payload["tasks"]["protocol"] == "cglb" and payload["choices"]["protocol"] == "cglb"
    assert payload["tasks"]["task_classes"][34] == [68, 69]


# ---- refusals, defaults and presets -------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["protocol=cglb", "level=gc"], "protocol=cglb does not define level=gc"),
        (["protocol=cglb", "scenario=domainil"], "covers nc: taskil, classil"),
        (["level=lc", "scenario.inter_task_edges=false"], "node-level scenarios"),
    ],
)
def test_protocols_refuse_what_they_do_not_define_before_running(overrides, message):
    with pytest.raises(ConfigError, match=message):
        experiment.validate(make_cfg("logger=none", *overrides))


def test_synthetic_default_shuffles_classes_like_begin_and_random_keeps_their_order():
    """BeGin draws a permutation for any dataset (task_shuffle); `random` keeps cgl's old cut."""
    common = ("dataset.loader.nodes.num_nodes=300", "seed=2")
    begin, _ = scenario_and_model(*common)
    old, _ = scenario_and_model(*common, "protocol=random")
    torch.manual_seed(2)
    order = torch.randperm(8).tolist()
    assert begin.task_classes == [order[i : i + 2] for i in range(0, 8, 2)]
    assert old.task_classes == [[0, 1], [2, 3], [4, 5], [6, 7]]


@pytest.mark.parametrize(
    ("incr_type", "defined"), [("task", True), ("class", False), ("domain", True)]
)
def test_forward_transfer_is_defined_only_where_both_rows_predict_the_same_classes(
    incr_type, defined
):
    scenario, _ = scenario_and_model(
        "dataset.loader.nodes.num_nodes=300", f"scenario={incr_type}il", "protocol=random"
    )
    assert scenario.forward_transfer_defined is defined


PRESETS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_to_a_setting_its_dataset_offers(preset):
    cfg = make_cfg(f"experiment={preset}")
    assert preset == f"{cfg.protocol.name}_{cfg.dataset.name}_{cfg.scenario.name}"
    assert cfg.scenario.name in cfg.dataset.settings[cfg.level.name]
    assert cfg.lamb == {"begin": None, "cglb": 1e4}[cfg.protocol.name]  # None: BeGin's per method
    assert cfg.begin_methods is (cfg.protocol.name == "begin")
    assert cfg.epochs in (100, 200, 1000) and cfg.min_lr_ratio in (0.002, 0.02)
    assert make_cfg(f"experiment={preset}", "epochs=7").epochs == 7  # the command line wins
    OmegaConf.to_container(cfg, resolve=True)
