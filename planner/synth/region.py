"""Deterministic synthetic regions, from a 100-village county to 600,000 villages.

:func:`generate_region` builds a prefecture-level city in north-east China (around
122°E 43.6°N, like Tongliao): counties, townships (streets 街道 around each county seat,
towns and townships 镇/乡/苏木 elsewhere), merged townships (former seats and their old
boundaries), villages and urban communities with population and households, village
polygons that tile their township, service centers at every level with realistic gaps and
non-compliant attributes, candidate sites, and a hierarchical road network that reaches
every village. :func:`write_region` writes the layers and a ready ``scenario.toml``.

The same arguments always give the same region. Everything is vectorised (numpy, shapely
2, scipy): :mod:`planner.synth.units` lays out the administrative units,
:mod:`planner.synth.centers` and :mod:`planner.synth.roads` the centers, candidate sites
and roads, :mod:`planner.synth.geom` holds the geometry and :mod:`planner.synth.write`
the writing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from planner.errors import PlannerError
from planner.synth import geom
from planner.synth.centers import build_candidates, build_centers
from planner.synth.roads import build_roads
from planner.synth.units import Counts, build_merged, build_townships, build_villages, plan_counts
from planner.synth.write import DEMO_FORMATS, KINDS, write_layers

__all__ = ["DEMO_FORMATS", "KINDS", "SYNTH_CRS", "Region", "generate_region", "write_region"]

#: Metric CRS the region is built in: CGCS2000 / 3-degree Gauss-Krüger CM 123E, the zone
#: ``crs = "auto"`` picks for data around 122°E.
SYNTH_CRS = "EPSG:4550"


@dataclass(frozen=True)
class Region:
    """A synthetic region: one canonical GeoDataFrame per layer kind (see :data:`KINDS`).

    ``village_areas`` is ``None`` when generated with ``village_areas=False``.
    """

    name: str
    seed: int
    centers: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    village_areas: gpd.GeoDataFrame | None
    townships: gpd.GeoDataFrame
    counties: gpd.GeoDataFrame
    merged_townships: gpd.GeoDataFrame
    merged_township_areas: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame

    @property
    def crs(self) -> pyproj.CRS:
        """CRS shared by every layer."""
        return self.villages.crs

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Layer kind → frame, in :data:`KINDS` order, skipping absent layers."""
        frames = {kind: getattr(self, kind) for kind in KINDS}
        return {kind: frame for kind, frame in frames.items() if frame is not None}

    def to_crs(self, crs: Any) -> Region:
        """The same region with every layer reprojected to ``crs``."""
        return dataclasses.replace(self, **{k: f.to_crs(crs) for k, f in self.layers().items()})


def generate_region(
    *,
    villages: int,
    townships: int,
    counties: int | None = None,
    seed: int = 0,
    road_detail: float = 1.0,
    village_areas: bool = True,
    km2_per_village: float = 20.0,
    urban_share: float = 0.09,
    merged_share: float = 0.15,
    center: tuple[float, float] = (122.25, 43.6),
    crs: Any = "EPSG:4490",
    name: str = "synthetic",
) -> Region:
    """Generate a synthetic region; the same arguments always give the same region.

    Parameters
    ----------
    villages
        Number of villages and urban communities (at least ``townships``).
    townships
        Number of townships, streets included (at least ``counties``).
    counties
        Number of counties; default one per 13 townships.
    seed
        Random seed.
    road_detail
        Road vertices per kilometre (at least the two ends of each road). About 35 gives
        ~300,000 road segments for 2,340 villages.
    village_areas
        Build village polygons that tile their township. ``False`` saves time and memory
        at national sizes; the layer is then ``None``.
    km2_per_village
        Rural land per village (Tongliao: about 25 km²); sets the size of the region.
    urban_share
        Share of villages that are urban communities (社区), clustered around county seats.
    merged_share
        Share of rural townships that absorbed one or two former townships.
    center
        Longitude and latitude of the region's center.
    crs
        CRS of the returned layers (default CGCS2000 geographic, EPSG:4490); ``None``
        keeps the metric :data:`SYNTH_CRS` the region is built in.
    name
        Name of the region (also the default scenario name).

    Returns
    -------
    Region

    Raises
    ------
    PlannerError
        For impossible counts or options.
    """
    if road_detail <= 0 or not 0 <= merged_share <= 1:
        raise PlannerError(
            f"road_detail must be > 0 and merged_share in [0, 1]; got {road_detail}, {merged_share}"
        )
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    counts = plan_counts(rngs[7], villages, townships, counties, urban_share, km2_per_village)
    to_metric = pyproj.Transformer.from_crs(4490, SYNTH_CRS, always_xy=True)
    area = (counts.villages - counts.communities) * km2_per_village * 1e6
    outline = geom.region_polygon(rngs[0], center=to_metric.transform(*center), area_m2=area)
    frames = _layers(
        rngs,
        counts,
        outline,
        merged_share=merged_share,
        road_detail=road_detail,
        village_areas=village_areas,
    )
    out = Region(name=name, seed=seed, **frames)
    return out if crs is None else out.to_crs(crs)


