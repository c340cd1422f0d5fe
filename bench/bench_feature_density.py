"""Where sparse input features pay: the first GCN layer's product X·W and its weight gradient
Xᵀ·δ with X dense against X sparse (cgl.models.sparse_input), by share of non-zeros.

The ratio sparse / dense sets `sparse_max_density` (conf/config.yaml): below about 1 the
sparse layout is faster. Random features of the given widths, 256 outputs, one thread.

    python bench/bench_feature_density.py [--nodes 5000] [--widths 64 500 1433 4000]
        [--densities 0.01 0.05 0.1 0.2 0.3]
"""

from __future__ import annotations

import argparse
import time

import torch

from cgl.datasets.layout import in_layout
from cgl.models.sparse_input import SparseProduct, sparse_rows


def seconds_per_call(step, calls: int = 20) -> float:
    step()  # warm-up: builds the CSR forms of the sparse input once, as a trainer's first epoch
    start = time.process_time()
    for _ in range(calls):
        step()
    return (time.process_time() - start) / calls


def first_layer_ms(feat: torch.Tensor, out_feats: int = 256) -> tuple[float, float]:
    """ms of X·W forward plus backward to W, dense and sparse."""
    weight = torch.randn(feat.shape[1], out_feats, requires_grad=True)
    grad = torch.randn(feat.shape[0], out_feats)
    sparse = in_layout(feat, max_density=1.0)

    def dense_step() -> None:
        (feat @ weight).backward(grad)

    def sparse_step() -> None:
        SparseProduct.apply(weight, sparse_rows(sparse)).backward(grad)

    return seconds_per_call(dense_step) * 1e3, seconds_per_call(sparse_step) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 500, 1433, 4000])
    parser.add_argument("--densities", type=float, nargs="+", default=[0.01, 0.05, 0.1, 0.2, 0.3])
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    print(f"{'width':>6} {'density':>8} {'dense ms':>9} {'sparse ms':>10} {'sparse/dense':>13}")
    for width in args.widths:
        for share in args.densities:
            keep = torch.rand(args.nodes, width, generator=gen) < share
            feat = torch.rand(args.nodes, width, generator=gen) * keep
            dense, sparse = first_layer_ms(feat)
            print(f"{width:>6} {share:>8.2f} {dense:>9.2f} {sparse:>10.2f} {sparse / dense:>13.2f}")


if __name__ == "__main__":
    main()
