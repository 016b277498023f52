"""The full-coverage audit against a per-unit reference written with shapely predicates."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from conftest import tiny_frames
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from planner.audit import full_coverage_audit
from planner.levels import normalize_level


def reference_audit(frames):
    """The audit written unit by unit with shapely predicates (the definition)."""
    centers = frames["centers"]
    villages = frames["villages"]
    rows = []
    for level, kind, code in (
        ("county", "counties", "county_id"),
        ("township", "townships", "township_id"),
        ("village", "village_areas", "village_id"),
    ):
        mine = [c for c in centers.to_dict("records") if c["level"] == level]
        units = frames.get(kind)
        if units is not None:
            for unit in units.to_dict("records"):
                inside = [c["id"] for c in mine if c["geometry"].within(unit["geometry"])]
                named = [c["id"] for c in mine if c.get(code) == unit["id"]]
                status = "ok" if inside else "outside" if named else "missing"
                rows.append((level, unit["id"], status, ";".join(inside or named)))
        elif level == "village":
            by_code = any(pd.notna(c.get("village_id")) for c in mine)
            owner = [
                c.get("village_id")
                if by_code
                else villages["id"].iloc[int(np.argmin(villages.distance(c["geometry"])))]
                for c in mine
            ]
            for vid in villages["id"]:
                served = [c["id"] for c, o in zip(mine, owner, strict=True) if o == vid]
                rows.append((level, vid, "ok" if served else "missing", ";".join(served)))
    return rows


def audit_rows(frames):
    audit = full_coverage_audit(frames)
    return list(
        zip(audit["level"], audit["unit_id"], audit["status"], audit["center_ids"], strict=True)
    )


def metric(frames):
    frames["centers"]["level"] = frames["centers"]["level"].map(normalize_level)
    return {k: v.to_crs("EPSG:4550") for k, v in frames.items()}


def test_audit_equals_the_reference_on_the_tiny_region():
    frames = metric(tiny_frames())
    assert audit_rows(frames) == reference_audit(frames)
    moved = tiny_frames()
    moved["centers"].loc[1, "geometry"] = moved["centers"].geometry[1].buffer(0).centroid
    moved["centers"].loc[1, "geometry"] = Point(121.9, 43.5)  # outside its township
    moved["centers"]["village_id"] = [None, None, "150521100000", None]
    frames = metric(moved)
    assert audit_rows(frames) == reference_audit(frames)
    assert ("township", "150521100", "outside", "T1") in audit_rows(frames)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["county", "township", "village"]),
            st.integers(0, 39),
            st.integers(0, 39),
            st.sampled_from([None, "A", "B", "C", "D"]),
        ),
        min_size=1,
        max_size=25,
    ),
    st.booleans(),
)
def test_audit_equals_the_reference_on_random_centers(centers, with_areas):
    """Four township squares in two counties, villages on a grid, centers anywhere (on
    shared edges too), some named by a code that may not match where they lie."""
    squares = [box(x, y, x + 20, y + 20) for x in (0, 20) for y in (0, 20)]
    frames = {
        "townships": gpd.GeoDataFrame(
            {"id": list("ABCD"), "county_id": ["A", "A", "B", "B"]}, geometry=squares
        ),
        "counties": gpd.GeoDataFrame(
            {"id": ["A", "B"]}, geometry=[box(0, 0, 20, 40), box(20, 0, 40, 40)]
        ),
        "villages": gpd.GeoDataFrame(
            {"id": [f"v{i}" for i in range(16)]},
            geometry=[Point(5 + 10 * (i % 4), 5 + 10 * (i // 4)) for i in range(16)],
        ),
        "centers": gpd.GeoDataFrame(
            {
                "id": [f"c{i}" for i in range(len(centers))],
                "level": [c[0] for c in centers],
                "county_id": [c[3] if c[3] in ("A", "B") else None for c in centers],
                "township_id": [c[3] for c in centers],
            },
            geometry=[Point(c[1], c[2]) for c in centers],
        ),
    }
    if with_areas:
        frames["village_areas"] = gpd.GeoDataFrame(
            {"id": frames["villages"]["id"]}, geometry=frames["villages"].buffer(5).envelope
        )
    assert audit_rows(frames) == reference_audit(frames)
