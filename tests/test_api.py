"""The public API (``import planner as pl``) against independent computations: pyproj
geodesics, brute-force shapely distances, networkx shortest paths and enumeration of every
choice of sites."""

from __future__ import annotations

import doctest
import itertools
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box

import planner as pl
import planner.api
from planner.catchment import level_coverage
from planner.scenario import LevelSpec
from planner.siting.site_choice import choose_sites

REPO = Path(__file__).resolve().parents[1]
METRIC = "EPSG:4550"  # CGCS2000 Gauss-Krüger, central meridian 123°E
LON0, LAT0 = 122.25, 43.6
ORIGIN = np.array([500_000.0, 4_800_000.0])  # inside EPSG:4550's area of use


def points(xy, crs=METRIC, index=None, **columns) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    return gpd.GeoDataFrame(
        columns, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs, index=index
    )


def brute_nearest(villages: gpd.GeoDataFrame, centers: gpd.GeoDataFrame):
    d = shapely.distance(
        villages.geometry.to_numpy()[:, None], centers.geometry.to_numpy()[None, :]
    )
    return d.min(axis=1), d.argmin(axis=1)


# ---------------------------------------------------------------------------- package


def test_import_planner_is_cheap_and_names_resolve():
    code = (
        "import sys, planner; "
        "print(sorted(m for m in sys.modules if m.startswith(('planner.', 'geopandas'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['planner.version']", "only the version is imported eagerly"
    assert set(pl.__all__) <= set(dir(pl))
    assert pl.coverage is planner.api.coverage
    assert pl.read_scenario.__name__ == "load_scenario"
    assert issubclass(pl.PlannerError, ValueError)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pl.nope  # noqa: B018


def test_readme_example_runs(monkeypatch, capsys):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python API\n")[1].split("\n## ")[0]
    code = section.split("```python\n")[1].split("```")[0]
    monkeypatch.chdir(REPO)
    namespace: dict = {}
    with pytest.warns(pl.PlannerWarning, match="from a road usable by walk"):
        exec(compile(code, "README.md", "exec"), namespace)
    chosen, certificate = namespace["chosen"], namespace["certificate"]
    assert len(chosen) == 5 and certificate.status == "optimal"
    inside = namespace["villages"].to_crs(METRIC).representative_point()
    serving = namespace["serving"].to_crs(METRIC)
    before = brute_nearest(gpd.GeoDataFrame(geometry=inside), serving)[0] <= 1000
    assert certificate.population_total == len(inside), "weights=None counts villages"
    assert chosen["new_villages_covered"].sum() == certificate.population_covered - before.sum()
    assert "township-" in capsys.readouterr().out


def test_docstring_examples_run():
    result = doctest.testmod(planner.api, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 20 and result.failed == 0


# ---------------------------------------------------------------------------- CRS rules


def lonlat_villages() -> gpd.GeoDataFrame:
    """One village 1 km and one 80 km east of the center, in longitude/latitude."""
    geod = pyproj.Geod(ellps="GRS80")
    lon1, lat1, _ = geod.fwd(LON0, LAT0, 90, 1_000)
    lon2, lat2, _ = geod.fwd(LON0, LAT0, 90, 80_000)
    return points([(lon1, lat1), (lon2, lat2)], crs="EPSG:4326", index=["near", "far"])


def test_villages_80_km_away_in_lonlat_are_not_covered():
    villages = lonlat_villages()
    centers = points([(LON0, LAT0)], crs="EPSG:4326", id=["C"])
    result = pl.coverage(villages, centers, radius_m=5000)
    assert result["covered"].to_dict() == {"near": True, "far": False}
    # Gauss-Krüger distances are within 0.1 % of the geodesic ones near the central meridian
    assert result["distance_m"].to_numpy() == pytest.approx([1_000, 80_000], rel=1e-3)
    assert result.crs == villages.crs and result.geometry.equals(villages.geometry)


def test_level_coverage_refuses_degrees_and_missing_ids():
    villages, centers = lonlat_villages(), points([(LON0, LAT0)], crs="EPSG:4326", id=["C"])
    with pytest.raises(pl.PlannerError, match="geographic CRS"):
        level_coverage(villages, centers, "township", LevelSpec(radius_m=5000))
    metric = centers.to_crs(METRIC)
    with pytest.raises(pl.PlannerError, match="no 'id' column"):
        level_coverage(
            villages.to_crs(METRIC), metric.drop(columns="id"), "x", LevelSpec(radius_m=1)
        )
    spec = LevelSpec(radius_m=5000, mode="network")
    with pytest.raises(pl.PlannerError, match="mode='network' needs a road network"):
        level_coverage(villages.to_crs(METRIC), metric, "township", spec)


def test_web_mercator_is_not_measured_in():
    villages, centers = lonlat_villages(), points([(LON0, LAT0)], crs="EPSG:4326", id=["C"])
    mercator = pl.coverage(villages.to_crs(3857), centers.to_crs(3857), radius_m=5000)
    assert mercator["distance_m"].to_numpy() == pytest.approx([1_000, 80_000], rel=1e-3)


def test_mixed_crs_give_the_all_metric_result():
    rng = np.random.default_rng(3)
    villages = points(rng.uniform(0, 20_000, (60, 2)) + ORIGIN)
    centers = points(rng.uniform(0, 20_000, (7, 2)) + ORIGIN, id=list("ABCDEFG"))
    metric = pl.coverage(villages, centers, radius_m=3000)
    mixed = pl.coverage(villages.to_crs(4326), centers.to_crs(4490), radius_m=3000)
    assert mixed["center_id"].tolist() == metric["center_id"].tolist()
    assert mixed["covered"].tolist() == metric["covered"].tolist()
    expected = metric["distance_m"].to_numpy()
    assert mixed["distance_m"].to_numpy() == pytest.approx(expected, abs=1e-3)


def test_result_is_aligned_on_the_input_index():
    villages = points([(0, 0), (100, 0), (5000, 0)], index=["x", "y", "z"])
    centers = points([(90, 0), (4000, 0)], index=pd.Index([7, 3], name="site"))
    result = pl.coverage(villages.iloc[::-1], centers, radius_m=500)
    assert result.index.tolist() == ["z", "y", "x"]
    assert result["center_id"].tolist() == [3, 7, 7], "no id column: the index labels name them"
    assert result["covered"].tolist() == [False, True, True]


def test_polygons_stand_for_a_point_inside():
    squares = gpd.GeoDataFrame(geometry=[box(0, 0, 100, 100), box(900, 0, 1000, 100)], crs=METRIC)
    centers = points([(50, 50)], id=["C"])
    result = pl.coverage(squares, centers, radius_m=100)
    inside = squares.representative_point()
    expected = inside.distance(Point(50, 50)).to_numpy()
    assert result["distance_m"].to_numpy() == pytest.approx(expected)


# ---------------------------------------------------------------------------- refused input


def _villages():
    return points([(0, 0), (100, 0)], population=[10, 20])


def _centers():
    return points([(50, 0)], id=["C"])


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: pl.coverage(_villages().set_crs(None, allow_override=True), _centers(),
                             radius_m=1), "villages has no CRS"),
        (lambda: pl.coverage(_villages(), pd.DataFrame({"x": [1]}), radius_m=1),
         "centers: expected a GeoDataFrame, got DataFrame"),
        (lambda: pl.coverage(_villages(), _centers()), "radius_m or minutes; got neither"),
        (lambda: pl.coverage(_villages(), _centers(), radius_m=1, minutes=2),
         "radius_m=1, minutes=2"),
        (lambda: pl.coverage(_villages(), _centers(), radius_m=-5), "radius_m must be"),
        (lambda: pl.coverage(_villages(), _centers(), radius_m=True), "radius_m must be a number"),
        (lambda: pl.coverage(_villages(), _centers(), radius_m=1, mode="network"),
         "mode='network' .* needs network="),
        (lambda: pl.coverage(_villages(), _centers(), radius_m=1, mode="roads"), "mode must be"),
        (lambda: pl.coverage(_villages(), _centers(), radius_m=1, travel="fly"), "travel must be"),
        (lambda: pl.coverage(_villages(), _centers(), radius_m=1, network=object()),
         "network= is given but mode='euclidean'"),
        (lambda: pl.coverage(_villages(), gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 1)])],
                             crs=METRIC), radius_m=1), "centers: expected points or polygons"),
        (lambda: pl.coverage(points([(0, 0)]).assign(geometry=None), _centers(), radius_m=1),
         "villages: 1 row"),
        (lambda: pl.propose_sites(_villages().drop(columns="population"), _centers(),
                                  radius_m=1), "villages has no column 'population'"),
        (lambda: pl.propose_sites(_villages(), _centers(), radius_m=1, budget=1,
                                  target_coverage=0.5), "budget or target_coverage, not both"),
        (lambda: pl.propose_sites(_villages(), _centers(), radius_m=1, capacity=10),
         "capacity=10 needs budget="),
        (lambda: pl.propose_sites(_villages(), _centers(), radius_m=1, budget=1.5),
         "budget must be a whole number"),
        (lambda: pl.propose_sites(_villages(), _centers(), radius_m=1, target_coverage=1.5),
         "target_coverage is a share"),
        (lambda: pl.propose_sites(_villages(), _centers().iloc[:0], radius_m=1),
         "candidates is empty"),
        (lambda: pl.propose_sites(_villages(), pd.concat([_centers(), _centers()]), radius_m=1),
         "candidates: the index has repeated labels"),
        (lambda: pl.propose_sites(_villages().assign(population=["a", "b"]), _centers(),
                                  radius_m=1), r"villages\['population'\]: not a number"),
        (lambda: pl.propose_sites(_villages(), _centers(), radius_m=10, target_coverage=1.0),
         "cannot be reached"),
        (lambda: pl.build_network(gpd.GeoDataFrame(geometry=[], crs=4326)), "roads is empty"),
        (lambda: pl.generate_grids(gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs=METRIC)),
         "village_areas has no column 'id'"),
        (lambda: pl.generate_grids(), "give village_areas"),
        (lambda: pl.check_grids(gpd.GeoDataFrame(geometry=[], crs=4326),
                                gpd.GeoDataFrame(geometry=[], crs=4326).assign(id=[])),
         "cannot pick a metric CRS"),
    ],
)  # fmt: skip
def test_bad_input_is_a_planner_error_naming_it(call, named):
    with pytest.raises(pl.PlannerError, match=named):
        call()


