"""Village polygons and checks shared by the grid tests: tiling, and grids at their village."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Polygon, box

CRS = "EPSG:4550"  # CGCS2000 3-degree Gauss-Krüger CM 123E
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
X0, Y0 = 500_000.0, 4_800_000.0
C_SHAPE = Polygon(
    [(0, 0), (3000, 0), (3000, 800), (800, 800), (800, 2200), (3000, 2200), (3000, 3000), (0, 3000)]
)


def villages_gdf(geoms, households, *, ids=None, urban=None, names=None) -> gpd.GeoDataFrame:
    n = len(geoms)
    return gpd.GeoDataFrame(
        {
            "id": ids if ids is not None else [f"150521100{i + 1:03d}" for i in range(n)],
            "name": names if names is not None else [f"村{i + 1}" for i in range(n)],
            "households": np.asarray(households, dtype=float),
            "urban": urban if urban is not None else [False] * n,
        },
        geometry=list(geoms),
        crs=CRS,
    )


def voronoi_region(n: int, seed: int, size: float = 30_000.0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, size, (n, 2)) + np.array([X0, Y0])
    frame = box(X0, Y0, X0 + size, Y0 + size)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame, ordered=True)
    )
    cells = shapely.intersection(cells, frame)
    return villages_gdf(
        cells,
        rng.integers(60, 600, n),
        ids=[f"150521{i + 1:06d}" for i in range(n)],
        urban=list(rng.random(n) < 0.2),
    )


def assert_tiles(grids: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, *, single=True) -> None:
    """Grids of each village cover it exactly, without overlap; one polygon each."""
    for vid, poly in zip(areas["id"], areas.geometry, strict=True):
        own = grids[grids["village_id"] == vid].geometry.to_numpy()
        assert len(own), vid
        tol = 1e-6 * poly.area
        assert abs(shapely.area(own).sum() - poly.area) <= tol, vid  # no overlaps
        union = shapely.union_all(own)
        assert shapely.symmetric_difference(union, poly).area <= tol, vid  # no gaps
    geoms = grids.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    left, right = left[left < right], right[left < right]
    shared = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    assert (shared <= 1e-6 * smaller).all()  # floating-point noise along shared edges only
    if single:
        assert (shapely.get_type_id(grids.geometry.to_numpy()) == 3).all()  # Polygon
        assert shapely.is_valid(grids.geometry.to_numpy()).all()


def two_townships() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["150521100", "150521101"], "name": ["保康镇", "宝龙山镇"]},
        geometry=[
            box(X0, Y0, X0 + 10_000, Y0 + 8000),
            box(X0 + 10_000, Y0, X0 + 16_000, Y0 + 8000),
        ],
        crs=CRS,
    )


def ledger_villages(xy: np.ndarray, town: list[str]) -> gpd.GeoDataFrame:
    n = len(xy)
    return gpd.GeoDataFrame(
        {
            "id": [f"150521{i + 1:06d}" for i in range(n)],
            "name": [f"村{i + 1}" for i in range(n)],
            "households": 90.0,
            "township_id": town,
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=CRS,
    )


def assert_grids_follow_points(res, villages: gpd.GeoDataFrame, towns: gpd.GeoDataFrame) -> None:
    """Each gridded village: its point lies in the union of its grids; its grids tile its
    polygon; that polygon lies in the township polygon holding the point and is the
    Voronoi cell of the point among the villages of that polygon (brute force)."""
    xy = shapely.get_coordinates(villages.geometry.to_numpy())
    t_geom = towns.geometry.to_numpy()
    holder = np.array(
        [np.flatnonzero(shapely.covers(t_geom, shapely.Point(p)))[:1] for p in xy], dtype=object
    )
    home = np.array([h[0] if len(h) else -1 for h in holder])
    areas = res.areas.set_index("id")
    assert_tiles(res.grids, res.areas, single=False)
    rng = np.random.default_rng(0)
    for i, vid in enumerate(villages["id"]):
        own = res.grids[res.grids["village_id"] == vid].geometry.to_numpy()
        if not len(own):
            continue
        assert home[i] >= 0, vid
        union = shapely.union_all(own)
        assert union.covers(shapely.Point(xy[i])), vid  # the village is in its own grids
        assert shapely.distance(own, t_geom[home[i]]).max() == 0, vid
        assert shapely.difference(union, t_geom[home[i]]).area <= 1e-6 * union.area, vid
        # Probes inside the cell are nearer to this village than to any other village whose
        # point lies in the same township polygon.
        cell = areas.geometry[vid]
        xmin, ymin, xmax, ymax = cell.bounds
        probe = rng.uniform([xmin, ymin], [xmax, ymax], (40, 2))
        probe = probe[shapely.contains_xy(cell, *probe.T)]
        mates = np.flatnonzero(home == home[i])
        d = np.hypot(*(probe[:, None, :] - xy[mates][None, :, :]).transpose(2, 0, 1))
        assert (d.min(axis=1) >= d[:, mates == i].ravel() - 1e-6).all(), vid
