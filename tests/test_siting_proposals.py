"""Tests of planner.siting.proposals: proposals checked against brute force over candidate
subsets, on straight lines and along roads."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from conftest import SCENARIO, lonlat, tiny_frames
from shapely.geometry import LineString, Point

from planner.errors import PlannerError
from planner.layers import load_layers
from planner.network import build_network
from planner.pipeline import run
from planner.road_coverage import RoadSearch
from planner.scenario import LevelSpec, Siting, StationSiting, SubcenterSiting, load_scenario
from planner.siting.cover_sets import pairs_within
from planner.siting.proposals import propose_for

METRIC = "EPSG:4550"


def write(
    tmp_path: Path, extra: str, frames: dict | None = None, *, wide_village_level: bool = False
) -> Path:
    for kind, frame in (frames or tiny_frames()).items():
        frame.to_file(tmp_path / f"{kind}.gpkg")
    path = tmp_path / "scenario.toml"
    text = SCENARIO.replace("[levels.village]\nradius_m = 500", "[levels.village]\nradius_m = 3500")
    path.write_text((text if wide_village_level else SCENARIO) + extra, encoding="utf-8")
    return path


def brute_force_gain(tmp_path: Path, radius: float, k: int) -> float:
    """Best new population over all k-subsets of villages as station sites."""
    frames = {kind: f.to_crs(METRIC) for kind, f in tiny_frames().items()}
    villages, centers = frames["villages"], frames["centers"]
    existing = centers[centers["id"].isin(["V1", "V2"])].geometry  # the village centers
    d_existing = np.array([[p.distance(c) for c in existing] for p in villages.geometry])
    covered = (d_existing <= radius).any(axis=1)
    pop = villages["population"].to_numpy()
    d = np.array([[p.distance(q) for q in villages.geometry] for p in villages.geometry])
    best = 0.0
    for subset in itertools.combinations(range(len(villages)), k):
        reach = covered | (d[:, list(subset)] <= radius).any(axis=1)
        best = max(best, float(pop[reach & ~covered].sum()))
    return best


@pytest.mark.parametrize("budget", [1, 2, 3])
def test_stations_match_brute_force(tmp_path, budget):
    path = write(tmp_path, f"\n[siting.stations]\nbudget = {budget}\n", wide_village_level=True)
    plan = run(load_scenario(path))
    stations = plan.proposals[plan.proposals["kind"] == "station"]
    assert len(stations) <= budget
    assert stations["new_population_covered"].sum() == pytest.approx(
        brute_force_gain(tmp_path, 3500, budget)
    )
    assert stations["rank"].tolist() == list(range(1, len(stations) + 1))
    gains = stations["new_population_covered"].to_numpy()
    assert (np.diff(gains) <= 0).all()  # ranked by marginal gain
    assert plan.summary["solver"]["gap"] <= 1e-4


def test_after_adds_exactly_the_proposed_gains(tmp_path):
    path = write(tmp_path, "\n[siting.stations]\nbudget = 2\n")
    plan = run(load_scenario(path))
    before = plan.summary["levels"]["village"]["population_covered"]
    after = plan.summary["after"]["levels"]["village"]["population_covered"]
    gained = plan.proposals.loc[plan.proposals["kind"] == "station", "new_population_covered"].sum()
    assert after == pytest.approx(before + gained)
    assert plan.summary["proposals"][0]["kind"] == "station"


def test_target_coverage_uses_the_fewest_stations(tmp_path):
    path = write(tmp_path, "\n[siting.stations]\ntarget_coverage = 0.9\n")
    plan = run(load_scenario(path))
    n = len(plan.proposals)
    pop = plan.villages["population"].sum()
    before = plan.summary["levels"]["village"]["population_covered"]
    # brute force: the fewest stations whose best choice reaches 90 %
    fewest = next(
        k for k in range(0, 7) if before + brute_force_gain(tmp_path, 500, k) >= 0.9 * pop
    )
    assert n == fewest
    assert plan.summary["after"]["levels"]["village"]["population_rate"] >= 0.9


def test_sub_centers_go_to_seats_that_add_township_coverage(tmp_path):
    frames = tiny_frames()
    frames["merged_townships"] = gpd.GeoDataFrame(
        {
            "id": ["150521101900", "150521101901"],
            "name": ["旧甲乡", "旧乙乡"],
            "township_id": ["150521101", "150521101"],
        },
        geometry=[Point(lonlat(15_000, 5_000)), Point(lonlat(5_200, 5_000))],
        crs="EPSG:4326",
    )
    path = write(tmp_path, '\n[layers.merged_townships]\npath = "merged_townships.gpkg"\n', frames)
    plan = run(load_scenario(path))
    subs = plan.proposals[plan.proposals["kind"] == "subcenter"]
    # 旧乙乡 sits beside the existing township center and adds nothing
    assert subs["name"].tolist() == ["旧甲乡"]
    villages = plan.villages
    seat = frames["merged_townships"].to_crs(villages.crs).geometry.iloc[0]
    newly = (villages.distance(seat) <= 4500) & ~villages["township_covered"]
    assert newly.sum() >= 2
    assert subs["new_population_covered"].iloc[0] == pytest.approx(
        villages.loc[newly, "population"].sum()
    )
    after = plan.summary["after"]["levels"]["township"]
    assert (
        after["villages_uncovered"]
        == plan.summary["levels"]["township"]["villages_uncovered"] - newly.sum()
    )


def test_euclidean_pairs_equal_brute_force_including_zero_distances(tiny_region):
    layers = load_layers(load_scenario(tiny_region))
    villages = layers["villages"]
    sites = villages.geometry.iloc[[0, 2, 4]].reset_index(drop=True)
    cost = pairs_within(villages.geometry, sites, LevelSpec(radius_m=4100), roads=None)
    d = np.array([[p.distance(q) for q in sites] for p in villages.geometry])
    dense = np.full(d.shape, np.nan)
    rows, cols = cost.nonzero()
    stored = cost.tocoo()
    dense[stored.row, stored.col] = stored.data
    assert ((d <= 4100) == ~np.isnan(dense)).all()
    assert np.allclose(dense[d <= 4100], d[d <= 4100])
    assert (stored.data == 0).sum() == 3  # each site at its own village: kept as a pair
    assert len(rows) == len(cols)


def _constrained_best(
    radius: float,
    k: int,
    minimum: int,
    stations_in: dict[str, int],
    station_radius: float | None = None,
) -> float:
    """Best new population over k-subsets of villages as station sites (serving within
    ``station_radius``, default ``radius``), where every township ends with at least
    ``minimum`` stations (``stations_in``: existing ones)."""
    frames = {kind: f.to_crs(METRIC) for kind, f in tiny_frames().items()}
    villages, centers = frames["villages"], frames["centers"]
    existing = centers[centers["level"].isin(["村", "village", "station"])].geometry
    covered = np.array([[p.distance(c) <= radius for c in existing] for p in villages.geometry])
    covered = covered.any(axis=1)
    township = villages["id"].str.slice(0, 9).to_numpy()
    pop = villages["population"].to_numpy()
    d = np.array([[p.distance(q) for q in villages.geometry] for p in villages.geometry])
    best = -1.0
    for subset in itertools.combinations(range(len(villages)), k):
        counts = {t: stations_in.get(t, 0) + int((township[list(subset)] == t).sum())
                  for t in set(township)}  # fmt: skip
        if min(counts.values()) < minimum:
            continue
        reach = covered | (d[:, list(subset)] <= (station_radius or radius)).any(axis=1)
        best = max(best, float(pop[reach & ~covered].sum()))
    return best


@pytest.mark.parametrize("station_m", [400, 3500])
def test_stations_serve_with_their_own_radius(tmp_path, station_m):
    path = write(tmp_path, f"\n[siting.stations]\nbudget = 2\nradius_m = {station_m}\n")
    plan = run(load_scenario(path))
    stations = plan.proposals[plan.proposals["kind"] == "station"]
    gained = stations["new_population_covered"].sum()
    assert gained == pytest.approx(_constrained_best(500, 2, 0, {}, station_m))
    before = plan.summary["levels"]["village"]["population_covered"]
    after = plan.summary["after"]["levels"]["village"]
    assert after["population_covered"] == pytest.approx(before + gained)
    assert after["radii_m"] == [500.0, float(station_m)]
    areas = plan.service_areas[plan.service_areas["level"] == "village"]
    assert sorted(set(areas["radius_m"])) == [500.0]  # no existing station yet


def test_min_per_township_places_a_station_in_every_township(tmp_path):
    path = write(tmp_path, "\n[siting.stations]\nbudget = 2\nmin_per_township = 1\n")
    plan = run(load_scenario(path))
    stations = plan.proposals[plan.proposals["kind"] == "station"]
    assert sorted(stations["township_id"]) == ["150521100", "150521101"]
    assert stations["new_population_covered"].sum() == pytest.approx(
        _constrained_best(500, 2, 1, {})
    )
    # without the minimum both stations go to the richer township
    free = run(load_scenario(write(tmp_path, "\n[siting.stations]\nbudget = 2\n")))
    assert set(free.proposals["township_id"]) == {"150521100"}
    assert free.proposals["new_population_covered"].sum() > stations["new_population_covered"].sum()


def test_min_per_township_counts_existing_stations(tmp_path):
    frames = tiny_frames()
    extra = gpd.GeoDataFrame(
        {"id": ["S1"], "name": ["驿站"], "level": ["驿站"], "township_id": ["150521101"],
         "area_m2": [50.0]},
        geometry=[Point(lonlat(19_500, 5_000))],
        crs="EPSG:4326",
    )  # fmt: skip
    frames["centers"] = gpd.GeoDataFrame(
        pd.concat([frames["centers"], extra], ignore_index=True), crs="EPSG:4326"
    )
    path = write(tmp_path, "\n[siting.stations]\nbudget = 2\nmin_per_township = 1\n", frames)
    plan = run(load_scenario(path))
    stations = plan.proposals[plan.proposals["kind"] == "station"]
    # 乙乡 already has a station, so both new ones may go where they add most
    assert set(stations["township_id"]) == {"150521100"}


def test_min_per_township_zero_gain_station_is_proposed_with_its_reason(tmp_path):
    frames = tiny_frames()
    frames["villages"].loc[frames["villages"]["id"].str.startswith("150521101"), "population"] = 0
    path = write(
        tmp_path,
        '\n[siting.stations]\nbudget = 2\nmin_per_township = 1\n[outputs]\nlang = "en"\n',
        frames,
    )
    plan = run(load_scenario(path))
    stations = plan.proposals[plan.proposals["kind"] == "station"]
    forced = stations[stations["township_id"] == "150521101"]
    assert len(forced) == 1 and forced["new_population_covered"].iloc[0] == 0
    assert "minimum of stations per township" in forced["reason"].iloc[0]


def test_min_per_township_beyond_the_budget_is_a_clear_error(tmp_path):
    path = write(tmp_path, "\n[siting.stations]\nbudget = 1\nmin_per_township = 1\n")
    with pytest.raises(PlannerError, match="min_per_township needs 2 new station"):
        run(load_scenario(path))


def test_min_per_township_with_target_coverage(tmp_path):
    path = write(tmp_path, "\n[siting.stations]\ntarget_coverage = 0.9\nmin_per_township = 1\n")
    plan = run(load_scenario(path))
    stations = plan.proposals[plan.proposals["kind"] == "station"]
    assert set(stations["township_id"]) == {"150521100", "150521101"}
    assert plan.summary["after"]["levels"]["village"]["population_rate"] >= 0.9
    pop = plan.villages["population"].sum()
    before = plan.summary["levels"]["village"]["population_covered"]
    fewest = next(k for k in range(2, 7) if before + _constrained_best(500, k, 1, {}) >= 0.9 * pop)
    assert len(stations) == fewest


# ------------------------------------------------- network-mode proposals, brute force

GRID_M = 1000.0  # spacing of the road grid
WALK_M = 1200.0  # village level: within 1.2 km along roads


def _road_grid() -> tuple[gpd.GeoDataFrame, list[LineString]]:
    """A 4 × 3 km street grid, one line per block side."""
    xs, ys = np.arange(0, 4 * GRID_M + 1, GRID_M), np.arange(0, 3 * GRID_M + 1, GRID_M)
    sides = [LineString([(x, y), (x + GRID_M, y)]) for x in xs[:-1] for y in ys]
    sides += [LineString([(x, y), (x, y + GRID_M)]) for x in xs for y in ys[:-1]]
    return gpd.GeoDataFrame(geometry=sides, crs=METRIC), sides


def _network_villages(seed: int, n: int = 12) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    xy = rng.uniform([50, 50], [4 * GRID_M - 50, 3 * GRID_M - 50], size=(n, 2))
    return gpd.GeoDataFrame(
        {
            "id": [f"V{i:02d}" for i in range(n)],
            "name": [f"村{i}" for i in range(n)],
            "population": rng.integers(100, 2000, size=n).astype(float),
        },
        geometry=[Point(x, y) for x, y in xy],
        crs=METRIC,
    )


def _networkx_costs(points: list[Point], sides: list[LineString]) -> np.ndarray:
    """Walking metres between points: straight to the nearest road side, along the grid
    (networkx Dijkstra on the sides cut at every joining point), straight to the point."""
    joins = []  # (side, offset along it, access leg) per point
    for pt in points:
        side = min(range(len(sides)), key=lambda i: sides[i].distance(pt))
        joins.append((side, sides[side].project(pt), sides[side].distance(pt)))
    graph = nx.Graph()
    for i, line in enumerate(sides):
        stops = sorted(
            [(0.0, tuple(line.coords[0])), (line.length, tuple(line.coords[-1]))]
            + [(off, ("p", k)) for k, (s, off, _) in enumerate(joins) if s == i]
        )
        for (t0, a), (t1, b) in itertools.pairwise(stops):
            graph.add_edge(a, b, weight=t1 - t0)
    cost = np.empty((len(points), len(points)))
    for k, (_, _, access_k) in enumerate(joins):
        along = nx.single_source_dijkstra_path_length(graph, ("p", k), weight="weight")
        cost[:, k] = [access + along[("p", j)] + access_k for j, (_, _, access) in enumerate(joins)]
    return cost


def _best_new_population(cost: np.ndarray, pop: np.ndarray, fixed: list[int], k: int) -> float:
    covered = (cost[:, fixed] <= WALK_M).any(axis=1)
    free = [j for j in range(cost.shape[1]) if j not in fixed]
    return max(
        float(pop[~covered & (cost[:, list(subset)] <= WALK_M).any(axis=1)].sum())
        for subset in itertools.combinations(free, k)
    )


@pytest.mark.parametrize(("seed", "budget"), [(1, 1), (2, 2), (3, 3), (4, 2)])
def test_network_stations_match_brute_force_over_networkx_costs(seed, budget):
    roads, sides = _road_grid()
    villages = _network_villages(seed)
    centers = gpd.GeoDataFrame(
        {"id": ["C0"], "name": ["现状站"], "level": ["village"]},
        geometry=[villages.geometry.iloc[0]],
        crs=METRIC,
    )
    cost = _networkx_costs(list(villages.geometry), sides)
    assert np.abs(cost - WALK_M).min() > 1e-3  # no pair on the radius itself
    road_search = RoadSearch(build_network(roads, min_component_nodes=1), villages, 500.0)
    siting = Siting(
        subcenters=SubcenterSiting(enabled=False), stations=StationSiting(budget=budget)
    )
    levels = {"village": LevelSpec(radius_m=WALK_M, mode="network", travel="walk")}
    outcome = propose_for(villages, levels=levels, siting=siting, centers=centers,
                          roads=road_search, lang="en")  # fmt: skip
    best = _best_new_population(cost, villages["population"].to_numpy(), [0], budget)
    chosen = villages.index[villages["id"].isin(outcome.proposals["site_id"])].tolist()
    pop = villages["population"].to_numpy()
    covered = (cost[:, [0]] <= WALK_M).any(axis=1)
    reach = ~covered & (cost[:, chosen] <= WALK_M).any(axis=1)
    assert len(chosen) <= budget and 0 not in chosen
    assert float(pop[reach].sum()) == pytest.approx(best)
    assert outcome.proposals["new_population_covered"].sum() == pytest.approx(best)
    assert outcome.solver["stations"]["objective"] == pytest.approx(pop[covered].sum() + best)


def test_network_pairs_equal_networkx_costs():
    roads, sides = _road_grid()
    villages = _network_villages(5)
    cost = _networkx_costs(list(villages.geometry), sides)
    road_search = RoadSearch(build_network(roads, min_component_nodes=1), villages, 500.0)
    spec = LevelSpec(radius_m=WALK_M, mode="network", travel="walk")
    stored = pairs_within(villages.geometry, villages.geometry, spec, roads=road_search).tocoo()
    dense = np.full(cost.shape, np.nan)
    dense[stored.row, stored.col] = stored.data
    assert ((cost <= WALK_M) == ~np.isnan(dense)).all()
    assert np.allclose(dense[cost <= WALK_M], cost[cost <= WALK_M], atol=1e-6)


def test_network_level_without_roads_is_refused():
    villages = _network_villages(6)
    levels = {"village": LevelSpec(radius_m=WALK_M, mode="network")}
    with pytest.raises(PlannerError, match="needs roads"):
        propose_for(villages, levels=levels)


def test_propose_for_refuses_degrees():
    villages = _network_villages(7).to_crs("EPSG:4326")
    with pytest.raises(PlannerError, match="geographic CRS"):
        propose_for(villages, levels={"village": LevelSpec(radius_m=WALK_M)})
