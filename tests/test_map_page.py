"""Tests of planner.outputs.map_page: inlined assets and geometry as the page shows it."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from planner.outputs.map_page import asset_html, to_geojson, to_wgs84

WORK_CRS = "EPSG:4550"  # CGCS2000 3-degree Gauss-Krüger CM 123E, as the pipeline picks


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
