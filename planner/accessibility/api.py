"""``planner.access_scores(villages, centers, …)``: accessibility scores on GeoDataFrames,
safe in any CRS, like the other functions of :mod:`planner.api`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import pandas as pd
import pydantic

from planner import validate as v
from planner.accessibility.geo import center_supply, group_access
from planner.errors import PlannerError
from planner.network import MODES, RoadNetwork
from planner.road_coverage import RoadSearch
from planner.scenario import LevelSpec, NetworkSettings
from planner.scenario.access import LUO_QI_WEIGHTS, AccessSettings


def access_scores(
    villages: gpd.GeoDataFrame,
    centers: gpd.GeoDataFrame,
    *,
    radius_m: float | None = None,
    minutes: float | None = None,
    mode: str = "euclidean",
    travel: str = "walk",
    network: RoadNetwork | None = None,
    supply: str | None = None,
    population: str | None = "population",
    method: str = "e2sfca",
    decay: str = "stepped",
    zones: Sequence[float] | None = None,
    weights: Sequence[float] = LUO_QI_WEIGHTS,
    sigma: float = 0.5,
) -> tuple[pd.Series, pd.Series]:
    """Supply per resident of every village (2SFCA or E2SFCA) and each center's ratio.

    Parameters
    ----------
    villages, centers
        Points (polygons stand for a point inside each), any CRS; ``centers`` with a
        unique index.
    radius_m, minutes
        The catchment, as for :func:`planner.coverage`: give exactly one.
    mode, travel, network
        Straight line (``"euclidean"``) or along the roads of ``network`` usable by
        ``travel``; ``minutes`` along roads is travel time.
    supply
        A column of ``centers`` (``area_m2``, ``capacity``, staff …); ``None``: 1 each.
        Blank or invalid values count 0 (with a :class:`~planner.errors.PlannerWarning`).
    population
        The villages' demand column (``None``: 1 per village).
    method
        ``"2sfca"`` (every pair in the catchment weighs 1) or ``"e2sfca"`` (weighed by
        ``decay``).
    decay
        ``"stepped"``: ``weights`` per zone; ``"gaussian"``: ``exp(-d²/2σ²)``.
    zones
        Zone bounds in the unit of the radius (metres or minutes); the last is the
        catchment. Default: the radius in equal steps, one per weight (one for 2SFCA
        and Gaussian decay).
    weights
        Stepped weights, nearest zone first (default Luo & Qi 2009: 1, 0.68, 0.22).
    sigma
        Gaussian width as a share of the catchment.

    Returns
    -------
    tuple of pandas.Series
        ``access`` on the villages' index (0 where no center reaches), and
        ``supply_ratio`` on the centers' index (supply over the weighted population of
        its catchment; ``nan`` where that is empty).

    Examples
    --------
    >>> import geopandas as gpd, planner as pl
    >>> from shapely.geometry import Point
    >>> villages = gpd.GeoDataFrame({"population": [100, 300]},
    ...     geometry=[Point(0, 0), Point(900, 0)], crs="EPSG:4550")
    >>> centers = gpd.GeoDataFrame({"area_m2": [400.0]}, geometry=[Point(0, 0)],
    ...     crs="EPSG:4550")
    >>> access, ratio = pl.access_scores(villages, centers, radius_m=1000,
    ...     method="2sfca", supply="area_m2")
    >>> access.tolist(), ratio.tolist()
    ([1.0, 1.0], [1.0])
    """
    settings = _settings(method=method, supply=supply, decay=decay, weights=weights,
                         sigma=sigma, zones=zones)  # fmt: skip
    spec = _spec(radius_m, minutes, v.choice(mode, ("euclidean", "network"), "mode"),
                 v.choice(travel, MODES, "travel"))  # fmt: skip
    net = v.network_for(mode, network)
    layers = {"villages": v.layer(villages, "villages"), "centers": v.layer(centers, "centers")}
    v.unique_index(centers, "centers")
    pop = v.weights(villages, "villages", population)
    amounts = center_supply(centers, supply, "centers")
    if not len(villages) or not len(centers):
        return _series(villages.index, centers.index, [0.0] * len(villages), None)
    work = v.to_common_crs(layers, crs=None if net is None else net.crs)
    here = v.point_frame(work["villages"], "villages")
    there = v.point_frame(work["centers"], "centers")
    roads = None if net is None else RoadSearch(net, here, NetworkSettings().max_access_m)
    access, ratio = group_access(
        here, pop, [(there, spec)], amounts, settings, level="village", spec=spec, roads=roads
    )
    return _series(villages.index, centers.index, access, ratio)


def _settings(**given: Any) -> AccessSettings:
    zones = given.pop("zones")
    table: dict[str, Any] = {k: val for k, val in given.items() if val is not None}
    if given["method"] == "2sfca":
        table = {k: table[k] for k in ("method", "supply") if k in table}
    elif given["decay"] == "gaussian":
        table.pop("weights")
    else:
        table.pop("sigma")
    if zones is not None:
        table["zones"] = {"village": _floats(zones, "zones")}
    try:
        return AccessSettings.model_validate({**table, "levels": None})
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"] if p != "village") or "options"
        raise PlannerError(f"{where}: {str(err['msg']).removeprefix('Value error, ')}") from None


def _floats(values: Sequence[float], name: str) -> list[float]:
    try:
        return [float(x) for x in values]
    except (TypeError, ValueError):
        raise PlannerError(f"{name} must be numbers, got {values!r}") from None


def _spec(radius_m: float | None, minutes: float | None, mode: str, travel: str) -> LevelSpec:
    which = v.one_of({"radius_m": radius_m, "minutes": minutes})
    limit = v.positive(radius_m if which == "radius_m" else minutes, which)
    try:
        return LevelSpec.model_validate({which: limit, "mode": mode, "travel": travel})
    except pydantic.ValidationError as exc:
        raise PlannerError(f"{which}={limit!r}: {exc.errors()[0]['msg']}") from None


def _series(
    village_index: pd.Index, center_index: pd.Index, access: Any, ratio: Any
) -> tuple[pd.Series, pd.Series]:
    ratio_values = [float("nan")] * len(center_index) if ratio is None else ratio
    return (
        pd.Series(access, index=village_index, name="access", dtype=float),
        pd.Series(ratio_values, index=center_index, name="supply_ratio", dtype=float),
    )
