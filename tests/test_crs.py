"""Tests for planner.crs: GCJ-02/BD-09 offsets, Gauss-Krüger detection, working CRS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon

from planner import crs
from planner.errors import PlannerError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cn_admin"
GEOD = pyproj.Geod(ellps="WGS84")
X0, X1, Y0, Y1 = 72.004, 137.8347, 0.8293, 55.8271  # GCJ-02 rectangle, typed independently
# GCJ-02 is discontinuous at the rectangle's edge: a GCJ point within ~1 km of the east or
# north edge has two preimages, so round trips are tested 0.02° (> max shift) inside it.
MARGIN = 0.02
ADCODE_COLUMNS = [
    "code", "parent", "name", "level", "rank", "adcode", "post_code", "area_code", "ur_code",
    "municipality", "virtual", "dummy", "longitude", "latitude", "center", "province",
    "city", "county", "town", "village",
]  # fmt: skip


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def lonlat_arrays(lo_lon, hi_lon, lo_lat, hi_lat, max_size=40):
    pair = st.tuples(
        st.floats(lo_lon, hi_lon, allow_nan=False), st.floats(lo_lat, hi_lat, allow_nan=False)
    )
    return st.lists(pair, min_size=1, max_size=max_size).map(lambda p: np.array(p).T)


china_points = lonlat_arrays(X0 + MARGIN, X1 - MARGIN, Y0 + MARGIN, Y1 - MARGIN)


# --- published values --------------------------------------------------------------------


def test_published_values_wandergis_coordtransform():
    # wandergis/coordtransform test/app.js, input (116.404, 39.915).
    np.testing.assert_allclose(
        crs.wgs84_to_gcj02(116.404, 39.915), (116.41024449916938, 39.91640428150164), rtol=1e-13
    )
    np.testing.assert_allclose(
        crs.gcj02_to_bd09(116.404, 39.915), (116.41036949371029, 39.92133699351021), rtol=1e-13
    )
    # Its inverses are one-step approximations: ours must agree to within a metre.
    assert metres(*crs.gcj02_to_wgs84(116.404, 39.915), 116.39775550083061, 39.91359571849836) < 1
    assert metres(*crs.bd09_to_gcj02(116.404, 39.915), 116.39762729119315, 39.90865673957631) < 1


def test_scalars_give_scalars_and_arrays_keep_shape():
    lon, lat = crs.wgs84_to_bd09(116.4, 39.9)
    assert np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon, lat = crs.gcj02_to_wgs84(np.full((2, 3), 116.4), np.full((2, 3), 39.9))
    assert lon.shape == lat.shape == (2, 3)


# --- round trips and offsets -------------------------------------------------------------


@given(china_points)
def test_gcj02_round_trip_below_half_metre(pts):
    lon, lat = pts
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert metres(lon, lat, *back).max() < 0.01
    again = crs.wgs84_to_gcj02(*crs.gcj02_to_wgs84(lon, lat))
    assert metres(lon, lat, *again).max() < 0.01


@given(china_points)
def test_bd09_round_trip_below_half_metre(pts):
    lon, lat = pts
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    assert metres(lon, lat, *back).max() < 0.01
    back = crs.bd09_to_gcj02(*crs.gcj02_to_bd09(lon, lat))
    assert metres(lon, lat, *back).max() < 0.01


@given(lonlat_arrays(X0, X1, Y0, Y1))
def test_gcj02_shift_bounded_everywhere_in_rectangle(pts):
    # Over the whole rectangle the shift falls to a few metres (equatorial sea, Qaidam).
    assert metres(*pts, *crs.wgs84_to_gcj02(*pts)).max() < 900


@given(lonlat_arrays(100, 135, 20, 53.5))
def test_gcj02_shift_realistic_in_eastern_china(pts):
    shift = metres(*pts, *crs.wgs84_to_gcj02(*pts))
    assert (shift > 50).all() and (shift < 900).all()


@given(
    st.one_of(
        lonlat_arrays(-180, X0 - 1e-6, -90, 90),
        lonlat_arrays(X1 + 1e-6, 180, -90, 90),
        lonlat_arrays(-180, 180, -90, Y0 - 1e-6),
        lonlat_arrays(-180, 180, Y1 + 1e-6, 90),
    )
)
def test_gcj02_is_identity_outside_china(pts):
    np.testing.assert_array_equal(crs.wgs84_to_gcj02(*pts), pts)
    np.testing.assert_array_equal(crs.gcj02_to_wgs84(*pts), pts)


def test_nan_passes_through_without_warning():
    lon, lat = crs.gcj02_to_wgs84(np.array([np.nan, 116.4]), np.array([39.9, np.nan]))
    assert np.isnan(lon[0]) and np.isnan(lat[1])


# --- to_wgs84 ----------------------------------------------------------------------------


def test_to_wgs84_all_geometry_types_and_z():
    geoms = [
        Point(121.4, 37.5),
        LineString([(121.4, 37.5, 10), (121.5, 37.6, 20)]),
        Polygon([(121.4, 37.5), (121.5, 37.5), (121.5, 37.6)]),
        Point(),
        None,
    ]
    gdf = gpd.GeoDataFrame({"v": range(5)}, geometry=geoms)
    out = crs.to_wgs84(gdf, "GCJ02")
    assert out.crs.to_epsg() == 4326 and gdf.crs is None
    assert list(out["v"]) == list(range(5))
    assert out.geometry.iloc[3].is_empty and out.geometry.iloc[4] is None
    for before, after in zip(geoms[:3], out.geometry.iloc[:3], strict=True):
        xyz = shapely.get_coordinates(before, include_z=before.has_z)
        want = np.column_stack(crs.gcj02_to_wgs84(xyz[:, 0], xyz[:, 1]))
        got = shapely.get_coordinates(after, include_z=before.has_z)
        np.testing.assert_allclose(got[:, :2], want, rtol=0, atol=1e-12)
        if before.has_z:
            np.testing.assert_array_equal(got[:, 2], xyz[:, 2])
    np.testing.assert_array_equal(shapely.get_coordinates(gdf.geometry.iloc[0]), [[121.4, 37.5]])


@pytest.mark.parametrize("coords", ["wgs84", "cgcs2000"])
def test_to_wgs84_datum_passthrough(coords):
    gdf = gpd.GeoDataFrame(geometry=[Point(121.4, 37.5)], crs=4490)
    out = crs.to_wgs84(gdf, coords)
    assert out.crs.to_epsg() == 4326
    assert out.geometry.iloc[0].equals(Point(121.4, 37.5))


def test_to_wgs84_bd09():
    out = crs.to_wgs84(gpd.GeoDataFrame(geometry=[Point(116.404, 39.915)]), "bd09")
    np.testing.assert_allclose(
        shapely.get_coordinates(out.geometry)[0], crs.bd09_to_wgs84(116.404, 39.915)
    )


def test_to_wgs84_rejects_bad_input():
    gdf = gpd.GeoDataFrame(geometry=[Point(121.4, 37.5)])
    with pytest.raises(PlannerError, match="unknown coords 'mars'"):
        crs.to_wgs84(gdf, "mars")
    with pytest.raises(PlannerError, match="projected"):
        crs.to_wgs84(gdf.set_crs(4549), "gcj02")
    assert crs.COORDS == ("wgs84", "cgcs2000", "gcj02", "bd09")


# --- Gauss-Krüger detection --------------------------------------------------------------


@pytest.fixture(scope="module")
def epsg_by_name() -> dict[str, int]:
    """EPSG codes of the PROJ database, by exact CRS name."""
    infos = pyproj.database.query_crs_info(auth_name="EPSG")
    return {i.name: int(i.code) for i in infos if not i.deprecated}


def test_gauss_kruger_codes_match_proj_database(epsg_by_name):
    for zone in range(25, 46):
        name = f"CGCS2000 / 3-degree Gauss-Kruger zone {zone}"
        assert epsg_by_name[name] == 4513 + zone - 25
    for zone in range(13, 24):
        assert epsg_by_name[f"CGCS2000 / Gauss-Kruger zone {zone}"] == 4491 + zone - 13
    for cm in range(75, 136, 3):
        name = f"CGCS2000 / 3-degree Gauss-Kruger CM {cm}E"
        assert epsg_by_name[name] == 4534 + (cm - 75) // 3


TO_ZONE_39 = pyproj.Transformer.from_crs(4490, 4527, always_xy=True)  # 3° zone 39, CM 117E
TO_ZONE_20 = pyproj.Transformer.from_crs(4490, 4498, always_xy=True)  # 6° zone 20, CM 117E


@settings(max_examples=30)
@given(lonlat_arrays(115.6, 118.4, 20, 50))
def test_detect_gauss_kruger_3_degree_zone_39(pts):
    assert crs.detect_gauss_kruger(*TO_ZONE_39.transform(*pts)) == 4527


@settings(max_examples=30)
@given(lonlat_arrays(114.1, 119.9, 20, 50))
def test_detect_gauss_kruger_6_degree_zone_20(pts):
    assert crs.detect_gauss_kruger(*TO_ZONE_20.transform(*pts)) == 4498


def test_detect_gauss_kruger_none_cases():
    lon, lat = np.array([117.0, 117.5]), np.array([36.0, 36.5])
    assert crs.detect_gauss_kruger(lon, lat) is None  # lon/lat
    x, y = pyproj.Transformer.from_crs(4490, 4548, always_xy=True).transform(lon, lat)
    assert (x > 300_000).all() and (x < 700_000).all()
    assert crs.detect_gauss_kruger(x, y) is None  # 6-digit eastings carry no zone
    assert crs.detect_gauss_kruger([39_500_000, 40_500_000], [4e6, 4e6]) is None  # mixed
    assert crs.detect_gauss_kruger([24_500_000], [4e6]) is None  # no such zone
    assert crs.detect_gauss_kruger([39_500_000], [-4e6]) is None  # southern hemisphere
    assert crs.detect_gauss_kruger([np.nan], [np.nan]) is None


# --- plausibility checks -----------------------------------------------------------------


def test_looks_geographic():
    assert crs.looks_geographic([121.4, np.nan], [37.5, 1.0])
    assert not crs.looks_geographic([500_000.0], [4_000_000.0])
    assert not crs.looks_geographic([np.nan], [np.nan])


def test_swapped_and_out_of_range():
    x = np.array([37.5, 121.4, 37.5, 200.0, np.nan])
    y = np.array([121.4, 37.5, -121.4, 10.0, 1.0])
    np.testing.assert_array_equal(crs.looks_swapped_lonlat(x, y), [1, 0, 0, 0, 0])
    # A swapped Chinese point has its "latitude" (a longitude) beyond 90°.
    np.testing.assert_array_equal(crs.out_of_range_lonlat(x, y), [1, 0, 1, 1, 1])
    np.testing.assert_array_equal(crs.out_of_range_lonlat([0.0], [90.5]), [True])


# --- working CRS -------------------------------------------------------------------------


def projection_params(c: pyproj.CRS) -> dict[str, float]:
    return {p.name: p.value for p in c.coordinate_operation.params}


def central_meridian(c: pyproj.CRS) -> float:
    return projection_params(c)["Longitude of natural origin"]


@pytest.mark.parametrize(
    ("lon", "lat", "cm", "epsg"),
    [(121.4, 37.5, 120, 4549), (122.2, 43.6, 123, 4550), (123.8, 41.3, 123, 4550)],
)
def test_auto_working_crs_seed_cities(lon, lat, cm, epsg):
    # Yantai, Tongliao, Benxi.
    got = crs.auto_working_crs(np.array([lon - 0.1, lon + 0.1]), np.array([lat, lat]))
    assert got.to_epsg() == epsg
    assert central_meridian(got) == cm == round(lon / 3) * 3
    assert projection_params(got)["False easting"] == 500_000  # no zone prefix


@given(st.floats(73.5, 136.5), st.floats(18.0, 53.0))
def test_auto_working_crs_nearest_meridian(lon, lat):
    cm = central_meridian(crs.auto_working_crs([lon], [lat]))
    assert cm % 3 == 0 and abs(cm - lon) <= 1.5
    if abs(abs(cm - lon) - 1.5) > 1e-9:
        assert cm == round(lon / 3) * 3


def test_auto_working_crs_outside_china():
    assert crs.auto_working_crs([-122.42], [37.77]).to_epsg() == 32610  # San Francisco
    assert crs.auto_working_crs([151.21], [-33.87]).to_epsg() == 32756  # Sydney
    assert crs.auto_working_crs([24.94], [60.17]).to_epsg() == 32635  # Helsinki
    with pytest.raises(PlannerError, match="no valid longitude"):
        crs.auto_working_crs([np.nan, 500.0], [np.nan, 1.0])


def test_working_crs_settings():
    lon, lat = [121.4], [37.5]
    assert crs.working_crs("auto", lon, lat).to_epsg() == 4549
    assert crs.working_crs(4550, lon, lat).to_epsg() == 4550
    assert crs.working_crs("EPSG:32651", lon, lat).to_epsg() == 32651
    for bad, msg in [("EPSG:4326", "not a projected"), (2263, "not a projected")]:
        with pytest.raises(PlannerError, match=msg):
            crs.working_crs(bad, lon, lat)
    for bad in ["EPSG:999999", "nonsense"]:
        with pytest.raises(PlannerError, match="unknown working CRS"):
            crs.working_crs(bad, lon, lat)


# --- real data: Vonng/adcode (CC BY 4.0), 150521 科尔沁左翼中旗, GCJ-02 ------------------


@pytest.fixture(scope="module")
def horqin_villages() -> gpd.GeoDataFrame:
    path = DATA / "adcode_2016" / "150521.csv"
    if not path.exists():
        pytest.skip("shared reference data absent")
    df = pd.read_csv(path, header=None, names=ADCODE_COLUMNS, dtype={"code": str})
    df = df[(df["level"] == "village") & df["longitude"].notna()]
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["longitude"], df["latitude"]))


def test_real_villages_round_trip(horqin_villages):
    lon, lat = horqin_villages["longitude"].to_numpy(), horqin_villages["latitude"].to_numpy()
    assert len(lon) == 354
    wlon, wlat = crs.gcj02_to_wgs84(lon, lat)
    assert metres(lon, lat, *crs.wgs84_to_gcj02(wlon, wlat)).max() < 0.01
    shift = metres(lon, lat, wlon, wlat)
    assert (shift > 50).all() and (shift < 900).all()


def test_real_villages_inside_county_fence(horqin_villages):
    path = DATA / "fences_gcj02" / "150521.json"
    if not path.exists():
        pytest.skip("shared reference data absent")
    fence = gpd.GeoDataFrame(geometry=[shapely.from_geojson(path.read_text())])
    points = crs.to_wgs84(horqin_villages, "gcj02")
    outline = crs.to_wgs84(fence, "gcj02").geometry.iloc[0]
    assert outline.is_valid
    assert points.within(outline).mean() >= 0.95


def test_auto_working_crs_ignores_a_few_stray_points():
    lon = np.r_[np.full(10, 122.2), 76.0]  # ten villages near 122.2E and one typo at 76E
    lat = np.r_[np.full(10, 43.6), 43.6]
    assert central_meridian(crs.auto_working_crs(lon, lat)) == 123  # the mean, 118E, gives 117
    assert abs(float(lon.mean()) - 117) < 1.5
