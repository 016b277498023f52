"""Where the proposal step's sites come from: the existing centers serving a level (fixed
open, in groups that serve with one set of settings each), the former seats of merged
townships, the station candidates and the per-township minimums."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.catchment import centers_serving, township_of
from planner.errors import warn
from planner.scenario import LevelGroups, LevelSpec
from planner.siting.result import SitingResult

#: A merged-township seat with a sub-center within this distance already has one.
SEAT_MATCH_M = 500.0

#: Existing centers serving a level, in groups that serve with one set of settings each.
ServingGroups = list[tuple[gpd.GeoDataFrame, LevelSpec]]


def serving(centers: gpd.GeoDataFrame | None, groups: LevelGroups) -> ServingGroups:
    """The centers of each group of :func:`planner.scenario.serving_groups`."""
    return [
        (centers_serving(centers, levels).reset_index(drop=True), spec) for levels, spec in groups
    ]


def joined(groups: ServingGroups) -> gpd.GeoDataFrame:
    """The centers of every group, one group after the other (the fixed sites' order)."""
    frames = [frame for frame, _ in groups]
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def runs(
    groups: list[tuple[gpd.GeoDataFrame, LevelSpec]], crs: Any
) -> list[tuple[gpd.GeoSeries, LevelSpec]]:
    """Site points of consecutive groups with the same settings joined, so each run of
    sites needs one search."""
    out: list[tuple[list[Any], LevelSpec]] = []
    for frame, spec in groups:
        if out and out[-1][1] == spec:
            out[-1][0].append(frame.geometry.to_numpy())
        else:
            out.append(([frame.geometry.to_numpy()], spec))
    return [(gpd.GeoSeries(np.concatenate(parts), crs=crs), spec) for parts, spec in out]


def _points(frame: gpd.GeoDataFrame, geometry: Any) -> gpd.GeoDataFrame:
    """``id``, ``name`` and ``township_id`` (those present) of ``frame`` at ``geometry``,
    on a fresh index."""
    keep = [c for c in ("id", "name", "township_id") if c in frame.columns]
    return gpd.GeoDataFrame(
        frame[keep].reset_index(drop=True), geometry=geometry.to_numpy(), crs=frame.crs
    )


def open_seats(merged_townships: gpd.GeoDataFrame, existing: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Former seats of merged townships that have no sub-center yet."""
    seats = merged_townships
    subcenters = existing[existing["level"] == "subcenter"]
    if len(subcenters):
        near = shapely.STRtree(subcenters.geometry.values).query(
            seats.geometry.values, predicate="dwithin", distance=SEAT_MATCH_M
        )[0]
        seats = seats.drop(index=seats.index[np.unique(near)])
    return _points(seats, seats.geometry)


def candidate_points(
    kind: str,
    villages: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame | None,
    grids: gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    """Station candidates: villages, the user's candidate layer, or grid centroids."""
    if kind == "villages":
        return _points(villages, villages.geometry)
    if kind == "candidates":
        assert candidates is not None  # stations_blocked says why not
        return _points(candidates, candidates.geometry)
    assert grids is not None  # stations_blocked says why not
    return _points(grids, grids.geometry.representative_point())


def township_groups(
    existing: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    townships: gpd.GeoDataFrame | None,
    minimum: int,
) -> list[tuple[np.ndarray, int]]:
    """Per township: its existing stations (site positions ``0…``) and candidates (after
    the existing centers), with ``minimum`` as the count to reach (lowered, with a
    warning, where the township has fewer sites than that)."""
    stations = existing["level"].eq("station").to_numpy()
    units = pd.concat(
        [_township_of(existing, townships).where(stations), _township_of(candidates, townships)],
        ignore_index=True,
    )
    names = (
        townships["id"] if townships is not None else township_of(villages, None).dropna()
    ).astype("string")
    if names.empty:
        warn(
            "siting.stations: min_per_township not applied: no townships are known (no "
            "[layers.townships] and no township_id on villages)"
        )
        return []
    groups = _unit_groups(units.dropna(), sorted(set(names)), minimum)
    return [(sites, count) for sites, count in groups if count > 0]


def _unit_groups(known: pd.Series, units: list[str], minimum: int) -> list[tuple[np.ndarray, int]]:
    """The site positions of every unit, with the count each must reach (warning about
    the units that have fewer sites than ``minimum``)."""
    members = {
        unit: known.index.to_numpy()[pos] for unit, pos in known.groupby(known).indices.items()
    }
    groups, short = [], []
    for unit in units:
        sites = members.get(unit, np.empty(0, dtype=np.int64))
        if sites.size < minimum:
            short.append(f"{unit} ({sites.size})")
        groups.append((np.asarray(sites, dtype=np.int64), min(minimum, int(sites.size))))
    if short:
        warn(
            f"siting.stations: {len(short)} township(s) have fewer than {minimum} station(s) "
            f"and candidate(s) in all, so they keep what they have: {', '.join(short[:5])}"
            + (f" and {len(short) - 5} more" if len(short) > 5 else "")
        )
    return groups


def _township_of(points: gpd.GeoDataFrame, townships: gpd.GeoDataFrame | None) -> pd.Series:
    """Township code of each point: as stated, else the township polygon it lies in."""
    return township_of(points.reset_index(drop=True), townships)


def required_sites(result: SitingResult, groups: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """New sites of the solution that a group's minimum holds in place."""
    held = [
        sites[np.isin(sites, result.selected)]
        for sites, count in groups
        if np.isin(sites, result.selected).sum() <= count
    ]
    return np.concatenate(held) if held else np.empty(0, dtype=np.int64)
