"""Tests of planner.synth.units: counts, codes, township tiling, merged townships, people."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from synth_helpers import small_region

from planner.synth import Region, generate_region


@pytest.fixture(scope="module")
def region() -> Region:
    """A small region in the metric CRS it is built in."""
    return small_region()


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
