"""AP, AF, FWT, INT and the forgetting matrix against hand computation on known matrices."""

import math

import numpy as np
import pytest

from cgl.metrics import (
    average_forgetting,
    average_performance,
    forgetting_matrix,
    forward_transfer,
    intransigence,
    summarize,
)

# 3 tasks; the last column (all seen tasks) must be ignored by every metric.
M = np.array(
    [
        [0.9, 0.1, 0.2, 0.9],
        [0.6, 0.8, 0.3, 0.7],
        [0.5, 0.4, 0.7, 0.55],
    ]
)
JOINT = np.array(
    [
        [0.95, 0.0, 0.0, 0.95],
        [0.9, 0.9, 0.0, 0.9],
        [0.9, 0.85, 0.8, 0.85],
    ]
)
INIT = np.array([0.3, 0.2, 0.1, 0.2])


def test_average_performance_is_mean_of_last_row():
    assert average_performance(M) == pytest.approx((0.5 + 0.4 + 0.7) / 3)


def test_average_forgetting_by_hand():
    # (M[2,0] - M[0,0]) + (M[2,1] - M[1,1]) over N-1 = 2
    assert average_forgetting(M) == pytest.approx(((0.5 - 0.9) + (0.4 - 0.8)) / 2)


def test_forward_transfer_by_hand():
    # (M[0,1] - init[1]) + (M[1,2] - init[2]) over N-1 = 2
    assert forward_transfer(M, INIT) == pytest.approx(((0.1 - 0.2) + (0.3 - 0.1)) / 2)


def test_intransigence_by_hand():
    assert intransigence(M, JOINT) == pytest.approx(((0.95 - 0.9) + (0.9 - 0.8) + (0.8 - 0.7)) / 3)


def test_forgetting_matrix_definition():
    f = forgetting_matrix(M)
    assert f.shape == (3, 3)
    for i in range(3):
        for j in range(3):
            if i >= j:
                assert f[i, j] == pytest.approx(M[j, j] - M[i, j])
            else:
                assert math.isnan(f[i, j])
    assert np.allclose(np.diag(f), 0.0)


def test_single_task_has_no_forgetting_or_transfer():
    one = np.array([[0.8, 0.8]])
    assert average_performance(one) == pytest.approx(0.8)
    assert math.isnan(average_forgetting(one))
    assert math.isnan(forward_transfer(one, np.array([0.1, 0.1])))


def test_summary_uses_val_for_model_selection():
    val = M - 0.05
    s = summarize(M, val, INIT)
    assert s["val_AP"] == pytest.approx(average_performance(val))
    assert s["AP"] == pytest.approx(average_performance(M))
