"""Tests of planner.added_centers: coverage with centers added, merged from the coverage
without them and that of the new ones, against measuring every center again."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.added_centers import add_centers
from planner.catchment import LevelResult
from planner.network import build_network
from planner.road_coverage import RoadSearch
from planner.scenario import parse_scenario
from planner.steps import compute_levels, coverage_levels

# small integer grids make equal distances (ties) common
coords = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=1, max_size=25)
maybe_coords = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), max_size=8)


def points(xy, **columns) -> gpd.GeoDataFrame:
    arr = np.asarray(xy, dtype=float).reshape(-1, 2) * 100.0
    return gpd.GeoDataFrame(
        columns, geometry=gpd.points_from_xy(arr[:, 0], arr[:, 1]), crs="EPSG:4550"
    )


def centers_frame(spec: list[tuple[tuple[int, int], str]], prefix: str) -> gpd.GeoDataFrame:
    return points(
        [xy for xy, _ in spec],
        id=[f"{prefix}{i}" for i in range(len(spec))],
        name=[f"{prefix}{i}" for i in range(len(spec))],
        level=[level for _, level in spec],
    )


def scenario_of(levels: dict, station_m: float | None = None):
    layers = {"villages": {"path": "villages.gpkg"}, "roads": {"path": "roads.gpkg"}}
    data: dict = {"layers": layers, "levels": levels}
    if station_m is not None:
        data["siting"] = {"stations": {"radius_m": station_m}}
    return parse_scenario(data, base_dir=Path("."))


def assert_same(got: LevelResult, want: LevelResult, *, exact: bool = True) -> None:
    assert got.centers["id"].tolist() == want.centers["id"].tolist()
    assert got.covered.tolist() == want.covered.tolist()
    if exact:
        assert got.nearest.index.tolist() == want.nearest.index.tolist()
        np.testing.assert_array_equal(got.nearest.dist_m, want.nearest.dist_m)
    else:
        np.testing.assert_allclose(got.nearest.dist_m, want.nearest.dist_m, rtol=1e-12)
    if want.straight_covered is None:
        assert got.straight_covered is None
    else:
        assert got.straight_covered.tolist() == want.straight_covered.tolist()
    assert len(got.parts) == len(want.parts)


def merged_and_full(villages, old, new, scenario, roads=None):
    levels = coverage_levels(scenario)
    full_centers = gpd.GeoDataFrame(
        gpd.pd.concat([old, new], ignore_index=True), crs=new.crs
    )
    before = compute_levels(villages, old, levels, roads=roads)
    added = compute_levels(villages, new, levels, roads=roads)
    full = compute_levels(villages, full_centers, levels, roads=roads)
    for level in levels.order:
        groups = [group for group, _ in levels.serving[level]]
        yield add_centers(before[level], added[level], old, new, groups), full[level]


level_names = st.sampled_from(["township", "subcenter"])
sites = st.tuples(st.tuples(st.integers(0, 12), st.integers(0, 12)), level_names)


@settings(max_examples=80, deadline=None)
@given(
    targets=coords,
    existing=st.lists(sites, min_size=1, max_size=8),
    added=st.lists(sites, min_size=1, max_size=5),
    radius=st.integers(50, 900),
)
def test_straight_line_equals_measuring_everything_again(targets, existing, added, radius):
    """Sub-centers serve the township level after the township centers: new ones are
    placed between the existing groups, and ties must go as they would on the whole."""
    villages = points(targets, id=[f"v{i}" for i in range(len(targets))])
    old, new = centers_frame(existing, "c"), centers_frame(added, "p")
    scenario = scenario_of({"township": {"radius_m": radius}})
    for got, want in merged_and_full(villages, old, new, scenario):
        assert_same(got, want)


@settings(max_examples=60, deadline=None)
@given(
    targets=coords,
    own=coords,
    stations=maybe_coords,
    new_stations=coords,
    village_m=st.integers(50, 900),
    station_m=st.integers(50, 900),
)
def test_stations_with_a_radius_of_their_own(
    targets, own, stations, new_stations, village_m, station_m
):
    villages = points(targets, id=[f"v{i}" for i in range(len(targets))])
    old = centers_frame([(xy, "village") for xy in own] + [(xy, "station") for xy in stations],
                        "c")  # fmt: skip
    new = centers_frame([(xy, "station") for xy in new_stations], "p")
    scenario = scenario_of({"village": {"radius_m": village_m}}, station_m=station_m)
    for got, want in merged_and_full(villages, old, new, scenario):
        assert len(want.parts) == 2
        assert_same(got, want)


def street_grid(n: int, step: float) -> gpd.GeoDataFrame:
    lines = [shapely.LineString([(0, i * step), ((n - 1) * step, i * step)]) for i in range(n)]
    lines += [shapely.LineString([(i * step, 0), (i * step, (n - 1) * step)]) for i in range(n)]
    return gpd.GeoDataFrame({"highway": ["residential"] * len(lines)}, geometry=lines,
                            crs="EPSG:4550")  # fmt: skip


@pytest.mark.parametrize("minutes", [None, 12.0])
def test_along_roads_equals_measuring_everything_again(minutes):
    rng = np.random.default_rng(5)
    net = build_network(street_grid(12, 250.0), min_component_nodes=1)
    villages = points(rng.uniform(0, 27.5, (300, 2)), id=[f"v{i}" for i in range(300)])
    old = centers_frame([(tuple(xy), "village") for xy in rng.uniform(0, 27.5, (6, 2))], "c")
    new = centers_frame([(tuple(xy), "village") for xy in rng.uniform(0, 27.5, (4, 2))], "p")
    level = {"mode": "network", "travel": "walk"}
    level.update({"minutes": minutes} if minutes else {"radius_m": 600})
    scenario = scenario_of({"village": level})
    roads = RoadSearch(net, villages, scenario.network.max_access_m)
    for got, want in merged_and_full(villages, old, new, scenario, roads=roads):
        assert 0 < got.covered.sum() < len(villages)
        assert_same(got, want, exact=False)
        np.testing.assert_allclose(got.nearest.time_s, want.nearest.time_s, rtol=1e-12)
