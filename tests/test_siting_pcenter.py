"""Tests of planner.siting.pcenter: spopt's PCenter optima, brute force, fixed sites,
weights, unreachable pairs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from siting_helpers import (
    FAST,
    as_sparse,
    check_solution,
    instances,
    new_site_sets,
    sf_costs,
    spopt_solver,
)

from planner.errors import PlannerError
from planner.siting import pcenter


def _worst(cost: np.ndarray, w: np.ndarray, sites: np.ndarray) -> float:
    """Worst weighted cost to the nearest of ``sites`` over positive-weight rows."""
    near = cost[:, sites].min(axis=1) if sites.size else np.full(cost.shape[0], np.inf)
    ok = w > 0
    return float((w[ok] * near[ok]).max(initial=0.0))


def _spopt_pcenter(cost: np.ndarray, p_total: int, fixed: np.ndarray) -> float:
    """spopt's PCenter optimum (p counts every open site, predefined ones included)."""
    locate = pytest.importorskip("spopt.locate")
    solver = spopt_solver()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = locate.PCenter.from_cost_matrix(
            cost, p_facilities=p_total,
            predefined_facilities_arr=fixed if fixed.size else None,
        )  # fmt: skip
        model.solve(solver)
    return float(model.problem.objective.value())


@pytest.mark.parametrize(
    ("p", "expected"),
    [(2, 9130.758740990761), (4, 7403.063810849859), (6, 5903.667154450694)],
)
def test_sf_pcenter_matches_spopt(p, expected):
    cost, _ = sf_costs()  # values: spopt 0.7 PCenter with HiGHS on the same matrix
    result = pcenter(cost, p=p)
    assert result.status == "optimal" and result.gap == 0.0
    assert result.objective == pytest.approx(expected, rel=1e-12)
    check_solution(result, np.empty(0, dtype=int), p)
    assert result.objective == _worst(cost, np.ones(cost.shape[0]), result.selected)


@pytest.mark.parametrize("seed", range(4))
def test_pcenter_matches_spopt_with_predefined_sites(seed):
    rng = np.random.default_rng(seed)
    demand, sites = rng.uniform(0, 100, (25, 2)), rng.uniform(0, 100, (9, 2))
    cost = np.hypot(*(demand[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    fixed = np.sort(rng.choice(9, size=seed % 3, replace=False))
    p = 2
    expected = _spopt_pcenter(cost, p + fixed.size, fixed)
    result = pcenter(cost, p=p, fixed=fixed)
    assert result.objective == pytest.approx(expected, rel=1e-6)  # CBC rounds its LP file
    assert result.status == "optimal"
    check_solution(result, fixed, p + fixed.size)


@given(instances(), st.booleans())
@FAST
def test_pcenter_equals_brute_force(instance, weighted):
    cost, w, fixed, p, _ = instance
    w = w if weighted else np.ones(cost.shape[0])
    if p + fixed.size == 0:
        with pytest.raises(PlannerError, match="at least one open site"):
            pcenter(cost, p=p, fixed=fixed)
        return
    values = [_worst(cost, w, s) for s in new_site_sets(cost.shape[1], fixed, p)]
    finite = [v for v in values if np.isfinite(v)]
    kwargs = {"weights": w if weighted else None, "fixed": fixed}
    if not finite:
        with pytest.raises(PlannerError, match="reach"):
            pcenter(cost, p=p, **kwargs)
        return
    best = min(finite)
    for given_cost in (cost, as_sparse(cost)):
        for method in ("auto", "heuristic"):
            result = pcenter(given_cost, p=p, method=method, **kwargs)
            assert result.objective == best and result.bound == best
            assert result.status == "optimal"
            check_solution(result, fixed, p + fixed.size)
            assert _worst(cost, w, result.selected) == best
            near = cost[:, result.selected].min(axis=1)
            reached = np.isfinite(near)
            assert (result.covered == reached).all()
            assert (cost[reached, result.assignment[reached]] == near[reached]).all()
            assert (result.assignment[~reached] == -1).all()


def test_pcenter_weights_change_the_answer():
    cost = np.array([[0.0, 10.0], [10.0, 0.0], [4.0, 7.0]])
    assert pcenter(cost, p=1).objective == 10.0  # either site leaves one row at 10
    heavy = pcenter(cost, p=1, weights=[1.0, 5.0, 1.0])  # site 0: 5 × 10; site 1: 10
    assert heavy.selected.tolist() == [1] and heavy.objective == 10.0
    light = pcenter(cost, p=1, weights=[5.0, 1.0, 2.0])  # site 0: 10; site 1: 5 × 10
    assert light.selected.tolist() == [0] and light.objective == 10.0


def test_pcenter_fixed_and_zero_costs_sparse():
    # stored zeros are real zero costs; the fixed site serves rows 0 and 1 at cost 0
    cost = sp.csr_array(([0.0, 0.0, 3.0, 0.0, 7.0], ([0, 1, 2, 2, 2], [0, 0, 0, 1, 2])),
                        shape=(3, 3))  # fmt: skip
    result = pcenter(cost, p=1, fixed=[0])
    assert result.selected.tolist() == [0, 1] and result.objective == 0.0
    assert pcenter(cost, p=0, fixed=[0]).objective == 3.0


def test_pcenter_unreachable_rows():
    lonely = sp.csr_array(([1.0], ([0], [0])), shape=(2, 2))
    with pytest.raises(PlannerError, match="reach no site"):
        pcenter(lonely, p=1)
    assert pcenter(lonely, p=1, weights=[1.0, 0.0]).objective == 1.0
    split = np.array([[1.0, np.inf], [np.inf, 2.0]])
    with pytest.raises(PlannerError, match="no solution reaching every demand"):
        pcenter(split, p=1)
    assert pcenter(split, p=2).objective == 2.0
