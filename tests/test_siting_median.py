"""Tests of planner.siting.median (p-median): San Francisco value, brute force, unreachable
demand."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from siting_helpers import FAST, as_sparse, check_solution, instances, new_site_sets, sf_costs

from planner.errors import PlannerError
from planner.siting import pmedian


@pytest.fixture(scope="module")
def sf() -> tuple[np.ndarray, np.ndarray]:
    """Network distances (205 tracts × 16 stores) and POP2000 (spopt's San Francisco)."""
    return sf_costs()


def test_sf_pmedian_matches_spopt(sf):
    cost, pop = sf
    result = pmedian(cost, pop, 4)
    assert result.status == "optimal"
    assert result.objective / pop.sum() == pytest.approx(2982.1268579890657, rel=1e-12)
    served = cost[np.arange(cost.shape[0]), result.assignment]
    assert np.allclose(served, cost[:, result.selected].min(axis=1))


@given(instances())
@FAST
def test_pmedian_equals_brute_force(instance):
    cost, w, fixed, p, _ = instance
    if p + fixed.size == 0:
        with pytest.raises(PlannerError):
            pmedian(cost, w, p, fixed=fixed)
        return
    costs = []
    for s in new_site_sets(cost.shape[1], fixed, p):
        near = cost[:, s].min(axis=1)
        if np.isfinite(near[w > 0]).all():
            costs.append(float(w[w > 0] @ near[w > 0]))
    if not costs:
        for method in ("mip", "heuristic"):
            with pytest.raises(PlannerError):
                pmedian(cost, w, p, fixed=fixed, method=method)
        return
    best = min(costs)
    exact = pmedian(cost, w, p, fixed=fixed, method="mip")
    assert exact.objective == pytest.approx(best, abs=1e-9)
    assert pmedian(as_sparse(cost), w, p, fixed=fixed).objective == pytest.approx(best, abs=1e-9)
    for result in (exact, pmedian(cost, w, p, fixed=fixed, method="heuristic")):
        check_solution(result, fixed, p + fixed.size)
        assert result.bound <= best + 1e-9 and result.objective >= best - 1e-9
        near = cost[:, result.selected].min(axis=1)
        ok = w > 0
        assert result.objective == pytest.approx(float(w[ok] @ near[ok]), abs=1e-9)
        assert (cost[ok, result.assignment[ok]] == near[ok]).all()


def test_pmedian_sparse_unreachable_demand():
    lonely = sp.csr_array(([1.0, 0.0], ([0, 1], [0, 1])), shape=(3, 2))
    with pytest.raises(PlannerError, match="reach no site"):
        pmedian(lonely, np.ones(3), 2)
    split = sp.csr_array(([1.0, 0.0], ([0, 1], [0, 1])), shape=(2, 2))
    with pytest.raises(PlannerError, match="no solution reaching every demand"):
        pmedian(split, np.ones(2), 1)
    result = pmedian(split, np.ones(2), 2)
    assert result.objective == 1.0 and result.assignment.tolist() == [0, 1]
