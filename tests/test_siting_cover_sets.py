"""Tests of planner.siting.cover_sets: the pruned cost blocks (nearest fixed site per
village, unsearched far candidates) against every pair, and the snaps they reuse."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import LineString, Point
from siting_helpers import FAST

from planner.errors import PlannerError
from planner.network import build_network, snap
from planner.road_coverage import RoadSearch
from planner.scenario import LevelSpec
from planner.siting import budget_curve, mclp
from planner.siting.cover_sets import cover_costs, fixed_pairs, pairs_within, site_snap
from planner.siting.proposal_rows import cover_of

METRIC = "EPSG:4550"
SIDE_M = 500.0  # spacing of the street grid


def _roads(seed: int) -> gpd.GeoDataFrame:
    """A 6 × 4 km street grid with jittered crossings (so roads are not all straight)."""
    rng = np.random.default_rng(seed)
    nx_, ny_ = 13, 9
    xy = np.stack(np.meshgrid(np.arange(nx_) * SIDE_M, np.arange(ny_) * SIDE_M), axis=-1)
    xy = xy + rng.uniform(-120, 120, size=xy.shape)
    lines = [LineString([xy[j, i], xy[j, i + 1]]) for j in range(ny_) for i in range(nx_ - 1)]
    lines += [LineString([xy[j, i], xy[j + 1, i]]) for j in range(ny_ - 1) for i in range(nx_)]
    return gpd.GeoDataFrame(geometry=lines, crs=METRIC)


def _points(rng: np.random.Generator, n: int) -> gpd.GeoSeries:
    xy = rng.uniform([0, 0], [6000, 4000], size=(n, 2))
    return gpd.GeoSeries([Point(x, y) for x, y in xy], crs=METRIC)


def _instance(seed: int, n_fixed: int, n_sites: int, at_villages: bool):
    rng = np.random.default_rng(seed)
    villages = gpd.GeoDataFrame(
        {"population": rng.integers(0, 900, size=60).astype(float)},
        geometry=_points(rng, 60),
        crs=METRIC,
    )
    roads = RoadSearch(build_network(_roads(seed), min_component_nodes=1), villages, 2000.0)
    fixed = gpd.GeoDataFrame(geometry=_points(rng, n_fixed).reset_index(drop=True), crs=METRIC)
    sites = _points(rng, n_sites)
    if at_villages:  # some candidates stand exactly at villages, as with candidates = "villages"
        chosen = rng.choice(len(villages), size=n_sites // 2, replace=False)
        sites.iloc[: chosen.size] = villages.geometry.iloc[chosen].to_numpy()
    return villages, roads, fixed, gpd.GeoDataFrame(geometry=sites, crs=METRIC)


SPECS = st.sampled_from(
    [
        LevelSpec(radius_m=600, mode="network", travel="walk"),
        LevelSpec(radius_m=1500, mode="network", travel="walk"),
        LevelSpec(minutes=2, mode="network", travel="drive"),
        LevelSpec(radius_m=800),
    ]
)


@FAST
@given(
    seed=st.integers(0, 2**16),
    n_fixed=st.integers(0, 12),
    n_sites=st.integers(1, 30),
    at_villages=st.booleans(),
    spec=SPECS,
)
def test_pruned_costs_give_the_same_cover_model(seed, n_fixed, n_sites, at_villages, spec):
    villages, roads, fixed, sites = _instance(seed, n_fixed, n_sites, at_villages)
    demand = villages.geometry
    existing = [(fixed, spec)]
    every_cost = cover_costs(demand, existing, sites, spec, roads=roads, every_pair=True)
    pruned_cost = cover_costs(demand, existing, sites, spec, roads=roads, every_pair=False)
    every, pruned = cover_of(every_cost), cover_of(pruned_cost)
    assert pruned.shape == every.shape
    # the pruned matrix only keeps true pairs
    assert (every.multiply(pruned) != pruned).nnz == 0
    reached = np.diff(every[:, :n_fixed].tocsr().indptr) > 0
    assert np.array_equal(np.diff(pruned[:, :n_fixed].tocsr().indptr) > 0, reached)
    open_rows = np.flatnonzero(~reached)
    assert (every[open_rows][:, n_fixed:] != pruned[open_rows][:, n_fixed:]).nnz == 0
    # hence the same solution, certificate and budget curve
    w = villages["population"].to_numpy()
    p = min(3, n_sites)
    a = mclp(every_cost, w, np.inf, p, fixed=np.arange(n_fixed))
    b = mclp(pruned_cost, w, np.inf, p, fixed=np.arange(n_fixed))
    assert np.array_equal(a.selected, b.selected)
    assert (a.objective, a.bound, a.status) == (b.objective, b.bound, b.status)
    if n_sites >= 2:  # with a minimum of one site in each half of the candidates
        half = n_fixed + n_sites // 2
        groups = [(np.arange(n_fixed, half), 1), (np.arange(half, n_fixed + n_sites), 1)]
        a = mclp(every_cost, w, np.inf, p, fixed=np.arange(n_fixed), min_open=groups)
        b = mclp(pruned_cost, w, np.inf, p, fixed=np.arange(n_fixed), min_open=groups)
        assert np.array_equal(a.selected, b.selected) and a.objective == b.objective
    curve_a = budget_curve(every, w, n_sites, fixed=np.arange(n_fixed))
    curve_b = budget_curve(pruned, w, n_sites, fixed=np.arange(n_fixed))
    assert curve_a.equals(curve_b)


@FAST
@given(seed=st.integers(0, 2**16), n_sites=st.integers(1, 30))
def test_site_snap_equals_a_fresh_snap(seed, n_sites):
    _, roads, _, sites = _instance(seed, 0, n_sites, at_villages=True)
    sites = sites.geometry.copy()
    sites.iloc[-1] = Point()  # an empty point is never matched and never snapped
    for mode in ("walk", "drive"):
        mine, fresh = site_snap(roads, sites, mode), snap(roads.net, sites, mode=mode)
        assert np.array_equal(mine.edge, fresh.edge)
        assert np.array_equal(mine.offset, fresh.offset, equal_nan=True)
        assert np.array_equal(mine.access_m, fresh.access_m, equal_nan=True)
        assert mine.index.equals(fresh.index) and mine.mode == fresh.mode == mode
        assert all(
            (a is None and b is None) or a.equals_exact(b, 0.0)
            for a, b in zip(mine.on_road, fresh.on_road, strict=True)
        )


def test_villages_on_the_cutoff_are_decided_pair_by_pair():
    villages, roads, fixed, _ = _instance(3, 8, 1, at_villages=False)
    demand = villages.geometry
    wide = LevelSpec(radius_m=1500, mode="network", travel="walk")
    costs = sp.csr_matrix(pairs_within(demand, fixed.geometry, wide, roads=roads))
    counts = np.diff(costs.indptr)
    row = int(np.flatnonzero(counts >= 2)[0])  # a village two centers reach
    radius = float(costs[[row]].data.min())  # its nearest center is right on the radius
    spec = LevelSpec(radius_m=radius, mode="network", travel="walk")
    every = sp.csr_matrix(pairs_within(demand, fixed.geometry, spec, roads=roads))
    one = sp.csr_matrix(fixed_pairs(demand, fixed.geometry, spec, roads=roads))
    assert np.array_equal(np.diff(one.indptr) > 0, np.diff(every.indptr) > 0)
    assert one[row].nnz >= 1 and (one[[row]] != every[[row]]).nnz == 0  # pair by pair
    others = np.setdiff1d(np.arange(len(demand)), [row])
    assert (np.diff(one.indptr)[others] <= 1).all()  # elsewhere: the nearest center only


def test_network_levels_need_roads():
    villages, _, fixed, sites = _instance(1, 2, 3, at_villages=False)
    spec = LevelSpec(radius_m=600, mode="network", travel="walk")
    with pytest.raises(PlannerError, match="needs roads"):
        cover_costs(villages.geometry, [(fixed, spec)], sites, spec, roads=None, every_pair=False)
