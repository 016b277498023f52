"""Tests of planner.catchment: nearest centers, level coverage and the tables built on it,
service circles; against brute force and shapely."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.catchment import (
    LevelResult,
    Nearest,
    annotate_villages,
    catchments,
    centers_serving,
    circle_service_areas,
    gaps,
    level_coverage,
    nearest_euclidean,
    rates,
)
from planner.scenario import LevelSpec

coords = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=40)


def frame(points, **columns) -> gpd.GeoDataFrame:
    xy = np.asarray(points, dtype=float) * 100.0
    return gpd.GeoDataFrame(
        columns, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:4550"
    )


@settings(max_examples=60, deadline=None)
@given(targets=coords, sources=coords)
def test_nearest_equals_brute_force(targets, sources):
    t, s = frame(targets), frame(sources)
    got = nearest_euclidean(t.geometry, s.geometry)
    d = np.hypot(
        *(
            np.asarray(targets, float)[:, None, :] * 100
            - np.asarray(sources, float)[None, :, :] * 100
        ).transpose(2, 0, 1)
    )
    assert np.allclose(got.dist_m, d.min(axis=1))
    assert (got.index == d.argmin(axis=1)).all()  # ties: lowest index, like argmin


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=12),
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=25),
)
def test_nearest_points_break_ties_to_the_lowest_position(sources, targets):
    """On an integer grid many centers are equally near: brute force decides."""
    s, t = np.array(sources, float), np.array(targets, float)
    found = nearest_euclidean(gpd.GeoSeries(shapely.points(t)), gpd.GeoSeries(shapely.points(s)))
    d = np.sqrt(((t[:, None, :] - s[None, :, :]) ** 2).sum(axis=2))
    assert np.array_equal(found.index, np.argmax(d == d.min(axis=1, keepdims=True), axis=1))
    np.testing.assert_allclose(found.dist_m, d.min(axis=1), rtol=0, atol=1e-12)
    stubs = gpd.GeoSeries(shapely.linestrings(np.stack([s, s], axis=1)))  # the STRtree path
    other = nearest_euclidean(gpd.GeoSeries(shapely.points(t)), stubs)
    assert np.array_equal(other.index, found.index)


def test_no_sources_means_nothing_covered():
    t = frame([(0, 0), (1, 1)], population=[1.0, 2.0], id=["a", "b"])
    res = level_coverage(t, centers_serving(None, ("village",)), "village", LevelSpec(radius_m=100))
    assert not res.covered.any() and (res.nearest.index == -1).all()
    assert res.center_ids.isna().all()


@settings(max_examples=40, deadline=None)
@given(targets=coords, sources=coords, radius=st.integers(1, 3000))
def test_coverage_tables_are_consistent(targets, sources, radius):
    rng = np.random.default_rng(len(targets))
    villages = frame(
        targets,
        id=[f"v{i}" for i in range(len(targets))],
        population=rng.integers(0, 1000, len(targets)).astype(float),
        township_id=[f"t{i % 3}" for i in range(len(targets))],
    )
    centers = frame(
        sources, id=[f"c{i}" for i in range(len(sources))], level=["village"] * len(sources)
    )
    res = level_coverage(
        villages, centers_serving(centers, ("village",)), "village", LevelSpec(radius_m=radius)
    )
    d = np.hypot(
        *(
            np.asarray(targets, float)[:, None, :] * 100
            - np.asarray(sources, float)[None, :, :] * 100
        ).transpose(2, 0, 1)
    )
    assert (res.covered == (d.min(axis=1) <= radius)).all()
    annotated = annotate_villages(villages, {"village": res})
    assert annotated["village_covered"].tolist() == res.covered.tolist()
    table = catchments(villages, res)
    assert table["catchment_population"].sum() == pytest.approx(villages["population"].sum())
    assert table["catchment_villages"].sum() == len(villages)
    by_town = rates(villages, {"village": res}, villages["township_id"], "township_id")
    assert by_town["population_covered"].sum() == pytest.approx(
        villages["population"][res.covered].sum()
    )
    assert len(gaps(villages, {"village": res})) == int((~res.covered).sum())


def test_rates_of_several_levels_equal_a_count_per_unit_and_level():
    """Every level's rates from the one grouping equal plain Python sums per unit,
    villages outside every unit (no code) included as one unit listed last."""
    rng = np.random.default_rng(3)
    n = 30
    villages = frame(
        rng.integers(0, 50, (n, 2)).tolist(),
        id=[f"v{i}" for i in range(n)],
        population=np.where(rng.random(n) < 0.2, np.nan, rng.integers(1, 900, n)),
    )
    codes = [None if i % 7 == 0 else f"t{i % 4}" for i in range(n)]
    centers = frame([(10, 10), (40, 40)], id=["a", "b"], level=["village", "village"])
    results = {
        level: level_coverage(
            villages, centers_serving(centers, ("village",)), level, LevelSpec(radius_m=radius)
        )
        for level, radius in (("near", 800.0), ("far", 2500.0))
    }
    table = rates(villages, results, pd.Series(codes, dtype="string"), "township_id")
    pop = villages["population"].fillna(0).tolist()
    expected = []
    for level, res in results.items():
        for key in [*sorted({c for c in codes if c}), None]:
            rows = [i for i in range(n) if codes[i] == key]
            hit = [i for i in rows if res.covered[i]]
            pops = (sum(pop[i] for i in rows), sum(pop[i] for i in hit))
            expected.append((level, key, len(rows), len(hit), *pops))
    got = table[["level", "township_id", "villages", "villages_covered", "population",
                 "population_covered"]].astype(object).where(table.notna(), None)  # fmt: skip
    assert [tuple(r) for r in got.itertuples(index=False)] == expected
    assert table["population_rate"].tolist() == pytest.approx([e[5] / e[4] for e in expected])


def test_sub_centers_serve_the_township_level():
    villages = frame([(0, 0), (30, 0)], id=["a", "b"], population=[1.0, 1.0])
    centers = frame([(0, 0), (30, 0)], id=["T", "S"], level=["township", "subcenter"])
    alone = level_coverage(
        villages, centers_serving(centers, ("township",)), "township", LevelSpec(radius_m=500)
    )
    both = level_coverage(
        villages,
        centers_serving(centers, ("township", "subcenter")),
        "township",
        LevelSpec(radius_m=500),
    )
    assert alone.covered.tolist() == [True, False]
    assert both.covered.tolist() == [True, True]
    assert both.center_ids.tolist() == ["T", "S"]


def _station_scenario(village_m: float, station_m: float):
    from planner.scenario import parse_scenario

    data = {
        "layers": {"villages": {"path": "villages.gpkg"}},
        "levels": {"village": {"radius_m": village_m}},
        "siting": {"stations": {"radius_m": station_m}},
    }
    return parse_scenario(data, base_dir=Path("."))


@settings(max_examples=60, deadline=None)
@given(
    targets=coords,
    own=coords,
    stations=coords,
    village_m=st.integers(1, 2000),
    station_m=st.integers(1, 2000),
)
def test_stations_serve_with_their_own_radius(targets, own, stations, village_m, station_m):
    from planner.steps import compute_levels, coverage_levels

    villages = frame(targets, id=[f"v{i}" for i in range(len(targets))],
                     population=np.ones(len(targets)))  # fmt: skip
    centers = frame(
        [*own, *stations],
        id=[f"c{i}" for i in range(len(own) + len(stations))],
        level=["village"] * len(own) + ["station"] * len(stations),
    )
    levels = coverage_levels(_station_scenario(village_m, station_m))
    res = compute_levels(villages, centers, levels)["village"]
    tx, cx = np.asarray(targets, float) * 100, np.asarray([*own, *stations], float) * 100
    d = np.hypot(*(tx[:, None, :] - cx[None, :, :]).transpose(2, 0, 1))
    radius = np.r_[np.full(len(own), village_m), np.full(len(stations), station_m)]
    reach = d <= radius
    assert (res.covered == reach.any(axis=1)).all()
    # the nearest covering center, else the nearest of all (centers: own level first)
    ranked = np.where(reach.any(axis=1)[:, None] & ~reach, np.inf, d)
    best = ranked.min(axis=1)
    assert np.allclose(res.nearest.dist_m, best)
    chosen = res.nearest.index
    assert np.allclose(d[np.arange(len(targets)), chosen], best)
    assert (reach[np.arange(len(targets)), chosen] == res.covered).all()
    assert res.center_radius_m.tolist() == radius.tolist()
    if not res.covered.all():
        table = gaps(villages, {"village": res})
        assert (table["radius_m"].to_numpy() == radius[chosen[~res.covered]]).all()


def test_circles_equal_shapely_buffers():
    rng = np.random.default_rng(3)
    pts = shapely.points(rng.uniform(0, 1e5, (40, 2)))
    centers = gpd.GeoDataFrame({"id": [f"c{i}" for i in range(40)]}, geometry=pts, crs=4550)
    nearest = Nearest(np.zeros(0, int), np.zeros(0), np.zeros(0))
    res = LevelResult("village", LevelSpec(radius_m=1234.5), centers, nearest, np.zeros(0, bool))
    for quad_segs in (4, 8, 16):
        circles = circle_service_areas(res, quad_segs=quad_segs).geometry.values
        expected = shapely.buffer(pts, 1234.5, quad_segs=quad_segs)
        assert shapely.equals_exact(circles, expected, tolerance=1e-6).all()