def test_blank_population_counts_zero_with_a_warning():
    villages = points([(0, 0), (100, 0)], population=[np.nan, 20.0])
    with pytest.warns(pl.PlannerWarning, match=r"blank in 1 row\(s\) \(index 0\)"):
        chosen, cert = pl.propose_sites(villages, _centers(), radius_m=100, budget=1)
    assert cert.objective == 20 and chosen["new_villages_covered"].tolist() == [2]


def test_no_centers_covers_nobody_with_a_warning():
    with pytest.warns(pl.PlannerWarning, match="centers is empty"):
        result = pl.coverage(_villages(), _centers().iloc[:0], radius_m=100)
    assert not result["covered"].any() and result["center_id"].isna().all()


# ---------------------------------------------------------------------------- coverage


@settings(max_examples=50, deadline=None)
@given(
    villages=st.lists(st.tuples(st.floats(0, 5e4), st.floats(0, 5e4)), min_size=1, max_size=30),
    centers=st.lists(st.tuples(st.floats(0, 5e4), st.floats(0, 5e4)), min_size=1, max_size=10),
    radius=st.floats(1, 3e4),
)
def test_coverage_is_the_brute_force_nearest(villages, centers, radius):
    v = points(np.asarray(villages) + ORIGIN)
    c = points(np.asarray(centers) + ORIGIN, id=[f"c{i}" for i in range(len(centers))])
    result = pl.coverage(v, c, radius_m=radius)
    dist, _ = brute_nearest(v, c)
    assert result["distance_m"].to_numpy() == pytest.approx(dist, rel=1e-9, abs=1e-6)
    assert (result["covered"] == (result["distance_m"] <= radius)).all()
    chosen = c.set_index("id").geometry.loc[result["center_id"]].to_numpy()
    assert shapely.distance(v.geometry.to_numpy(), chosen) == pytest.approx(dist, abs=1e-6)


