"""Service centers and candidate sites of a synthetic region (:mod:`planner.synth`).

Every level gets centers with the attributes the standards check, and with the gaps an
audit should find: townships and villages without a center, township centers that stand
in the neighbouring township, merged-township seats without a sub-center.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from planner.synth import attrs


def build_centers(
    rng: np.random.Generator, vil: dict[str, Any], town: dict[str, Any], merged: dict[str, Any]
) -> gpd.GeoDataFrame:
    """Centers at every level, with gaps: some townships and villages have none, a few
    township centers stand outside their township, some merged seats lack a sub-center."""
    blocks = [
        *_city_and_county_blocks(rng, town),
        _township_block(rng, town),
        _subcenter_block(rng, merged),
        *_village_blocks(rng, vil, town),
        _station_block(rng, vil, town),
    ]
    table = pd.concat(blocks, ignore_index=True)
    points = gpd.points_from_xy(table.pop("x"), table.pop("y"))
    return gpd.GeoDataFrame(table, geometry=points)


def _city_and_county_blocks(rng: np.random.Generator, town: dict[str, Any]) -> list[pd.DataFrame]:
    """The city center at the central county seat, and one center per county seat."""
    seats, seat_xy = town["county_seat"], town["xy"]
    k = seats.size
    city = _block(
        rng,
        "city",
        "city",
        [f"city-{town['city_id']}"],
        [town["city_name"] + "党群服务中心"],
        seat_xy[seats[:1]],
        600.0,
        county_id=town["county_codes"][:1],
        urban=np.ones(1, dtype=bool),
        within=town["polygon"][seats[:1]],
    )
    county = _block(
        rng,
        "county",
        "county",
        np.char.add("county-", town["county_codes"]),
        np.char.add(town["county_names"], "党群服务中心"),
        seat_xy[seats],
        300.0,
        county_id=town["county_codes"],
        township_id=town["id"][seats],
        urban=np.ones(k, dtype=bool),
        within=town["polygon"][seats],
    )
    return [city, county]


def _township_block(rng: np.random.Generator, town: dict[str, Any]) -> pd.DataFrame:
    """Township centers (see :func:`_township_sites` for the gaps)."""
    keep, xy = _township_sites(rng, town)
    return _block(
        rng,
        "township",
        "township",
        np.char.add("township-", town["id"][keep]),
        np.char.add(town["name"][keep], "党群服务中心"),
        xy[keep],
        0.0,
        township_id=town["id"][keep],
        county_id=town["county_id"][keep],
        urban=town["street"][keep],
    )


def _subcenter_block(rng: np.random.Generator, merged: dict[str, Any]) -> pd.DataFrame:
    """Sub-centers at about half of the former seats of merged townships (at least one
    seat lacks one when there are two or more)."""
    f = len(merged["xy"])
    n_sub = 0 if f == 0 else 1 if f == 1 else min(f - 1, max(1, round(0.55 * f)))
    sub = np.sort(rng.choice(f, n_sub, replace=False))
    return _block(
        rng,
        "subcenter",
        "subcenter",
        np.char.add("subcenter-", merged["id"][sub]),
        np.char.add(merged["name"][sub], "党群服务分中心"),
        merged["xy"][sub],
        150.0,
        township_id=merged["township_id"][sub],
        county_id=merged["county_id"][sub],
        urban=np.zeros(n_sub, dtype=bool),
        within=merged["area"][sub],
    )


def _village_blocks(
    rng: np.random.Generator, vil: dict[str, Any], town: dict[str, Any]
) -> list[pd.DataFrame]:
    """Community and village centers; about 12 % of villages have none (at least one
    when there are ten villages or more)."""
    v = len(vil["xy"])
    missing = rng.random(v) < 0.12
    if v >= 10 and not missing.any():
        missing[rng.integers(v)] = True
    blocks = []
    for urban in (True, False):
        has = np.flatnonzero(~missing & (vil["urban"] == urban))
        blocks.append(
            _block(
                rng,
                "village",
                "community" if urban else "village",
                np.char.add("village-", vil["id"][has]),
                np.char.add(vil["name"][has], "党群服务中心"),
                vil["xy"][has],
                60.0,
                township_id=vil["township_id"][has],
                county_id=vil["county_id"][has],
                village_id=vil["id"][has],
                urban=np.full(has.size, urban),
                within=town["polygon"][vil["owner"][has]],
            )
        )
    return blocks


def _station_block(
    rng: np.random.Generator, vil: dict[str, Any], town: dict[str, Any]
) -> pd.DataFrame:
    """Service stations (驿站), about one per 110 villages, in communities and at
    township seats."""
    v = len(vil["xy"])
    weight = np.where(vil["urban"], 6.0, np.where(vil["seat"], 1.0, 0.0))
    n_st = min(max(1, round(v / 110)), int((weight > 0).sum()))
    host = np.sort(rng.choice(v, n_st, replace=False, p=weight / weight.sum()))
    return _block(
        rng,
        "station",
        "station",
        np.char.add("station-", vil["id"][host]),
        np.char.add(vil["name"][host], "党群服务驿站"),
        vil["xy"][host],
        300.0,
        township_id=vil["township_id"][host],
        county_id=vil["county_id"][host],
        village_id=vil["id"][host],
        urban=vil["urban"][host],
        within=town["polygon"][vil["owner"][host]],
    )


def _township_sites(
    rng: np.random.Generator, town: dict[str, Any]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Townships that get a center, and where each center stands: near the seat, but
    a few deliberately across the border in the neighbouring township."""
    seat_xy, polygon = town["xy"], town["polygon"]
    m = len(seat_xy)
    xy = seat_xy + rng.normal(0.0, 250.0, seat_xy.shape)
    inside = shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])
    xy[~inside] = seat_xy[~inside]
    pool = np.ones(m, dtype=bool)
    pool[town["county_seat"]] = False
    pool = rng.permutation(np.flatnonzero(pool & ~town["street"]))
    n_missing = max(1, round(0.04 * m)) if m >= 3 else 0
    n_outside = max(1, round(0.02 * m)) if m >= 5 else 0
    missing, outside = pool[:n_missing], pool[n_missing : n_missing + n_outside]
    if outside.size:
        neighbour = cKDTree(seat_xy).query(seat_xy[outside], k=2)[1][:, 1]
        xy[outside] = seat_xy[outside] + 0.6 * (seat_xy[neighbour] - seat_xy[outside])
    return np.setdiff1d(np.arange(m), missing), xy


