"""Each worker writes its county's share of the large files.

Layout under the output folder (``<code>`` is the county code)::

    parts/villages/county=<code>/part.parquet   villages with every coverage column
    parts/grids/county=<code>/part.parquet      generated grids (when there are any)
    parts/counties/<code>.gpkg                  layers ``villages`` and ``grids``

The two GeoParquet datasets are hive-partitioned (``county`` comes from the folder
name). They are written into ``parts.staging`` and swapped in at the end, so a failed
run leaves the previous ``parts`` as it was. Rows keep the order of the whole frames.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.distributed.cluster import balanced_batches, dask_client
from planner.distributed.grids import village_counties
from planner.progress import progress

if TYPE_CHECKING:
    from distributed import Client

    from planner.plan import Plan

logger = logging.getLogger(__name__)

#: The frames written per county, by name
PART_LAYERS = ("villages", "grids")


def write_county(code: str, frames: dict[str, gpd.GeoDataFrame], folder: str) -> dict[str, int]:
    """Write one county's frames into ``folder`` (see the module notes); rows per frame."""
    root = Path(folder)
    gpkg = root / "counties" / f"{code}.gpkg"
    gpkg.parent.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, frame in frames.items():
        target = root / name / f"county={code}" / "part.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target, index=False)
        frame.to_file(gpkg, layer=name, driver="GPKG", engine="pyogrio")
        counts[name] = len(frame)
    return counts


def _write_batch(
    batch: list[tuple[str, dict[str, gpd.GeoDataFrame]]], folder: str
) -> dict[str, dict[str, int]]:
    """The task run on a worker: a few counties, one after the other."""
    return {code: write_county(code, frames, folder) for code, frames in batch}


def _shares(frame: gpd.GeoDataFrame, county: np.ndarray, crs: Any) -> dict[str, gpd.GeoDataFrame]:
    out = frame.to_crs(crs) if crs is not None else frame
    return {str(code): part for code, part in out.groupby(county, sort=True)}


def write_parts(
    plan: Plan,
    out_dir: str | os.PathLike[str],
    *,
    client: Client | None = None,
    scheduler: str | None = None,
) -> dict[str, Any]:
    """Write the per-county GeoParquet datasets and GeoPackages of ``plan`` on the workers.

    Villages go to their county (:func:`planner.distributed.grids.village_counties`),
    grids to the county of their village. Geometries are in the scenario's output CRS.
    Without ``client``, one is made from ``scheduler`` (or a local cluster) for this call.

    Returns
    -------
    dict
        ``{"counties": n, "rows": {layer: rows}}`` and per county the rows of each layer
        (``"by_county"``): all the client keeps.
    """
    if client is None:
        with dask_client(scheduler) as own:
            return write_parts(plan, out_dir, client=own)
    layers = plan.layers
    county = village_counties(plan.villages, layers.get("townships")).to_numpy()
    crs = plan.scenario.outputs.crs or None
    shares: dict[str, dict[str, gpd.GeoDataFrame]] = {}
    for code, part in _shares(plan.villages, county, crs).items():
        shares.setdefault(code, {})["villages"] = part
    if plan.grids is not None and not plan.grids.empty:
        by_id = pd.Series(county, index=plan.villages["id"].astype(str).to_numpy())
        by_id = by_id[~by_id.index.duplicated()]
        ids = plan.grids["village_id"].astype(str)
        grid_county = ids.map(by_id).fillna(ids.str.slice(0, 6)).to_numpy()
        for code, part in _shares(plan.grids, grid_county, crs).items():
            shares.setdefault(code, {})["grids"] = part
    final = Path(out_dir) / "parts"
    staging = Path(out_dir) / "parts.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    codes = sorted(shares)
    threads = sum(client.nthreads().values()) or 1
    sizes = [sum(len(f) for f in shares[c].values()) for c in codes]
    batches = [
        [(codes[i], shares[codes[i]]) for i in batch]
        for batch in balanced_batches(sizes, min(len(codes), 2 * threads))
    ]
    futures = client.map(
        _write_batch, client.scatter(batches, hash=False), folder=str(staging), pure=False
    )
    by_county: dict[str, dict[str, int]] = {}
    for future in progress(futures, total=len(futures), desc="parts (dask)"):
        by_county.update(future.result())
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    rows = {name: sum(c.get(name, 0) for c in by_county.values()) for name in PART_LAYERS}
    logger.info(f"dask: {len(by_county):,} county parts written to {final}")
    return {"counties": len(by_county), "rows": rows, "by_county": dict(sorted(by_county.items()))}
