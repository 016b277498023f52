"""Village polygons derived from village points: Voronoi cells clipped to the township
polygon each point lies in."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.grids.locate import label, locate_villages, summarise_notes
from planner.grids.villages import require_metric


def derive_village_areas(
    villages: gpd.GeoDataFrame, townships: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Village polygons from village points: Voronoi cells clipped to the township polygon
    each point lies in.

    Each township is split among the villages whose points lie in it, whatever their
    ``township_id`` says: a village's cell always holds its point, so its grids never lie
    away from it. Villages whose ledger township differs from that polygon, and villages
    whose point lies in no township (they get no area), are named with a fix. Cells are
    approximations of the real boundaries and should be labelled as such.

    Parameters
    ----------
    villages
        Village points (``id``; optional ``name``, ``township_id``), metric CRS.
    townships
        Township polygons (``id``; optional ``name``), same CRS.

    Returns
    -------
    GeoDataFrame
        The village attributes with polygon geometry, plus ``derived`` = True. Notes on
        conflicts and skipped villages are in ``.attrs["warnings"]``.
    """
    require_metric(villages, "villages")
    require_metric(townships, "townships")
    located = locate_villages(villages, townships)
    areas, notes = derive(villages, townships, located)
    areas.attrs["warnings"] = notes
    return areas


def derive(
    villages: gpd.GeoDataFrame, townships: gpd.GeoDataFrame, located: pd.DataFrame
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Voronoi cells of the points of each township, clipped to it (see
    :func:`derive_village_areas`); ``located`` gains notes for villages left without."""
    if not townships.crs.equals(villages.crs):
        townships = townships.to_crs(villages.crs)
    t_geom = shapely.make_valid(townships.geometry.to_numpy())
    points = shapely.get_coordinates(
        shapely.point_on_surface(villages.geometry.to_numpy()), return_index=True
    )
    xy = np.full((len(villages), 2), np.nan)
    xy[points[1]] = points[0]
    cells, twin = _cells(xy, located["town"].to_numpy(), t_geom)
    _note_twins(located, twin, cells)
    conflicts = located["note"][located["conflict"]].tolist()
    lost = located["note"][pd.isna(cells) & (located["note"] != "")].tolist()
    notes = summarise_notes(conflicts, "township conflicts") + summarise_notes(
        lost, "villages without grids"
    )
    ok = ~pd.isna(cells)
    out = gpd.GeoDataFrame(
        villages.drop(columns=villages.geometry.name)[ok].reset_index(drop=True),
        geometry=list(cells[ok]),
        crs=villages.crs,
    )
    out["derived"] = True
    return out, notes


def _cells(xy: np.ndarray, town: np.ndarray, t_geom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi cell of each point clipped to its township (``None`` for points in no
    township and for repeats of an earlier point of the same township), and the first
    village at each point's location (-1 for points in no township)."""
    cells = np.array([None] * len(xy), dtype=object)
    twin = np.full(len(xy), -1)
    for t in np.unique(town[town >= 0]):
        members = np.flatnonzero(town == t)
        _, keep, inverse = np.unique(xy[members], axis=0, return_index=True, return_inverse=True)
        twin[members] = members[keep[inverse.ravel()]]
        keep = np.sort(keep)
        if len(keep) == 1:
            cells[members[keep]] = t_geom[t]
        else:
            diagram = shapely.voronoi_polygons(
                shapely.multipoints(xy[members[keep]]), extend_to=t_geom[t], ordered=True
            )
            cells[members[keep]] = shapely.intersection(shapely.get_parts(diagram), t_geom[t])
    return cells, twin


def _note_twins(located: pd.DataFrame, twin: np.ndarray, cells: np.ndarray) -> None:
    """Note villages sharing their point with an earlier village of the same township."""
    col = located.columns.get_loc("note")
    assert isinstance(col, int)  # one column named "note"
    for i in np.flatnonzero(pd.isna(cells) & (twin >= 0)).tolist():
        first = located.iloc[twin[i]]
        located.iloc[i, col] = (
            f"village {label(located['village_id'].iloc[i], located['village_name'].iloc[i])}"
            f": same location as village {label(first['village_id'], first['village_name'])}"
            ": no area, no grids drawn; give it its own coordinates or a village area"
        )
