"""Tests of planner.siting.lscp_backup (LSCP-B): spopt's LSCPB optima, brute force, fixed
sites, weights, a larger p, unreachable demand."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from siting_helpers import FAST, as_sparse, check_solution, instances, sf_costs, spopt_solver

from planner.errors import PlannerError
from planner.siting import lscp_backup


def _spopt_lscpb(cost: np.ndarray, radius: float, fixed: np.ndarray) -> tuple[float, float]:
    """spopt's LSCPB objective and its LSCP stage's number of sites."""
    locate = pytest.importorskip("spopt.locate")
    solver = spopt_solver()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = locate.LSCPB.from_cost_matrix(
            cost, radius, solver, predefined_facilities_arr=fixed if fixed.size else None
        )
        model.solve(solver)
    return float(model.problem.objective.value()), float(model.lscp_obj_value)


def _brute_force(cover: np.ndarray, w: np.ndarray, fixed: np.ndarray, extra: int):
    """Fewest new sites covering every coverable row, and the best covered-twice weight
    with that many (plus ``extra``) new sites; ``None`` when there are not enough sites."""
    m = cover.shape[1]
    free = [j for j in range(m) if j not in set(fixed.tolist())]
    coverable = cover.any(axis=1)

    def sets(k):
        for new in itertools.combinations(free, k):
            s = np.array(sorted([*fixed.tolist(), *new]), dtype=int)
            if (cover[:, s].any(axis=1) >= coverable).all():
                yield s

    least = next(k for k in range(len(free) + 1) if any(True for _ in sets(k)))
    if least + extra > len(free):
        return least, None
    best = max(float(w[cover[:, s].sum(axis=1) >= 2].sum()) for s in sets(least + extra))
    return least, best


def test_sf_lscp_backup_matches_spopt():
    cost, _ = sf_costs()
    result = lscp_backup(cost, 5000)
    # spopt 0.7 LSCPB with HiGHS: 8 sites, objective 167, of which 22 tracts have a
    # single store within 5,000 m (spopt counts them as covered twice)
    single = int(((cost <= 5000).sum(axis=1) == 1).sum())
    assert single == 22
    assert result.objective + single == 167 and result.selected.size == 8
    assert result.status == "optimal" and result.gap == 0.0
    assert int(((cost[:, result.selected] <= 5000).sum(axis=1) >= 2).sum()) == 145


@pytest.mark.parametrize("seed", range(4))
def test_lscp_backup_matches_spopt_with_predefined_sites(seed):
    rng = np.random.default_rng(seed)
    demand, sites = rng.uniform(0, 100, (30, 2)), rng.uniform(0, 100, (10, 2))
    cost = np.hypot(*(demand[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    radius = float(np.sort(cost, axis=1)[:, 0].max())  # every demand coverable
    fixed = np.sort(rng.choice(10, size=seed % 3, replace=False))
    objective, sites_total = _spopt_lscpb(cost, radius, fixed)
    result = lscp_backup(cost, radius, fixed=fixed)
    single = int(((cost <= radius).sum(axis=1) < 2).sum())
    assert result.objective + single == pytest.approx(objective)
    assert result.selected.size == sites_total and result.status == "optimal"
    check_solution(result, fixed, int(sites_total))
    assert result.covered.all()


@given(instances(), st.booleans(), st.integers(0, 1))
@FAST
def test_lscp_backup_equals_brute_force(instance, weighted, extra):
    cost, w, fixed, _, radius = instance
    w = w if weighted else np.ones(cost.shape[0])
    cover = cost <= radius
    least, best = _brute_force(cover, w, fixed, extra)
    kwargs = {"weights": w if weighted else None, "fixed": fixed}
    if best is None:
        with pytest.raises(PlannerError):
            lscp_backup(cost, radius, p=least + extra, **kwargs)
        return
    for given_cost in (cost, as_sparse(cost)):
        p = None if extra == 0 else least + extra
        result = lscp_backup(given_cost, radius, p=p, **kwargs)
        check_solution(result, fixed, fixed.size + least + extra)
        assert result.objective == pytest.approx(best, abs=1e-9)
        assert result.bound == pytest.approx(best, abs=1e-6) and result.status == "optimal"
        counts = cover[:, result.selected].sum(axis=1)
        assert result.objective == pytest.approx(float(w[counts >= 2].sum()), abs=1e-9)
        assert (result.covered == (counts >= 1)).all()
        assert (result.uncoverable == ~cover.any(axis=1)).all()
        assert result.covered[~result.uncoverable].all()
    if least > 0:
        with pytest.raises(PlannerError, match=f"needs {least} new site"):
            lscp_backup(cost, radius, p=least - 1, **kwargs)


def test_lscp_backup_fixed_sites_count_twice():
    # rows 0-2; site 0 fixed reaches rows 0 and 1; sites 1, 2 reach row 2, site 1 also row 0
    cost = np.array([[1.0, 1.0, 9.0], [1.0, 9.0, 9.0], [9.0, 1.0, 1.0]])
    result = lscp_backup(cost, 2.0, fixed=[0])
    assert result.selected.tolist() == [0, 1]  # site 1 also backs up row 0
    assert result.objective == 1.0
    weighted = lscp_backup(cost, 2.0, fixed=[0], weights=[5.0, 1.0, 2.0], p=2)
    assert weighted.objective == 7.0  # rows 0 and 2 twice