def _layers(
    rngs: list[np.random.Generator],
    counts: Counts,
    outline: shapely.Polygon,
    *,
    merged_share: float,
    road_detail: float,
    village_areas: bool,
) -> dict[str, gpd.GeoDataFrame | None]:
    """Every layer of the region inside ``outline``, in the metric :data:`SYNTH_CRS`;
    ``rngs[1]`` … ``rngs[6]`` drive the townships, villages, merged townships, roads,
    centers and candidates."""
    town = build_townships(rngs[1], counts, outline)
    vil = build_villages(rngs[2], counts, town)
    tri = geom.group_triangulation(vil["xy"], vil["owner"], town["xy"], town["reach"])
    merged = build_merged(rngs[3], vil, town, merged_share)
    return {
        "villages": _frame(vil, ["id", "name", "population", "households", "township_id", "urban"]),
        "village_areas": _village_areas(tri, vil, town) if village_areas else None,
        "townships": _frame(town, ["id", "name", "county_id", "county_name"], geometry="polygon"),
        "counties": _counties(town),
        "merged_townships": _frame(merged, ["id", "name", "township_id"]),
        "merged_township_areas": _frame(merged, ["id", "name", "township_id"], geometry="area"),
        "roads": build_roads(rngs[4], tri, vil, town, merged, road_detail).set_crs(SYNTH_CRS),
        "centers": build_centers(rngs[5], vil, town, merged).set_crs(SYNTH_CRS),
        "candidates": build_candidates(rngs[6], vil, town, merged).set_crs(SYNTH_CRS),
    }


def write_region(
    region: Region,
    out_dir: str | Path,
    *,
    formats: str | dict[str, str] = "gpkg",
    scenario_name: str | None = None,
    outputs_dir: str = "outputs",
    national: bool = False,
) -> Path:
    """Write a region's layers and a ready ``scenario.toml`` into ``out_dir``.

    Parameters
    ----------
    region
        From :func:`generate_region`.
    out_dir
        Folder to write into (created when missing).
    formats
        One format for every layer (``"gpkg"``, ``"geojson"``, ``"fgb"``, ``"parquet"``,
        ``"shp"``), ``"demo"`` for :data:`DEMO_FORMATS` (villages as an XLSX ledger with
        Chinese headers and GCJ-02 coordinates, village areas as a GBK shapefile with
        Chinese field names, candidates as CSV, townships as GeoJSON, the rest GPKG), or a
        mapping kind → format (unlisted kinds: GPKG). ``"csv"`` and ``"xlsx"`` suit
        point layers only.
    scenario_name
        ``[scenario] name``; default the region's name.
    outputs_dir
        ``[scenario] out_dir``, relative to the scenario file.
    national
        A scenario for province or national runs: every level by straight line;
        siting, grids, map and report off; roads and candidates not written.

    Returns
    -------
    Path
        The ``scenario.toml`` written, runnable with ``planner run``.
    """
    if isinstance(formats, str):
        formats = dict(DEMO_FORMATS) if formats == "demo" else dict.fromkeys(KINDS, formats)
    return write_layers(
        region.layers(),
        Path(out_dir),
        formats=formats,
        name=scenario_name or region.name,
        outputs_dir=outputs_dir,
        radii=_scenario_radii(region),
        national=national,
    )


def _scenario_radii(region: Region) -> dict[str, int]:
    """Service radii (metres) that leave visible but not overwhelming gaps.

    City, county and township radii are a little above the radius of a disc of the
    average unit's area (about 80–95 % of the population covered on the default
    density); village and station radii follow the typical spacing of villages.
    """
    area = float(region.townships.to_crs(SYNTH_CRS).area.sum())
    rural = max(int((~region.villages["urban"].astype(bool)).sum()), 1)
    spacing = np.sqrt(area / rural / 20e6)  # 1 on the default 20 km² per village

    def disc(units: int, factor: float) -> int:
        return int(round(factor * np.sqrt(area / (units * np.pi)) / 500) * 500)

    return {
        "city": disc(1, 1.2),
        "county": disc(len(region.counties), 1.05),
        "township": disc(len(region.townships), 1.1),
        "village": int(round(1000 * spacing, -1)),
        "station": int(round(1000 * spacing, -1)),
    }


def _village_areas(
    tri: geom.GroupTriangulation, vil: dict[str, Any], town: dict[str, Any]
) -> gpd.GeoDataFrame:
    """Voronoi cells of each township's villages, clipped to the township."""
    cells = geom.clip_cells(geom.voronoi_cells(tri), town["polygon"], vil["owner"])
    return _frame({**vil, "polygon": cells}, ["id", "name", "township_id"], geometry="polygon")


def _counties(town: dict[str, Any]) -> gpd.GeoDataFrame:
    """Counties as the union of their townships."""
    frame = gpd.GeoDataFrame(
        {"id": town["county_id"]}, geometry=town["polygon"], crs=SYNTH_CRS
    ).dissolve("id", sort=True)
    frame = frame.reset_index()
    names = dict(zip(town["county_codes"], town["county_names"], strict=True))
    frame.insert(1, "name", frame["id"].map(names))
    return frame


def _frame(data: dict[str, Any], columns: list[str], *, geometry: str = "xy") -> gpd.GeoDataFrame:
    """A canonical frame from generator arrays; ``geometry`` names the array to use."""
    geoms = data[geometry]
    if geometry == "xy":
        geoms = gpd.points_from_xy(geoms[:, 0], geoms[:, 1])
    return gpd.GeoDataFrame({c: data[c] for c in columns}, geometry=geoms, crs=SYNTH_CRS)
