"""Tests of planner.outputs.kml: the streamed KML against GDAL's LIBKML driver (same bytes
for ordinary text), read back by GDAL (LIBKML and KML drivers), escaping, atomic writes."""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from planner.errors import PlannerWarning
from planner.outputs import kml, vector
from planner.outputs.vector import write_vector

DRIVERS = [d for d in ("LIBKML", "KML") if d in pyogrio.list_drivers()]
HAS_LIBKML = "LIBKML" in pyogrio.list_drivers(write=True)


def _frame(n: int = 5) -> gpd.GeoDataFrame:
    """Grids-like rows in WGS84: polygons with holes, multipolygons, a point, a line."""
    hole = [(122.35, 43.61), (122.37, 43.61), (122.37, 43.62)]
    shapes = [
        box(122.1, 43.5, 122.123456789012345, 43.52),
        Polygon([(122.3, 43.6), (122.4, 43.6), (122.4, 43.7), (122.3, 43.6)], [hole]),
        MultiPolygon([box(121, 42, 121.5, 42.5), box(121.6, 42, 121.7, 42.1)]),
        Point(120.000000001, 41.25),
        LineString([(120, 41), (120.5, 41.5), (121, 41)]),
    ]
    return gpd.GeoDataFrame(
        {
            "id": [f"15050200100{i}" for i in range(n)],
            "name": ["南工农社区第1网格", "Alpha", None, "嘎查·东", ""],
            "village_name": ["南工农社区", None, "x", "", "y"],
            "seq": np.arange(1, n + 1, dtype=np.int32),
            "big": np.array([1, 2**40, 3, 4, 5], dtype=np.int64),
            "urban": [True, False, True, False, True],
            "households": [60.0, np.nan, 1e-20, 24094.9153347982, 1 / 3],
        },
        geometry=shapes[:n],
        crs="EPSG:4326",
    )


def _libkml(gdf: gpd.GeoDataFrame, path) -> None:
    pyogrio.write_dataframe(vector._kml_columns(gdf), path, driver="LIBKML")


def _texts(values) -> list[str | None]:
    """Text values with missing and empty ones as ``None`` (one thing in KML)."""
    return [None if v is None or v != v or v == "" else v for v in values]


def _same_shape(a, b) -> bool:
    """``a`` read back (3D, collections of polygons) equals ``b`` within 1e-9 degrees
    (the file holds 15 significant digits)."""
    a = shapely.force_2d(a)
    if a.geom_type == "GeometryCollection" and b.geom_type.startswith("Multi"):
        a = type(b)(list(a.geoms))
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), 1e-9))


@pytest.mark.skipif(not HAS_LIBKML, reason="GDAL without LIBKML")
def test_same_bytes_as_libkml(tmp_path, monkeypatch):
    """For text without XML specials, the file is byte for byte what LIBKML writes, in
    one chunk or in chunks of two rows."""
    gdf = _frame()
    _libkml(gdf, tmp_path / "grids.kml")
    expected = (tmp_path / "grids.kml").read_bytes()
    (tmp_path / "a").mkdir()
    write_vector(gdf, tmp_path / "a" / "grids.kml")
    assert (tmp_path / "a" / "grids.kml").read_bytes() == expected
    monkeypatch.setattr(kml, "CHUNK_ROWS", 2)
    (tmp_path / "b").mkdir()
    write_vector(gdf, tmp_path / "b" / "grids.kml")
    assert (tmp_path / "b" / "grids.kml").read_bytes() == expected


@pytest.mark.skipif(not HAS_LIBKML, reason="GDAL without LIBKML")
@pytest.mark.parametrize("layer", ["0", "a b", "x.y", "é中", "-1"])
def test_layer_ids_as_libkml_makes_them(tmp_path, layer):
    gdf = _frame().drop(columns="id")
    (tmp_path / "gdal").mkdir()
    _libkml(gdf, tmp_path / "gdal" / f"{layer}.kml")
    path = write_vector(gdf, tmp_path / f"{layer}.kml")[0]
    assert path.read_bytes() == (tmp_path / "gdal" / f"{layer}.kml").read_bytes()


@pytest.mark.parametrize("driver", DRIVERS)
def test_fields_and_geometries_read_back(tmp_path, driver):
    gdf = _frame()
    path = write_vector(gdf, tmp_path / "grids.kml")[0]
    back = pyogrio.read_dataframe(path, driver=driver)
    assert len(back) == len(gdf)
    if driver == "LIBKML":
        assert back["id"].tolist() == gdf["id"].tolist()
        assert back["seq"].dtype == np.int32 and back["seq"].tolist() == gdf["seq"].tolist()
        assert back["urban"].tolist() == gdf["urban"].tolist()
        assert back["big"].tolist() == [str(v) for v in gdf["big"]]  # KML has no int64
        np.testing.assert_allclose(back["households"], gdf["households"], rtol=1e-14)
    else:
        assert back["seq"].astype(int).tolist() == gdf["seq"].tolist()
    assert _texts(back["Name"]) == _texts(gdf["name"])
    assert _texts(back["village_name"]) == _texts(gdf["village_name"])
    for got, want in zip(back.geometry, gdf.geometry, strict=True):
        assert _same_shape(got, want), (got, want)


