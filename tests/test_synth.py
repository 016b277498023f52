"""Tests of the synthetic region generator (planner.synth and its private helpers)."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial.distance import pdist, squareform

from planner.errors import PlannerError
from planner.synth import DEMO_FORMATS, KINDS, ZH_HEADERS, generate_region, geom, write_region

DEMO = Path(__file__).resolve().parents[1] / "layers" / "demo"
# The documented demo call (layers/README.md); a test checks the committed files match it.
DEMO_ARGS = {"villages": 800, "townships": 40, "counties": 3, "seed": 18, "name": "demo"}


@pytest.fixture(scope="module")
def region():
    """A small region in the metric CRS it is built in."""
    return generate_region(villages=600, townships=30, counties=3, seed=7, crs=None)


# ---------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_layers():
    a = generate_region(villages=150, townships=12, seed=3)
    b = generate_region(villages=150, townships=12, seed=3)
    assert a.layers().keys() == b.layers().keys() == set(KINDS)
    for kind, frame in a.layers().items():
        assert_geodataframe_equal(frame, b.layers()[kind], check_less_precise=False)


def test_different_seed_gives_a_different_region():
    a = generate_region(villages=150, townships=12, seed=3)
    b = generate_region(villages=150, townships=12, seed=4)
    assert not a.villages.geometry.geom_equals(b.villages.geometry).all()
    assert not np.array_equal(a.villages["population"], b.villages["population"])


# ---------------------------------------------------------------------------- counts and ids


@pytest.mark.parametrize(
    ("villages", "townships", "counties"), [(100, 10, None), (237, 19, 2), (60, 60, 4)]
)
def test_counts_match_the_request(villages, townships, counties):
    r = generate_region(villages=villages, townships=townships, counties=counties, seed=0)
    assert len(r.villages) == villages
    assert len(r.townships) == townships
    assert len(r.counties) == (counties or max(1, round(townships / 13)))
    levels = r.centers["level"].value_counts()
    assert levels["city"] == 1
    assert levels["county"] == len(r.counties)
    assert levels["township"] < townships or townships < 3


def test_ids_are_unique_and_nbs_like(region):
    v, t, c = region.villages, region.townships, region.counties
    assert v["id"].str.fullmatch(r"1505\d{8}").all()
    assert t["id"].str.fullmatch(r"1505\d{5}").all()
    assert c["id"].str.fullmatch(r"1505\d{2}").all()
    assert c["id"].iloc[0] == "150502"
    for frame in (v, t, c, region.centers, region.merged_townships, region.candidates):
        assert frame["id"].is_unique
    assert all(vid.startswith(tid) for vid, tid in zip(v["id"], v["township_id"], strict=True))
    assert all(tid.startswith(cid) for tid, cid in zip(t["id"], t["county_id"], strict=True))
    assert set(v["township_id"]) == set(t["id"])
    assert set(region.merged_townships["township_id"]) <= set(t["id"])
    assert not set(region.merged_townships["id"]) & set(t["id"])  # former codes are retired
    # streets are 0xx, towns 1xx-3xx; communities 0xx-1xx, villages 2xx-9xx
    street = t["name"].str.endswith("街道")
    assert (t["id"].str[6] == "0").eq(street).all()
    assert (v["id"].str[9].isin(["0", "1"])).eq(v["urban"]).all()
    assert v.loc[v["urban"], "name"].str.endswith("社区").all()
    assert v.loc[~v["urban"], "name"].str.contains("村$|嘎查$").all()


def test_bad_requests_raise_planner_error():
    with pytest.raises(PlannerError, match="counties <= townships <= villages"):
        generate_region(villages=5, townships=10)
    with pytest.raises(PlannerError, match="counties <= townships"):
        generate_region(villages=50, townships=3, counties=4)
    with pytest.raises(PlannerError, match="road_detail"):
        generate_region(villages=50, townships=3, road_detail=0)
    with pytest.raises(PlannerError, match="more townships"):
        generate_region(villages=2000, townships=2)


# ---------------------------------------------------------------------------- geometry


def test_village_areas_tile_their_township(region):
    areas = region.village_areas
    assert (areas["id"] == region.villages["id"]).all()
    for tid, cells in areas.groupby("township_id"):
        township = region.townships.loc[region.townships["id"] == tid].geometry.iloc[0]
        union = shapely.union_all(cells.geometry.values)
        total = cells.area.sum()
        assert total == pytest.approx(township.area, rel=1e-6)  # no gaps
        assert union.area == pytest.approx(total, rel=1e-6)  # no overlaps
        assert union.symmetric_difference(township).area <= 1e-6 * township.area
    # each village lies in its own cell (the Voronoi property)
    assert areas.geometry.contains(region.villages.geometry).all()


def test_townships_tile_the_region_and_counties_dissolve_them(region):
    t = region.townships
    union = shapely.union_all(t.geometry.values)
    assert union.area == pytest.approx(t.area.sum(), rel=1e-9)
    for cid, members in t.groupby("county_id"):
        county = region.counties.loc[region.counties["id"] == cid].geometry.iloc[0]
        assert county.area == pytest.approx(members.area.sum(), rel=1e-9)
    joined = region.villages.sjoin(t[["id", "geometry"]].rename(columns={"id": "tid"}))
    assert (joined["tid"] == joined["township_id"]).all()
    assert len(joined) == len(region.villages)


def test_merged_township_areas_lie_in_their_township(region):
    m, areas = region.merged_townships, region.merged_township_areas
    assert len(m) > 0 and (m["id"] == areas["id"]).all()
    town = region.townships.set_index("id").geometry
    host = town.loc[m["township_id"]].to_numpy()
    assert shapely.covers(shapely.buffer(host, 1e-6), areas.geometry.values).all()
    assert (areas.area < shapely.area(host)).all()
    assert areas.geometry.contains(m.geometry).all()


def _road_graph(roads: gpd.GeoDataFrame) -> nx.Graph:
    graph = nx.Graph()
    for line in roads.geometry.values:
        xy = shapely.get_coordinates(line)
        nx.add_path(graph, [tuple(p) for p in xy])
    return graph


def test_roads_are_connected_and_reach_every_village(region):
    roads = region.roads
    graph = _road_graph(roads)
    assert nx.is_connected(graph)
    dist = roads.sindex.nearest(region.villages.geometry, return_distance=True, return_all=False)[1]
    assert dist.max() <= 1000.0
    assert (dist > 250.0).sum() >= 1  # a few villages are left off the road on purpose
    assert (dist < 1e-6).mean() > 0.98
    assert set(roads["highway"]) <= {
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "unclassified",
        "residential",
        "track",
    }
    assert {"trunk", "secondary", "tertiary", "unclassified", "residential"} <= set(
        roads["highway"]
    )
    assert not roads["oneway"].any() and (roads["maxspeed"] > 0).all()


def test_road_detail_sets_the_vertex_density():
    coarse = generate_region(villages=200, townships=10, seed=2, road_detail=0.5, crs=None)
    fine = generate_region(villages=200, townships=10, seed=2, road_detail=20.0, crs=None)
    km = fine.roads.length.sum() / 1000
    vertices = shapely.get_num_coordinates(fine.roads.geometry.values).sum()
    assert vertices == pytest.approx(20.0 * km, rel=0.1)
    assert vertices > 5 * shapely.get_num_coordinates(coarse.roads.geometry.values).sum()


# ---------------------------------------------------------------------------- attributes and gaps


def test_population_and_households_are_realistic():
    r = generate_region(villages=3000, townships=150, seed=5, village_areas=False, crs=None)
    v = r.villages
    rural, urban = v.loc[~v["urban"], "population"], v.loc[v["urban"], "population"]
    assert rural.mean() == pytest.approx(900, rel=0.1)
    assert urban.mean() == pytest.approx(5000, rel=0.15)
    assert (v["population"] / v["households"]).median() == pytest.approx(2.6, rel=0.03)
    seats = r.centers.loc[r.centers["level"] == "county"]
    dist = seats.sindex.nearest(v.geometry, return_distance=True, return_all=False)[1]
    assert np.median(dist[v["urban"].to_numpy()]) < 0.2 * np.median(dist[~v["urban"].to_numpy()])


def test_centers_have_gaps_and_non_compliance(region):
    c, t = region.centers, region.townships
    town_centers = c[c["level"] == "township"]
    assert set(t["id"]) - set(town_centers["township_id"])  # a township without a center
    inside = town_centers.sjoin(t[["id", "geometry"]].rename(columns={"id": "tid"}))
    assert (inside["tid"] != inside["township_id"]).any()  # a center outside its township
    subs = c[c["level"] == "subcenter"]
    assert 0 < len(subs) < len(region.merged_townships)
    village_centers = c[c["level"] == "village"]
    assert 0.8 <= len(village_centers) / len(region.villages) <= 0.95
    assert set(village_centers["village_id"]) < set(region.villages["id"])
    assert (town_centers["area_m2"] < 1000).any() and (town_centers["area_m2"] >= 1000).any()
    assert c["area_m2"].isna().any() and c["built_year"].isna().any()
    assert c["built_year"].dropna().between(2005, 2024).all()
    rooms = village_centers["rooms"].dropna().str.split(";").map(len)
    assert rooms.max() == 8 and rooms.min() < 8
    assert (c["level"] == "station").sum() >= 1
    assert c["level"].isin(["city", "county", "township", "subcenter", "village", "station"]).all()


def test_candidates_include_former_government_buildings(region):
    kinds = region.candidates["kind"]
    assert (kinds == "former_government").sum() == len(region.merged_townships)
    assert region.candidates.within(shapely.union_all(region.townships.geometry.values)).all()


# ---------------------------------------------------------------------------- helpers


@st.composite
def _groups(draw):
    sizes = draw(st.lists(st.integers(1, 12), min_size=1, max_size=8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    anchor = rng.uniform(-1e4, 1e4, (len(sizes), 2))
    group = np.repeat(np.arange(len(sizes)), sizes)
    xy = anchor[group] + rng.uniform(-500, 500, (group.size, 2))
    return xy, group, anchor


@settings(max_examples=30, deadline=None)
@given(_groups(), st.sampled_from([3, 10, 1000]))
def test_group_spanning_trees_are_minimum_per_group(data, chunk):
    xy, group, anchor = data
    reach = np.full(len(anchor), 800.0)
    tri = geom.group_triangulation(xy, group, anchor, reach, chunk=chunk)
    edges = geom.triangulation_edges(tri, group)
    tree = edges[geom.minimum_spanning_forest(xy, edges)]
    assert (group[tree[:, 0]] == group[tree[:, 1]]).all()
    assert len(tree) == len(xy) - len(anchor)  # a spanning tree in every group
    for g in range(len(anchor)):
        members = np.flatnonzero(group == g)
        complete = nx.from_numpy_array(squareform(pdist(xy[members])))
        expected = nx.minimum_spanning_tree(complete).size(weight="weight")
        mine = tree[group[tree[:, 0]] == g]
        got = np.hypot(*(xy[mine[:, 0]] - xy[mine[:, 1]]).T).sum()
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(_groups(), st.sampled_from([4, 1000]))
def test_group_voronoi_cells_match_shapely(data, chunk):
    xy, group, anchor = data
    square = shapely.box(-600, -600, 600, 600)
    boxes = np.array([shapely.affinity.translate(square, *a) for a in anchor])
    tri = geom.group_triangulation(xy, group, anchor, np.full(len(anchor), 900.0), chunk=chunk)
    cells = geom.clip_cells(geom.voronoi_cells(tri), boxes, group)
    for g in range(len(anchor)):
        members = np.flatnonzero(group == g)
        if members.size == 1:
            expected = [boxes[g]]
        else:
            diagram = shapely.voronoi_polygons(
                shapely.multipoints(xy[members]), extend_to=boxes[g], ordered=True
            )
            expected = shapely.intersection(shapely.get_parts(diagram), boxes[g])
        for got, want in zip(cells[members], expected, strict=True):
            assert got.symmetric_difference(want).area <= 1e-6 * boxes[g].area


def test_connect_components_joins_islands():
    xy = np.array([[0.0, 0], [1, 0], [10, 0], [11, 0], [30, 0]])
    edges = np.array([[0, 1], [2, 3]])
    extra = geom.connect_components(xy, edges)
    graph = nx.Graph([*map(tuple, edges), *map(tuple, extra)])
    graph.add_nodes_from(range(len(xy)))
    assert nx.is_connected(graph) and len(extra) == 2


def test_polylines_keep_exact_end_points():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 1e4, (50, 2)), rng.uniform(0, 1e4, (50, 2))
    lines = geom.polylines(rng, a, b, per_km=3.0, wiggle=np.full(50, 0.1))
    starts = shapely.get_coordinates(shapely.get_point(lines, 0))
    ends = shapely.get_coordinates(shapely.get_point(lines, -1))
    assert np.array_equal(starts, a) and np.array_equal(ends, b)
    assert shapely.is_simple(lines).mean() > 0.9


# ---------------------------------------------------------------------------- writing


def test_write_region_demo_formats_round_trip(tmp_path):
    from planner.layers import collect_layers
    from planner.scenario import load_scenario

    r = generate_region(villages=120, townships=8, seed=11, name="tiny")
    path = write_region(r, tmp_path, formats="demo", outputs_dir="out")
    assert (tmp_path / "villages.xlsx").exists() and (tmp_path / "candidates.csv").exists()
    assert (tmp_path / "village_areas.cpg").read_text() == "GBK"
    dbf = (tmp_path / "village_areas.dbf").read_bytes()
    assert "乡镇编码".encode("gbk") in dbf[:400]
    assert all(len(name.encode("gbk")) <= 10 for name in ZH_HEADERS.values())
    header = pd.read_excel(tmp_path / "villages.xlsx").columns
    assert {"编码", "名称", "经度", "纬度", "人口", "户数", "乡镇编码", "城乡"} <= set(header)
    scenario = load_scenario(path)
    assert scenario.out_dir == (tmp_path / "out").resolve()
    assert scenario.layers["villages"].coords == "gcj02"
    layers = collect_layers(scenario)
    assert not [p for p in layers.problems if p.severity == "error"]
    got = layers["villages"].set_index("id")
    want = r.villages.to_crs(layers.crs).set_index("id")
    assert got.index.equals(want.index)
    assert want.distance(got.geometry).max() < 0.05  # GCJ-02 offset removed again
    assert (got["population"] == want["population"]).all()
    assert (got["urban"].astype(bool) == want["urban"]).all()
    assert layers["village_areas"]["name"].equals(r.village_areas["name"].astype("string"))


def test_write_region_single_format(tmp_path):
    r = generate_region(villages=60, townships=5, seed=1)
    path = write_region(r, tmp_path, formats="fgb")
    assert sorted(p.name for p in tmp_path.glob("*.fgb")) == sorted(f"{k}.fgb" for k in KINDS)
    assert 'path = "roads.fgb"' in path.read_text(encoding="utf-8")
    with pytest.raises(PlannerError, match="points only"):
        write_region(r, tmp_path, formats={"townships": "csv"})


def test_committed_demo_is_what_the_documented_call_makes():
    if not (DEMO / "villages.xlsx").exists():
        pytest.skip("layers/demo not generated")
    r = generate_region(**DEMO_ARGS)
    ledger = pd.read_excel(DEMO / "villages.xlsx", dtype={"编码": str, "乡镇编码": str})
    assert ledger["编码"].tolist() == r.villages["id"].tolist()
    assert ledger["人口"].tolist() == r.villages["population"].tolist()
    kinds = {p.stem for p in DEMO.iterdir() if p.suffix != ".toml"} - {"README"}
    assert kinds == set(KINDS)
    assert set(DEMO_FORMATS) < set(KINDS)


# ---------------------------------------------------------------------------- scale


def test_scaling_smoke_20k_villages():
    r = generate_region(villages=20_000, townships=1_300, seed=0, crs=None)
    assert len(r.villages) == 20_000 and len(r.village_areas) == 20_000
    assert r.villages["id"].is_unique
    assert r.village_areas.area.sum() == pytest.approx(r.townships.area.sum(), rel=1e-9)
    ends = np.r_[
        shapely.get_coordinates(shapely.get_point(r.roads.geometry.values, 0)),
        shapely.get_coordinates(shapely.get_point(r.roads.geometry.values, -1)),
    ]
    node = np.unique(ends, axis=0, return_inverse=True)[1].reshape(2, -1)
    n = node.max() + 1
    graph = sparse.coo_matrix((np.ones(node.shape[1]), (node[0], node[1])), shape=(n, n))
    assert csgraph.connected_components(graph, directed=False)[0] == 1


@pytest.mark.slow
def test_national_scale_600k_villages():
    cpu0, wall0 = time.process_time(), time.perf_counter()
    r = generate_region(villages=600_000, townships=40_000, seed=0, village_areas=False)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"600k villages: {wall:.1f} s wall, {cpu:.1f} s CPU, max RSS {rss:.0f} MiB")
    assert len(r.villages) == 600_000 and len(r.townships) == 40_000
    assert r.villages["id"].is_unique and r.crs.to_epsg() == 4490
    assert r.villages["id"].str.fullmatch(r"\d{12}").all()
