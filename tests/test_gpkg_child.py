"""GeoPackages written by a child process (planner.outputs.gpkg_child)."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from gpkg_helpers import gpkg_dump
from shapely.geometry import MultiPolygon, box

from planner.errors import PlannerError
from planner.outputs import vector
from planner.outputs.gpkg_child import GpkgChild


def _layers() -> dict[str, gpd.GeoDataFrame]:
    rng = np.random.default_rng(3)
    n = 17
    points = shapely.points(rng.uniform(400_000, 600_000, (n, 2)) + np.array([0.0, 4_800_000.0]))
    areas = gpd.GeoDataFrame(
        {
            "center_id": pd.Series([f"c{i}" if i % 3 else None for i in range(n)], dtype="str"),
            "radius_m": rng.uniform(500, 2000, n),
            "note": pd.Series([None] * 6 + ["n"] * (n - 6), dtype=object),
        },
        geometry=shapely.buffer(points, 800.0),
        crs="EPSG:4550",
    )
    mixed = gpd.GeoDataFrame(
        {"id": ["a", "b"], "flag": [True, None]},
        geometry=[
            box(500_000, 4_800_000, 500_900, 4_800_700),
            MultiPolygon([box(501_000, 4_800_000, 501_100, 4_800_100)]),
        ],
        crs="EPSG:4550",
    )
    return {"areas": areas, "points": areas.set_geometry(points), "mixed": mixed}


@pytest.mark.parametrize("crs", ["EPSG:4490", None])
def test_child_writes_the_same_geopackage(tmp_path, monkeypatch, crs):
    """Streamed layers (in batches of 4 rows) and whole ones, several files in a row:
    every table and row as :func:`write_gpkg` writes them here."""
    monkeypatch.setattr(vector, "CHUNK_ROWS", 4)
    layers = _layers()
    assert vector._chunkable(vector._prepare(layers["areas"], crs=None)) == "Polygon"
    assert vector._chunkable(vector._prepare(layers["mixed"], crs=None)) is None
    (tmp_path / "child").mkdir()
    with GpkgChild() as child:
        assert child._child is not None  # a child process really writes them
        first = child.write_gpkg(tmp_path / "child" / "a.gpkg", layers, crs=crs)
        second = child.write_gpkg(tmp_path / "child" / "b.gpkg", {"m": layers["mixed"]}, crs=crs)
    here = vector.write_gpkg(tmp_path / "a.gpkg", layers, crs=crs)
    assert gpkg_dump(first) == gpkg_dump(here)
    assert gpkg_dump(second) == gpkg_dump(
        vector.write_gpkg(tmp_path / "b.gpkg", {"m": layers["mixed"]}, crs=crs)
    )
    assert [name for name, _ in pyogrio.list_layers(first)] == ["areas", "points", "mixed"]
    assert sorted(p.name for p in (tmp_path / "child").iterdir()) == ["a.gpkg", "b.gpkg"]


def test_an_error_in_the_child_is_raised_here_and_leaves_no_file(tmp_path):
    """GDAL refuses a text ``fid`` column in the child: the same error as here, no file;
    the next file is written here."""
    bad = gpd.GeoDataFrame({"fid": ["x"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4550")
    with pytest.raises(Exception) as here:
        vector.write_gpkg(tmp_path / "here.gpkg", {"bad": bad})
    with GpkgChild() as child:
        layers = {"ok": _layers()["mixed"], "bad": bad}
        with pytest.raises(type(here.value), match=re.escape(str(here.value))):
            child.write_gpkg(tmp_path / "bad.gpkg", layers, crs=None)
        assert child._child is None
        again = child.write_gpkg(tmp_path / "again.gpkg", {"m": _layers()["mixed"]}, crs=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.gpkg"]
    assert len(pyogrio.read_dataframe(again)) == 2


def test_an_error_while_preparing_ends_the_child(tmp_path):
    no_crs = gpd.GeoDataFrame({"id": ["a"]}, geometry=[box(0, 0, 1, 1)])
    with GpkgChild() as child:
        process = child._child
        with pytest.raises(PlannerError, match="without a CRS"):
            child.write_gpkg(tmp_path / "x.gpkg", {"x": no_crs}, crs="EPSG:4490")
        assert child._child is None and process is not None and process.poll() is not None
    assert list(tmp_path.iterdir()) == []
