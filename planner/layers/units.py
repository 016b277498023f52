"""Administrative units completed from the polygons, once all layers are in the working CRS.

Villages and centers get the township and county codes the input does not state
(:func:`fill_units`), and a scenario without a county layer gets one dissolved from its
townships' county codes (:func:`derive_counties`).
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from planner.catchment import unit_of


def fill_units(frames: dict[str, gpd.GeoDataFrame]) -> None:
    """Give villages and centers the ``township_id`` of the polygon they lie in, and the
    ``county_id`` of that township or else of the county polygon they lie in, where the
    input does not state them."""
    townships, counties = frames.get("townships"), frames.get("counties")
    county_of_township = (
        townships.set_index(townships["id"].astype("string"))["county_id"]
        if townships is not None and "county_id" in townships
        else None
    )
    for kind in ("villages", "centers"):
        frame = frames.get(kind)
        if frame is None:
            continue
        if townships is not None:
            frame["township_id"] = _filled(frame, _stated(frame, "township_id"), townships)
        if county_of_township is None and counties is None:
            continue
        county = _stated(frame, "county_id")
        if county_of_township is not None:
            county = county.fillna(frame["township_id"].map(county_of_township).astype("string"))
        if counties is not None:
            county = _filled(frame, county, counties)
        frame["county_id"] = county


def _filled(frame: gpd.GeoDataFrame, codes: pd.Series, units: gpd.GeoDataFrame) -> pd.Series:
    """``codes`` with the missing ones taken from the unit polygon the feature lies in
    (only the features without a code are located)."""
    missing = codes.isna().to_numpy()
    if not missing.any():
        return codes
    return codes.fillna(unit_of(frame[missing], units))


def _stated(frame: gpd.GeoDataFrame, column: str) -> pd.Series:
    """The codes a layer states in ``column`` (all missing when it has no such column)."""
    if column in frame.columns:
        return frame[column].astype("string")
    return pd.Series(pd.NA, index=frame.index, dtype="string")


def derive_counties(frames: dict[str, gpd.GeoDataFrame]) -> None:
    """Add a ``counties`` layer dissolved from the townships by their ``county_id`` (named
    by the first ``county_name``) when the scenario gives none."""
    townships = frames.get("townships")
    if "counties" in frames or townships is None or "county_id" not in townships.columns:
        return
    known = townships[townships["county_id"].notna()]
    if known.empty:
        return
    columns = ["county_id", "geometry"] + (["county_name"] if "county_name" in known else [])
    counties = known[columns].dissolve(by="county_id", as_index=False, aggfunc="first")
    counties = counties.rename(columns={"county_id": "id", "county_name": "name"})
    keep = [c for c in ("id", "name") if c in counties.columns]
    frames["counties"] = counties[[*keep, "geometry"]]
