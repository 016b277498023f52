"""Accessibility of villages to the centers of a level, on layers.

Costs come from the coverage engine's own machinery: straight-line pairs within the
catchment (:func:`planner.siting.site_choice.reach_matrix`) or bounded road searches
(:func:`planner.network.sites_within` from the villages :class:`~planner.road_coverage.RoadSearch`
already snapped, with :func:`~planner.road_coverage.search_settings`'s weight: seconds for
``minutes`` levels, else metres). A level's centers serve in groups with their own radius
(stations with a radius of their own); zones are fractions of the level's radius applied
to each group's radius, so the level's own centers get exactly the zones given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.accessibility.fca import (
    fca_scores,
    gaussian_weights,
    stepped_weights,
    within,
)
from planner.catchment import LevelResult
from planner.errors import PlannerError, warn
from planner.road_coverage import RoadSearch, search_settings
from planner.scenario import LevelSpec
from planner.scenario.access import AccessSettings

#: Centers listed by id in a warning.
_SHOWN = 5

#: A group of centers serving with one radius: the centers and the settings they serve with.
Group = tuple[gpd.GeoDataFrame, LevelSpec]


@dataclass(frozen=True)
class LevelAccess:
    """Scores of one level: ``access`` per village (supply per resident), and per center
    serving the level its ``supply_ratio`` (``nan`` when its catchment holds nobody)."""

    level: str
    access: np.ndarray
    supply_ratio: np.ndarray
    center_ids: np.ndarray


def center_supply(centers: pd.DataFrame, column: str | None, what: str) -> np.ndarray:
    """Supply of every center: ``column`` as numbers, or 1 each when ``column`` is None.

    Blank, text, negative or infinite values count 0 and are named in a
    :class:`~planner.errors.PlannerWarning`.

    Raises
    ------
    PlannerError
        When ``column`` is not a column of ``centers``.
    """
    if column is None:
        return np.ones(len(centers))
    if not len(centers):
        return np.zeros(0)
    require_column(centers, column, what)
    values = pd.to_numeric(centers[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        ids = centers["id"] if "id" in centers.columns else centers.index.to_series()
        listed = ", ".join(str(i) for i in ids.to_numpy()[bad][:_SHOWN])
        more = f" and {int(bad.sum()) - _SHOWN} more" if bad.sum() > _SHOWN else ""
        warn(
            f"{what}: supply column {column!r} is blank, not a number, negative or infinite "
            f"for {int(bad.sum())} center(s) ({listed}{more}); they count 0"
        )
    return np.where(bad, 0.0, values)


def require_column(centers: pd.DataFrame, column: str, what: str) -> None:
    """Refuse a supply column the centers do not have.

    Raises
    ------
    PlannerError
        Naming the column and the columns there are.
    """
    if column in centers.columns:
        return
    shown = ", ".join(str(c) for c in centers.columns if c not in ("geometry", "_row"))
    raise PlannerError(
        f"{what}: the centers have no column {column!r} to take supply from (columns: "
        f"{shown}); name one in [access] supply, or leave supply out to count every "
        "center as 1",
        column=column,
    )


def level_extent(spec: LevelSpec) -> float:
    """The level's radius in the unit zones are given in: metres, or minutes."""
    return float(spec.radius_m) if spec.radius_m is not None else float(spec.minutes or 0.0)


def level_zones(settings: AccessSettings, level: str, spec: LevelSpec) -> tuple[float, ...]:
    """Zone bounds of a level in its own unit: as given, else the radius (split in as many
    equal steps as there are weights for the stepped decay)."""
    if level in settings.zones:
        return tuple(settings.zones[level])
    extent = level_extent(spec)
    steps = len(settings.weights) if settings.stepped else 1
    return tuple(extent * (k + 1) / steps for k in range(steps))


def group_costs(
    villages: gpd.GeoDataFrame,
    centers: gpd.GeoDataFrame,
    spec: LevelSpec,
    max_cost: float,
    roads: RoadSearch | None,
) -> sp.csr_array:
    """Village × center costs within ``max_cost`` (metres, or seconds for ``minutes``
    levels along roads), zero costs stored."""
    if not len(centers):
        return sp.csr_array((len(villages), 0))
    if spec.mode != "network":
        from planner.siting.site_choice import reach_matrix

        return sp.csr_array(reach_matrix(villages.geometry, centers.geometry, max_cost))
    if roads is None:
        raise PlannerError(f"a level measured along roads ({spec.travel}) needs a road network")
    from planner.network import sites_within, snap

    weight, _ = search_settings(spec)
    sites = snap(roads.net, centers.geometry, mode=spec.travel)
    pairs = sites_within(
        roads.net, roads.village_snap(spec.travel), sites,
        cutoff=max_cost, weight=weight, mode=spec.travel,
    )  # fmt: skip
    return sp.csr_array(pairs)


def _pair_weights(
    costs: sp.csr_array, settings: AccessSettings, bounds: np.ndarray
) -> sp.csr_array:
    """The decay weight of every pair within the last bound."""
    pairs = within(costs, float(bounds[-1]))
    if settings.method == "2sfca":
        data = np.ones(pairs.nnz)
    elif settings.stepped:
        data = stepped_weights(pairs.data, tuple(zip(bounds, settings.weights, strict=True)))
    else:
        data = gaussian_weights(pairs.data, settings.sigma * float(bounds[-1]))
    return sp.csr_array((data, pairs.indices, pairs.indptr), shape=pairs.shape)


def group_access(
    villages: gpd.GeoDataFrame,
    population: np.ndarray,
    groups: Sequence[Group],
    supply: np.ndarray,
    settings: AccessSettings,
    *,
    level: str,
    spec: LevelSpec,
    roads: RoadSearch | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Access per village and supply ratio per center, the groups' centers side by side
    (in group order, as ``supply``)."""
    zones = np.asarray(level_zones(settings, level, spec))
    blocks = []
    for centers, group_spec in groups:
        bounds = zones * (search_settings(group_spec)[1] / level_extent(spec))
        costs = group_costs(villages, centers, group_spec, float(bounds[-1]), roads)
        blocks.append(_pair_weights(costs, settings, bounds))
    weights = sp.hstack(blocks, format="csr") if blocks else sp.csr_array((len(villages), 0))
    result = fca_scores(sp.csr_array(weights), population, supply)
    return result.access, result.supply_ratio


def level_access(
    villages: gpd.GeoDataFrame,
    res: LevelResult,
    settings: AccessSettings,
    *,
    roads: RoadSearch | None = None,
) -> LevelAccess:
    """Accessibility of every village at one level, from its coverage result (the centers
    serving it, in groups with their radius).

    Parameters
    ----------
    villages
        Village points in the working CRS with ``population``, on positions 0…n-1 (the
        villages ``roads`` was built on).
    res
        The level's coverage (:func:`planner.catchment.level_coverage`).
    settings
        The scenario's ``[access]``.
    roads
        The run's road search; required when a group is measured along roads.
    """
    pop = villages["population"].fillna(0).clip(lower=0).to_numpy(dtype=float)
    supply = center_supply(res.centers, settings.supply, f"access at level {res.level}")
    groups = [(group.centers, group.spec) for group in res.groups]
    access, ratio = group_access(
        villages, pop, groups, supply, settings, level=res.level, spec=res.spec, roads=roads
    )
    return LevelAccess(res.level, access, ratio, res.centers["id"].to_numpy(dtype=object))
