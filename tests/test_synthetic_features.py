"""The synthetic feature generator: one matmul per domain, the same features as the
n x f x f rotation stack it replaced, memory linear in the nodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cgl.datasets.synthetic.features import class_conditioned_features


def stacked_rotation_features(rng, classes, domains, times, num_feats, separation, noise,
                              domain_shift, drift) -> torch.Tensor:  # fmt: skip
    """The former implementation, kept as the reference: one f x f rotation per node."""
    num_classes = int(classes.max()) + 1
    num_domains = int(domains.max()) + 1
    means = rng.normal(size=(num_classes, num_feats)) * separation
    drift_dirs = rng.normal(size=(num_classes, num_feats))
    drift_dirs /= np.linalg.norm(drift_dirs, axis=1, keepdims=True)
    rotations = [np.eye(num_feats)] + [
        np.linalg.qr(rng.normal(size=(num_feats, num_feats)))[0] for _ in range(num_domains - 1)
    ]
    offsets = rng.normal(size=(num_domains, num_feats)) * domain_shift
    offsets[0] = 0.0
    base = means[classes] + drift * times[:, None] * drift_dirs[classes] * separation
    rotated = np.einsum("nij,nj->ni", np.stack(rotations)[domains], base)
    feats = rotated + offsets[domains] + rng.normal(size=base.shape) * noise
    return torch.tensor(feats, dtype=torch.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("num_feats", [8, 32])
def test_features_equal_the_stacked_rotation_reference(seed, num_feats):
    draw = np.random.default_rng(100 + seed)
    classes, domains, times = (draw.integers(0, k, size=300) for k in (6, 4, 5))
    settings = dict(num_feats=num_feats, separation=1.0, noise=0.5, domain_shift=1.5, drift=1.0)
    items = (classes, domains, times)
    new = class_conditioned_features(np.random.default_rng(seed), *items, **settings)
    old = stacked_rotation_features(np.random.default_rng(seed), *items, **settings)
    assert new.dtype == torch.float32 and new.shape == (300, num_feats)
    assert torch.equal(new, old)


def test_features_need_no_per_node_matrix():
    """200k nodes x 64 features: a rotation per node would take 6.5 GB; the features alone
    take 100 MB, and the generator stays within a few copies of that."""
    import tracemalloc

    draw = np.random.default_rng(0)
    n = 200_000
    classes, domains, times = (draw.integers(0, k, size=n) for k in (8, 4, 4))
    tracemalloc.start()
    feats = class_conditioned_features(draw, classes, domains, times, 64, 1.0, 1.0, 1.5, 1.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert feats.shape == (n, 64)
    assert peak < 8 * n * 64 * 8  # a few float64 n x f arrays, not n x f x f
