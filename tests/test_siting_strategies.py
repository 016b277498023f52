"""Tests of planner.siting.strategies: reduced-cost fixing and minimums per group."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from siting_helpers import (
    FAST,
    as_sparse,
    check_solution,
    instances,
    meets,
    min_open_groups,
    new_site_sets,
)

from planner.errors import PlannerError
from planner.siting import mclp
from planner.siting import strategies as _strategies


@given(st.integers(0, 2**31 - 1), st.integers(1, 4))
@settings(max_examples=25, deadline=None)
def test_mclp_exact_after_reduced_cost_fixing(seed, p):
    """An empty kernel forces the exact MIP over the sites the LP's reduced costs leave."""
    rng = np.random.default_rng(seed)
    cost = rng.uniform(0, 10, size=(30, 11))
    w = rng.integers(1, 30, size=30).astype(float)
    within = cost <= 3.0
    best = max(w[within[:, s].any(axis=1)].sum() for s in itertools.combinations(range(11), p))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_strategies, "KERNEL_FACTOR", 0)
        result = mclp(cost, w, 3.0, p, method="mip", mip_gap=0.0)
    assert result.objective == best and result.bound == best and result.status == "optimal"


@given(instances(), st.integers(0, 2**31 - 1))
@FAST
def test_mclp_min_open_equals_brute_force(instance, seed):
    cost, w, fixed, p, radius = instance
    within = cost <= radius
    groups = min_open_groups(cost.shape[1], seed)
    feasible = [s for s in new_site_sets(cost.shape[1], fixed, p) if meets(s, groups)]
    if not feasible:
        with pytest.raises(PlannerError, match=r"min_open|minimums"):
            mclp(cost, w, radius, p, fixed=fixed, min_open=groups)
        return
    best = max(w[within[:, s].any(axis=1)].sum() for s in feasible)
    for method in ("mip", "auto"):
        result = mclp(as_sparse(cost), w, radius, p, fixed=fixed, min_open=groups, method=method)
        check_solution(result, fixed, p + fixed.size)
        assert meets(result.selected, groups)
        assert result.objective == best and result.status == "optimal"
    heuristic = mclp(cost, w, radius, p, fixed=fixed, min_open=groups, method="heuristic")
    check_solution(heuristic, fixed, p + fixed.size)
    assert meets(heuristic.selected, groups)
    assert heuristic.objective <= best <= heuristic.bound
    assert heuristic.objective == w[within[:, heuristic.selected].any(axis=1)].sum()


def test_min_open_forces_a_site_into_an_empty_group():
    """A group whose sites reach nobody still gets its site; the rest go where they count."""
    cost = np.array([[0.0, 5.0, np.inf], [0.0, 5.0, np.inf], [5.0, 0.0, np.inf]])
    w = np.array([10.0, 10.0, 1.0])
    plain = mclp(cost, w, 1.0, 1)
    forced = mclp(cost, w, 1.0, 2, min_open=[([2], 1)])
    assert plain.selected.tolist() == [0]
    assert forced.selected.tolist() == [0, 2] and forced.objective == 20.0
