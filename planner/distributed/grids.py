"""The grid step partitioned by county on Dask.

Grids never cross a village polygon and every village is gridded on its own, so the
grids of a county's villages are those of one run over all villages. A village and the
village area carrying its code go to the same county: the county of the township
polygon its point lies in, else the county of its ledger township, else the first six
digits of its code (areas without a village point: the first six digits of theirs).
When village areas are derived from the points (Voronoi cells per township), every
point of a township is in the township's county, and each task gets every township, so
the cells and the ledger checks are the same as in one piece.

The per-county results are put back in the order of one run: grids by the position of
their village area (then as numbered), the per-village table likewise, and ledger
villages that got no grid after all gridded ones, in ledger order. The totals
(:func:`planner.grids.attributes.grid_stats`) are computed once on the merged tables.

Known difference: a village point lying in the area of a village of another county is
noted without naming that area.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.catchment import county_of, unit_of
from planner.distributed.cluster import balanced_batches
from planner.errors import PlannerError
from planner.grids.attributes import grid_stats
from planner.grids.villages import clean_ids
from planner.layers import LayerSet
from planner.scenario import Scenario
from planner.steps import GridStep, build_grids

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

#: Tasks per worker thread for the grid step: small enough that the coverage tasks, which
#: go first (:data:`planner.distributed.coverage.PRIORITY`), wait for little of it.
GRID_TASKS_PER_THREAD = 8


@dataclass(frozen=True)
class _County:
    """One county's share of the grid step's layers (village areas ``None`` when derived),
    rows in the order of the whole layers."""

    code: str
    villages: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame | None


def village_counties(villages: gpd.GeoDataFrame, townships: gpd.GeoDataFrame | None) -> pd.Series:
    """County of each village: of the township polygon its point lies in, else of its
    ledger township (:func:`planner.catchment.county_of`)."""
    ledger = county_of(villages, townships)
    if townships is None or "county_id" not in townships.columns:
        return ledger
    lookup = townships.set_index("id")["county_id"].astype("string")
    lookup = lookup[~lookup.index.duplicated()]
    inside = unit_of(villages, townships).map(lookup).astype("string")
    return inside.fillna(ledger)


def _area_counties(
    areas: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, county: pd.Series
) -> pd.Series:
    """County of each village area: that of the village with its code, else its first
    six digits."""
    by_id = pd.Series(county.to_numpy(), index=clean_ids(villages["id"]).to_numpy())
    by_id = by_id[~by_id.index.duplicated()]
    ids = clean_ids(areas["id"]) if "id" in areas else pd.Series("", index=areas.index)
    return ids.map(by_id).astype("string").fillna(ids.str.slice(0, 6)).set_axis(areas.index)


def _counties(layers: LayerSet) -> list[_County]:
    villages = layers["villages"].drop(columns="_row")
    areas = layers.get("village_areas")
    county = village_counties(villages, layers.get("townships"))
    if areas is None:
        return [
            _County(str(code), part, None)
            for code, part in villages.groupby(county.to_numpy(), sort=True)
        ]
    areas = areas.drop(columns="_row")
    area_county = _area_counties(areas, villages, county)
    by_code = dict(iter(villages.groupby(county.to_numpy(), sort=True)))
    empty = villages.iloc[:0]
    return [
        _County(str(code), by_code.get(code, empty), part)
        for code, part in areas.groupby(area_county.to_numpy(), sort=True)
    ]


def _grid_county(
    county: _County, scenario: Scenario, crs: Any, townships: gpd.GeoDataFrame | None
) -> GridStep | PlannerError:
    frames = {"villages": county.villages.assign(_row=np.arange(len(county.villages)))}
    if county.areas is not None:
        frames["village_areas"] = county.areas.assign(_row=np.arange(len(county.areas)))
    if townships is not None:
        frames["townships"] = townships
    try:
        return build_grids(scenario, LayerSet(crs=crs, frames=frames, sources={}))
    except PlannerError as exc:  # e.g. no usable polygon in this county
        return exc


def _grid_batch(
    counties: list[_County], scenario: Scenario, crs: Any, townships: gpd.GeoDataFrame | None
) -> GridStep | PlannerError:
    """The task run on a worker: the grids of a few counties, in one call (villages are
    gridded one by one, so any union of counties is as exact as one county; one call
    keeps the generation vectorised over all of them)."""
    areas = [c.areas for c in counties if c.areas is not None]
    joined = _County(
        ",".join(c.code for c in counties),
        pd.concat([c.villages for c in counties]).sort_index(),
        pd.concat(areas).sort_index() if areas else None,
    )
    return _grid_county(joined, scenario, crs, townships)


def build_grids_dask(scenario: Scenario, layers: LayerSet, *, client: Client) -> GridStep:
    """:func:`planner.steps.build_grids` with the generation partitioned by county on Dask.

    The user's grid layer (checked, not generated), disabled grids and missing boundaries
    are handled in this process as by :func:`~planner.steps.build_grids`. Nothing is
    warned and no progress is shown, so this may run in a worker thread of the client.

    Returns
    -------
    GridStep
        The same grids, per-village table and totals as one run (see the module notes).
    """
    if (
        not scenario.grids.enabled
        or layers.get("grids") is not None
        or (layers.get("village_areas") is None and layers.get("townships") is None)
    ):
        return build_grids(scenario, layers)
    counties = _counties(layers)
    derived = layers.get("village_areas") is None
    townships = layers.get("townships") if derived else None
    threads = sum(client.nthreads().values()) or 1
    sizes = [len(c.areas) if c.areas is not None else len(c.villages) for c in counties]
    batches = balanced_batches(sizes, min(len(counties), GRID_TASKS_PER_THREAD * threads))
    logger.info(f"dask: grids of {len(counties):,} counties in {len(batches)} tasks")
    shared = client.scatter([scenario, townships], broadcast=True, hash=False)
    data = client.scatter([[counties[i] for i in batch] for batch in batches], hash=False)
    futures = client.map(
        _grid_batch,
        data,
        scenario=shared[0],
        crs=layers.crs,
        townships=shared[1],
        pure=False,
    )
    steps = client.gather(futures)
    return _merged([s for s in steps if isinstance(s, GridStep)], steps, layers)


def _merged(
    done: list[GridStep], steps: list[GridStep | PlannerError], layers: LayerSet
) -> GridStep:
    """One :class:`GridStep` in the order of a run over every village (module notes)."""
    if not done:
        raise next(s for s in steps if isinstance(s, PlannerError))
    areas = layers.get("village_areas")
    villages = layers["villages"]
    order = pd.Index(clean_ids((areas if areas is not None else villages)["id"]))
    order = order[~order.duplicated()]
    ledger = pd.Index(clean_ids(villages["id"]))
    ledger = ledger[~ledger.duplicated()]
    grids = pd.concat([s.grids for s in done if s.grids is not None], ignore_index=True)
    grids = grids.iloc[np.argsort(order.get_indexer(grids["village_id"]), kind="stable")]
    grids = gpd.GeoDataFrame(grids.reset_index(drop=True), crs=layers.crs)
    table = pd.concat([s.by_village for s in done if s.by_village is not None], ignore_index=True)
    gridded = table["grids"].to_numpy() > 0
    key = np.where(
        gridded,
        order.get_indexer(table["village_id"]),
        len(order) + ledger.get_indexer(table["village_id"]),
    )
    table = table.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)
    notes = list(dict.fromkeys(note for s in done for note in s.notes))
    first = done[0].stats
    stats = {
        "source": first["source"],
        "derived_village_areas": first["derived_village_areas"],
        **grid_stats(grids, table),
    }
    return GridStep(grids, None, table, stats, notes)
