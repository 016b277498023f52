"""Tests of planner.outputs.map_page: inlined assets, geometry as the page shows it, escaping
of names, and a page that links nothing."""

from __future__ import annotations

import json
import re

import folium.plugins
import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from map_helpers import (
    EMOJI,
    JINJA,
    LONG,
    QUOTES,
    SCRIPT,
    WORK_CRS,
    XSS,
    coverage_only,
    run_hostile,
    village_base,
)
from shapely.geometry import box

from planner.outputs.map_page import (
    asset_html,
    check_offline,
    encode_polygons,
    to_geojson,
    to_wgs84,
    varints,
)
from planner.outputs.maps import build_map, render_map
from planner.pipeline import Plan


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return coverage_only(run_hostile(tmp_path_factory.mktemp("hostile")))


@pytest.fixture(scope="module")
def map_zh(plan: Plan) -> folium.Map:
    return build_map(plan)  # zh is the scenario's default


@pytest.fixture(scope="module")
def page_zh(map_zh: folium.Map) -> str:
    return render_map(map_zh)


def test_assets_are_inlined_with_images_as_data_uris():
    assets = asset_html()
    css = "".join(re.findall(r"<style>(.*?)</style>", assets, re.S))
    urls = re.findall(r"url\(\s*['\"]?([^'\")]*)", css)
    assert len(urls) >= 8 and all(u.startswith(("data:", "#default#VML")) for u in urls)
    assert "L.Control.Search" in assets and "L.heatLayer" in assets and "FullScreen" in assets
    assert "BSD" in assets and "MIT" in assets  # the licences travel with the code


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(8, 300),
    radius=st.floats(50, 20_000),
    jitter=st.floats(0, 3),
    seed=st.integers(0, 2**16),
    topology=st.booleans(),
)
def test_simplified_outline_stays_within_tolerance(n, radius, jitter, seed, topology):
    rng = np.random.default_rng(seed)
    angle = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = radius + rng.uniform(-jitter, jitter, n)
    ring = np.column_stack([500_000 + r * np.cos(angle), 4_830_000 + r * np.sin(angle)])
    polygon = shapely.make_valid(shapely.Polygon(ring))
    frame = gpd.GeoDataFrame(geometry=[polygon], crs=WORK_CRS)
    (shown,) = to_geojson(to_wgs84(frame, simplify_m=5.0, preserve_topology=topology))
    coords = np.array(shapely.get_coordinates(shapely.from_geojson(json.dumps(shown))))
    assert np.array_equal(coords, coords.round(6))  # at most 6 decimals
    back = gpd.GeoSeries([shapely.from_geojson(json.dumps(shown))], crs=4326).to_crs(WORK_CRS)
    original = shapely.points(shapely.get_coordinates(polygon))
    # Every input vertex lies near the shown outline: Douglas-Peucker keeps each within the
    # tolerance, except around a ring's start point, which GEOS may also drop once its
    # neighbours are simplified (then up to twice the tolerance); plus rounding.
    assert shapely.distance(original, back.iloc[0].boundary).max() <= 2 * 5.0 + 0.3
    assert len(coords) <= len(shapely.get_coordinates(polygon))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12))
def test_geojson_of_polygons_equals_geos_text(seed, n):
    rng = np.random.default_rng(seed)
    shapes = []
    for _ in range(n):
        x, y = rng.uniform(121, 123), rng.uniform(43, 45)
        outer = box(x, y, x + rng.uniform(1e-4, 0.1), y + rng.uniform(1e-4, 0.1))
        hole = outer.centroid.buffer(rng.uniform(1e-6, 1e-5), quad_segs=rng.integers(1, 9))
        kind = rng.integers(5)
        shapes.append(
            [
                outer,
                outer.difference(hole),
                shapely.MultiPolygon([outer, box(x - 1, y - 1, x - 0.5, y - 0.5)]),
                shapely.Polygon(),
                shapely.LineString([(x, y), (x + 1e-3, y + 2e-3)]),
            ][kind]
        )
    geoms = gpd.GeoSeries(shapes, crs=4326)
    rounded = shapely.transform(geoms.to_numpy(), lambda xy: np.round(xy, 6))
    want = [json.loads(text) for text in shapely.to_geojson(rounded)]
    assert json.dumps(to_geojson(geoms)) == json.dumps(want)