def test_minutes_by_straight_line_use_the_nominal_speed():
    villages = points([(0, 0), (2000, 0)])
    result = pl.coverage(villages, _centers(), minutes=20, travel="walk")  # 5 km/h: 1,667 m
    assert result["minutes"].to_numpy() == pytest.approx(np.array([50, 1950]) / (5000 / 60))
    assert result["covered"].tolist() == [True, False]


def jittered_grid(seed: int, n: int = 5, step: float = 1000.0):
    """Road lines between neighbours of a jittered n × n grid, some left out."""
    rng = np.random.default_rng(seed)
    xy = {
        (i, j): tuple(ORIGIN + np.array([i, j]) * step + rng.uniform(-200, 200, 2))
        for i in range(n)
        for j in range(n)
    }
    pairs = [((i, j), (i + 1, j)) for i in range(n - 1) for j in range(n)]
    pairs += [((i, j), (i, j + 1)) for i in range(n) for j in range(n - 1)]
    kept = [p for p in pairs if rng.random() > 0.25]
    lines = gpd.GeoDataFrame(geometry=[LineString([xy[a], xy[b]]) for a, b in kept], crs=METRIC)
    graph = nx.Graph()
    graph.add_nodes_from(xy)
    graph.add_weighted_edges_from(
        (a, b, float(np.hypot(*np.subtract(xy[a], xy[b])))) for a, b in kept
    )
    return xy, lines, graph


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_network_coverage_equals_networkx_shortest_paths(seed):
    xy, lines, graph = jittered_grid(seed)
    net = pl.build_network(lines.to_crs(4326), min_component_nodes=1)
    nodes = list(xy)
    centers_at = [nodes[k] for k in (0, 12, 24)]
    village_at = [nd for nd in nodes if nd not in centers_at]
    villages = points([xy[nd] for nd in village_at], index=[f"{i}-{j}" for i, j in village_at])
    centers = points([xy[nd] for nd in centers_at], id=["a", "b", "c"])
    radius = 2500.0
    result = pl.coverage(
        villages.to_crs(4326), centers, radius_m=radius, mode="network", network=net
    )
    dist = nx.multi_source_dijkstra_path_length(graph, centers_at, weight="weight")
    expected = np.array([dist.get(nd, np.inf) for nd in village_at])
    searched = expected <= 2 * radius  # road searches stop at twice the radius
    assert result["distance_m"].to_numpy()[searched] == pytest.approx(expected[searched], abs=0.05)
    assert result["distance_m"][~searched].isna().all()
    assert result["covered"].tolist() == (expected <= radius).tolist()
    assert result.index.tolist() == villages.index.tolist()


