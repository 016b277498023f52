"""Accessibility scores (2SFCA, E2SFCA) on a cost matrix, against PySAL ``access`` on the
same costs, brute-force loops, and properties every floating catchment must have."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from access import weights
from access_helpers import pysal
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from planner.accessibility import (
    LUO_QI_ZONES,
    access_summary,
    e2sfca,
    fca_scores,
    stepped_weights,
    two_sfca,
    weighted_gini,
    weighted_percentiles,
)
from planner.errors import PlannerError


def instance(n: int, m: int, seed: int, *, unreachable: float = 0.3):
    """Random costs in [0, 40) (minutes) with some unreachable pairs, positive demand."""
    rng = np.random.default_rng(seed)
    cost = rng.uniform(0, 40, (n, m))
    cost[rng.random((n, m)) < unreachable] = np.inf
    return cost, rng.integers(1, 5_000, n).astype(float), rng.uniform(0, 50, m)


def brute(cost, pop, supply, weight) -> np.ndarray:
    """Both steps as plain loops; ``weight(d)`` is 0 outside the catchment."""
    n, m = cost.shape
    w = np.array([[weight(cost[i, j]) if np.isfinite(cost[i, j]) else 0.0 for j in range(m)]
                  for i in range(n)])  # fmt: skip
    ratio = np.zeros(m)
    for j in range(m):
        reached = sum(pop[i] * w[i, j] for i in range(n))
        ratio[j] = supply[j] / reached if reached > 0 else 0.0
    return np.array([sum(ratio[j] * w[i, j] for j in range(m)) for i in range(n)])


# ---------------------------------------------------------------------------- PySAL


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_2sfca_matches_pysal(seed):
    cost, pop, supply = instance(60, 12, seed)
    ours = two_sfca(cost, pop, supply, max_cost=15.0).access
    np.testing.assert_allclose(ours, pysal(cost, pop, supply, max_cost=15.0), rtol=1e-12)
    assert (ours > 0).any() and (ours == 0).any()


@pytest.mark.parametrize("seed", [0, 1])
def test_e2sfca_default_is_luo_qi_as_in_pysal(seed):
    cost, pop, supply = instance(60, 12, seed)
    ours = e2sfca(cost, pop, supply).access
    np.testing.assert_allclose(ours, pysal(cost, pop, supply, enhanced=True), rtol=1e-12)


def test_e2sfca_stepped_zones_match_pysal_step_fn():
    cost, pop, supply = instance(80, 10, 3)
    zones = ((5.0, 1.0), (12.0, 0.6), (25.0, 0.1))
    expected = pysal(cost, pop, supply, enhanced=True,
                     weight_fn=weights.step_fn(dict(zones)))  # fmt: skip
    np.testing.assert_allclose(e2sfca(cost, pop, supply, zones=zones).access, expected, rtol=1e-12)


@pytest.mark.parametrize("sigma", [None, 4.0])
def test_e2sfca_gaussian_matches_pysal(sigma):
    cost, pop, supply = instance(70, 9, 4)
    width = 20.0 / 2 if sigma is None else sigma
    expected = pysal(cost, pop, supply, max_cost=20.0, weight_fn=weights.gaussian(width))
    ours = e2sfca(cost, pop, supply, decay="gaussian", max_cost=20.0, sigma=sigma).access
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_catchment_edge_is_inside_as_in_pysal():
    cost = np.array([[10.0, 10.0 + 1e-9], [3.0, np.nan]])
    pop, supply = np.array([100.0, 300.0]), np.array([8.0, 5.0])
    ours = two_sfca(cost, pop, supply, max_cost=10.0).access
    np.testing.assert_allclose(ours, pysal(np.nan_to_num(cost, nan=np.inf), pop, supply,
                                           max_cost=10.0), rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(ours, [0.02, 0.02])


# ---------------------------------------------------------------------------- brute force


def test_brute_force_stepped_and_sparse_with_zero_costs():
    cost, pop, supply = instance(30, 8, 5, unreachable=0.5)
    cost[0, 0] = cost[1, 3] = 0.0
    pop[2] = 0.0
    step = dict(LUO_QI_ZONES)
    expected = brute(cost, pop, supply, lambda d: weights.step_fn(step)(d))
    np.testing.assert_allclose(e2sfca(cost, pop, supply).access, expected, rtol=1e-12)
    i, j = np.nonzero(np.isfinite(cost))
    sparse = sp.coo_array((cost[i, j], (i, j)), shape=cost.shape)
    assert (sparse.data == 0).sum() == 2
    np.testing.assert_allclose(e2sfca(sparse, pop, supply).access, expected, rtol=1e-12)


def test_supply_ratio_and_sites_reaching_nobody():
    cost = np.array([[1.0, np.inf, 2.0], [4.0, np.inf, 9.0]])
    result = two_sfca(cost, [100.0, 0.0], [50.0, 7.0, 3.0], max_cost=5.0)
    np.testing.assert_allclose(result.demand_reached, [100.0, 0.0, 100.0])
    np.testing.assert_allclose(result.supply_ratio, [0.5, np.nan, 0.03])
    np.testing.assert_allclose(result.access, [0.53, 0.5])


def test_default_supply_counts_each_site_once():
    cost, pop, _ = instance(40, 6, 6)
    np.testing.assert_allclose(
        two_sfca(cost, pop, max_cost=12.0).access,
        two_sfca(cost, pop, np.ones(6), max_cost=12.0).access,
    )


def test_stepped_weights_bounds_belong_to_the_nearer_zone():
    d = np.array([0.0, 10.0, 10.5, 20.0, 29.9, 30.0, 30.1])
    np.testing.assert_allclose(stepped_weights(d, LUO_QI_ZONES),
                               [1, 1, 0.68, 0.68, 0.22, 0.22, 0])  # fmt: skip
    fn = weights.step_fn(dict(LUO_QI_ZONES))
    assert stepped_weights(d, LUO_QI_ZONES).tolist() == [fn(x) for x in d]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: two_sfca(c, [1, 2], max_cost=0), "max_cost must be finite and > 0"),
        (lambda c: two_sfca(c, [1], max_cost=5), "one value per cost row"),
        (lambda c: two_sfca(c, [1, -2], max_cost=5), "finite and ≥ 0"),
        (lambda c: two_sfca(c, [1, 2], [1, 2, 3], max_cost=5), "one value per cost column"),
        (lambda c: e2sfca(c, [1, 2], decay="linear"), "decay must be one of"),
        (lambda c: e2sfca(c, [1, 2], decay="gaussian"), "takes max_cost"),
        (lambda c: e2sfca(c, [1, 2], zones=((2, 1), (1, 0.5))), "zone bounds must increase"),
        (lambda c: e2sfca(c, [1, 2], zones=((1, 1), (2, 1.5))), r"weights must be in \(0, 1\]"),
        (lambda c: e2sfca(c, [1, 2], zones=LUO_QI_ZONES, max_cost=3), "not both"),
        (lambda c: e2sfca(c, [1, 2], sigma=3), "gaussian"),
        (lambda c: two_sfca(-c, [1, 2], max_cost=5), "negative"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(PlannerError, match=message):
        call(np.ones((2, 2)))


# ---------------------------------------------------------------------------- properties


@st.composite
def problems(draw):
    n = draw(st.integers(1, 12))
    m = draw(st.integers(1, 6))
    cost = draw(arrays(float, (n, m), elements=st.floats(0, 50, allow_nan=False)))
    cut = draw(arrays(bool, (n, m)))
    cost[cut] = np.inf
    pop = draw(arrays(np.int64, n, elements=st.integers(0, 100_000))).astype(float)
    supply = draw(arrays(float, m, elements=st.floats(0, 1e4, allow_subnormal=False)))
    return cost, pop, supply


def _run(kind, cost, pop, supply):
    if kind == "2sfca":
        return two_sfca(cost, pop, supply, max_cost=25.0)
    if kind == "gaussian":
        return e2sfca(cost, pop, supply, decay="gaussian", max_cost=25.0)
    return e2sfca(cost, pop, supply)


KINDS = st.sampled_from(["2sfca", "gaussian", "stepped"])


@settings(max_examples=150, deadline=None)
@given(problems(), KINDS)
def test_total_supply_is_shared_out(problem, kind):
    """Σ residents × access = the supply of the sites whose catchment holds anyone."""
    cost, pop, supply = problem
    result = _run(kind, cost, pop, supply)
    reaching = result.demand_reached > 0
    assert np.isclose((pop * result.access).sum(), supply[reaching].sum(), rtol=1e-9, atol=1e-9)
    assert (result.access >= 0).all()


@settings(max_examples=100, deadline=None)
@given(problems(), KINDS, st.floats(0.01, 100))
def test_scaling(problem, kind, factor):
    """Access scales with supply, inversely with demand; costs and catchment scaled
    together change nothing."""
    cost, pop, supply = problem
    base = _run(kind, cost, pop, supply).access
    np.testing.assert_allclose(_run(kind, cost, pop, supply * factor).access, base * factor,
                               rtol=1e-9, atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(_run(kind, cost, pop * factor, supply).access, base / factor,
                               rtol=1e-9, atol=1e-12)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(problems(), st.sampled_from([0.5, 2.0, 60.0]))
def test_units_do_not_matter(problem, factor):
    cost, pop, supply = problem
    zones = tuple((z * factor, w) for z, w in LUO_QI_ZONES)
    np.testing.assert_allclose(e2sfca(cost * factor, pop, supply, zones=zones).access,
                               e2sfca(cost, pop, supply).access, rtol=1e-9)  # fmt: skip
    np.testing.assert_allclose(
        e2sfca(cost * factor, pop, supply, decay="gaussian", max_cost=25 * factor).access,
        e2sfca(cost, pop, supply, decay="gaussian", max_cost=25).access,
        rtol=1e-9,
    )


@settings(max_examples=100, deadline=None)
@given(problems())
def test_dense_and_sparse_agree_with_brute_force(problem):
    cost, pop, supply = problem
    i, j = np.nonzero(np.isfinite(cost))
    sparse = sp.csr_array((cost[i, j], (i, j)), shape=cost.shape)
    step = weights.step_fn(dict(LUO_QI_ZONES))
    expected = brute(cost, pop, supply, step)
    for given_cost in (cost, sparse):
        np.testing.assert_allclose(e2sfca(given_cost, pop, supply).access, expected,
                                   rtol=1e-9, atol=1e-12)  # fmt: skip


def test_weights_matrix_directly():
    w = sp.csr_array(np.array([[1.0, 0.5], [0.0, 1.0]]))
    result = fca_scores(w, [10.0, 30.0], [6.0, 7.0])
    np.testing.assert_allclose(result.supply_ratio, [0.6, 7 / 35])
    np.testing.assert_allclose(result.access, [0.6 + 0.5 * 7 / 35, 7 / 35])


# ---------------------------------------------------------------------------- summaries


def gini_pairs(values, w):
    diff = np.abs(values[:, None] - values[None, :])
    mean = np.average(values, weights=w)
    return (w[:, None] * w[None, :] * diff).sum() / (2 * w.sum() ** 2 * mean)


@settings(max_examples=150, deadline=None)
@given(
    arrays(float, st.integers(1, 30), elements=st.floats(0, 1e3, allow_nan=False)),
    st.data(),
)
def test_gini_matches_the_pairwise_definition(values, data):
    w = data.draw(arrays(float, len(values), elements=st.floats(0.1, 1e3)))
    if (values * w).sum() > 0:
        assert weighted_gini(values, w) == pytest.approx(gini_pairs(values, w), rel=1e-9,
                                                         abs=1e-12)  # fmt: skip
    else:
        assert weighted_gini(values, w) == 0.0


def test_gini_known_values():
    assert weighted_gini(np.array([5.0, 5.0, 5.0]), np.ones(3)) == 0.0
    assert weighted_gini(np.array([0.0, 0.0, 0.0, 1.0]), np.ones(4)) == pytest.approx(0.75)
    # population weights are repeated residents
    assert weighted_gini(np.array([1.0, 3.0]), np.array([2.0, 1.0])) == pytest.approx(
        weighted_gini(np.array([1.0, 1.0, 3.0]), np.ones(3))
    )
    assert np.isnan(weighted_gini(np.array([1.0]), np.array([0.0])))


@settings(max_examples=100, deadline=None)
@given(
    arrays(float, st.integers(1, 20), elements=st.floats(0, 100, allow_nan=False)),
    st.data(),
)
def test_percentiles_over_residents(values, data):
    w = data.draw(arrays(np.int64, len(values), elements=st.integers(0, 20)))
    if w.sum() == 0:
        assert all(np.isnan(weighted_percentiles(values, w)))
        return
    residents = np.repeat(values, w)
    expected = np.percentile(residents, [10, 50, 90], method="inverted_cdf")
    np.testing.assert_allclose(weighted_percentiles(values, w.astype(float)), expected)


def test_access_summary():
    summary = access_summary(np.array([0.0, 2.0, 4.0]), np.array([1.0, 1.0, 2.0]))
    assert summary["mean"] == pytest.approx((0 + 2 + 8) / 4)
    assert (summary["p10"], summary["p50"], summary["p90"]) == (0.0, 2.0, 4.0)
    expected = gini_pairs(np.array([0.0, 2, 4]), np.array([1.0, 1, 2]))
    assert summary["gini"] == pytest.approx(expected)
    assert access_summary(np.zeros(2), np.zeros(2))["mean"] is None
