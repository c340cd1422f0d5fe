"""The embedded synthetic default: one generator per level, chosen by `level`.

Every generator is deterministic in its seed and produces labels, domains and time steps at
once, so that any supported scenario can be cut from the same data.
"""

from __future__ import annotations

from typing import Any

from cgl.datasets.base import ContinualData


def make_synthetic(level: str, seed: int, **sizes: dict[str, Any]) -> ContinualData:
    """Build the synthetic dataset for `level` from the size block of that level.

    `sizes` holds one block per level family (`nodes`, `links`, `graphs`) so that a single
    config file serves every level; only the block this level needs is used.
    """
    if level == "nc":
        from cgl.datasets.synthetic.nodes import synthetic_nodes

        return synthetic_nodes(seed=seed, **sizes["nodes"])
    if level in ("lc", "lp"):
        from cgl.datasets.synthetic.links import synthetic_links

        return synthetic_links(level=level, seed=seed, **sizes["links"])
    if level == "gc":
        from cgl.datasets.synthetic.graphs import synthetic_graphs

        return synthetic_graphs(seed=seed, **sizes["graphs"])
    raise ValueError(f"no synthetic generator for level '{level}'")
