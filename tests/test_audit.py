"""Full-coverage audit against an independent shapely check."""

from __future__ import annotations

from conftest import lonlat, tiny_frames
from shapely.geometry import Point

from planner.audit import audit_summary, full_coverage_audit
from planner.levels import normalize_level


def frames_in_metres(frames=None):
    frames = tiny_frames() if frames is None else frames
    frames["centers"]["level"] = frames["centers"]["level"].map(normalize_level)
    return {k: v.to_crs("EPSG:4550") for k, v in frames.items()}


def test_townships_ok_missing_and_outside():
    frames = frames_in_metres()
    audit = full_coverage_audit(frames)
    township = audit[audit["level"] == "township"].set_index("unit_id")["status"]
    # independent check: which township polygons contain a township-level center?
    centers = frames["centers"][frames["centers"]["level"] == "township"]
    for _, unit in frames["townships"].iterrows():
        has = centers.within(unit.geometry).any()
        assert (township[unit["id"]] == "ok") == has
    assert township.to_dict() == {"150521100": "ok", "150521101": "missing"}

    moved = tiny_frames()
    moved["centers"].loc[1, "geometry"] = Point(lonlat(5_000, 15_000))  # north of the region
    moved = frames_in_metres(moved)
    audit = full_coverage_audit(moved)
    status = audit[audit["level"] == "township"].set_index("unit_id")["status"]
    assert status["150521100"] == "outside"  # named by township_id, located outside


def test_village_audit_without_areas_uses_nearest_village():
    audit = full_coverage_audit(frames_in_metres())
    village = audit[audit["level"] == "village"]
    assert set(village.loc[village["status"] == "ok", "unit_name"]) == {"一村", "四村"}
    summary = audit_summary(audit)
    assert summary["village"] == {"ok": 2, "outside": 0, "missing": 4, "units": 6}


def test_centers_within_equals_a_within_query_ordered_by_center():
    import numpy as np
    import shapely

    from planner.audit import _centers_within

    rng = np.random.default_rng(5)
    units = shapely.buffer(shapely.points(rng.uniform(0, 100, (40, 2))), 12)  # overlapping
    centers = shapely.points(rng.uniform(0, 100, (300, 2)))
    centers[[4, 9]] = None
    edge = shapely.get_coordinates(shapely.get_exterior_ring(units[0]))[0]
    centers[0] = shapely.Point(edge)  # on a unit's boundary: not within it
    pts, polys = _centers_within(centers, units)
    expected = [
        (p, u) for p in range(300) for u in range(40) if shapely.within(centers[p], units[u])
    ]
    assert list(zip(pts.tolist(), polys.tolist(), strict=True)) == expected
    assert len(set(pts.tolist())) < len(pts)  # some centers lie in two units
