"""Tests of planner.siting.inputs: bad input raises PlannerError naming what was given."""

from __future__ import annotations

import numpy as np
import pytest

from planner.errors import PlannerError
from planner.siting import budget_curve, coverage_matrix, lscp, mclp, pmedian


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c, w: mclp(c, w, 1.0, 9), "p=9"),
        (lambda c, w: mclp(c, w[:2], 1.0, 1), "weights"),
        (lambda c, w: mclp(-c, w, 1.0, 1), "negative"),
        (lambda c, w: mclp(c, w, -1.0, 1), "radius"),
        (lambda c, w: mclp(c, w, 1.0, 1, method="exact"), "method"),
        (lambda c, w: mclp(c, w, 1.0, 1, fixed=[7]), "site indices"),
        (lambda c, w: mclp(c, w, 1.0, 1, capacity=[1.0, 2.0]), "capacity"),
        (lambda c, w: mclp(c, w, 1.0, 1, capacity=5.0, method="heuristic"), "capacity"),
        (lambda c, w: lscp(c, 1.0, time_limit=0), "time_limit"),
        (lambda c, w: pmedian(c, w, 0), "at least one"),
        (lambda c, w: budget_curve(coverage_matrix(c, 1.0), w, 4), "k=4"),
    ],
)
def test_bad_input_raises_planner_error(call, message):
    cost = np.arange(12, dtype=float).reshape(4, 3)
    with pytest.raises(PlannerError, match=message):
        call(cost, np.ones(4))


@pytest.mark.parametrize(
    ("min_open", "p", "message"),
    [
        ([([0, 1], 1), ([1, 2], 1)], 2, "disjoint"),
        ([([0], 2)], 2, "only 1 site"),
        ([([0], 1), ([1], 1), ([2], 1)], 2, "need 3 new site"),
        ([([0], -1)], 1, "non-negative"),
        ([[0]], 1, "pair"),
    ],
)
def test_min_open_bad_input(min_open, p, message):
    cost = np.zeros((2, 3))
    with pytest.raises(PlannerError, match=message):
        mclp(cost, np.ones(2), 1.0, p, min_open=min_open)
