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
    """Write one county's frames into ``folder`` (see the module notes); rows per frame.
    GeoPackage layers go through GDAL's Arrow interface when that gives the same layer
    (as :mod:`planner.outputs.vector` decides)."""
    from planner.outputs.vector import arrow_safe

    root = Path(folder)
    gpkg = root / "counties" / f"{code}.gpkg"
    gpkg.parent.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, frame in frames.items():
        target = root / name / f"county={code}" / "part.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target, index=False)
        arrow = arrow_safe(frame)
        frame.to_file(gpkg, layer=name, driver="GPKG", engine="pyogrio", use_arrow=arrow)
        counts[name] = len(frame)
    return counts


#: Rows of one layer for one task: the rows of a few counties, in the order of the whole
#: layer, and the county of each
Share = tuple[gpd.GeoDataFrame, np.ndarray]


def _write_batch(shares: dict[str, Share], crs: Any, folder: str) -> dict[str, dict[str, int]]:
    """The task run on a worker: split the rows it got by county (as one ``groupby`` over
    the whole layer would) and write each county, one after the other."""
    counties: dict[str, dict[str, gpd.GeoDataFrame]] = {}
    for name in PART_LAYERS:
        if name not in shares:
            continue
        frame, county = shares[name]
        out = frame.to_crs(crs) if crs is not None else frame
        for code, part in out.groupby(county, sort=True):
            counties.setdefault(str(code), {})[name] = part
    return {code: write_county(code, counties[code], folder) for code in sorted(counties)}


def _positions(county: np.ndarray) -> dict[str, np.ndarray]:
    """Row positions of each county (rows without one are left out, as by ``groupby``)."""
    groups = pd.Series(np.arange(len(county))).groupby(county, sort=True).indices
    return {str(code): np.asarray(pos) for code, pos in groups.items()}


def _layers(plan: Plan) -> dict[str, tuple[gpd.GeoDataFrame, np.ndarray]]:
    """The frames written per county, with the county of each row: villages go to their
    county, grids to the county of their village (else the first six digits of its id)."""
    county = village_counties(plan.villages, plan.layers.get("townships")).to_numpy()
    layers = {"villages": (plan.villages, county)}
    if plan.grids is not None and not plan.grids.empty:
        by_id = pd.Series(county, index=plan.villages["id"].astype(str).to_numpy())
        by_id = by_id[~by_id.index.duplicated()]
        ids = plan.grids["village_id"].astype(str)
        layers["grids"] = (plan.grids, ids.map(by_id).fillna(ids.str.slice(0, 6)).to_numpy())
    return layers


def _batches(
    layers: dict[str, tuple[gpd.GeoDataFrame, np.ndarray]], n: int
) -> list[dict[str, Share]]:
    """At most ``n`` tasks of about equal rows, each a few whole counties of every layer."""
    where = {name: _positions(county) for name, (_, county) in layers.items()}
    codes = sorted(set().union(*where.values()))
    sizes = [sum(len(w.get(c, ())) for w in where.values()) for c in codes]
    batches = []
    for batch in balanced_batches(sizes, min(len(codes), n)):
        shares = {}
        for name, (frame, county) in layers.items():
            found = [where[name][codes[i]] for i in batch if codes[i] in where[name]]
            if found:
                pos = np.sort(np.concatenate(found))
                shares[name] = (frame.iloc[pos], county[pos])
        batches.append(shares)
    return batches


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
    Each task gets the rows of a few whole counties in one frame per layer and splits
    them itself. Without ``client``, the one of :func:`dask_client` for ``scheduler`` is
    used (the run's, inside :func:`~planner.distributed.cluster.run_cluster`).

    Returns
    -------
    dict
        ``{"counties": n, "rows": {layer: rows}}`` and per county the rows of each layer
        (``"by_county"``): all the client keeps.
    """
    if client is None:
        with dask_client(scheduler) as own:
            return write_parts(plan, out_dir, client=own)
    final = Path(out_dir) / "parts"
    staging = Path(out_dir) / "parts.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    threads = sum(client.nthreads().values()) or 1
    batches = _batches(_layers(plan), 2 * threads)
    crs = plan.scenario.outputs.crs or None
    futures = client.map(
        _write_batch, client.scatter(batches, hash=False), crs=crs, folder=str(staging),
        pure=False,
    )  # fmt: skip
    by_county: dict[str, dict[str, int]] = {}
    for future in progress(futures, total=len(futures), desc="parts (dask)"):
        by_county.update(future.result())
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    rows = {name: sum(c.get(name, 0) for c in by_county.values()) for name in PART_LAYERS}
    logger.info(f"dask: {len(by_county):,} county parts written to {final}")
    return {"counties": len(by_county), "rows": rows, "by_county": dict(sorted(by_county.items()))}