def _jitter(
    rng: np.random.Generator,
    xy: NDArray[np.float64],
    scale: float,
    within: NDArray[np.object_] | None,
) -> NDArray[np.float64]:
    """Points moved randomly by about ``scale`` metres; those that would leave their
    polygon in ``within`` stay where they were."""
    pos = xy + rng.normal(0.0, 1.0, xy.shape) * scale
    if within is not None:
        out = ~shapely.contains_xy(within, pos[:, 0], pos[:, 1])
        pos[out] = xy[out]
    return pos


def _block(
    rng: np.random.Generator,
    level: str,
    profile: str,
    ids: Any,
    names: Any,
    xy: NDArray[np.float64],
    jitter: float,
    **columns: Any,
) -> pd.DataFrame:
    """Rows of one level of centers, placed within ``jitter`` metres of ``xy``."""
    n = len(ids)
    pos = _jitter(rng, xy, jitter, columns.pop("within", None))
    table = {"id": ids, "name": names, "level": np.full(n, level)}
    for col in ("township_id", "county_id", "village_id"):
        table[col] = columns.get(col, np.full(n, None, dtype=object))
    table |= attrs.center_attributes(rng, profile, n)
    table |= {"urban": columns["urban"], "x": pos[:, 0], "y": pos[:, 1]}
    return pd.DataFrame(table)


# ---------------------------------------------------------------------------- candidates

_CANDIDATE_KINDS = (
    ("school", "小学", 0.35, 1500.0),
    ("clinic", "卫生院", 0.2, 400.0),
    ("vacant", "闲置校舍", 0.25, 800.0),
    ("public_building", "村民活动中心", 0.2, 300.0),
)


def build_candidates(
    rng: np.random.Generator, vil: dict[str, Any], town: dict[str, Any], merged: dict[str, Any]
) -> gpd.GeoDataFrame:
    """Public buildings near villages that could host a new station or sub-center, and
    the old government buildings at the former seats of merged townships."""
    v = len(vil["xy"])
    n = min(v, max(3, round(0.08 * v)))
    host = np.sort(rng.choice(v, n, replace=False))
    kind_i = rng.choice(len(_CANDIDATE_KINDS), n, p=[k[2] for k in _CANDIDATE_KINDS])
    kinds, labels, _, sizes = (np.array(col) for col in zip(*_CANDIDATE_KINDS, strict=True))
    near = _jitter(rng, vil["xy"][host], 250.0, town["polygon"][vil["owner"][host]])
    f = len(merged["xy"])
    xy = np.vstack([near, _jitter(rng, merged["xy"], 120.0, merged["area"])])
    capacity = np.r_[sizes[kind_i].astype(float), np.full(f, 1200.0)]
    capacity = np.round(capacity * np.exp(rng.normal(0.0, 0.4, n + f)))
    return gpd.GeoDataFrame(
        {
            "id": attrs.numbered("cand-", np.arange(1, n + f + 1), 6),
            "name": np.r_[
                np.char.add(vil["name"][host], labels[kind_i]),
                np.char.add(merged["name"], "人民政府旧址"),
            ],
            "kind": np.r_[kinds[kind_i], np.full(f, "former_government")],
            "capacity": capacity,
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
    )