# ---------------------------------------------------------------------------- siting


def siting_instance(seed: int, n: int = 12, m: int = 6, k: int = 2):
    rng = np.random.default_rng(seed)
    villages = points(rng.uniform(0, 6000, (n, 2)), population=rng.integers(1, 100, n))
    candidates = points(rng.uniform(0, 6000, (m, 2)), index=[f"s{i}" for i in range(m)])
    existing = points(rng.uniform(0, 6000, (k, 2)), id=[f"e{i}" for i in range(k)])
    return villages, candidates, existing


def covers(villages, sites, radius) -> np.ndarray:
    d = shapely.distance(villages.geometry.to_numpy()[:, None], sites.geometry.to_numpy()[None, :])
    return d <= radius


def best_by_enumeration(reach: np.ndarray, fixed: np.ndarray, w: np.ndarray, k: int) -> float:
    return max(
        float(w[fixed | reach[:, list(s)].any(axis=1)].sum())
        for size in range(k + 1)
        for s in itertools.combinations(range(reach.shape[1]), size)
    )


def fewest_by_enumeration(reach: np.ndarray, fixed: np.ndarray, ok) -> int:
    for size in range(reach.shape[1] + 1):
        for s in itertools.combinations(range(reach.shape[1]), size):
            if ok(fixed | reach[:, list(s)].any(axis=1)):
                return size
    raise AssertionError("no subset works")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("with_existing", [False, True])
def test_budget_is_the_best_choice(seed, with_existing):
    villages, candidates, existing = siting_instance(seed)
    radius, budget = 1500.0, 2
    w = villages["population"].to_numpy(float)
    reach = covers(villages, candidates, radius)
    fixed = covers(villages, existing, radius).any(axis=1) & with_existing
    chosen, cert = pl.propose_sites(
        villages, candidates, radius_m=radius, budget=budget,
        existing=existing if with_existing else None,
    )  # fmt: skip
    best = best_by_enumeration(reach, fixed, w, budget)
    assert cert.objective == pytest.approx(best) and cert.status == "optimal"
    assert cert.bound == pytest.approx(best) and cert.population_total == w.sum()
    picked = reach[:, [candidates.index.get_loc(i) for i in chosen.index]].any(axis=1)
    assert float(w[fixed | picked].sum()) == pytest.approx(best)
    assert chosen["new_population_covered"].sum() + w[fixed].sum() == pytest.approx(best)
    assert chosen["rank"].tolist() == list(range(1, len(chosen) + 1)) and len(chosen) <= budget
    assert set(chosen.columns) >= {"rank", "new_population_covered", "new_villages_covered"}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("share_of_reachable", [0.5, 0.8, 1.0])
