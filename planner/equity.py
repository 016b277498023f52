"""Equity: how far the worst-served residents live from their nearest center, per unit.

The distance is the one the coverage step recorded per village and level (the nearest
center's, by straight line or along roads, as the level is measured); nothing is measured
again. A village is **unreached** where that distance is unknown: no center of the level,
or (for levels measured along roads) beyond the road search, which stops at twice the
radius. Unreached villages count as farther than every reached one: a percentile or
maximum that falls on one is reported missing, and ``villages_unreached`` says how many.

Percentiles per unit (township, county) and level:

- ``p50_m``, ``p90_m``, ``max_m``: over villages, each village counting once (linear
  interpolation between order statistics, as :func:`numpy.percentile`);
- ``pop_p50_m``, ``pop_p90_m``: population-weighted, the smallest distance within which
  at least that share of the unit's residents live (inverted CDF; missing for a unit
  nobody lives in).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.catchment import LevelResult

__all__ = [
    "EQUITY_COLUMNS",
    "PERCENTILES",
    "WORST_COLUMNS",
    "WORST_DEFAULT",
    "distance_percentiles",
    "equity_by_unit",
    "equity_summary",
    "worst_served",
]

#: Percentiles reported per unit (besides the maximum).
PERCENTILES: tuple[int, ...] = (50, 90)
#: Worst-served villages listed per level by default (``[equity] worst``).
WORST_DEFAULT = 20
#: Statistic columns of :func:`equity_by_unit` after ``level`` and the unit's id.
EQUITY_COLUMNS: tuple[str, ...] = (
    "villages", "population", "villages_unreached", "p50_m", "p90_m", "max_m",
    "pop_p50_m", "pop_p90_m",
)  # fmt: skip
#: Columns of :func:`worst_served` (with the villages' geometry).
WORST_COLUMNS: tuple[str, ...] = (
    "level", "rank", "id", "name", "population", "township_id", "county_id", "center_id",
    "dist_m", "radius_m", "covered", "unreached",
)  # fmt: skip


def _linear(values: np.ndarray, start: np.ndarray, size: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolation percentile ``q`` of each sorted group (``inf`` stays ``inf``)."""
    h = (size - 1) * q / 100.0
    lo = np.floor(h).astype(np.int64)
    frac = h - lo
    hi = np.minimum(lo + 1, size - 1)
    a, b = values[start + lo], values[start + hi]
    with np.errstate(invalid="ignore"):
        mixed = a + (b - a) * frac
    return np.where(frac == 0, a, np.where(np.isinf(b), np.inf, mixed))


def _weighted(
    values: np.ndarray,
    weights: np.ndarray,
    start: np.ndarray,
    size: np.ndarray,
    q: float,
) -> np.ndarray:
    """Inverted-CDF weighted percentile ``q`` of each sorted group (NaN without weight)."""
    cum = np.cumsum(weights)
    before = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
    total = cum[start + size - 1] - before
    at = np.searchsorted(cum, before + q / 100.0 * total, side="left")
    at = np.clip(at, start, start + size - 1)
    return np.where(total > 0, values[at], np.nan)


def distance_percentiles(
    dist: np.ndarray, population: np.ndarray, groups: np.ndarray
) -> pd.DataFrame:
    """:data:`EQUITY_COLUMNS` per group code (``0 … groups.max()``), from distances
    (NaN = unreached), populations (NaN = 0) and integer group codes, all aligned."""
    d = np.where(np.isnan(dist), np.inf, np.asarray(dist, dtype=float))
    w = np.nan_to_num(np.asarray(population, dtype=float))
    order = np.lexsort((d, groups))
    d, w, g = d[order], w[order], groups[order]
    size = np.bincount(g)
    present = np.flatnonzero(size)
    size = size[present]
    start = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
    stats: dict[str, Any] = {
        "villages": size,
        "population": np.bincount(g, weights=w)[present],
        "villages_unreached": np.bincount(g, weights=np.isinf(d))[present].astype(np.int64),
    }
    for q in PERCENTILES:
        stats[f"p{q}_m"] = _linear(d, start, size, q)
    stats["max_m"] = d[start + size - 1]
    for q in PERCENTILES:
        stats[f"pop_p{q}_m"] = _weighted(d, w, start, size, q)
    table = pd.DataFrame(stats, index=present)
    distance = [c for c in EQUITY_COLUMNS if c.endswith("_m")]
    table[distance] = table[distance].replace(np.inf, np.nan).round(1)
    return table


