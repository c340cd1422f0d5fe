"""MAS (Aljundi et al., ECCV 2018): the core once, BeGin's trainer classes generated from it."""

from collections.abc import Mapping
from typing import Any

from cgl.algorithms.mas.core import ESTIMATORS, MASMixin, MASRegularizer, batch_importance
from cgl.algorithms.method import Method, export
from cgl.algorithms.per_item import sample_importance
from cgl.algorithms.settings import check_nonnegative, check_one_of, check_positive_int


def check_settings(kwargs: Mapping[str, Any]) -> None:
    """MAS's own settings: its strength, estimator and chunk size."""
    check_nonnegative("mas", kwargs, "lamb", "the weight of the MAS penalty")
    check_one_of(
        "mas",
        kwargs,
        "importance",
        ESTIMATORS,
        "batch: BeGin's (the default), sample: the paper's exact per-item mean, cglb: CGLB's",
    )
    check_positive_int("mas", kwargs, "chunk_size")


METHOD = Method(name="mas", title="MAS", mixin=MASMixin, check=check_settings)
__all__ = [*export(METHOD, globals()), "MASMixin", "MASRegularizer", "batch_importance"]
__all__ += ["sample_importance"]
