"""Administrative units of a synthetic region (:mod:`planner.synth`): how many of each,
townships (streets 街道 around each county seat, towns and townships 镇/乡/苏木
elsewhere), villages and urban communities, and the former seats of merged townships.

Each builder returns a dict of numpy arrays (one row per unit) that the layer builders
turn into frames; codes follow the NBS pattern (6-digit counties, 9-digit townships,
12-digit villages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from planner.errors import PlannerError
from planner.synth import attrs, geom

_TOWNSHIPS_PER_COUNTY = 13  # Tongliao: 116 townships in 9 counties
_COUNTIES_PER_CITY = 80  # county codes 02 (the district) and 21..99 within one city code
_STREET_SHARE = 0.1  # share of townships that are urban streets (街道)


@dataclass(frozen=True)
class Counts:
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


def plan_counts(
    rng: np.random.Generator,
    villages: int,
    townships: int,
    counties: int | None,
    urban_share: float,
    km2: float,
) -> Counts:
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
    return Counts(villages, townships, counties, streets, communities, float(np.sqrt(km2 / 20.0)))


def _county_codes(k: int) -> NDArray[np.int64]:
    """NBS-like 6-digit county codes: 150502 (the district), 150521, 150522, … per city."""
    index = np.arange(k)
    city, j = index // _COUNTIES_PER_CITY, index % _COUNTIES_PER_CITY
    return 150000 + (5 + city) * 100 + np.where(j == 0, 2, 20 + j)


def build_townships(
    rng: np.random.Generator, counts: Counts, region: shapely.Polygon
) -> dict[str, Any]:
    """Township seeds, polygons, counties and codes; county seats are the first streets."""
    xy, county, street = _township_points(rng, counts, region)
    k = counts.counties
    county_code = _county_codes(k)
    code = county_code[county] * 1000 + _township_numbers(county, street)
    suffix, mongol, county_names = _township_names(rng, k, county, street)
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
        "county_name": county_names[county],
        "county_codes": county_code.astype(str),
        "county_names": county_names,
        "county_seat": np.searchsorted(county, np.arange(k)),  # first township of each county
        "city_id": f"{county_code[0] // 100}00",
        "city_name": attrs.grand_stems(rng, 1)[0] + "市",
    }


def _township_points(
    rng: np.random.Generator, counts: Counts, region: shapely.Polygon
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_]]:
    """Township seats, their county and whether they are streets, sorted by county, streets
    first, then by distance to the county seat."""
    k, streets = counts.counties, counts.streets_per_county
    converted = k if counts.streets else 0
    seeds = geom.spread_points(rng, region, counts.townships - counts.streets + converted)
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
        sigma=2500.0 * counts.scale,
    )
    xy = np.vstack([seeds, extra])
    county = np.r_[county, extra_county]
    street = np.r_[street, np.ones(extra.shape[0], dtype=bool)]
    dist = np.hypot(*(xy - seeds[seats][county]).T)
    order = np.lexsort((dist, ~street, county))
    return xy[order], county[order], street[order]


def _township_numbers(county: NDArray[np.int64], street: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Last three digits of township codes: streets 001…, towns and townships 100…"""
    group = county * 2 + ~street
    rank = np.arange(len(county)) - np.searchsorted(group, group)
    if (street & (rank >= 99)).any() or (~street & (rank >= 300)).any():
        raise PlannerError("too many townships per county for 9-digit codes; ask for more counties")
    return np.where(street, 1 + rank, 100 + rank)


def _township_names(
    rng: np.random.Generator, k: int, county: NDArray[np.int64], street: NDArray[np.bool_]
) -> tuple[NDArray[np.str_], NDArray[np.bool_], NDArray[np.str_]]:
    """Township name suffixes, which counties are Mongolian banners (旗), county names."""
    kind = np.where(np.arange(k) % _COUNTIES_PER_CITY == 0, "区", "")
    kind = np.where(kind == "", np.where(rng.random(k) < 0.6, "旗", "县"), kind)
    mongol = kind == "旗"
    rural_suffix = np.where(mongol[county], "苏木", np.where(kind[county] == "县", "乡", "镇"))
    suffix = np.where(street, "街道", np.where(rng.random(len(county)) < 0.55, "镇", rural_suffix))
    county_stem = np.where(mongol, attrs.mongol_stems(rng, k), attrs.grand_stems(rng, k))
    return suffix, mongol, np.char.add(county_stem, kind)


