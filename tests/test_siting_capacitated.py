"""Tests of planner.siting.capacitated: capacitated MCLP against max-flow brute force."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from siting_helpers import check_solution, instances, meets, min_open_groups, new_site_sets

from planner.errors import PlannerError
from planner.siting import mclp


def _served_by_flow(within, w, capacity, sites) -> float:
    """Max weight the open ``sites`` can serve (splittable demand): a max-flow."""
    g = nx.DiGraph()
    for i in np.flatnonzero(w > 0):
        g.add_edge("s", ("d", i), capacity=float(w[i]))
        for j in sites:
            if within[i, j]:
                g.add_edge(("d", i), ("f", j))
    for j in sites:
        g.add_edge(("f", j), "t", capacity=float(capacity[j]))
    return nx.maximum_flow_value(g, "s", "t") if "s" in g and "t" in g else 0.0


@given(instances(), st.integers(0, 2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_capacitated_mclp_equals_max_flow_brute_force(instance, seed):
    cost, w, fixed, p, radius = instance
    within = cost <= radius
    capacity = np.random.default_rng(seed).integers(0, 40, size=cost.shape[1]).astype(float)
    best = max(
        _served_by_flow(within, w, capacity, s) for s in new_site_sets(cost.shape[1], fixed, p)
    )
    result = mclp(cost, w, radius, p, fixed=fixed, capacity=capacity)
    check_solution(result, fixed, p + fixed.size)
    assert result.objective == pytest.approx(best, abs=1e-6)
    assert result.objective == pytest.approx(float(w @ result.served), abs=1e-9)
    assert result.bound >= best - 1e-6
    assert _served_by_flow(within, w, capacity, result.selected) == pytest.approx(best, abs=1e-6)


def test_unlimited_capacity_equals_plain_mclp():
    rng = np.random.default_rng(3)
    cost = rng.uniform(0, 10, size=(40, 8))
    w = rng.integers(1, 50, size=40).astype(float)
    plain = mclp(cost, w, 3.0, 3)
    unlimited = mclp(cost, w, 3.0, 3, capacity=np.inf)
    assert unlimited.objective == plain.objective
    assert (unlimited.covered == plain.covered).all()
    assert ((unlimited.assignment >= 0) == unlimited.covered).all()


@given(instances(), st.integers(0, 2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_capacitated_mclp_min_open_equals_max_flow_brute_force(instance, seed):
    cost, w, fixed, p, radius = instance
    within = cost <= radius
    capacity = np.random.default_rng(seed).integers(0, 40, size=cost.shape[1]).astype(float)
    groups = min_open_groups(cost.shape[1], seed + 1)
    feasible = [s for s in new_site_sets(cost.shape[1], fixed, p) if meets(s, groups)]
    if not feasible:
        with pytest.raises(PlannerError):
            mclp(cost, w, radius, p, fixed=fixed, capacity=capacity, min_open=groups)
        return
    best = max(_served_by_flow(within, w, capacity, s) for s in feasible)
    result = mclp(cost, w, radius, p, fixed=fixed, capacity=capacity, min_open=groups)
    check_solution(result, fixed, p + fixed.size)
    assert meets(result.selected, groups)
    assert result.objective == pytest.approx(best, abs=1e-6)
