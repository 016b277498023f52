"""Inspection rounds (planner.standards.sampling, inspection): weighted sampling and routes.

Routes are checked against brute force over all permutations (≤ 8 stops), against an
independent nearest-neighbour tour and against networkx's Christofides tour; sampling
against its exact first-draw probability and against numpy's successive sampling.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from planner.errors import PlannerError
from planner.standards.inspection import inspection_round, inspection_table, plan_route, solve_tour
from planner.standards.sampling import sample_inspection, stratified_sample

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def region(sizes: dict[tuple[str, str], int], *, seed: int = 0, bad_share: float = 0.5):
    """Centers in county×level strata of the given sizes, random points and compliance."""
    rng = np.random.default_rng(seed)
    rows = [(county, level) for (county, level), k in sizes.items() for _ in range(k)]
    n = len(rows)
    compliant = pd.array(rng.random(n) >= bad_share, dtype="boolean")
    compliant[rng.random(n) < 0.1] = pd.NA
    return gpd.GeoDataFrame(
        {
            "id": [f"c{i:03d}" for i in range(n)],
            "county_id": [r[0] for r in rows],
            "level": [r[1] for r in rows],
            "compliant": compliant,
        },
        geometry=[Point(xy) for xy in rng.random((n, 2)) * 20_000],
        crs="EPSG:4547",
    )


def tour_length(d: np.ndarray, order, *, closed: bool = True) -> float:
    order = list(order)
    legs = sum(d[a, b] for a, b in itertools.pairwise(order))
    return legs + (d[order[-1], order[0]] if closed else 0.0)


def nearest_neighbour(d: np.ndarray, start: int) -> list[int]:
    """Textbook nearest-neighbour tour (independent of the module's)."""
    order, left = [start], set(range(len(d))) - {start}
    while left:
        nxt = min(left, key=lambda j: (d[order[-1], j], j))
        order.append(nxt)
        left.remove(nxt)
    return order


def brute_force(d: np.ndarray, *, closed: bool = True, start: int | None = None) -> float:
    n = len(d)
    if closed:
        return min(tour_length(d, (0, *p)) for p in itertools.permutations(range(1, n)))
    firsts = range(n) if start is None else [start]
    return min(
        tour_length(d, (s, *p), closed=False)
        for s in firsts
        for p in itertools.permutations([j for j in range(n) if j != s])
    )


def random_costs(rng: np.random.Generator, n: int, *, asymmetric: bool) -> np.ndarray:
    xy = rng.random((n, 2)) * 10_000
    d = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    return d * rng.uniform(1.0, 1.6, (n, n)) if asymmetric else d


# --------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------
def test_sample_is_deterministic_for_a_seed():
    centers = region(
        {("150521", "village"): 40, ("150522", "village"): 30, ("150521", "township"): 5}
    )
    first = sample_inspection(centers, 12, seed=42)
    again = sample_inspection(centers, 12, seed=42)
    assert first["id"].tolist() == again["id"].tolist()
    others = {tuple(sample_inspection(centers, 12, seed=s)["id"]) for s in range(5)}
    assert len(others) > 1
    assert first.index.is_monotonic_increasing
    assert set(first["stratum"]) == {"150521/village", "150522/village", "150521/township"}
    expected_weight = np.where(first["compliant"].fillna(False).to_numpy(dtype=bool), 1.0, 3.0)
    assert first["sample_weight"].tolist() == expected_weight.tolist()


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=8),
    n=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
)
def test_sample_respects_strata(sizes, n, seed):
    strata = {
        (f"15052{i % 3}", ("village", "township", "station")[i // 3]): k
        for i, k in enumerate(sizes)
    }
    centers = region(strata, seed=seed % 1000)
    sample = sample_inspection(centers, n, seed=seed)
    assert sample["id"].is_unique
    assert len(sample) == min(n, len(centers))
    counts = sample.groupby(["county_id", "level"]).size()
    if n >= len(strata):
        assert set(counts.index) == set(strata)  # every stratum represented
    else:
        assert (counts == 1).all()  # n distinct strata, one center each


def test_sample_uses_the_array_level_sampler():
    centers = region({("150521", "village"): 30, ("150522", "township"): 8}, seed=4)
    sample = sample_inspection(centers, 7, seed=99, weight_noncompliant=2.5)
    flags = centers["compliant"].fillna(False).to_numpy(dtype=bool)
    strata = (centers["county_id"] + "/" + centers["level"]).to_numpy()
    positions = stratified_sample(strata, np.where(flags, 1.0, 2.5), 7, seed=99)
    assert sample["id"].tolist() == centers["id"].iloc[positions].tolist()


def _share(draws: int, bad: np.ndarray, n: int, weight: float) -> float:
    """Mean share of flagged rows over ``draws`` single-stratum samples of size ``n``."""
    strata, w = np.zeros(len(bad)), np.where(bad, weight, 1.0)
    return float(
        np.mean([bad[stratified_sample(strata, w, n, seed=s)].mean() for s in range(draws)])
    )


def test_first_draw_probability_is_proportional_to_weight():
    """With one draw, P(problem center) = 3·50 / (3·50 + 50) = 0.75 exactly."""
    bad = np.r_[np.zeros(50, bool), np.ones(50, bool)]
    draws = 2000
    assert abs(_share(draws, bad, 1, 3.0) - 0.75) < 4 * np.sqrt(0.75 * 0.25 / draws)
    assert abs(_share(draws, bad, 1, 1.0) - 0.5) < 4 * np.sqrt(0.25 / draws)


def test_unknown_centers_are_weighted_like_non_compliant():
    centers = region({("150521", "village"): 60})
    centers["compliant"] = pd.array([True] * 30 + [None] * 30, dtype="boolean")
    weights = sample_inspection(centers, 60, seed=1)["sample_weight"]
    assert weights.tolist() == [1.0] * 30 + [3.0] * 30


def test_larger_samples_match_successive_weighted_sampling():
    """Mean share of problem centers in 10 of 100 equals numpy's successive sampling."""
    bad = np.r_[np.zeros(70, bool), np.ones(30, bool)]
    draws = 2000
    ours = _share(draws, bad, 10, 3.0)
    rng = np.random.default_rng(0)
    p = np.where(bad, 3.0, 1.0) / np.where(bad, 3.0, 1.0).sum()
    reference = np.mean([bad[rng.choice(100, 10, replace=False, p=p)].mean() for _ in range(draws)])
    assert ours > 0.3 + 0.2  # clearly above the unweighted share of 0.3
    assert abs(ours - reference) < 0.02  # sd of the difference ≈ 0.004


def test_sample_rejects_bad_requests():
    centers = region({("150521", "village"): 3})
    with pytest.raises(PlannerError, match="positive integer"):
        sample_inspection(centers, 0, seed=1)
    with pytest.raises(PlannerError, match="missing column"):
        sample_inspection(centers.drop(columns="county_id"), 2, seed=1)
    assert len(sample_inspection(centers, 10, seed=1)) == 3
    no_flags = sample_inspection(centers.drop(columns="compliant"), 2, seed=1)
    assert (no_flags["sample_weight"] == 1.0).all()


# --------------------------------------------------------------------------------------
# Tours
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("asymmetric", [False, True])
@pytest.mark.parametrize("closed", [True, False])
def test_tour_within_optimal_times_1_5_and_not_worse_than_nearest_neighbour(asymmetric, closed):
    rng = np.random.default_rng(11)
    optimal_found = 0
    for _ in range(12):
        n = int(rng.integers(2, 9))
        d = random_costs(rng, n, asymmetric=asymmetric)
        order = solve_tour(d, closed=closed)
        assert sorted(order.tolist()) == list(range(n))
        length = tour_length(d, order, closed=closed)
        best = brute_force(d, closed=closed)
        assert best - 1e-6 <= length <= 1.5 * best
        nn = min(tour_length(d, nearest_neighbour(d, s), closed=closed) for s in range(n))
        assert length <= nn + 1e-6
        optimal_found += length <= best + 1e-6
    assert optimal_found >= 10


def test_open_path_from_a_fixed_start():
    rng = np.random.default_rng(5)
    for _ in range(8):
        n = int(rng.integers(3, 8))
        d = random_costs(rng, n, asymmetric=True)
        start = int(rng.integers(n))
        order = solve_tour(d, closed=False, start=start)
        assert order[0] == start
        length = tour_length(d, order, closed=False)
        assert length <= 1.5 * brute_force(d, closed=False, start=start)
        assert length <= tour_length(d, nearest_neighbour(d, start), closed=False) + 1e-6


@pytest.mark.parametrize("n", [20, 45])
def test_tour_beats_nearest_neighbour_and_christofides(n):
    d = random_costs(np.random.default_rng(n), n, asymmetric=False)
    length = tour_length(d, solve_tour(d))
    graph = nx.complete_graph(n)
    nx.set_edge_attributes(graph, {(a, b): d[a, b] for a, b in graph.edges}, "weight")
    christofides = nx.approximation.christofides(graph)
    assert length <= tour_length(d, christofides[:-1]) + 1e-6
    assert length <= min(tour_length(d, nearest_neighbour(d, s)) for s in range(n)) + 1e-6


def test_bad_cost_matrices():
    with pytest.raises(PlannerError, match="square"):
        solve_tour(np.zeros((2, 3)))
    with pytest.raises(PlannerError, match="stop 0 cannot reach stop 1"):
        solve_tour(np.array([[0, np.inf], [1, 0]]))
    with pytest.raises(PlannerError, match="non-negative"):
        solve_tour(np.array([[0, -1], [1, 0]]))
    assert solve_tour(np.zeros((1, 1))).tolist() == [0]


# --------------------------------------------------------------------------------------
# Routes on GeoDataFrames
# --------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(
    points=st.lists(st.tuples(st.floats(0, 50_000), st.floats(0, 50_000)), min_size=1, max_size=12),
    closed=st.booleans(),
)
def test_route_tables_are_consistent(points, closed):
    stops = gpd.GeoDataFrame(
        {"id": [f"s{i}" for i in range(len(points))]},
        geometry=[Point(p) for p in points],
        crs="EPSG:4547",
    )
    ordered, route = plan_route(stops, closed=closed)
    assert sorted(ordered["center_id"]) == sorted(stops["id"])
    assert ordered["order"].tolist() == list(range(1, len(points) + 1))
    xy = np.array([(p.x, p.y) for p in ordered.geometry])
    legs = np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)]
    np.testing.assert_allclose(ordered["leg_m"], legs, atol=1e-6)
    np.testing.assert_allclose(ordered["cum_m"], np.cumsum(legs), atol=1e-6)
    back = float(np.hypot(*(xy[-1] - xy[0]))) if closed else 0.0
    assert route["length_m"].iloc[0] == pytest.approx(legs.sum() + back, abs=1e-6)
    assert route["return_m"].iloc[0] == pytest.approx(back, abs=1e-6)
    line = route.geometry.iloc[0]
    if len(points) == 1:
        assert line is None
    else:
        assert line.length == pytest.approx(route["length_m"].iloc[0], rel=1e-9, abs=1e-6)
        # an open route whose last stop coincides with its first is closed geometrically
        assert line.is_closed == (closed or bool((xy[0] == xy[-1]).all()))


