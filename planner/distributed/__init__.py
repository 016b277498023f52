"""Province and national runs on Dask, partitioned by county (county plus halo).

* :func:`compute_levels_dask` — coverage of every level; each partition builds its own
  road network (:mod:`planner.distributed.coverage`); a :class:`CoverageSession` keeps
  the partitions and their networks on the workers between calls
  (:mod:`planner.distributed.regions`).
* :func:`build_grids_dask` — grid generation on each county's villages
  (:mod:`planner.distributed.grids`).
* :func:`write_parts` — each worker writes its county's share of villages and grids as
  GeoParquet datasets and GeoPackages (:mod:`planner.distributed.parts`).
* :func:`dask_client` — a client on a scheduler or a local cluster; :func:`run_cluster`
  keeps one open for a whole ``planner run`` (:mod:`planner.distributed.cluster`).

Every result equals the in-process step (see each module's notes for the exceptions).

Files under the Dask engine: every file of an in-process run, the same (written by
:func:`planner.outputs.writers.write_outputs` from the merged plan), plus ``parts/``
from :func:`write_parts` — per county, not global: the villages and grids GeoParquet
datasets and one GeoPackage per county. Global, on the client: summary.json, the rate
tables, the budget curve, the map and report.
"""

from planner.distributed.cluster import balanced_batches, dask_client, run_cluster
from planner.distributed.coverage import (
    TASKS_PER_THREAD,
    CoverageSession,
    compute_levels_dask,
    halo_m,
)
from planner.distributed.grids import build_grids_dask, village_counties
from planner.distributed.parts import PART_LAYERS, write_county, write_parts

__all__ = [
    "PART_LAYERS",
    "TASKS_PER_THREAD",
    "CoverageSession",
    "balanced_batches",
    "build_grids_dask",
    "compute_levels_dask",
    "dask_client",
    "halo_m",
    "run_cluster",
    "village_counties",
    "write_county",
    "write_parts",
]
