"""The synthetic feature generator: turns that move every class point by the stated angle,
shifts applied only under the scenario that studies them, memory linear in the items."""

from __future__ import annotations

import numpy as np
import pytest

from cgl.datasets.synthetic.features import (
    FeatureShape,
    latent_features,
    noisy_labels,
    random_rotation,
)


@pytest.mark.parametrize("dims", [2, 4, 5])
@pytest.mark.parametrize("angle", [0.3, 1.5, 3.0])
def test_rotation_turns_every_vector_by_the_angle(dims, angle):
    """A class point moves by 2 sin(angle / 2) times its length, whatever its direction (with
    odd dims one axis stays, so points move at most that far)."""
    rng = np.random.default_rng(0)
    turn = random_rotation(rng, dims, angle)
    np.testing.assert_allclose(turn @ turn.T, np.eye(dims), atol=1e-12)
    points = rng.normal(size=(50, dims))
    moved = np.linalg.norm(points @ turn.T - points, axis=1) / np.linalg.norm(points, axis=1)
    expected = 2 * np.sin(angle / 2)
    if dims % 2 == 0:
        np.testing.assert_allclose(moved, expected, rtol=1e-9)
    else:
        assert moved.max() <= expected + 1e-9 and moved.mean() > 0.5 * expected


@pytest.mark.parametrize(
    ("scenario", "turned", "drifts"),
    [("classil", False, False), ("taskil", True, False), ("domainil", True, False),
     ("timeil", False, True)],
)  # fmt: skip
def test_each_scenario_gets_only_its_shift(scenario, turned, drifts):
    shape = FeatureShape.for_scenario(scenario, domain_rotation=1.5, drift=0.7)
    assert (shape.domain_rotation == 1.5) is turned
    assert (shape.drift == 0.7) is drifts


def test_a_knob_given_per_scenario_takes_that_scenarios_value():
    per = {"taskil": 0.5, "classil": 0.5, "domainil": 0.5, "timeil": 4.0}
    assert FeatureShape.for_scenario("timeil", time_shift=per, noise=2.0).time_shift == 4.0
    assert FeatureShape.for_scenario("taskil", time_shift=per, noise=2.0).time_shift == 0.5
    classes = np.arange(4000) % 4
    clean = noisy_labels(
        np.random.default_rng(0), classes, 4, {"taskil": 0.0, "classil": 0.5}, "taskil"
    )
    noisy = noisy_labels(
        np.random.default_rng(0), classes, 4, {"taskil": 0.0, "classil": 0.5}, "classil"
    )
    assert np.array_equal(clean, classes)
    assert (
        0.3 < np.mean(noisy != classes) < 0.45
    )  # half redrawn, a quarter of those to the same class


def test_domain_turn_moves_class_means_and_markers_tell_domains_apart():
    """Without noise, a class's mean is the same in every domain only when there is neither
    a turn nor a marker; the marker alone moves it a little, the turn far."""
    n = 4000
    draw = np.random.default_rng(1)
    classes, domains = draw.integers(0, 4, size=n), draw.integers(0, 2, size=n)
    times = np.zeros(n, dtype=np.int64)

    def class_gap(rotation: float, marker: float) -> float:
        shape = FeatureShape(
            separation=2.0, noise=0.0, domain_rotation=rotation, domain_shift=marker
        )
        feats = latent_features(np.random.default_rng(0), classes, domains, times, 16, shape)
        means = [feats[(classes == 0) & (domains == d)].mean(0).numpy() for d in (0, 1)]
        return float(np.linalg.norm(means[0] - means[1]))

    assert class_gap(0.0, 0.0) < 1e-5
    assert 0.1 < class_gap(0.0, 0.5) < 1.5
    assert class_gap(1.5, 0.0) > 2 * class_gap(0.0, 0.5)


def test_features_need_no_per_node_matrix():
    """200k nodes x 64 features: a rotation per node would take 6.5 GB; the features alone
    take 100 MB, and the generator stays within a few copies of that."""
    import tracemalloc

    draw = np.random.default_rng(0)
    n = 200_000
    classes, domains, times = (draw.integers(0, k, size=n) for k in (8, 4, 4))
    tracemalloc.start()
    feats = latent_features(draw, classes, domains, times, 64, FeatureShape())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert feats.shape == (n, 64)
    assert peak < 8 * n * 64 * 8  # a few float64 n x f arrays, not n x f x f


def test_time_homophily_keeps_a_steps_links_among_the_nodes_of_that_step():
    """Every link joins a node arriving at its step to one that arrived no later; with
    time_homophily 0.9 about that share (and a few more by chance) arrived at the same step."""
    from cgl.datasets.synthetic.links import _arriving_links

    draw = np.random.default_rng(0)
    n = 2000
    groups, domains = draw.integers(0, 8, n), draw.integers(0, 4, n)
    arrival = np.sort(draw.integers(0, 4, n))
    partner = np.tile(np.arange(8), (4, 1))
    same_step = {}
    for share in (0.0, 0.9):
        src, dst, time = _arriving_links(
            np.random.default_rng(1), groups, domains, arrival, partner, 8000, 0.8, 0.9, share
        )
        assert np.array_equal(arrival[src], time) and np.all(arrival[dst] <= time)
        same_step[share] = np.mean(arrival[dst] == time)
    assert 0.9 <= same_step[0.9] < 0.97
    assert same_step[0.0] < 0.6