def test_route_over_a_cost_table_by_id_and_a_start():
    rng = np.random.default_rng(3)
    stops = region({("150521", "village"): 6}, seed=3)
    d = random_costs(rng, 6, asymmetric=True)
    ids = stops["id"].tolist()
    table = pd.DataFrame(d, index=ids, columns=ids).iloc[::-1, ::-1]  # order must not matter
    ordered, route = plan_route(stops, cost=table, closed=False, start="c004")
    assert ordered["center_id"].iloc[0] == "c004"
    positions = [ids.index(i) for i in ordered["center_id"]]
    assert route["length_m"].iloc[0] == pytest.approx(tour_length(d, positions, closed=False))
    assert route["length_m"].iloc[0] == pytest.approx(
        brute_force(d, closed=False, start=4), rel=1e-9
    )  # 6 stops: the local search finds the optimum
    with pytest.raises(PlannerError, match="no row/column for stop"):
        plan_route(stops, cost=table.drop(index="c001"))
    with pytest.raises(PlannerError, match="not among the stops"):
        plan_route(stops, start="zz")


def test_geographic_stops_need_projection():
    stops = gpd.GeoDataFrame(
        {"id": ["a", "b"]}, geometry=[Point(122, 43), Point(122.1, 43)], crs="EPSG:4326"
    )
    with pytest.raises(PlannerError, match="geographic CRS"):
        plan_route(stops)


