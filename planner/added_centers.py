"""Coverage with centers added, from the coverage without them and that of the new ones.

Adding centers can only bring a village's nearest center closer, so the nearest center
with the additions is, per village, the nearer of its nearest existing center and its
nearest new one. :func:`add_centers` merges two level results that way instead of
measuring every center again: the "after" coverage of a plan then costs one search from
the proposed sites only.

Ties are settled as :func:`planner.catchment.level_coverage` settles them on the whole
set: the lower position in the centers frame that :func:`planner.catchment.centers_serving`
orders wins, so straight-line results equal those of measuring everything again.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.catchment import LevelResult, Nearest, centers_serving, combine_parts

#: Column marking the added centers while the combined frame is ordered.
_ADDED = "_added"


def add_centers(
    before: LevelResult,
    added: LevelResult,
    centers: gpd.GeoDataFrame | None,
    new: gpd.GeoDataFrame,
    serving: list[tuple[str, ...]],
) -> LevelResult:
    """One level's coverage by ``centers`` and ``new`` together.

    Parameters
    ----------
    before
        The level's coverage by ``centers`` alone.
    added
        The level's coverage by ``new`` alone (same groups of serving levels).
    centers, new
        The existing centers (``None`` when there are none) and the added ones, with
        ``id`` and ``level`` columns; ``new`` comes after ``centers`` in the combined
        order, as :func:`planner.siting.proposals.with_proposals` places proposals.
    serving
        The center levels of each group serving the level, as in
        :class:`planner.catchment.CoverageLevels` (one tuple per part of ``before``).

    Returns
    -------
    LevelResult
        What :func:`planner.catchment.level_coverage` (and
        :func:`planner.catchment.combine_parts` for several groups) gives on the
        combined centers.
    """
    combined = _combined(centers, new)
    parts = [
        _merge_part(old, extra, centers_serving(combined, group))
        for old, extra, group in zip(before.groups, added.groups, serving, strict=True)
    ]
    if len(parts) == 1:
        return parts[0]
    return combine_parts(before.level, before.spec, parts)


def _combined(centers: gpd.GeoDataFrame | None, new: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Existing then added centers in one frame, the added ones marked."""
    frames = [] if centers is None else [centers.assign(**{_ADDED: False})]
    frames.append(new.assign(**{_ADDED: True}))
    joined = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(joined, geometry=new.geometry.name, crs=new.crs)


def _merge_part(old: LevelResult, extra: LevelResult, ordered: gpd.GeoDataFrame) -> LevelResult:
    """Merge one group's results given the group's combined centers in serving order."""
    is_added = ordered[_ADDED].to_numpy(dtype=bool)
    old_pos, new_pos = np.flatnonzero(~is_added), np.flatnonzero(is_added)
    if len(old_pos) != len(old.centers) or len(new_pos) != len(extra.centers):
        raise ValueError("the results do not belong to these centers")
    a, b = old.nearest, extra.nearest
    none = np.iinfo(np.int64).max  # what index -1 (no center) picks below
    pos_a, pos_b = np.append(old_pos, none)[a.index], np.append(new_pos, none)[b.index]
    cost_a, cost_b = _cost(old), _cost(extra)
    take = (b.index >= 0) & ((cost_b < cost_a) | ((cost_b == cost_a) & (pos_b < pos_a)))
    nearest = Nearest(
        index=np.where(take, pos_b, np.where(a.index >= 0, pos_a, -1)),
        dist_m=np.where(take, b.dist_m, a.dist_m),
        time_s=np.where(take, b.time_s, a.time_s),
    )
    straight = None
    if old.straight_covered is not None and extra.straight_covered is not None:
        straight = old.straight_covered | extra.straight_covered
    return LevelResult(
        old.level,
        old.spec,
        ordered.drop(columns=_ADDED).reset_index(drop=True),
        nearest,
        old.covered | extra.covered,
        straight,
    )


def _cost(res: LevelResult) -> np.ndarray:
    """What the level's nearest center minimises, per village (inf where none)."""
    cost = res.nearest.time_s if res.spec.uses_time else res.nearest.dist_m
    return np.where(res.nearest.index >= 0, np.nan_to_num(cost, nan=np.inf), np.inf)
