"""Tests of planner.synth.region: determinism, requests, village areas, the committed demo
and scale."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from scipy import sparse
from scipy.sparse import csgraph
from synth_helpers import small_region

from planner.errors import PlannerError
from planner.synth import DEMO_FORMATS, KINDS, Region, generate_region


@pytest.fixture(scope="module")
def region() -> Region:
    """A small region in the metric CRS it is built in."""
    return small_region()


DEMO = Path(__file__).resolve().parents[1] / "layers" / "demo"
# The documented demo call (layers/README.md); a test checks the committed files match it.
DEMO_ARGS = {"villages": 800, "townships": 40, "counties": 3, "seed": 18, "name": "demo"}


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


def test_bad_requests_raise_planner_error():
    with pytest.raises(PlannerError, match="counties <= townships <= villages"):
        generate_region(villages=5, townships=10)
    with pytest.raises(PlannerError, match="counties <= townships"):
        generate_region(villages=50, townships=3, counties=4)
    with pytest.raises(PlannerError, match="road_detail"):
        generate_region(villages=50, townships=3, road_detail=0)
    with pytest.raises(PlannerError, match="more townships"):
        generate_region(villages=2000, townships=2)


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