def test_inspection_round_and_table():
    centers = region({("150521", "village"): 20, ("150522", "township"): 4})
    centers["name"] = [f"中心{i}" for i in range(len(centers))]
    calls = []

    def road_costs(stops):
        calls.append(len(stops))
        return np.full((len(stops), len(stops)), 1500.0)

    ordered, route = inspection_round(centers, 6, seed=9, cost=road_costs)
    assert calls == [6]
    assert route["length_m"].iloc[0] == pytest.approx(6 * 1500.0)
    assert set(ordered["stratum"]) == {"150521/village", "150522/township"}
    table = inspection_table(ordered, lang="zh")
    assert list(table.columns[:4]) == ["序号", "中心编号", "名称", "级别"]
    assert {"上段距离（km）", "是否达标", "标识标牌", "便民服务台账"} <= set(table.columns)
    assert set(table["级别"]) == {"村（社区）", "乡镇（街道）"}
    assert set(table["是否达标"]) <= {"是", "否", "待核实"}
    assert table["上段距离（km）"].iloc[1] == 1.5
    english = inspection_table(ordered, lang="en")
    assert {"order", "center_id", "leg_km", "cum_km", "signage"} <= set(english.columns)


# --------------------------------------------------------------------------------------
# Real places: Tongliao counties (Vonng/adcode, NBS 2016; CC BY 4.0)
# --------------------------------------------------------------------------------------
def test_round_on_real_tongliao_places():
    folder = SHARED_DATA / "cn_admin" / "adcode_2016"
    if not folder.is_dir():
        pytest.skip("shared reference data not available")
    frames = []
    for county in ("150502", "150521", "150522"):
        raw = pd.read_csv(folder / f"{county}.csv", header=None, dtype=str)
        raw = raw[raw[12].notna() & raw[3].isin(["town", "village"])]
        level = raw[3].map({"town": "township", "village": "village"})
        frames.append(
            pd.DataFrame(
                {
                    "id": raw[0],
                    "county_id": county,
                    "level": level,
                    "lon": raw[12].astype(float),
                    "lat": raw[13].astype(float),
                }
            )
        )
    places = pd.concat(frames, ignore_index=True)
    centers = gpd.GeoDataFrame(
        places, geometry=gpd.points_from_xy(places["lon"], places["lat"]), crs="EPSG:4326"
    ).to_crs("EPSG:32651")  # GCJ-02 offsets do not matter for a routing test
    centers["compliant"] = pd.array(np.arange(len(centers)) % 3 != 0, dtype="boolean")
    sample = sample_inspection(centers, 24, seed=2024)
    assert set(sample.groupby(["county_id", "level"]).size().index) == {
        (c, lvl) for c in ("150502", "150521", "150522") for lvl in ("township", "village")
    }
    _, route = plan_route(sample)
    xy = np.column_stack([sample.geometry.x, sample.geometry.y])
    d = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    nn = min(tour_length(d, nearest_neighbour(d, s)) for s in range(len(d)))
    assert route["length_m"].iloc[0] <= nn + 1e-6
    graph = nx.complete_graph(len(d))
    nx.set_edge_attributes(graph, {(a, b): d[a, b] for a, b in graph.edges}, "weight")
    christofides = tour_length(d, nx.approximation.christofides(graph)[:-1])
    assert route["length_m"].iloc[0] <= christofides + 1e-6


def test_road_cost_follows_the_roads():
    """Two stops on a U-shaped road: the road distance, not the straight line."""
    import geopandas as gpd
    from shapely.geometry import LineString, Point

    from planner.network import build_network
    from planner.standards.inspection import road_cost

    roads = gpd.GeoDataFrame(
        {"highway": ["residential"] * 3},
        geometry=[
            LineString([(0, 0), (0, 1000)]),
            LineString([(0, 1000), (300, 1000)]),
            LineString([(300, 1000), (300, 0)]),
        ],
        crs="EPSG:4550",
    )
    net = build_network(roads, min_component_nodes=2)
    stops = gpd.GeoDataFrame(
        {"id": ["a", "b"]}, geometry=[Point(0, 0), Point(300, 0)], crs="EPSG:4550"
    )
    cost = road_cost(net)(stops)
    assert cost[0, 1] == pytest.approx(2300.0) and cost[1, 0] == pytest.approx(2300.0)
    assert cost[0, 0] == 0.0
