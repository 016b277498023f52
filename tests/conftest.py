"""Shared fixtures: a tiny hand-built region written to files, with explicit CRS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LON0, LAT0 = 122.0, 43.6  # Tongliao-like
DEG_X, DEG_Y = 1 / 80_600, 1 / 111_000  # degrees per metre near 43.6°N (approximate)


def lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    """Local metres east/north of the origin → lon/lat (only for building fixtures)."""
    return LON0 + x_m * DEG_X, LAT0 + y_m * DEG_Y


def _square(x0: float, y0: float, x1: float, y1: float):
    (a, b), (c, d) = lonlat(x0, y0), lonlat(x1, y1)
    return box(a, b, c, d)


def tiny_frames() -> dict[str, gpd.GeoDataFrame]:
    """Two townships side by side (10 km each), six villages, four centers."""
    townships = gpd.GeoDataFrame(
        {
            "id": ["150521100", "150521101"],
            "name": ["甲镇", "乙乡"],
            "county_id": ["150521", "150521"],
            "county_name": ["科左中旗", "科左中旗"],
        },
        geometry=[_square(0, 0, 10_000, 10_000), _square(10_000, 0, 20_000, 10_000)],
        crs="EPSG:4326",
    )
    vx = [1_000, 5_000, 9_000, 12_000, 15_000, 19_500]
    villages = gpd.GeoDataFrame(
        {
            "id": [f"1505211{'00' if x < 10_000 else '01'}{i:03d}" for i, x in enumerate(vx)],
            "name": ["一村", "二村", "三社区", "四村", "五嘎查", "六村"],
            "population": [800.0, 1200.0, 5000.0, 600.0, 900.0, 300.0],
            "households": [300.0, 460.0, 1900.0, 230.0, 350.0, 110.0],
            "urban": [False, False, True, False, False, False],
        },
        geometry=[Point(lonlat(x, 5_000)) for x in vx],
        crs="EPSG:4326",
    )
    centers = gpd.GeoDataFrame(
        {
            "id": ["C1", "T1", "V1", "V2"],
            "name": ["旗中心", "甲镇中心", "一村中心", "四村中心"],
            "level": ["county", "乡镇", "村", "village"],
            "township_id": [None, "150521100", "150521100", "150521101"],
            "area_m2": [2500.0, 900.0, 250.0, 180.0],
        },
        geometry=[Point(lonlat(x, 5_000)) for x in (10_000, 5_000, 1_000, 12_000)],
        crs="EPSG:4326",
    )
    return {"townships": townships, "villages": villages, "centers": centers}


SCENARIO = """
[scenario]
name = "tiny"
out_dir = "out"

[layers.townships]
path = "townships.gpkg"
[layers.villages]
path = "villages.gpkg"
[layers.centers]
path = "centers.gpkg"

[levels.county]
radius_m = 9500
[levels.township]
radius_m = 4500
[levels.village]
radius_m = 500
"""


#: The tiny scenario without the siting step: plans whose proposals a test builds by hand.
NO_SITING = "\n[siting.subcenters]\nenabled = false\n[siting.stations]\nenabled = false\n"


@pytest.fixture
def tiny_region(tmp_path: Path) -> Path:
    """A scenario file with the tiny region's layers beside it; returns its path."""
    for kind, frame in tiny_frames().items():
        frame.to_file(tmp_path / f"{kind}.gpkg", driver="GPKG")
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def client():
    """A Dask client on an in-process cluster of two single-threaded workers."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster, set_as_default=False) as dask,
    ):
        yield dask