def test_names_reach_the_page_only_as_escaped_json(map_zh, page_zh):
    page = page_zh
    for raw in (XSS, SCRIPT, "<b>粗</b>", "onerror=alert(1)>"):
        assert raw not in page
    assert page.count("</script>") == page.count("<script")  # no script closed early
    base = village_base(map_zh)
    assert base["t"][:2] == [XSS, QUOTES] and base["t"][3] == EMOJI
    assert EMOJI in page  # written as UTF-8 text, not escaped away
    assert base["t"][4] == JINJA and JINJA in page  # not evaluated as a template


def test_long_text_is_clipped(map_zh):
    base = village_base(map_zh)
    assert base["t"][5] == LONG[:120] + "…"
    assert base["k"][5].startswith(LONG[:120] + "… · ")


def test_layer_names_are_html_escaped_for_the_layer_control(map_zh):
    m = map_zh
    names = [layer.layer_name for layer in m.data_layers().values()]
    assert all("<" not in n and ">" not in n for n in names)


def test_page_links_nothing_and_a_cdn_element_is_caught(plan, page_zh):
    page = page_zh
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)
    assert '<html lang="zh-CN">' in page
    m = build_map(plan)
    folium.plugins.Fullscreen().add_to(m)  # links its script on a CDN
    with pytest.raises(RuntimeError, match="external resource"):
        render_map(m)
    with pytest.raises(RuntimeError):
        check_offline('<link rel="stylesheet" href="https://cdn.example/x.css">')


def _read_varints(text: str) -> list[int]:
    """Decode base64 LEB128 varints byte by byte (independent of the numpy encoder)."""
    import base64

    values, value, shift = [], 0, 0
    for byte in base64.b64decode(text):
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            values.append(value)
            value, shift = 0, 0
    return values


def test_varints_round_trip_small_and_large_numbers():
    numbers = np.array([0, 1, 127, 128, 255, 16_383, 16_384, 2**31, 2**40 + 5], dtype=np.int64)
    assert _read_varints(varints(numbers)) == numbers.tolist()


@given(seed=st.integers(0, 2**31), n=st.integers(1, 6))
@settings(max_examples=25, deadline=None)
def test_compact_polygons_give_back_the_rounded_vertices(seed, n):
    """Decoding parts, rings, vertex counts and coordinate steps (as the page runtime
    does) gives every ring of every feature, rounded to 6 decimals, without the closing
    vertex; empty polygons have no rings."""
    rng = np.random.default_rng(seed)
    shapes = []
    for _ in range(n):
        x, y = rng.uniform(73, 135), rng.uniform(18, 53)
        outer = box(x, y, x + rng.uniform(1e-4, 0.1), y + rng.uniform(1e-4, 0.1))
        hole = box(x + 2e-5, y + 2e-5, x + 5e-5, y + 5e-5)
        multi = shapely.MultiPolygon([outer, box(x - 1, y - 1, x - 0.5, y - 0.5)])
        shapes += [outer.difference(hole), multi, shapely.Polygon()]
    compact = encode_polygons(gpd.GeoSeries(shapes, crs=4326))
    assert compact is not None
    parts, rings, verts = (_read_varints(compact[k]) for k in ("parts", "rings", "verts"))
    steps = np.array(_read_varints(compact["xy"]), dtype=np.int64)
    steps = np.where(steps % 2, -(steps + 1) // 2, steps // 2).reshape(-1, 2)
    xy = np.cumsum(steps, axis=0)
    got, ring, vertex, part = [], 0, 0, 0
    for count in parts:
        feature = []
        for _ in range(count):
            for _ in range(rings[part]):
                feature.append(xy[vertex : vertex + verts[ring]].tolist())
                vertex, ring = vertex + verts[ring], ring + 1
            part += 1
        got.append(feature)
    want = []
    for shape in shapes:
        polygons = shapely.get_parts(shape)
        rings_of = [r for p in polygons if not p.is_empty for r in [p.exterior, *p.interiors]]
        want.append(
            [np.round(np.asarray(r.coords)[:-1] * 1e6).astype(int).tolist() for r in rings_of]
        )
    assert got == want and vertex == len(xy)


def test_compact_polygons_only_for_polygons():
    lines = gpd.GeoSeries([shapely.LineString([(0, 0), (1, 1)]), box(0, 0, 1, 1)], crs=4326)
    assert encode_polygons(lines) is None
