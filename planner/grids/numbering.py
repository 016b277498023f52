"""Grid numbering (编号管理): 15-digit codes and names in reading order per village.

Grid code = 12-digit village code + 3-digit sequence. The sequence follows reading order
inside the village: rows of height √(village area / grids) from the north, each row west
to east, by grid centroid. Deterministic: re-running on the same input gives the same
codes.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from planner.errors import PlannerError
from planner.grids.villages import clean_ids

MAX_GRIDS_PER_VILLAGE = 999  # three-digit sequence


def number_grids(
    grids: gpd.GeoDataFrame,
    *,
    village_names: Mapping[str, str] | None = None,
    lang: str = "zh",
) -> gpd.GeoDataFrame:
    """Give grids their sequence, 15-digit code and name, in reading order per village.

    Parameters
    ----------
    grids
        Grid polygons with ``village_id`` (metric CRS).
    village_names
        Village id → name; by default the ``village_name`` column, else the id.
    lang
        ``"zh"`` gives ``"<village>第3网格"``, ``"en"`` gives ``"<village> grid 3"``.

    Returns
    -------
    GeoDataFrame
        A copy sorted by the new ``id`` with ``seq``, ``id`` and ``name`` (re)set.
    """
    if lang not in ("zh", "en"):
        raise PlannerError(f"lang must be 'zh' or 'en', got {lang!r}")
    out = grids.copy()
    vid = clean_ids(out["village_id"]).to_numpy()
    seq = _reading_order(vid, out.geometry.to_numpy())
    if seq.size and seq.max() > MAX_GRIDS_PER_VILLAGE:
        raise PlannerError(
            f"a village has {seq.max()} grids; codes allow at most {MAX_GRIDS_PER_VILLAGE}"
        )
    names = _village_names(out, vid, village_names)
    codes, labels = _codes_and_names(vid, names, seq, lang)
    out["village_id"] = vid
    out["seq"] = seq
    out["id"] = pd.array(codes, dtype="str")
    out["name"] = pd.array(labels, dtype="str")
    return out.iloc[pc.sort_indices(codes).to_numpy()].reset_index(drop=True)


def _codes_and_names(vid: np.ndarray, names: np.ndarray, seq: np.ndarray, lang: str):
    """Grid codes (village code + 3-digit sequence) and names, as Arrow strings.

    Codes are unique (a longer village code makes a longer grid code), so sorting them
    needs no tie rule.
    """
    text = pa.large_string()
    at = pa.array(seq)
    padded = pa.array([f"{i:03d}" for i in range(MAX_GRIDS_PER_VILLAGE + 1)], type=text)
    plain = pa.array([str(i) for i in range(MAX_GRIDS_PER_VILLAGE + 1)], type=text)
    middle, end = ("第", "网格") if lang == "zh" else (" grid ", "")
    codes = pc.binary_join_element_wise(
        pa.array(vid, type=text), padded.take(at), pa.scalar("", text)
    )
    labels = pc.binary_join_element_wise(
        pa.array(names, type=text),
        pa.scalar(middle, text),
        plain.take(at),
        pa.scalar(end, text),
        pa.scalar("", text),
    )
    return codes, labels


def _reading_order(vid: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    """Sequence (from 1) of each grid within its village: rows from the north, each row
    west to east, by centroid; rows are √(village area / grids) high."""
    codes, village = np.unique(vid, return_inverse=True)
    center = shapely.get_coordinates(shapely.centroid(geoms))
    area = np.bincount(village, weights=shapely.area(geoms), minlength=len(codes))
    count = np.bincount(village, minlength=len(codes))
    top = np.full(len(codes), -np.inf)
    np.maximum.at(top, village, shapely.bounds(geoms)[:, 3])
    row_height = np.sqrt(area / count)[village]
    row = np.floor((top[village] - center[:, 1]) / np.where(row_height > 0, row_height, 1))
    order = np.lexsort((center[:, 0], row, village))
    seq = np.empty(len(vid), dtype=np.int64)
    start = np.searchsorted(village[order], np.arange(len(codes)))
    seq[order] = np.arange(len(vid)) - start[village[order]] + 1
    return seq


def _village_names(
    grids: gpd.GeoDataFrame, vid: np.ndarray, village_names: Mapping[str, str] | None
) -> np.ndarray:
    """Village name of each grid: from ``village_names``, else the ``village_name``
    column; the village code where neither has one."""
    if village_names is None:
        given = (
            grids["village_name"] if "village_name" in grids else pd.Series("", index=grids.index)
        )
        names = clean_ids(given).to_numpy()
    else:
        names = np.array([str(village_names.get(v, "")) for v in vid], dtype=object)
    return np.where(names == "", vid, names)
