"""Tests for planner.siting: published San Francisco values, brute force, invariants."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import PlannerError
from planner.siting import (
    SitingResult,
    budget_curve,
    coverage_matrix,
    lscp,
    mclp,
    pmedian,
    rank_by_marginal_gain,
)
from planner.siting import strategies as _strategies
from planner.siting.cover_search import cover_interchange, merge_identical_rows
from planner.siting.median_search import Pairs, median_interchange, total_cost

SF = Path(__file__).resolve().parents[2] / "shared" / "data" / "sf_facility_location"
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- San Francisco (spopt)


@pytest.fixture(scope="module")
def sf() -> tuple[np.ndarray, np.ndarray]:
    """Network distances (205 tracts × 16 stores) and POP2000, rows sorted by NAME."""
    dist = SF / "SF_network_distance_candidateStore_16_censusTract_205_new.csv"
    demand = SF / "SF_demand_205_centroid_uniform_weight.csv"
    if not (dist.exists() and demand.exists()):
        pytest.skip("San Francisco reference data absent")
    table = pd.read_csv(dist).pivot_table(
        values="distance", index="DestinationName", columns="name"
    )
    tracts = pd.read_csv(demand).sort_values("NAME").reset_index(drop=True)
    return table.loc[tracts["NAME"]].to_numpy(), tracts["POP2000"].to_numpy(dtype=float)


def test_sf_mclp_matches_spopt(sf):
    cost, pop = sf
    result = mclp(cost, pop, 5000, 4)
    assert result.status == "optimal"
    assert result.objective == 875247
    assert int((~result.covered).sum()) == 21
    assert result.selected.size == 4
    assert result.bound == result.objective and result.gap == 0


def test_sf_pmedian_matches_spopt(sf):
    cost, pop = sf
    result = pmedian(cost, pop, 4)
    assert result.status == "optimal"
    assert result.objective / pop.sum() == pytest.approx(2982.1268579890657, rel=1e-12)
    served = cost[np.arange(cost.shape[0]), result.assignment]
    assert np.allclose(served, cost[:, result.selected].min(axis=1))


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


# ---------------------------------------------------------------- coverage matrix


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


def test_merge_identical_rows_is_exact():
    rng = np.random.default_rng(5)
    a = sp.csr_array(rng.random((300, 6)) < 0.3)
    group, first = merge_identical_rows(a)
    dense = a.toarray()
    patterns = {}
    for i, row in enumerate(map(tuple, dense)):
        patterns.setdefault(row, []).append(i)
    assert len(first) == len(patterns)
    for rows in patterns.values():
        assert len(set(group[rows])) == 1
        assert first[group[rows[0]]] == rows[0]


# ---------------------------------------------------------------- brute force


@st.composite
def instances(draw, *, unreachable: bool = True):
    """Small random instances: integer costs (some unreachable), weights, p, fixed."""
    n = draw(st.integers(1, 8))
    m = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    cost = rng.integers(0, 10, size=(n, m)).astype(float)
    if unreachable:
        cost[rng.random((n, m)) < 0.2] = np.inf
    weights = rng.integers(0, 20, size=n).astype(float)
    n_fixed = draw(st.integers(0, min(2, m)))
    fixed = np.sort(rng.choice(m, size=n_fixed, replace=False))
    p = draw(st.integers(0, m - n_fixed))
    radius = float(draw(st.integers(0, 9)))
    return cost, weights, fixed, p, radius


def _stored(cost: np.ndarray) -> sp.coo_array:
    """The finite entries of ``cost`` as a sparse matrix, zero costs stored explicitly."""
    rows, cols = np.nonzero(np.isfinite(cost))
    return sp.coo_array((cost[rows, cols], (rows, cols)), shape=cost.shape)


def _new_site_sets(m, fixed, p):
    free = [j for j in range(m) if j not in set(fixed.tolist())]
    for new in itertools.combinations(free, p):
        yield np.array(sorted([*fixed.tolist(), *new]), dtype=int)


def _check_solution(result: SitingResult, fixed, size):
    assert set(fixed.tolist()) <= set(result.selected.tolist())
    assert result.selected.size == size
    assert np.all(np.diff(result.selected) > 0)


@given(instances())
@FAST
def test_mclp_equals_brute_force(instance):
    cost, w, fixed, p, radius = instance
    within = cost <= radius
    best = max(w[within[:, s].any(axis=1)].sum() for s in _new_site_sets(cost.shape[1], fixed, p))
    exact = mclp(cost, w, radius, p, fixed=fixed, method="mip")
    assert exact.objective == best and exact.status == "optimal"
    assert mclp(_stored(cost), w, radius, p, fixed=fixed).objective == best
    _check_solution(exact, fixed, p + fixed.size)
    assert (exact.covered == within[:, exact.selected].any(axis=1)).all()
    heuristic = mclp(cost, w, radius, p, fixed=fixed, method="heuristic")
    _check_solution(heuristic, fixed, p + fixed.size)
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
        if any(within[need][:, s].any(axis=1).all() for s in _new_site_sets(m, fixed, p))
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


@given(instances())
@FAST
def test_pmedian_equals_brute_force(instance):
    cost, w, fixed, p, _ = instance
    if p + fixed.size == 0:
        with pytest.raises(PlannerError):
            pmedian(cost, w, p, fixed=fixed)
        return
    costs = []
    for s in _new_site_sets(cost.shape[1], fixed, p):
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
    assert pmedian(_stored(cost), w, p, fixed=fixed).objective == pytest.approx(best, abs=1e-9)
    for result in (exact, pmedian(cost, w, p, fixed=fixed, method="heuristic")):
        _check_solution(result, fixed, p + fixed.size)
        assert result.bound <= best + 1e-9 and result.objective >= best - 1e-9
        near = cost[:, result.selected].min(axis=1)
        ok = w > 0
        assert result.objective == pytest.approx(float(w[ok] @ near[ok]), abs=1e-9)
        assert (cost[ok, result.assignment[ok]] == near[ok]).all()


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
        _served_by_flow(within, w, capacity, s) for s in _new_site_sets(cost.shape[1], fixed, p)
    )
    result = mclp(cost, w, radius, p, fixed=fixed, capacity=capacity)
    _check_solution(result, fixed, p + fixed.size)
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


# ---------------------------------------------------------------- local search


@given(st.integers(0, 2**31 - 1), st.integers(1, 4))
@FAST
def test_cover_interchange_ends_one_swap_optimal(seed, p):
    rng = np.random.default_rng(seed)
    a = sp.csr_array((rng.random((25, 7)) < 0.3).astype(float))
    w = rng.integers(1, 30, size=25).astype(float)
    start = np.arange(p)
    sites = cover_interchange(a, w, start, deadline=time.perf_counter() + 60)
    dense = a.toarray() > 0

    def value(s):
        return w[dense[:, list(s)].any(axis=1)].sum()

    here = value(sites)
    assert here >= value(start)
    for out, into in itertools.product(sites, set(range(7)) - set(sites.tolist())):
        assert value(set(sites.tolist()) - {out} | {into}) <= here


@given(st.integers(0, 2**31 - 1), st.integers(1, 4))
@FAST
def test_median_interchange_ends_one_swap_optimal(seed, p):
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 20, size=(15, 7)).astype(float)
    w = rng.integers(1, 10, size=15).astype(float)
    pairs = Pairs.build(_dense_csr(cost), w)
    fixed = np.zeros(7, dtype=bool)
    start = np.arange(7) < p
    is_open = median_interchange(pairs, start, fixed, deadline=time.perf_counter() + 60)
    here = total_cost(pairs, is_open)
    assert here <= total_cost(pairs, start)
    for out, into in itertools.product(np.flatnonzero(is_open), np.flatnonzero(~is_open)):
        other = is_open.copy()
        other[[out, into]] = [False, True]
        assert total_cost(pairs, other) >= here - 1e-9


def _dense_csr(cost: np.ndarray) -> sp.csr_array:
    """All pairs stored, zeros included."""
    n, m = cost.shape
    return sp.csr_array(
        (cost.ravel(), np.tile(np.arange(m), n), np.arange(0, n * m + 1, m)), shape=(n, m)
    )


# ---------------------------------------------------------------- curve and ranks


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


# ---------------------------------------------------------------- determinism and ties


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


# ---------------------------------------------------------------- input errors


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


def test_pmedian_sparse_unreachable_demand():
    lonely = sp.csr_array(([1.0, 0.0], ([0, 1], [0, 1])), shape=(3, 2))
    with pytest.raises(PlannerError, match="reach no site"):
        pmedian(lonely, np.ones(3), 2)
    split = sp.csr_array(([1.0, 0.0], ([0, 1], [0, 1])), shape=(2, 2))
    with pytest.raises(PlannerError, match="no solution reaching every demand"):
        pmedian(split, np.ones(2), 1)
    result = pmedian(split, np.ones(2), 2)
    assert result.objective == 1.0 and result.assignment.tolist() == [0, 1]


# ---------------------------------------------------------------- minimum per group


def _groups(m: int, seed: int) -> list[tuple[np.ndarray, int]]:
    """Disjoint random groups of sites (some sites in none) with random minimums."""
    rng = np.random.default_rng(seed)
    label = rng.integers(-1, 3, size=m)
    return [
        (np.flatnonzero(label == g), int(rng.integers(0, (label == g).sum() + 1)))
        for g in range(3)
        if (label == g).any()
    ]


def _meets(sites: np.ndarray, groups) -> bool:
    return all(np.isin(members, sites).sum() >= count for members, count in groups)


@given(instances(), st.integers(0, 2**31 - 1))
@FAST
def test_mclp_min_open_equals_brute_force(instance, seed):
    cost, w, fixed, p, radius = instance
    within = cost <= radius
    groups = _groups(cost.shape[1], seed)
    feasible = [s for s in _new_site_sets(cost.shape[1], fixed, p) if _meets(s, groups)]
    if not feasible:
        with pytest.raises(PlannerError, match=r"min_open|minimums"):
            mclp(cost, w, radius, p, fixed=fixed, min_open=groups)
        return
    best = max(w[within[:, s].any(axis=1)].sum() for s in feasible)
    for method in ("mip", "auto"):
        result = mclp(_stored(cost), w, radius, p, fixed=fixed, min_open=groups, method=method)
        _check_solution(result, fixed, p + fixed.size)
        assert _meets(result.selected, groups)
        assert result.objective == best and result.status == "optimal"
    heuristic = mclp(cost, w, radius, p, fixed=fixed, min_open=groups, method="heuristic")
    _check_solution(heuristic, fixed, p + fixed.size)
    assert _meets(heuristic.selected, groups)
    assert heuristic.objective <= best <= heuristic.bound
    assert heuristic.objective == w[within[:, heuristic.selected].any(axis=1)].sum()


@given(instances(), st.integers(0, 2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_capacitated_mclp_min_open_equals_max_flow_brute_force(instance, seed):
    cost, w, fixed, p, radius = instance
    within = cost <= radius
    capacity = np.random.default_rng(seed).integers(0, 40, size=cost.shape[1]).astype(float)
    groups = _groups(cost.shape[1], seed + 1)
    feasible = [s for s in _new_site_sets(cost.shape[1], fixed, p) if _meets(s, groups)]
    if not feasible:
        with pytest.raises(PlannerError):
            mclp(cost, w, radius, p, fixed=fixed, capacity=capacity, min_open=groups)
        return
    best = max(_served_by_flow(within, w, capacity, s) for s in feasible)
    result = mclp(cost, w, radius, p, fixed=fixed, capacity=capacity, min_open=groups)
    _check_solution(result, fixed, p + fixed.size)
    assert _meets(result.selected, groups)
    assert result.objective == pytest.approx(best, abs=1e-6)


def test_min_open_forces_a_site_into_an_empty_group():
    """A group whose sites reach nobody still gets its site; the rest go where they count."""
    cost = np.array([[0.0, 5.0, np.inf], [0.0, 5.0, np.inf], [5.0, 0.0, np.inf]])
    w = np.array([10.0, 10.0, 1.0])
    plain = mclp(cost, w, 1.0, 1)
    forced = mclp(cost, w, 1.0, 2, min_open=[([2], 1)])
    assert plain.selected.tolist() == [0]
    assert forced.selected.tolist() == [0, 2] and forced.objective == 20.0


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