def equity_by_unit(
    levels: Mapping[str, LevelResult], population: np.ndarray, units: pd.Series, unit: str
) -> pd.DataFrame:
    """Distance percentiles per unit and level: ``level``, ``<unit>_id`` and
    :data:`EQUITY_COLUMNS`, levels in the order given, units sorted by code.

    ``units`` holds each village's unit code (aligned on the villages of ``levels``);
    villages of no unit form one group with a missing code."""
    key = f"{unit}_id"
    codes, uniques = pd.factorize(pd.Series(units).astype("string"), use_na_sentinel=False)
    parts = []
    for level, res in levels.items():
        stats = distance_percentiles(res.nearest.dist_m, population, codes)
        codes_of = np.asarray(uniques, dtype=object)[stats.index]
        stats.insert(0, key, pd.Series(codes_of, index=stats.index, dtype="string"))
        stats.insert(0, "level", level)
        parts.append(stats.sort_values(key, kind="stable", na_position="last"))
    if not parts:
        return pd.DataFrame({c: [] for c in ("level", key, *EQUITY_COLUMNS)})
    return pd.concat(parts, ignore_index=True)


def worst_served(
    villages: gpd.GeoDataFrame,
    levels: Mapping[str, LevelResult],
    *,
    n: int = WORST_DEFAULT,
    county: pd.Series | None = None,
) -> gpd.GeoDataFrame:
    """The ``n`` villages farthest from their nearest center, per level.

    Unreached villages come first, then the farthest; ties go to the more populous, then to
    the earlier village. ``rank`` counts from 1 per level. Columns :data:`WORST_COLUMNS`
    (``name``, ``population``, ``township_id`` missing where the villages lack them;
    ``county_id`` from ``county``, aligned on ``villages``), with the villages' geometry.
    """
    parts = []
    pop = _column(villages, "population", float).fillna(0).to_numpy()
    for level, res in levels.items():
        d = np.where(np.isnan(res.nearest.dist_m), np.inf, res.nearest.dist_m)
        pick = np.lexsort((np.arange(len(d)), -pop, -d))[:n]
        rows = villages.iloc[pick]
        part = pd.DataFrame(
            {
                "level": level,
                "rank": np.arange(1, len(pick) + 1),
                "id": rows["id"].astype("string").to_numpy(),
                "name": _column(rows, "name", "string").to_numpy(),
                "population": _column(rows, "population", float).to_numpy(),
                "township_id": _column(rows, "township_id", "string").to_numpy(),
                "county_id": (
                    county.iloc[pick].astype("string").to_numpy()
                    if county is not None
                    else pd.array([pd.NA] * len(pick), dtype="string")
                ),
                "center_id": res.center_ids.to_numpy()[pick],
                "dist_m": np.round(res.nearest.dist_m[pick], 1),
                "radius_m": res.village_radius_m()[pick],
                "covered": res.covered[pick],
                "unreached": np.isinf(d[pick]),
            }
        )
        parts.append(gpd.GeoDataFrame(part, geometry=rows.geometry.to_numpy(), crs=villages.crs))
    if not parts:
        empty = {c: pd.Series(dtype="string") for c in WORST_COLUMNS}
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=villages.crs))
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=villages.crs)


def _column(frame: pd.DataFrame, name: str, dtype: Any) -> pd.Series:
    if name in frame.columns:
        return frame[name].astype(dtype)
    return pd.Series(np.nan if dtype is float else pd.NA, index=frame.index, dtype=dtype)


def equity_summary(
    levels: Mapping[str, LevelResult], population: np.ndarray, *, worst: int
) -> dict[str, Any]:
    """``summary.json`` ``equity``: per level, the region's percentiles
    (:data:`EQUITY_COLUMNS`), and ``worst``, the villages listed per level."""
    one = np.zeros(len(population), dtype=np.int64)
    out: dict[str, Any] = {"worst": worst, "levels": {}}
    for level, res in levels.items():
        if not len(one):
            continue
        row = distance_percentiles(res.nearest.dist_m, population, one).iloc[0]
        out["levels"][level] = {
            c: (None if pd.isna(row[c]) else float(row[c])) for c in EQUITY_COLUMNS
        }
        out["levels"][level]["villages"] = int(row["villages"])
        out["levels"][level]["villages_unreached"] = int(row["villages_unreached"])
    return out