def test_escaping_makes_well_formed_xml(tmp_path):
    nasty = ["a<b & \"c\" 'd'", "x]]>y", "tab\tnew\nline\rcr", "&amp;"]
    gdf = gpd.GeoDataFrame(
        {"id": nasty, "name": nasty[::-1], 'f<&"': nasty},
        geometry=[Point(i, i) for i in range(4)],
        crs="EPSG:4326",
    )
    path = tmp_path / 'odd<&".kml'
    write_vector(gdf, path)
    root = ET.parse(path).getroot()
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    marks = root.findall(".//k:Placemark", ns)
    assert [m.get("id") for m in marks] == nasty
    assert [m.find("k:name", ns).text for m in marks] == nasty[::-1]
    data = [m.find(".//k:SimpleData", ns) for m in marks]
    assert [d.get("name") for d in data] == ['f<&"'] * 4 and [d.text for d in data] == nasty
    back = pyogrio.read_dataframe(path, driver=DRIVERS[0])
    assert back['f<&"'].tolist() == nasty


def test_control_characters_are_replaced_with_a_warning(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"name": ["a\x01b", "ok"], "v": ["\x00", "\x7f"]},
        geometry=[Point(0, 0), Point(1, 1)],
        crs="EPSG:4326",
    )
    with pytest.warns(PlannerWarning, match="2 text value"):
        path = write_vector(gdf, tmp_path / "c.kml")[0]
    back = pyogrio.read_dataframe(path, driver=DRIVERS[0])
    assert back["Name"].tolist() == ["a\ufffdb", "ok"]
    assert back["v"].tolist() == ["\ufffd", "\x7f"]


def test_empty_layer_keeps_its_schema(tmp_path):
    path = write_vector(_frame().iloc[:0], tmp_path / "grids.kml")[0]
    if HAS_LIBKML:
        (tmp_path / "gdal").mkdir()
        _libkml(_frame().iloc[:0], tmp_path / "gdal" / "grids.kml")
        assert path.read_bytes() == (tmp_path / "gdal" / "grids.kml").read_bytes()
    info = pyogrio.read_info(path, driver=DRIVERS[0])
    assert info["features"] == 0
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    fields = ET.parse(path).getroot().findall(".//k:SimpleField", ns)
    assert [(f.get("name"), f.get("type")) for f in fields] == [
        ("village_name", "string"), ("seq", "int"), ("big", "int"), ("urban", "bool"),
        ("households", "double"),
    ]  # fmt: skip


def test_failure_keeps_the_previous_file(tmp_path, monkeypatch):
    path = write_vector(_frame(), tmp_path / "grids.kml")[0]
    before = path.read_bytes()
    monkeypatch.setattr(kml, "CHUNK_ROWS", 1)
    calls = []

    def failing(geoms, depth):
        calls.append(len(geoms))
        if len(calls) > 2:
            raise RuntimeError("disk full")
        return real(geoms, depth)

    real = kml._geometry_texts
    monkeypatch.setattr(kml, "_geometry_texts", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        write_vector(_frame().iloc[::-1], tmp_path / "grids.kml")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grids.kml"]


def test_frames_it_does_not_stream_go_to_gdal():
    gdf = _frame()
    assert kml.streamable(gdf)
    assert not kml.streamable(gdf.assign(description="d"))
    assert not kml.streamable(gdf.assign(when=pd.Timestamp("2024-01-01")))
    assert not kml.streamable(gdf.assign(f=np.float32(1.5)))
    assert not kml.streamable(gdf.assign(id=np.arange(5)))


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@st.composite
def _shapes(draw):
    """Polygons with holes and multipolygons of them, on a 0.001-degree lattice."""
    parts = []
    for k in range(draw(st.integers(1, 3))):
        x, y = draw(st.integers(0, 1000)) / 1000 + 3 * k, draw(st.integers(0, 1000)) / 1000
        w = draw(st.integers(10, 900)) / 1000
        holes = []
        if draw(st.booleans()):
            holes.append(box(x + w / 4, y + w / 4, x + w / 2, y + w / 2).exterior.coords)
        parts.append(Polygon(box(x, y, x + w, y + w).exterior.coords, holes))
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _xml_text(value: str) -> str | None:
    """What the file holds: characters XML cannot hold as U+FFFD, empty as missing."""
    value = "".join("\ufffd" if kml._INVALID_XML.match(c) else c for c in value)
    return value or None


def _trimmed(values) -> list[str | None]:
    """Texts without leading and trailing spaces, which GDAL's reader sometimes trims
    (in LIBKML's own files too)."""
    return [None if t is None else t.strip(" ") or None for t in _texts(values)]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(_TEXT, _TEXT, _shapes()), min_size=1, max_size=5))
def test_fuzzed_text_and_shapes_read_back(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("kml")
    gdf = gpd.GeoDataFrame(
        {"name": [r[0] for r in rows], "note": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs="EPSG:4326",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlannerWarning)
        path = write_vector(gdf, folder / "f.kml")[0]
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    marks = ET.parse(path).getroot().findall(".//k:Placemark", ns)
    names = [m.find("k:name", ns) for m in marks]
    assert [None if n is None else n.text for n in names] == [_xml_text(r[0]) for r in rows]
    back = pyogrio.read_dataframe(path, driver=DRIVERS[0])
    assert _trimmed(back["Name"]) == _trimmed(_xml_text(r[0]) for r in rows)
    # GDAL drops a schema field no placemark has a value for
    notes = back["note"] if "note" in back else [None] * len(back)
    assert _trimmed(notes) == _trimmed(_xml_text(r[1]) for r in rows)
    for got, want in zip(back.geometry, gdf.geometry, strict=True):
        assert _same_shape(got, want)
