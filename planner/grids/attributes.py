"""Grid attributes: households, population and workers apportioned to grids (largest
remainder, float64, exact whole numbers up to 2**53), per-village summary and run figures.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.grids.bisect import polsby_popper
from planner.grids.numbering import number_grids

_GRID_COLUMNS = [
    "id",
    "name",
    "village_id",
    "village_name",
    "seq",
    "urban",
    "households",
    "population",
    "workers",
    "area_m2",
    "compactness",
]


def assemble(table, geoms, vil, share, k, hh_target, wpg, lang) -> gpd.GeoDataFrame:
    """Build the grid layer: numbering, households, population, workers, shape figures."""
    single = np.flatnonzero(
        (shapely.get_type_id(geoms) == shapely.GeometryType.MULTIPOLYGON)
        & (shapely.get_num_geometries(geoms) == 1)
    )
    geoms = geoms.copy()
    geoms[single] = shapely.get_geometry(geoms[single], 0)
    raw = gpd.GeoDataFrame(
        {
            "village_id": table["id"].to_numpy()[vil],
            "village_name": table["name"].to_numpy()[vil],
            "urban": table["urban"].to_numpy()[vil],
            "_vil": vil,
            "_share": share,
        },
        geometry=geoms,
        crs=table.crs,
    )
    grids = number_grids(raw, lang=lang)
    vil, share = grids["_vil"].to_numpy(), grids["_share"].to_numpy()
    n = len(table)
    households = table["households"].to_numpy(float)
    population = table["population"].to_numpy(float)
    grids["households"] = _apportion_or_nan(share, vil, households)
    grids["population"] = _apportion_or_nan(share, vil, population)
    known = np.nan_to_num(households)
    total_workers = np.maximum(k, np.rint(wpg * known / hh_target))
    extra = _apportion(share, vil, total_workers - np.bincount(vil, minlength=n))
    grids["workers"] = _whole(1 + extra)
    grids["area_m2"] = shapely.area(grids.geometry.to_numpy())
    grids["compactness"] = polsby_popper(grids.geometry.to_numpy())
    return grids[[*_GRID_COLUMNS, "geometry"]]


def _apportion_or_nan(share: np.ndarray, group: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Whole numbers per item summing to each group's rounded total; NaN when unknown."""
    known = ~np.isnan(totals)
    out = _apportion(share, group, np.rint(np.nan_to_num(totals)))
    return np.where(known[group], out, np.nan)


def _whole(values: np.ndarray) -> np.ndarray:
    """Whole float64 numbers as int64 when every one fits exactly, else as they are."""
    return values.astype(np.int64) if (np.abs(values) < 2.0**53).all() else values


def _apportion(share: np.ndarray, group: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Largest-remainder split of whole, non-negative ``totals[g]`` over the items of
    group ``g``, in float64 (exact up to 2**53; beyond, within float precision and never
    negative)."""
    n = len(totals)
    norm = np.bincount(group, weights=share, minlength=n)
    count = np.bincount(group, minlength=n)
    frac = np.where(norm[group] > 0, share / np.where(norm > 0, norm, 1)[group], 1 / count[group])
    quota = frac * totals[group].astype(float)
    base = np.floor(quota + 1e-9)
    deficit = totals - np.bincount(group, weights=base, minlength=n)
    deficit = np.clip(np.rint(deficit), 0, count)
    order = np.lexsort((np.arange(len(group)), -(quota - base), group))
    start = np.searchsorted(group[order], np.arange(n))
    rank = np.arange(len(order)) - start[group[order]]
    base[order[rank < deficit[group[order]]]] += 1
    return base


def village_summary(grids: gpd.GeoDataFrame, table: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per-village grids, workers and balance, in the order of ``table``."""
    vil = pd.Index(table["id"]).get_indexer(grids["village_id"])
    n = len(table)
    count = np.bincount(vil, minlength=n)
    hh = grids["households"].to_numpy(float)
    top = np.full(n, -np.inf)
    low = np.full(n, np.inf)
    mean = np.bincount(vil, weights=hh, minlength=n) / count
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN: households unknown
        np.maximum.at(top, vil, hh)
        np.minimum.at(low, vil, hh)
        relative = hh / mean[vil] - 1  # scaled first: squares of huge counts overflow
        square = np.bincount(vil, weights=relative**2, minlength=n)
        ratio = np.where(low > 0, top / low, np.nan)
        spread = np.where(mean > 0, np.sqrt(square / np.maximum(count - 1, 1)), np.nan)
    return pd.DataFrame(
        {
            "village_id": table["id"].to_numpy(),
            "name": table["name"].to_numpy(),
            "urban": table["urban"].to_numpy(),
            "households": np.bincount(vil, weights=hh, minlength=n),
            "population": np.bincount(vil, weights=grids["population"], minlength=n),
            "grids": count,
            "workers": _whole(np.bincount(vil, weights=grids["workers"], minlength=n)),
            "balance_ratio": ratio,
            "spread": spread,
            "compactness": np.bincount(vil, weights=grids["compactness"], minlength=n) / count,
        }
    )


def grid_stats(grids: gpd.GeoDataFrame, villages: pd.DataFrame) -> dict[str, Any]:
    """Run totals and quality figures (see :attr:`GridResult.stats`)."""
    several = villages[villages["grids"] > 1]
    ratio = several["balance_ratio"]
    gridded = int((villages["grids"] > 0).sum())
    conflict = villages.get("township_conflict", pd.Series(dtype=bool)).fillna(False)
    outside = villages.get("outside_m", pd.Series(dtype=float)) > 0

    def _num(value: Any) -> float | None:
        return None if pd.isna(value) or not np.isfinite(value) else float(value)

    return {
        "villages": gridded,
        "villages_without_grids": len(villages) - gridded,
        "township_conflicts": int(conflict.astype(bool).sum()),
        "villages_off_their_polygon": int(outside.sum()),
        "grids": len(grids),
        "workers": int(grids["workers"].sum()),
        "households": _num(grids["households"].sum(min_count=1)),
        "grids_per_village": _num(len(grids) / max(gridded, 1)),
        "workers_per_grid": _num(grids["workers"].mean()),
        "balance_ratio_median": _num(ratio.median()),
        "balance_ratio_max": _num(ratio.max()),
        "spread_mean": _num(several["spread"].mean()),
        "compactness_mean": _num(grids["compactness"].mean()),
        "compactness_min": _num(grids["compactness"].min()),
        "multipart_grids": int((shapely.get_num_geometries(grids.geometry.to_numpy()) > 1).sum()),
    }