def test_target_coverage_takes_the_fewest_sites(seed, share_of_reachable):
    villages, candidates, existing = siting_instance(seed, m=8)
    radius = 1800.0
    w = villages["population"].to_numpy(float)
    reach = covers(villages, candidates, radius)
    fixed = covers(villages, existing, radius).any(axis=1)
    reachable = w[fixed | reach.any(axis=1)].sum() / w.sum()
    target = share_of_reachable * reachable
    chosen, cert = pl.propose_sites(
        villages, candidates, radius_m=radius, target_coverage=target, existing=existing
    )
    fewest = fewest_by_enumeration(reach, fixed, lambda cov: w[cov].sum() >= target * w.sum())
    assert (cert.objective, cert.bound, cert.status) == (fewest, fewest, "optimal")
    picked = reach[:, [candidates.index.get_loc(i) for i in chosen.index]].any(axis=1)
    assert w[fixed | picked].sum() >= target * w.sum()
    assert cert.population_covered == pytest.approx(w[fixed | picked].sum())


@pytest.mark.parametrize("seed", range(4))
def test_no_budget_covers_every_coverable_village_with_fewest_sites(seed):
    villages, candidates, existing = siting_instance(seed, m=8)
    radius = 1500.0
    reach = covers(villages, candidates, radius)
    fixed = covers(villages, existing, radius).any(axis=1)
    coverable = fixed | reach.any(axis=1)
    chosen, cert = pl.propose_sites(villages, candidates, radius_m=radius, existing=existing)
    fewest = fewest_by_enumeration(reach, fixed, lambda cov: cov[coverable].all())
    assert cert.objective == fewest and cert.status == "optimal" and len(chosen) == fewest
    picked = reach[:, [candidates.index.get_loc(i) for i in chosen.index]].any(axis=1)
    assert (fixed | picked)[coverable].all()


def test_network_siting_is_the_best_choice_along_roads():
    xy, lines, graph = jittered_grid(5)
    net = pl.build_network(lines, min_component_nodes=1)
    nodes = list(xy)
    rng = np.random.default_rng(5)
    v_at = [nodes[i] for i in rng.choice(len(nodes), 12, replace=False)]
    c_at = [nodes[i] for i in rng.choice(len(nodes), 6, replace=False)]
    villages = points([xy[nd] for nd in v_at], population=rng.integers(1, 100, 12))
    candidates = points([xy[nd] for nd in c_at], index=[f"s{i}" for i in range(6)])
    radius = 1600.0
    length = dict(nx.all_pairs_dijkstra_path_length(graph, weight="weight"))
    reach = np.array([[length[a].get(b, np.inf) <= radius for b in c_at] for a in v_at])
    w = villages["population"].to_numpy(float)
    chosen, cert = pl.propose_sites(villages, candidates, radius_m=radius, budget=2, network=net)
    best = best_by_enumeration(reach, np.zeros(12, bool), w, 2)
    assert cert.objective == pytest.approx(best) and cert.status == "optimal"
    picked = reach[:, [candidates.index.get_loc(i) for i in chosen.index]].any(axis=1)
    assert float(w[picked].sum()) == pytest.approx(best)


def test_capacity_limits_what_a_site_serves():
    villages = points([(0, 0), (10, 0), (20, 0)], population=[100, 100, 100])
    candidates = points([(10, 0), (5000, 0)], index=["mid", "far"])
    free, _ = pl.propose_sites(villages, candidates, radius_m=100, budget=1)
    chosen, cert = pl.propose_sites(villages, candidates, radius_m=100, budget=1, capacity=150)
    assert free["new_population_covered"].tolist() == [300.0]
    assert chosen.index.tolist() == ["mid"] and cert.objective == pytest.approx(150)
    assert chosen["new_population_covered"].sum() <= 150 + 1e-6