def build_villages(
    rng: np.random.Generator, counts: Counts, town: dict[str, Any]
) -> dict[str, Any]:
    """Village points (seat village first in each township), codes, names, population.

    Also names each township after its seat village (``town["name"]``).
    """
    count = _village_counts(rng, counts, town)
    owner = np.repeat(np.arange(counts.townships), count)
    first = np.r_[0, np.cumsum(count)[:-1]]
    urban = town["street"][owner]
    xy, seat = _village_points(rng, counts.scale, town, owner, first)
    code = town["id"][owner].astype(np.int64) * 1000 + _village_numbers(owner, first, urban)
    stem, name = _village_names(rng, town["mongol"][owner], urban)
    town["name"] = np.char.add(stem[first], town["suffix"])
    population, households = _village_people(rng, urban)
    return {
        "xy": xy,
        "owner": owner,
        "first": first,
        "seat": seat,
        "urban": urban,
        "stem": stem,
        "id": code.astype(str),
        "name": name,
        "population": population,
        "households": households,
        "township_id": town["id"][owner],
        "county_id": town["county_id"][owner],
    }


def _village_counts(
    rng: np.random.Generator, counts: Counts, town: dict[str, Any]
) -> NDArray[np.int64]:
    """Villages per township: rural ones by land area, urban communities per street."""
    street, m = town["street"], counts.townships
    count = np.ones(m, dtype=np.int64)
    area = shapely.area(town["polygon"])
    for mask, total, size in (
        (~street, counts.villages - counts.communities, area),  # rural: by land area
        (street, counts.communities, np.ones(m)),
    ):
        if mask.any():
            weight = size[mask] * np.exp(rng.normal(0.0, 0.35, mask.sum()))
            count[mask] += rng.multinomial(total - mask.sum(), weight / weight.sum())
    return count


def _village_points(
    rng: np.random.Generator,
    scale: float,
    town: dict[str, Any],
    owner: NDArray[np.int64],
    first: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Village points sorted by distance to their township seat, and which villages are
    seats: the seat village stands at the seat, communities gather around it, other
    villages are spread over the township."""
    xy = town["xy"][owner].copy()
    urban = town["street"][owner]
    other = np.ones(owner.size, dtype=bool)
    other[first] = False
    for mask, around in ((other & ~urban, None), (other & urban, town["xy"])):
        xy[mask] = geom.sample_in(
            rng,
            town["polygon"],
            owner[mask],
            around=None if around is None else around[owner[mask]],
            sigma=1200.0 * scale,
        )
    order = np.lexsort((np.hypot(*(xy - town["xy"][owner]).T), owner))
    return xy[order], ~other


def _village_numbers(
    owner: NDArray[np.int64], first: NDArray[np.int64], urban: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """Last three digits of village codes: communities 001…, villages 201…"""
    rank = np.arange(owner.size) - first[owner]
    if (urban & (rank >= 199)).any() or (~urban & (rank >= 799)).any():
        raise PlannerError(
            "too many villages per township for 12-digit codes (at most 799 villages or "
            "199 communities); ask for more townships"
        )
    return np.where(urban, 1 + rank, 201 + rank)


def _village_names(
    rng: np.random.Generator, mongol_township: NDArray[np.bool_], urban: NDArray[np.bool_]
) -> tuple[NDArray[np.str_], NDArray[np.str_]]:
    """Name stems and names: communities (社区), Mongolian gacha (嘎查) in about half the
    villages of banners, Han villages (村) elsewhere."""
    n = urban.size
    mongol = mongol_township & ~urban & (rng.random(n) < 0.5)
    stem = np.where(
        urban,
        attrs.urban_stems(rng, n),
        np.where(mongol, attrs.mongol_stems(rng, n), attrs.han_stems(rng, n)),
    )
    suffix = np.where(urban, "社区", np.where(mongol, "嘎查", "村"))
    return stem, np.char.add(stem, suffix)


def _village_people(
    rng: np.random.Generator, urban: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Log-normal population (communities larger) and households of about 2.6 people."""
    mean, sigma = np.where(urban, 5000.0, 900.0), np.where(urban, 0.5, 0.6)
    population = np.round(mean * np.exp(rng.normal(-(sigma**2) / 2, sigma)))
    population = np.maximum(population, 30.0)
    households = np.round(population / (2.6 * np.exp(rng.normal(0.0, 0.06, urban.size))))
    return population, households


def build_merged(
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
