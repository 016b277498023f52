"""Tests of planner.outputs.vector: round trips through every format, atomic replacement,
real clients."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from gpkg_helpers import gpkg_dump
from shapely.geometry import MultiPolygon, Polygon, box

from planner.errors import PlannerError, PlannerWarning
from planner.outputs import atomic, vector
from planner.outputs.vector import FORMATS, shapefile_field_names, write_gpkg, write_vector

WORK_CRS = "EPSG:4550"  # CGCS2000 3-degree Gauss-Krüger CM 123E (Tongliao)
# Columns whose names a DBF cannot hold as they are.
LONG_NAMES = ["households_per_worker", "households_per_grid", "户数", "人口数"]


@pytest.fixture
def layer() -> gpd.GeoDataFrame:
    x0, y0 = 500_000.0, 4_800_000.0
    geoms = [
        box(x0, y0, x0 + 1000, y0 + 800),
        Polygon(
            [(x0 + 2000, y0), (x0 + 3000, y0), (x0 + 3000, y0 + 900), (x0 + 2000, y0)],
            [[(x0 + 2700, y0 + 100), (x0 + 2900, y0 + 100), (x0 + 2900, y0 + 300)]],
        ),
        MultiPolygon(
            [box(x0, y0 + 2000, x0 + 500, y0 + 2500), box(x0 + 600, y0 + 2000, x0 + 900, y0 + 2300)]
        ),
        box(x0 + 5000, y0 + 5000, x0 + 5001.5, y0 + 5003.25),
    ]
    return gpd.GeoDataFrame(
        {
            "id": ["150521100001", "150521100002", "150521100003", "150521100004"],
            "name": ["保康镇第一村", "Alpha village", "嘎查·东", "社区"],
            "households": [120.5, 80.0, np.nan, 3.0],
            "population": np.array([400, 250, 0, 10], dtype=np.int64),
            "urban": [False, False, True, True],
            "demo": [True, None, False, None],
            "note": ["备注", None, "x", ""],
            "households_per_worker": [50.0, 60.0, 70.0, 80.0],
            "households_per_grid": [1, 2, 3, 4],
            "户数": [10, 20, 30, 40],
            "人口数": [1.5, 2.5, 3.5, 4.5],
        },
        geometry=geoms,
        crs=WORK_CRS,
    )


def _null(v) -> bool:
    return v is None or (not isinstance(v, str) and pd.isna(v))


def _norm(v):
    """Compare values across drivers: ints, floats and booleans as numbers, text as text."""
    if _null(v):
        return None
    if isinstance(v, str):
        return v
    return float(v)


def assert_same_layer(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame, *, tol: float) -> None:
    assert len(got) == len(want)
    for col in want.columns:
        if col == want.geometry.name:
            continue
        assert col in got.columns, f"{col} missing; got {list(got.columns)}"
        a = [_norm(v) for v in got[col].tolist()]
        b = [_norm(v) for v in want[col].tolist()]
        # Empty text and missing text are one thing in some formats (DBF, KML).
        a = [None if x == "" else x for x in a]
        b = [None if x == "" else x for x in b]
        assert a == b, col
    # Some drivers store every polygon as a multipolygon when the layer mixes both.
    g1 = shapely.normalize(_multi(got.geometry.values))
    g2 = shapely.normalize(_multi(want.geometry.values))
    assert shapely.equals_exact(g1, g2, tolerance=tol).all()


def _multi(geoms: np.ndarray) -> np.ndarray:
    single = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
    out = geoms.copy()
    out[single] = [MultiPolygon([g]) for g in geoms[single]]
    return out


def _read_back(paths: list[Path], fmt: str) -> gpd.GeoDataFrame:
    main = paths[0]
    assert main.suffix == FORMATS[fmt].suffix
    if fmt == "parquet":
        return gpd.read_parquet(main)
    got = pyogrio.read_dataframe(main)
    if fmt == "kml":
        got = got.rename(columns={"Name": "name"})
    if fmt == "shp":
        names = pd.read_csv(main.with_name(main.stem + ".fields.csv"), encoding="utf-8-sig")
        got = got.rename(columns=dict(zip(names["short"], names["original"], strict=True)))
    return got


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_round_trip_every_format(tmp_path, layer, fmt):
    paths = write_vector(layer, tmp_path / f"grids{FORMATS[fmt].suffix}")
    got = _read_back(paths, fmt)
    out_crs = FORMATS[fmt].crs or "EPSG:4490"
    assert got.crs.equals(out_crs)
    # 1e-7 degrees ≈ 1 cm: GeoJSON keeps 7 decimals; the others keep doubles.
    assert_same_layer(got, layer.to_crs(out_crs), tol=1e-7 if fmt == "geojson" else 1e-9)
    assert "保康镇第一村" in got["name"].tolist()


@pytest.mark.parametrize("fmt", ["gpkg", "fgb", "parquet", "shp"])
def test_output_crs_is_selectable(tmp_path, layer, fmt):
    paths = write_vector(layer, tmp_path / "a", fmt=fmt, crs=WORK_CRS)
    got = _read_back(paths, fmt)
    assert got.crs.equals(WORK_CRS)
    assert_same_layer(got, layer, tol=1e-6)


@pytest.mark.parametrize("fmt", ["geojson", "kml"])
def test_geojson_and_kml_are_always_wgs84(tmp_path, layer, fmt):
    paths = write_vector(layer, tmp_path / "a", fmt=fmt, crs=WORK_CRS)
    got = _read_back(paths, fmt)
    assert got.crs.equals("EPSG:4326")
    lon, lat = got.geometry.iloc[0].exterior.coords[0][:2]
    assert 120 < lon < 126 and 40 < lat < 46


def test_gbk_shapefile_stores_gbk_bytes(tmp_path, layer):
    paths = write_vector(layer, tmp_path / "grids.shp", encoding="gbk")
    dbf = (tmp_path / "grids.dbf").read_bytes()
    assert "保康镇第一村".encode("gbk") in dbf
    assert "保康镇第一村".encode() not in dbf
    assert (tmp_path / "grids.cpg").read_text() == "936"
    got = _read_back(paths, "shp")
    assert_same_layer(got, layer.to_crs(4490), tol=1e-9)


def test_gbk_refuses_text_it_cannot_hold(tmp_path, layer):
    layer.loc[1, "name"] = "村 \U0001f600"
    with pytest.raises(PlannerError, match=r"column 'name', row 2"):
        write_vector(layer, tmp_path / "grids.shp", encoding="gbk")
    assert list(tmp_path.iterdir()) == []


def test_shapefile_parts_and_field_map(tmp_path, layer):
    paths = write_vector(layer, tmp_path / "g.shp")
    assert sorted(p.name for p in paths) == sorted(
        ["g.shp", "g.shx", "g.dbf", "g.prj", "g.cpg", "g.fields.csv"]
    )
    assert (tmp_path / "g.cpg").read_text().strip() == "UTF-8"
    fields = pd.read_csv(tmp_path / "g.fields.csv", encoding="utf-8-sig")
    assert fields["original"].tolist() == [c for c in layer.columns if c != "geometry"]
    short = fields["short"].tolist()
    assert len({s.lower() for s in short}) == len(short)
    assert all(len(s.encode()) <= 10 and s.isascii() for s in short)
    info = pyogrio.read_info(tmp_path / "g.shp")
    assert list(info["fields"]) == short


def test_shapefile_field_names_rules():
    got = shapefile_field_names(["id", "name", *LONG_NAMES, "Households", "1st", "a-b"])
    assert got["id"] == "id" and got["name"] == "name"
    assert got["households_per_worker"] == "households"
    assert got["households_per_grid"] == "househol_1"
    assert got["户数"] == "field" and got["人口数"] == "field_1"
    assert got["Households"] == "Househol_2"  # DBF names compare without case
    assert got["1st"] == "f_1st" and got["a-b"] == "a_b"


def test_shapefile_long_text_is_cut_at_a_character(tmp_path, layer):
    layer["note"] = ["长" * 200, "x", None, "y"]  # 600 bytes in UTF-8
    with pytest.warns(PlannerWarning, match="cut"):
        paths = write_vector(layer, tmp_path / "g.shp")
    got = _read_back(paths, "shp")
    assert got["note"].iloc[0] == "长" * 84  # 252 bytes: the 85th character would not fit


def test_flatgeobuf_keeps_row_order(tmp_path):
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 1e5, size=(300, 2))
    gdf = gpd.GeoDataFrame(
        {"k": np.arange(300)}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=WORK_CRS
    )
    paths = write_vector(gdf, tmp_path / "p.fgb", crs=None)
    got = pyogrio.read_dataframe(paths[0])
    assert got["k"].tolist() == list(range(300))


def test_suffix_rules(tmp_path, layer):
    assert write_vector(layer, tmp_path / "a.json")[0] == tmp_path / "a.json"
    assert pyogrio.read_info(tmp_path / "a.json")["driver"] == "GeoJSON"
    assert write_vector(layer, tmp_path / "b.dat", fmt="fgb")[0] == tmp_path / "b.fgb"


def test_unknown_format_and_suffix(tmp_path, layer):
    with pytest.raises(PlannerError, match="unknown vector format"):
        write_vector(layer, tmp_path / "a.gpkg", fmt="dwg")
    with pytest.raises(PlannerError, match="suffix"):
        write_vector(layer, tmp_path / "a.dwg")
    with pytest.raises(PlannerError, match="encoding"):
        write_vector(layer, tmp_path / "a.shp", encoding="latin-1")


def test_write_gpkg_many_layers(tmp_path, layer):
    pts = gpd.GeoDataFrame({"id": ["a"]}, geometry=gpd.points_from_xy([5e5], [4.8e6]), crs=WORK_CRS)
    path = write_gpkg(tmp_path / "coverage.gpkg", {"villages": pts, "grids": layer})
    assert sorted(pyogrio.list_layers(path)[:, 0]) == ["grids", "villages"]
    got = pyogrio.read_dataframe(path, layer="grids")
    assert got.crs.equals(WORK_CRS)
    assert_same_layer(got, layer, tol=0)


def test_shapefile_field_map_neutralises_formula_names(tmp_path, layer):
    gdf = layer[["id", "geometry"]].assign(**{"=HYPERLINK(1)": 1})
    paths = write_vector(gdf, tmp_path / "g.shp")
    fields = next(p for p in paths if p.name.endswith(".fields.csv"))
    with fields.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert ["'=HYPERLINK(1)", "HYPERLINK_"] in rows


# ---------------------------------------------------------------------------- atomicity


def _failing_writer(real):
    """Write a partial file, then fail as a driver might half-way through."""

    def write(df, path, **kwargs):
        real(df.iloc[:1], path, **kwargs)
        raise RuntimeError("disk full")

    return write


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp", "kml", "fgb"])
def test_failed_write_keeps_previous_file(tmp_path, layer, monkeypatch, fmt):
    target = tmp_path / f"grids{FORMATS[fmt].suffix}"
    write_vector(layer, target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(pyogrio, "write_dataframe", _failing_writer(pyogrio.write_dataframe))
    monkeypatch.setattr(vector, "write_kml", _failing_writer(vector.write_kml))
    with pytest.raises(RuntimeError, match="disk full"):
        write_vector(layer.iloc[::-1], target)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # same files, same bytes, no temporaries
    assert len(pyogrio.read_dataframe(target)) == len(layer)


def test_failed_gpkg_second_layer_keeps_previous(tmp_path, layer, monkeypatch):
    target = write_gpkg(tmp_path / "c.gpkg", {"a": layer})
    before = target.read_bytes()
    real = pyogrio.write_dataframe
    calls = []

    def second_fails(df, path, **kwargs):
        calls.append(kwargs["layer"])
        if len(calls) == 2:
            raise RuntimeError("boom")
        real(df, path, **kwargs)

    monkeypatch.setattr(pyogrio, "write_dataframe", second_fails)
    with pytest.raises(RuntimeError):
        write_gpkg(target, {"x": layer, "y": layer})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.gpkg"]


def test_failed_parquet_keeps_previous(tmp_path, layer, monkeypatch):
    target = tmp_path / "g.parquet"
    write_vector(layer, target)
    before = target.read_bytes()

    def fail(self, path, **kwargs):
        Path(path).write_bytes(b"partial")
        raise RuntimeError("boom")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_parquet", fail)
    with pytest.raises(RuntimeError):
        write_vector(layer, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.parquet"]


def test_shapefile_move_failure_restores_old_set(tmp_path, layer, monkeypatch):
    target = tmp_path / "g.shp"
    write_vector(layer, target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = atomic.os.replace
    moves = []

    def third_move_fails(src, dst):
        moves.append(Path(dst).name)
        if len(moves) == 3:
            raise OSError("device gone")
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", third_move_fails)
    with pytest.raises(OSError, match="device gone"):
        write_vector(layer.iloc[:2], target)
    monkeypatch.setattr(atomic.os, "replace", real)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before
    assert len(pyogrio.read_dataframe(target)) == len(layer)


def test_shapefile_rewrite_drops_stale_sidecars(tmp_path, layer):
    target = tmp_path / "g.shp"
    write_vector(layer, target)
    (tmp_path / "g.qix").write_bytes(b"old index")
    write_vector(layer.iloc[:2], target)
    assert not (tmp_path / "g.qix").exists()
    assert len(pyogrio.read_dataframe(target)) == 2


# ---------------------------------------------------------------------------- real client


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="ogrinfo (gdal-bin) not installed")
@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp", "kml", "fgb"])
def test_ogrinfo_reads_every_export(tmp_path, layer, fmt):
    paths = write_vector(layer, tmp_path / f"grids{FORMATS[fmt].suffix}", encoding="utf-8")
    main = next(p for p in paths if p.suffix == FORMATS[fmt].suffix)
    run = subprocess.run(
        ["ogrinfo", "-al", "-so", str(main)], capture_output=True, text=True, check=True
    )
    assert f"Feature Count: {len(layer)}" in run.stdout
    if fmt == "shp":
        fields = pd.read_csv(tmp_path / "grids.fields.csv", encoding="utf-8-sig")["short"]
    elif fmt == "kml":  # id and name are the placemark's own id and name
        fields = [c for c in layer.columns if c not in ("geometry", "id", "name")]
    else:
        fields = [c for c in layer.columns if c != "geometry"]
    for field in fields:
        assert f"\n{field}: " in run.stdout, field


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="ogrinfo (gdal-bin) not installed")
def test_ogrinfo_reads_gbk_shapefile(tmp_path, layer):
    write_vector(layer, tmp_path / "g.shp", encoding="gbk")
    run = subprocess.run(
        ["ogrinfo", "-al", "-q", str(tmp_path / "g.shp")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "保康镇第一村" in run.stdout


@pytest.mark.parametrize("fmt", ["gpkg", "fgb", "geojson", "kml"])
def test_files_match_a_row_by_row_write(tmp_path, layer, fmt):
    """The same file as pyogrio writes feature by feature, whatever the column types
    (text, missing values, nullable integers and booleans, numbers in an object column,
    date-times) and whichever path the writer takes."""
    frame = layer.assign(
        text=pd.array(["a", None, "c", "d"], dtype="string"),
        ints=pd.array([1, None, 3, 4], dtype="Int64"),
        flags=pd.array([True, None, False, True], dtype="boolean"),
        numbers_as_objects=pd.Series([1.5, 2.0, None, 4.25], dtype=object),
    )
    stamps = frame.assign(when=pd.to_datetime(["2024-01-01", None, "2024-03-01", "2024-04-01"]))
    frames = [layer, frame, stamps]
    ours = [write_vector(gdf, tmp_path / f"{i}.{fmt}", crs=None)[0] for i, gdf in enumerate(frames)]
    (tmp_path / "rows").mkdir()
    theirs = [tmp_path / "rows" / path.name for path in ours]
    options = {"fgb": {"SPATIAL_INDEX": "NO"}, "geojson": {"RFC7946": "YES"}}.get(fmt)
    for gdf, path in zip(frames, theirs, strict=True):
        prepared = vector._prepare(gdf, crs=FORMATS[fmt].crs)
        if fmt == "kml":
            prepared = vector._kml_columns(prepared)
        pyogrio.write_dataframe(
            prepared, path, driver=FORMATS[fmt].driver, layer_options=options, use_arrow=False
        )
    for a, b in zip(ours, theirs, strict=True):
        if fmt == "gpkg":
            assert gpkg_dump(a) == gpkg_dump(b)
        else:
            assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("crs", ["EPSG:4490", None])
def test_long_gpkg_layer_streamed_in_chunks_equals_one_write(tmp_path, monkeypatch, crs):
    rng = np.random.default_rng(5)
    n = 23
    xy = rng.uniform(400_000, 600_000, (n, 2)) + np.array([0.0, 4_800_000.0])
    points = shapely.points(xy)
    circles = gpd.GeoDataFrame(
        {
            # text held in several Arrow chunks, as pandas leaves it after a concat
            "center_id": pd.concat(
                [
                    pd.Series([f"c{i}" if i % 4 else None for i in r], dtype="str")
                    for r in (range(0, 8), range(8, n))
                ],
                ignore_index=True,
            ),
            "radius_m": rng.uniform(500, 2000, n),
            "urban": pd.array([True, False, None] * 7 + [True, True], dtype="boolean"),
            # text of object dtype, missing in the first row and in a whole chunk
            "note": pd.Series([None] * 10 + [f"n{i}" for i in range(n - 10)], dtype=object),
        },
        geometry=shapely.buffer(points, 1000.0),
        crs=WORK_CRS,
    )
    monkeypatch.setattr(vector, "CHUNK_ROWS", 5)
    assert vector._chunkable(circles) == "Polygon"
    chunked = write_gpkg(tmp_path / "chunked.gpkg", {"areas": circles}, crs=crs)
    # the same layer as one write_dataframe call, the way every layer was written before
    whole = tmp_path / "whole.gpkg"
    out = circles if crs is None else circles.to_crs(crs)
    pyogrio.write_dataframe(out, whole, layer="areas", driver="GPKG", use_arrow=True)
    a_info, b_info = pyogrio.read_info(chunked), pyogrio.read_info(whole)
    for key in ("crs", "geometry_type", "features"):
        assert a_info[key] == b_info[key]
    assert list(a_info["fields"]) == list(b_info["fields"])
    assert list(a_info["dtypes"]) == list(b_info["dtypes"])
    a = pyogrio.read_dataframe(chunked, fid_as_index=True)
    b = pyogrio.read_dataframe(whole, fid_as_index=True)
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry"))
    )
    assert a.geometry.to_wkb().tolist() == b.geometry.to_wkb().tolist()
    assert a.geometry.to_wkb().tolist() == out.geometry.to_wkb().tolist()


def test_mixed_or_object_layers_are_written_whole(layer, monkeypatch):
    monkeypatch.setattr(vector, "CHUNK_ROWS", 1)
    assert vector._chunkable(layer) is None  # Polygon and MultiPolygon
    polygons = layer.loc[layer.geom_type == "Polygon", ["geometry"]]
    assert vector._chunkable(polygons) == "Polygon"
    assert vector._chunkable(polygons.set_geometry(polygons.force_3d())) is None
    with_object = polygons.assign(note=pd.Series(["a"] * len(polygons), dtype=object))
    assert vector._chunkable(with_object) == "Polygon"  # text only: text in every chunk
