"""AP, AF, FWT, INT and the forgetting matrix against hand computation on known matrices."""

import math

import numpy as np
import pytest

from cgl.evaluation.metrics import (
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
                assert f[i, j] == pytest.approx(M[i, j] - M[j, j])
            else:
                assert math.isnan(f[i, j])
    assert np.allclose(np.diag(f), 0.0)


def test_forgetting_matrix_and_af_share_one_sign():
    """Forgetting is negative in both (BeGin's and CGLB's tables): AF is the mean of the
    matrix's last row over the tasks before the last, and a forgotten task shows below 0."""
    f = forgetting_matrix(M)
    assert average_forgetting(M) == pytest.approx(np.mean(f[-1, :-1]))
    assert f[2, 0] == pytest.approx(0.5 - 0.9)  # task 0 fell from 0.9 to 0.5: below 0


def test_forward_transfer_of_task_il_with_a_hand_made_init_row():
    """Task-IL scores task j before training it among task j's classes, and so does the
    untrained model: FWT = mean over j >= 1 of (M[j-1, j] - init[j])."""
    matrix = np.array([[0.8, 0.55, 0.40, 0.8], [0.7, 0.9, 0.60, 0.8], [0.6, 0.8, 0.95, 0.78]])
    init = np.array([0.5, 0.45, 0.50, 0.48])
    assert forward_transfer(matrix, init) == pytest.approx(((0.55 - 0.45) + (0.60 - 0.50)) / 2)
    assert summarize(matrix, matrix, init)["FWT"] == pytest.approx(0.1)
    assert math.isnan(summarize(matrix, matrix, None)["FWT"])  # no comparable init row


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