def random_reach(seed: int, n: int = 10, m: int = 7):
    """A random demand × site metres matrix of the pairs within reach, zeros included."""
    rng = np.random.default_rng(seed)
    reach = rng.random((n, m)) < 0.3
    metres = np.where(reach, rng.integers(0, 3, (n, m)) * 100.0, 0.0)
    d, s = np.nonzero(reach)
    cost = sp.csr_matrix((metres[d, s], (d, s)), shape=(n, m))
    return reach, cost, rng.integers(1, 50, n).astype(float)


@pytest.mark.parametrize("seed", range(5))
def test_choose_sites_on_a_matrix_is_the_best_choice(seed):
    reach, cost, w = random_reach(seed)
    fixed = reach[:, 0]  # the first column is an existing center
    chosen, cert = choose_sites(cost, w, n_fixed=1, budget=2)
    assert cert.objective == pytest.approx(best_by_enumeration(reach[:, 1:], fixed, w, 2))
    picked = reach[:, [c.site for c in chosen]].any(axis=1)
    assert [c.population for c in chosen] == sorted((c.population for c in chosen), reverse=True)
    assert sum(c.population for c in chosen) == pytest.approx(w[picked & ~fixed].sum())
    target = 0.9 * w[reach.any(axis=1)].sum() / w.sum()
    chosen, cert = choose_sites(cost, w, n_fixed=1, target=target)
    ok = lambda cov: w[cov].sum() >= target * w.sum()  # noqa: E731
    assert cert.objective == fewest_by_enumeration(reach[:, 1:], fixed, ok)
    assert ok(fixed | reach[:, [c.site for c in chosen]].any(axis=1))


@pytest.mark.parametrize("seed", range(5))
def test_fewest_sites_out_of_time_still_bounds_the_answer(seed):
    reach, cost, w = random_reach(seed, n=30, m=12)
    target = w[reach.any(axis=1)].sum() / w.sum()
    chosen, cert = choose_sites(cost, w, target=target, time_limit=1e-9)
    ok = lambda cov: w[cov].sum() >= target * w.sum()  # noqa: E731
    fewest = fewest_by_enumeration(reach, np.zeros(len(w), bool), ok)
    assert cert.bound <= fewest <= cert.objective == len(chosen)
    assert (cert.status == "optimal") == (cert.bound == cert.objective)
    assert cert.status in {"optimal", "time_limit"}


def test_road_warning_names_the_callers_line():
    road = LineString(ORIGIN + np.array([(0, 0), (5000, 0)]))
    net = pl.build_network(gpd.GeoDataFrame(geometry=[road], crs=METRIC), min_component_nodes=1)
    villages = points(ORIGIN + np.array([(10, 10), (2000, 3000)]), index=["on", "off"])
    centers = points(ORIGIN + np.array([(100, 0)]), id=["C"])
    with pytest.warns(pl.PlannerWarning, match="1 village.* from a road") as record:
        line = sys._getframe().f_lineno + 1
        pl.coverage(villages, centers, radius_m=3000, mode="network", network=net)
    assert [(w.filename, w.lineno) for w in record] == [(__file__, line)]


# ---------------------------------------------------------------------------- grids


def test_grids_in_lonlat_are_generated_and_checked_in_metres():
    lon_step, lat_step = 0.012, 0.004  # about 1 km × 450 m near 43.6°N
    areas = gpd.GeoDataFrame(
        {"id": ["150521100201", "150521100202"], "households": [90, 60]},
        geometry=[box(LON0, LAT0, LON0 + lon_step, LAT0 + lat_step),
                  box(LON0 + lon_step, LAT0, LON0 + 2 * lon_step, LAT0 + lat_step)],
        crs="EPSG:4326",
    )  # fmt: skip
    result = pl.generate_grids(areas, households_per_grid=30)
    assert result.grids.crs.equals(pyproj.CRS(METRIC))
    assert sorted(result.grids.groupby("village_id").size().tolist()) == [2, 3]
    metric_area = areas.to_crs(METRIC).area.sum()
    assert result.grids.area.sum() == pytest.approx(metric_area, rel=1e-6)
    issues = pl.check_grids(result.grids.to_crs(4490), areas)
    assert issues.empty, issues["message"].tolist()
    dropped = result.grids.iloc[1:].to_crs(4326)
    issues = pl.check_grids(dropped, areas)
    gaps = issues[issues["kind"] == "gap"]
    assert gaps["area_m2"].sum() == pytest.approx(result.grids.area.iloc[0], rel=1e-3)
