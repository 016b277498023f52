"""Deterministic synthetic regions, from a 100-village county to 600,000 villages.

:func:`generate_region` builds a prefecture-level city in north-east China (around
122°E 43.6°N, like Tongliao): counties, townships (streets 街道 around each county seat,
towns and townships 镇/乡/苏木 elsewhere), merged townships (former seats and their old
boundaries), villages and urban communities with population and households, village
polygons that tile their township, service centers at every level with realistic gaps and
non-compliant attributes, candidate sites, and a hierarchical road network that reaches
every village. :func:`write_region` writes the layers and a ready ``scenario.toml``.

The same arguments always give the same region. Everything is vectorised (numpy, shapely
2, scipy); see :mod:`planner._synth_geom` for the geometry.
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
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from planner.errors import PlannerError
from planner.synth import attrs, geom
from planner.synth.centers import build_candidates, build_centers
from planner.synth.roads import build_roads
from planner.synth.write import DEMO_FORMATS, KINDS, write_layers

__all__ = ["DEMO_FORMATS", "KINDS", "SYNTH_CRS", "Region", "generate_region", "write_region"]

#: Metric CRS the region is built in: CGCS2000 / 3-degree Gauss-Krüger CM 123E, the zone
#: ``crs = "auto"`` picks for data around 122°E.
SYNTH_CRS = "EPSG:4550"

_TOWNSHIPS_PER_COUNTY = 13  # Tongliao: 116 townships in 9 counties
_COUNTIES_PER_CITY = 80  # county codes 02 (the district) and 21..99 within one city code
_STREET_SHARE = 0.1  # share of townships that are urban streets (街道)


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


@dataclass(frozen=True)
class _Plan:
    """Counts the generator works to."""

    villages: int
    townships: int
    counties: int
    streets_per_county: NDArray[np.int64]
    communities: int
    scale: float  # length scale relative to the default density

    @property
    def streets(self) -> int:
        return int(self.streets_per_county.sum())


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
    plan = _plan(rngs[7], villages, townships, counties, urban_share, km2_per_village)
    to_metric = pyproj.Transformer.from_crs(4490, SYNTH_CRS, always_xy=True)
    area = (plan.villages - plan.communities) * km2_per_village * 1e6
    region = geom.region_polygon(rngs[0], center=to_metric.transform(*center), area_m2=area)
    town = _townships(rngs[1], plan, region)
    vil = _villages(rngs[2], plan, town)
    tri = geom.group_triangulation(vil["xy"], vil["owner"], town["xy"], town["reach"])
    merged = _merged(rngs[3], vil, town, merged_share)
    frames = {
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
    out = Region(name=name, seed=seed, **frames)
    return out if crs is None else out.to_crs(crs)


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


# ---------------------------------------------------------------------------- counts


def _plan(
    rng: np.random.Generator,
    villages: int,
    townships: int,
    counties: int | None,
    urban_share: float,
    km2: float,
) -> _Plan:
    """Counties, streets per county and communities for the requested counts.

    Every county seat is a street when there are at least three townships per county;
    the central county (the district) gets the most streets.
    """
    counties = max(1, round(townships / _TOWNSHIPS_PER_COUNTY)) if counties is None else counties
    if not 1 <= counties <= townships <= villages:
        raise PlannerError(
            "need 1 <= counties <= townships <= villages; got "
            f"counties={counties}, townships={townships}, villages={villages}"
        )
    if counties > _COUNTIES_PER_CITY * 95:
        raise PlannerError(f"at most {_COUNTIES_PER_CITY * 95} counties; got {counties}")
    if km2 <= 0 or not 0 <= urban_share < 1:
        raise PlannerError(
            f"km2_per_village must be > 0 and urban_share in [0, 1); got {km2}, {urban_share}"
        )
    streets = np.zeros(counties, dtype=np.int64)
    communities = 0
    if townships >= 3 * counties and urban_share > 0:
        total = max(counties, round(_STREET_SHARE * townships))
        weight = np.r_[3.0, np.ones(counties - 1)]
        extra = rng.multinomial(total - counties, weight / weight.sum())
        streets = 1 + extra
        communities = max(total, round(urban_share * villages))
        communities = min(communities, villages - (townships - total))
        if communities < total:
            streets[:] = 0
            communities = 0
    return _Plan(villages, townships, counties, streets, communities, float(np.sqrt(km2 / 20.0)))


# ---------------------------------------------------------------------------- units


def _county_codes(k: int) -> NDArray[np.int64]:
    """NBS-like 6-digit county codes: 150502 (the district), 150521, 150522, … per city."""
    index = np.arange(k)
    city, j = index // _COUNTIES_PER_CITY, index % _COUNTIES_PER_CITY
    return 150000 + (5 + city) * 100 + np.where(j == 0, 2, 20 + j)


def _townships(rng: np.random.Generator, plan: _Plan, region: shapely.Polygon) -> dict[str, Any]:
    """Township seeds, polygons, counties and codes; county seats are the first streets."""
    k, streets = plan.counties, plan.streets_per_county
    converted = k if plan.streets else 0
    seeds = geom.spread_points(rng, region, plan.townships - plan.streets + converted)
    seats = geom.kmeans_seats(rng, seeds, k)
    middle = np.asarray(region.centroid.coords[0])
    seats = seats[np.argsort(np.hypot(*(seeds[seats] - middle).T))]  # county 0 is central
    county = cKDTree(seeds[seats]).query(seeds)[1]
    street = np.zeros(len(seeds), dtype=bool)
    street[seats[:converted]] = True
    extra_county = np.repeat(np.arange(k), np.maximum(streets - 1, 0))
    extra = geom.sample_in(
        rng,
        np.array([region]),
        np.zeros(extra_county.size, dtype=np.int64),
        around=seeds[seats][extra_county],
        sigma=2500.0 * plan.scale,
    )
    xy = np.vstack([seeds, extra])
    county = np.r_[county, extra_county]
    street = np.r_[street, np.ones(extra.shape[0], dtype=bool)]
    dist = np.hypot(*(xy - seeds[seats][county]).T)
    order = np.lexsort((dist, ~street, county))
    xy, county, street = xy[order], county[order], street[order]
    group = county * 2 + ~street
    rank = np.arange(len(xy)) - np.searchsorted(group, group)
    if (street & (rank >= 99)).any() or (~street & (rank >= 300)).any():
        raise PlannerError("too many townships per county for 9-digit codes; ask for more counties")
    county_code = _county_codes(k)
    code = county_code[county] * 1000 + np.where(street, 1 + rank, 100 + rank)
    kind = np.where(np.arange(k) % _COUNTIES_PER_CITY == 0, "区", "")
    kind = np.where(kind == "", np.where(rng.random(k) < 0.6, "旗", "县"), kind)
    mongol = kind == "旗"
    rural_suffix = np.where(mongol[county], "苏木", np.where(kind[county] == "县", "乡", "镇"))
    suffix = np.where(street, "街道", np.where(rng.random(len(xy)) < 0.55, "镇", rural_suffix))
    county_stem = np.where(mongol, attrs.mongol_stems(rng, k), attrs.grand_stems(rng, k))
    polygon = geom.voronoi_in(xy, region)
    coords, index = shapely.get_coordinates(polygon, return_index=True)
    reach = np.zeros(len(xy))
    np.maximum.at(reach, index, np.hypot(*(coords - xy[index]).T))
    return {
        "xy": xy,
        "polygon": polygon,
        "reach": reach + 1.0,
        "county": county,
        "street": street,
        "suffix": suffix,
        "mongol": mongol[county],
        "id": code.astype(str),
        "county_id": county_code[county].astype(str),
        "county_name": np.char.add(county_stem, kind)[county],
        "county_codes": county_code.astype(str),
        "county_names": np.char.add(county_stem, kind),
        "county_seat": np.searchsorted(county, np.arange(k)),  # first township of each county
        "city_id": f"{county_code[0] // 100}00",
        "city_name": attrs.grand_stems(rng, 1)[0] + "市",
    }


def _villages(rng: np.random.Generator, plan: _Plan, town: dict[str, Any]) -> dict[str, Any]:
    """Village points (seat village first in each township), codes, names, population.

    Also names each township after its seat village (``town["name"]``).
    """
    street, m = town["street"], plan.townships
    count = np.ones(m, dtype=np.int64)
    area = shapely.area(town["polygon"])
    for mask, total, size in (
        (~street, plan.villages - plan.communities, area),  # rural: by land area
        (street, plan.communities, np.ones(m)),
    ):
        if mask.any():
            weight = size[mask] * np.exp(rng.normal(0.0, 0.35, mask.sum()))
            count[mask] += rng.multinomial(total - mask.sum(), weight / weight.sum())
    owner = np.repeat(np.arange(m), count)
    first = np.r_[0, np.cumsum(count)[:-1]]
    xy = town["xy"][owner].copy()
    urban = street[owner]
    other = np.ones(owner.size, dtype=bool)
    other[first] = False
    for mask, around in ((other & ~urban, None), (other & urban, town["xy"])):
        xy[mask] = geom.sample_in(
            rng,
            town["polygon"],
            owner[mask],
            around=None if around is None else around[owner[mask]],
            sigma=1200.0 * plan.scale,
        )
    order = np.lexsort((np.hypot(*(xy - town["xy"][owner]).T), owner))
    xy = xy[order]
    rank = np.arange(owner.size) - first[owner]
    if (urban & (rank >= 199)).any() or (~urban & (rank >= 799)).any():
        raise PlannerError(
            "too many villages per township for 12-digit codes (at most 799 villages or "
            "199 communities); ask for more townships"
        )
    code = town["id"][owner].astype(np.int64) * 1000 + np.where(urban, 1 + rank, 201 + rank)
    mongol = town["mongol"][owner] & ~urban & (rng.random(owner.size) < 0.5)
    stem = np.where(
        urban,
        attrs.urban_stems(rng, owner.size),
        np.where(mongol, attrs.mongol_stems(rng, owner.size), attrs.han_stems(rng, owner.size)),
    )
    suffix = np.where(urban, "社区", np.where(mongol, "嘎查", "村"))
    town["name"] = np.char.add(stem[first], town["suffix"])
    mean, sigma = np.where(urban, 5000.0, 900.0), np.where(urban, 0.5, 0.6)
    population = np.round(mean * np.exp(rng.normal(-(sigma**2) / 2, sigma)))
    population = np.maximum(population, 30.0)
    households = np.round(population / (2.6 * np.exp(rng.normal(0.0, 0.06, owner.size))))
    return {
        "xy": xy,
        "owner": owner,
        "first": first,
        "seat": ~other,
        "urban": urban,
        "stem": stem,
        "id": code.astype(str),
        "name": np.char.add(stem, suffix),
        "population": population,
        "households": households,
        "township_id": town["id"][owner],
        "county_id": town["county_id"][owner],
    }


def _merged(
    rng: np.random.Generator, vil: dict[str, Any], town: dict[str, Any], share: float
) -> dict[str, Any]:
    """Former seats of merged townships (villages far from the seat) and old areas."""
    owner, m = vil["owner"], len(town["xy"])
    eligible = ~town["street"] & (np.bincount(owner, minlength=m) >= 4)
    eligible[town["county_seat"]] = False
    chosen = np.zeros(m, dtype=bool)
    pool = np.flatnonzero(eligible)
    chosen[rng.choice(pool, min(pool.size, round(share * pool.size)), replace=False)] = True
    wanted = np.where(chosen, 1 + (rng.random(m) < 0.3), 0)
    dist = np.hypot(*(vil["xy"] - town["xy"][owner]).T)
    far = np.zeros(m)
    np.maximum.at(far, owner, dist)
    cand = np.flatnonzero(chosen[owner] & ~vil["seat"] & (dist >= 0.45 * far[owner]))
    cand = cand[np.lexsort((rng.random(cand.size), owner[cand]))]
    rank = np.arange(cand.size) - np.searchsorted(owner[cand], owner[cand])
    pick = cand[rank < wanted[owner[cand]]]
    t = owner[pick]
    county = town["county"][t]  # sorted, as townships are sorted by county
    seq = np.arange(pick.size) - np.searchsorted(county, county)
    if (seq >= 600).any():
        raise PlannerError("too many merged townships per county; ask for more counties")
    code = town["county_codes"][county].astype(np.int64) * 1000 + 400 + seq
    partner = _partner(t)
    size = 4 * town["reach"][t]
    # the old area: the part of the township nearer the former seat than the current
    # seat (and than the other former seat, when there are two)
    area = shapely.intersection(
        town["polygon"][t], geom.half_planes(vil["xy"][pick], town["xy"][t], size)
    )
    has = partner >= 0
    other = geom.half_planes(vil["xy"][pick][has], vil["xy"][pick][partner[has]], size[has])
    area[has] = shapely.intersection(area[has], other)
    suffix = np.where(town["mongol"][t], "苏木", "乡")
    return {
        "xy": vil["xy"][pick],
        "area": geom.polygonal(area),
        "village": pick,
        "id": code.astype(str),
        "name": np.char.add(vil["stem"][pick], suffix),
        "township_id": town["id"][t],
        "county_id": town["county_id"][t],
    }


def _partner(owner: NDArray[np.int64]) -> NDArray[np.int64]:
    """For rows grouped by ``owner`` (groups of one or two): the other row, else -1."""
    out = np.full(owner.size, -1)
    first = np.flatnonzero(owner[1:] == owner[:-1])
    out[first], out[first + 1] = first + 1, first
    return out


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
