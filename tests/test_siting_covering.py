"""Tests of planner.siting.covering (MCLP, LSCP, curve and ranks): published San Francisco
values, brute force, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from siting_helpers import FAST, as_sparse, check_solution, instances, new_site_sets, sf_costs

from planner.siting import budget_curve, coverage_matrix, lscp, mclp, pmedian, rank_by_marginal_gain


@pytest.fixture(scope="module")
def sf() -> tuple[np.ndarray, np.ndarray]:
    """Network distances (205 tracts × 16 stores) and POP2000 (spopt's San Francisco)."""
    return sf_costs()


def test_sf_mclp_matches_spopt(sf):
    cost, pop = sf
    result = mclp(cost, pop, 5000, 4)
    assert result.status == "optimal"
    assert result.objective == 875247
    assert int((~result.covered).sum()) == 21
    assert result.selected.size == 4
    assert result.bound == result.objective and result.gap == 0


def test_sf_lscp_needs_eight_sites(sf):
    cost, _ = sf
    result = lscp(cost, 5000)
    assert result.objective == 8 and result.bound == 8 and result.status == "optimal"
    assert result.covered.all() and not result.uncoverable.any()


def test_sf_heuristics_are_bracketed(sf):
    cost, pop = sf
    cover = mclp(cost, pop, 5000, 4, method="heuristic")
    assert cover.objective <= 875247 <= cover.bound
    median = pmedian(cost, pop, 4, method="heuristic")
    assert (
        median.bound
        <= 2982.1268579890657 * pop.sum() * (1 + 1e-12)
        <= median.objective * (1 + 1e-12)
    )
    sets = lscp(cost, 5000, method="heuristic")
    assert sets.bound <= 8 <= sets.objective and sets.covered.all()


def test_sf_curve_and_ranks(sf):
    cost, pop = sf
    cover = coverage_matrix(cost, 5000)
    best = mclp(cost, pop, 5000, 4)
    curve = budget_curve(cover, pop, 4)
    assert curve["covered_weight"].iloc[4] <= best.objective
    ranks = rank_by_marginal_gain(cover, pop, best.selected)
    assert sorted(s for s, _ in ranks) == best.selected.tolist()
    assert sum(g for _, g in ranks) == best.objective


def test_coverage_matrix_keeps_zero_costs_and_drops_unreachable():
    dense = np.array([[0.0, 5.0, np.inf], [np.nan, 2.0, 0.0]])
    got = coverage_matrix(dense, 2.0)
    assert isinstance(got, sp.csr_matrix) and got.dtype == bool
    assert got.toarray().tolist() == [[True, False, False], [False, True, True]]
    stored = sp.coo_array(([0.0, 2.0, 0.0], ([0, 1, 1], [0, 1, 2])), shape=(2, 3))
    assert coverage_matrix(stored, 2.0).toarray().tolist() == got.toarray().tolist()
    assert coverage_matrix(stored, 1.0).toarray().tolist() == [
        [True, False, False],
        [False, False, True],
    ]


@given(
    st.integers(1, 30),
    st.integers(1, 30),
    st.integers(0, 2**31 - 1),
    st.floats(0, 10),
)
@FAST
def test_coverage_matrix_equals_comparison(n, m, seed, radius):
    cost = np.random.default_rng(seed).uniform(0, 10, size=(n, m))
    expected = cost <= radius
    assert (coverage_matrix(cost, radius).toarray() == expected).all()
    assert (coverage_matrix(sp.csr_array(cost), radius).toarray() == expected).all()


@given(instances())
@FAST
def test_mclp_equals_brute_force(instance):
    cost, w, fixed, p, radius = instance
    within = cost <= radius
    best = max(w[within[:, s].any(axis=1)].sum() for s in new_site_sets(cost.shape[1], fixed, p))
    exact = mclp(cost, w, radius, p, fixed=fixed, method="mip")
    assert exact.objective == best and exact.status == "optimal"
    assert mclp(as_sparse(cost), w, radius, p, fixed=fixed).objective == best
    check_solution(exact, fixed, p + fixed.size)
    assert (exact.covered == within[:, exact.selected].any(axis=1)).all()
    heuristic = mclp(cost, w, radius, p, fixed=fixed, method="heuristic")
    check_solution(heuristic, fixed, p + fixed.size)
    assert heuristic.objective <= best <= heuristic.bound
    assert heuristic.objective == w[within[:, heuristic.selected].any(axis=1)].sum()


@given(instances())
@FAST
def test_lscp_equals_brute_force(instance):
    cost, _, fixed, _, radius = instance
    within = cost <= radius
    m = cost.shape[1]
    need = within.any(axis=1)
    fewest = next(
        p
        for p in range(m - fixed.size + 1)
        if any(within[need][:, s].any(axis=1).all() for s in new_site_sets(m, fixed, p))
    )
    for method in ("mip", "heuristic"):
        result = lscp(cost, radius, fixed=fixed, method=method)
        assert (result.uncoverable == ~need).all()
        assert (result.covered == need).all()
        assert set(fixed.tolist()) <= set(result.selected.tolist())
        assert result.bound <= fixed.size + fewest <= result.objective
        assert result.objective == result.selected.size
        if method == "mip":
            assert result.objective == fixed.size + fewest and result.status == "optimal"


def _naive_greedy(dense, w, covered, allowed, k):
    covered, allowed, picks = covered.copy(), allowed.copy(), []
    for _ in range(k):
        gains = np.array(
            [w[dense[:, j] & ~covered].sum() if allowed[j] else -1.0 for j in range(dense.shape[1])]
        )
        j = int(np.argmax(gains))
        picks.append((j, float(gains[j])))
        covered |= dense[:, j]
        allowed[j] = False
    return picks


@given(st.integers(0, 2**31 - 1), st.integers(0, 4))
@FAST
def test_budget_curve_follows_naive_greedy(seed, n_fixed):
    rng = np.random.default_rng(seed)
    dense = rng.random((30, 9)) < 0.25
    w = rng.integers(0, 9, size=30).astype(float)
    fixed = np.arange(n_fixed)
    k = 9 - n_fixed
    curve = budget_curve(sp.csr_array(dense), w, k, fixed=fixed)
    base = dense[:, fixed].any(axis=1)
    allowed = ~np.isin(np.arange(9), fixed)
    picks = _naive_greedy(dense, w, base, allowed, k)
    assert curve["sites"].tolist() == list(range(k + 1))
    assert curve["site"].tolist()[1:] == [j for j, _ in picks]
    assert curve["marginal_gain"].tolist()[1:] == [g for _, g in picks]
    assert curve["covered_weight"].iloc[0] == w[base].sum()
    assert curve["covered_weight"].iloc[-1] == w[dense.any(axis=1)].sum()
    total = w.sum()
    if total:
        assert np.allclose(curve["coverage_share"], curve["covered_weight"] / total)
    assert (np.diff(curve["marginal_gain"].to_numpy()[1:]) <= 0).all()
    assert set(curve["method"]) == {"greedy"}


def test_rank_by_marginal_gain_orders_new_sites():
    rng = np.random.default_rng(11)
    dense = rng.random((50, 10)) < 0.3
    w = rng.integers(1, 20, size=50).astype(float)
    selected, fixed = np.array([0, 2, 5, 7, 9]), np.array([2])
    ranks = rank_by_marginal_gain(dense, w, selected, fixed=fixed)
    allowed = np.isin(np.arange(10), [0, 5, 7, 9])
    assert ranks == _naive_greedy(dense, w, dense[:, fixed].any(axis=1), allowed, 4)


@given(st.integers(0, 2**31 - 1), st.integers(0, 3), st.integers(0, 9))
@FAST
def test_ranks_follow_naive_greedy_over_the_selected_sites(seed, n_fixed, n_selected):
    rng = np.random.default_rng(seed)
    dense = rng.random((30, 12)) < 0.2
    w = rng.integers(0, 4, size=30).astype(float)  # many ties, some zero weights
    fixed = np.arange(n_fixed)
    selected = np.sort(rng.choice(np.arange(n_fixed, 12), size=n_selected, replace=False))
    allowed = np.isin(np.arange(12), selected)
    expected = _naive_greedy(dense, w, dense[:, fixed].any(axis=1), allowed, n_selected)
    assert rank_by_marginal_gain(dense, w, selected, fixed=fixed) == expected


def _villages(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Clustered demand points (villages) and candidate sites at some of them: distances."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, 30, size=(max(1, n // 40), 2))
    points = centers[rng.integers(0, len(centers), size=n)] + rng.normal(0, 1.0, size=(n, 2))
    sites = points[rng.choice(n, size=m, replace=False)]
    cost = np.linalg.norm(points[:, None, :] - sites[None, :, :], axis=2)
    return cost, np.round(rng.lognormal(5, 0.8, size=n))


def test_same_input_same_answer_and_lowest_index_wins():
    cost, w = _villages(200, 20, seed=2)
    cost = np.hstack([cost, cost])  # sites 20..39 duplicate 0..19
    for method in ("mip", "heuristic"):
        first = mclp(cost, w, 1.5, 5, method=method)
        again = mclp(cost, w, 1.5, 5, method=method)
        assert (first.selected == again.selected).all() and first.objective == again.objective
        assert (first.selected < 20).all()
        assert (lscp(cost, 1.5, method=method).selected < 20).all()
        assert (pmedian(cost, w, 5, method=method).selected < 20).all()


def test_fixed_sites_count_apart_from_p():
    cost, w = _villages(60, 12, seed=4)
    result = mclp(cost, w, 1.0, 2, fixed=[3, 8])
    assert result.selected.size == 4 and {3, 8} <= set(result.selected.tolist())
    median = pmedian(cost, w, 0, fixed=[3])
    assert median.selected.tolist() == [3] and (median.assignment == 3).all()


def test_heuristic_gap_brackets_the_mip_optimum():
    cost, w = _villages(1500, 150, seed=8)
    heuristic = mclp(cost, w, 1.2, 12, method="heuristic")
    exact = mclp(cost, w, 1.2, 12, method="mip", mip_gap=0.0)
    assert heuristic.method == "heuristic" and exact.method == "mip"
    assert exact.status == "optimal"
    assert heuristic.objective <= exact.objective <= heuristic.bound
    assert exact.objective == exact.bound
    assert heuristic.gap == pytest.approx(
        (heuristic.bound - heuristic.objective) / heuristic.objective
    )
    cost, w = _villages(200, 25, seed=9)
    median = pmedian(cost, w, 4, method="heuristic")
    best = pmedian(cost, w, 4, method="mip", mip_gap=0.0)
    assert best.status == "optimal" and median.method == "heuristic"
    assert median.bound <= best.objective * (1 + 1e-9) <= median.objective * (1 + 1e-9)
