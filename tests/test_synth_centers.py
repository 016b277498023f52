"""Tests of planner.synth.centers: centers with gaps and non-compliance, candidate sites."""

from __future__ import annotations

import pytest
import shapely
from synth_helpers import small_region

from planner.synth import Region


@pytest.fixture(scope="module")
def region() -> Region:
    """A small region in the metric CRS it is built in."""
    return small_region()


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
