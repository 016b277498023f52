"""Per-level service-radius coverage, catchments, rates and the full-coverage audit.

For every configured level, each village gets its nearest center of that level (or of a
level that also serves it, such as a sub-center for township service), the distance to it
and whether it is within the level's radius — by straight line in the working CRS or
along roads (:mod:`planner.network`). Everything is reported by population and by count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import PlannerError
from planner.scenario import LevelSpec

if TYPE_CHECKING:
    from scipy.spatial import cKDTree


@dataclass(frozen=True)
class CoverageLevels:
    """The levels a coverage run measures, from the top of the network down.

    Parameters
    ----------
    specs
        Level → its settings (radius or minutes, mode, travel), in network order.
    serving
        Level → the groups of center levels serving it, each with the settings it serves
        with: one group, or two when stations serve with a radius of their own.
    """

    specs: Mapping[str, LevelSpec]
    serving: Mapping[str, Sequence[tuple[tuple[str, ...], LevelSpec]]]

    @property
    def order(self) -> list[str]:
        """The levels, top first."""
        return list(self.specs)

    @property
    def uses_roads(self) -> bool:
        """True when a level is measured along roads."""
        return any(spec.mode == "network" for spec in self.specs.values())


#: Straight-line search is unbounded so ``<level>_dist_m`` shows how far out a gap is;
#: road searches stop at this multiple of the radius (beyond it the distance is unknown).
NETWORK_SEARCH_FACTOR = 2.0


@dataclass(frozen=True)
class Nearest:
    """Nearest center per village: position in the centers frame (-1 when none was
    found), distance in metres and travel time in seconds (NaN when not computed)."""

    index: np.ndarray
    dist_m: np.ndarray
    time_s: np.ndarray


#: A road-distance engine: ``(level_spec, center_points, cutoff) -> Nearest`` for the
#: scenario's villages. Built once per run by :mod:`planner.pipeline`.
NetworkSearch = Callable[[LevelSpec, gpd.GeoSeries], Nearest]


@dataclass
class LevelResult:
    """Coverage of one level.

    When the level's centers serve with different radii (stations with a radius of their
    own), ``parts`` holds the result of each group of centers with its own ``spec``, and
    this result combines them (see :func:`combine_parts`).
    """

    level: str
    spec: LevelSpec
    centers: gpd.GeoDataFrame
    nearest: Nearest
    covered: np.ndarray
    straight_covered: np.ndarray | None = None
    parts: tuple[LevelResult, ...] = ()

    @property
    def center_ids(self) -> pd.Series:
        """Id of the nearest center per village (missing where none)."""
        ids = np.append(self.centers["id"].to_numpy(dtype=object), [None])
        return pd.Series(ids[self.nearest.index], dtype="string")  # -1 picks the None

    @property
    def groups(self) -> tuple[LevelResult, ...]:
        """The groups of centers serving with one radius each (just this one, usually)."""
        return self.parts or (self,)

    @property
    def center_radius_m(self) -> np.ndarray:
        """Service radius in metres of every center (``spec.cutoff_m`` of its group)."""
        return np.concatenate(
            [np.full(len(part.centers), part.spec.cutoff_m) for part in self.groups]
        )

    def village_radius_m(self) -> np.ndarray:
        """Radius of each village's nearest center (the level's where it has none)."""
        radius = np.append(self.center_radius_m, self.spec.cutoff_m)
        return radius[self.nearest.index]  # -1 picks the level's radius


@dataclass
class CoverageResult:
    """Coverage of every configured level, on the villages of the scenario."""

    villages: gpd.GeoDataFrame
    levels: dict[str, LevelResult] = field(default_factory=dict)


def nearest_euclidean(targets: gpd.GeoSeries, sources: gpd.GeoSeries) -> Nearest:
    """Nearest source of every target by straight line (one vectorised query).

    Ties go to the lowest source position, so the answer is deterministic. Points go
    through :func:`nearest_points`, other geometries through an STRtree.
    """
    t_xy, s_xy = _point_xy(targets.values), _point_xy(sources.values)
    if t_xy is not None and s_xy is not None:
        return nearest_points(t_xy, s_xy)
    n = len(targets)
    index = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    if len(sources) and n:
        tree = shapely.STRtree(sources.values)
        (t, s), d = tree.query_nearest(targets.values, return_distance=True, all_matches=True)
        order = np.lexsort((s, t))
        t, s, d = t[order], s[order], d[order]
        first = np.r_[True, t[1:] != t[:-1]]
        index[t[first]] = s[first]
        dist[t[first]] = d[first]
    return Nearest(index, dist, np.full(n, np.nan))


def nearest_points(targets_xy: np.ndarray, sources_xy: np.ndarray) -> Nearest:
    """Nearest source point of every target point, from ``(n, 2)`` coordinate arrays.

    A k-d tree gives the two nearest sources; where they are equally far, every source
    at that distance is looked up and the lowest position wins.
    """
    n = len(targets_xy)
    index = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    if len(sources_xy) and n:
        from scipy.spatial import cKDTree  # only straight-line levels need it

        tree = cKDTree(sources_xy)
        k = min(2, len(sources_xy))
        d, i = tree.query(targets_xy, k=k)
        d, i = d.reshape(n, k), i.reshape(n, k)
        index[:], dist[:] = i[:, 0], d[:, 0]
        tied = np.flatnonzero(d[:, -1] == d[:, 0]) if k > 1 else np.empty(0, np.int64)
        if tied.size:
            index[tied] = _lowest_tied(tree, sources_xy, targets_xy[tied], d[tied, 0])
    return Nearest(index, dist, np.full(n, np.nan))


def _lowest_tied(
    tree: cKDTree, sources_xy: np.ndarray, targets_xy: np.ndarray, dist: np.ndarray
) -> np.ndarray:
    """Lowest position among the sources nearest to each target (``dist`` away)."""
    found = tree.query_ball_point(targets_xy, r=dist * (1 + 1e-9) + 1e-9)
    sizes = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
    source = np.concatenate(found).astype(np.int64)
    row = np.repeat(np.arange(len(found)), sizes)
    delta = sources_xy[source] - targets_xy[row]
    d = np.sqrt(delta[:, 0] * delta[:, 0] + delta[:, 1] * delta[:, 1])
    order = np.lexsort((source, d, row))
    first = np.r_[True, row[order][1:] != row[order][:-1]]
    return source[order][first]


def _point_xy(geoms: np.ndarray) -> np.ndarray | None:
    """Coordinates of an array of non-empty 2-D points, else ``None``."""
    if not (shapely.get_type_id(geoms) == 0).all() or shapely.is_empty(geoms).any():
        return None
    return shapely.get_coordinates(geoms)


def centers_serving(centers: gpd.GeoDataFrame, levels: tuple[str, ...]) -> gpd.GeoDataFrame:
    """Centers whose level is one of ``levels`` (in the order given, then input order)."""
    if centers is None or centers.empty:
        return gpd.GeoDataFrame(
            {"id": pd.Series(dtype="string"), "level": pd.Series(dtype="string")},
            geometry=gpd.GeoSeries([]),
            crs=None,
        )
    rank = {lvl: i for i, lvl in enumerate(levels)}
    chosen = centers[centers["level"].isin(levels)].copy()
    chosen["_order"] = chosen["level"].map(rank)
    return chosen.sort_values("_order", kind="stable").drop(columns="_order")


def level_coverage(
    villages: gpd.GeoDataFrame,
    centers: gpd.GeoDataFrame,
    level: str,
    spec: LevelSpec,
    *,
    network: NetworkSearch | None = None,
) -> LevelResult:
    """Coverage of one level.

    Parameters
    ----------
    villages
        Village points in the working CRS.
    centers
        Centers serving this level (see :func:`centers_serving`).
    level, spec
        Level name and its settings.
    network
        Road search; required when ``spec.mode == "network"``.

    Raises
    ------
    PlannerError
        Centers without an ``id`` column, a layer in a geographic CRS (distances would be
        degrees), or a road level without ``network``.
    """
    _check_level_input(villages, centers, level, spec, network)
    radius = spec.cutoff_m
    straight = nearest_euclidean(villages.geometry, centers.geometry)
    if spec.mode == "network":
        assert network is not None  # _check_level_input
        nearest = network(spec, centers.geometry)
        if spec.cutoff_s is not None:
            covered = nearest.time_s <= spec.cutoff_s
        else:
            covered = nearest.dist_m <= radius
        straight_covered = straight.dist_m <= radius
    else:
        nearest, straight_covered = straight, None
        covered = nearest.dist_m <= radius
    covered = np.asarray(covered & (nearest.index >= 0), dtype=bool)
    return LevelResult(
        level, spec, centers.reset_index(drop=True), nearest, covered, straight_covered
    )


def _check_level_input(
    villages: gpd.GeoDataFrame,
    centers: gpd.GeoDataFrame,
    level: str,
    spec: LevelSpec,
    network: NetworkSearch | None,
) -> None:
    """Refuse what :func:`level_coverage` would otherwise get silently wrong."""
    if "id" not in centers.columns:
        raise PlannerError(
            f"level {level}: centers have no 'id' column (columns: "
            f"{', '.join(map(str, centers.columns))})"
        )
    for what, frame in (("villages", villages), ("centers", centers)):
        if frame.crs is not None and frame.crs.is_geographic:
            raise PlannerError(
                f"level {level}: {what} are in a geographic CRS ({frame.crs.name}); distances "
                "would be degrees: project them to a metric CRS first"
            )
    if spec.mode == "network" and network is None:
        raise PlannerError(
            f"level {level}: mode='network' needs a road network search (network=); got none"
        )


def combine_parts(level: str, spec: LevelSpec, parts: list[LevelResult]) -> LevelResult:
    """One level's result from groups of centers serving with different radii.

    A village is covered when a center of any group reaches it within that group's radius;
    its center is the nearest of the groups that cover it, else the nearest of all (the
    earlier group on ties). Centers are the groups' centers, one group after the other.
    """
    n = len(parts[0].covered)
    offsets = np.cumsum([0] + [len(p.centers) for p in parts])
    dist = np.stack([np.where(p.nearest.index >= 0, p.nearest.dist_m, np.inf) for p in parts])
    dist = np.nan_to_num(dist, nan=np.inf)
    covering = np.stack([p.covered for p in parts])
    rank = np.where(covering, dist, np.inf)
    covered = np.any(covering, axis=0)
    chosen = np.where(covered, rank.argmin(axis=0), dist.argmin(axis=0))
    rows = np.arange(n)
    local = np.stack([p.nearest.index for p in parts])[chosen, rows]
    nearest = Nearest(
        np.where(local >= 0, local + offsets[chosen], -1),
        np.stack([p.nearest.dist_m for p in parts])[chosen, rows],
        np.stack([p.nearest.time_s for p in parts])[chosen, rows],
    )
    straight = [p.straight_covered for p in parts if p.straight_covered is not None]
    centers = pd.concat([p.centers for p in parts], ignore_index=True)
    return LevelResult(
        level,
        spec,
        gpd.GeoDataFrame(centers, geometry=centers.geometry.name, crs=parts[0].centers.crs),
        nearest,
        covered,
        np.logical_or.reduce(straight) if straight else None,
        tuple(parts),
    )


def annotate_villages(
    villages: gpd.GeoDataFrame, results: dict[str, LevelResult]
) -> gpd.GeoDataFrame:
    """Villages with ``<level>_center_id``, ``<level>_dist_m``, ``<level>_covered`` (and
    ``<level>_time_min`` for time-based levels, ``<level>_road_barrier`` when road and
    straight-line answers differ) for every level."""
    out = villages.copy()
    for level, res in results.items():
        out[f"{level}_center_id"] = res.center_ids.to_numpy()
        out[f"{level}_dist_m"] = np.round(res.nearest.dist_m, 1)
        if np.isfinite(res.nearest.time_s).any():
            out[f"{level}_time_min"] = np.round(res.nearest.time_s / 60.0, 2)
        out[f"{level}_covered"] = res.covered
        if res.straight_covered is not None:
            out[f"{level}_road_barrier"] = res.straight_covered & ~res.covered
    return out


def catchments(villages: gpd.GeoDataFrame, res: LevelResult) -> pd.DataFrame:
    """Per center of the level: villages and population assigned to it (each village to
    its nearest center), and how much of that is within the radius."""
    pop = villages["population"].fillna(0).to_numpy(dtype=float)
    idx = res.nearest.index
    frame = pd.DataFrame({"center": idx, "pop": pop, "covered": res.covered})
    frame = frame[frame["center"] >= 0]
    grouped = frame.groupby("center").agg(
        catchment_villages=("pop", "size"),
        catchment_population=("pop", "sum"),
        covered_villages=("covered", "sum"),
    )
    grouped["covered_population"] = frame[frame["covered"]].groupby("center")["pop"].sum()
    table = grouped.reindex(range(len(res.centers)), fill_value=0).fillna(0)
    table.insert(0, "id", res.centers["id"].to_numpy())
    table.insert(1, "level", res.level)
    return table.reset_index(drop=True)


def circle_service_areas(res: LevelResult, *, quad_segs: int = 8) -> gpd.GeoDataFrame:
    """Straight-line service areas: a circle of the level's radius around each center.

    The circles are the same polygons as ``buffer(radius, quad_segs=quad_segs)``
    (``4 * quad_segs`` sides, clockwise from due east), built in one vectorised step. The
    default 32 sides keep every vertex on the circle and every edge within 0.5 % of the
    radius from it, and a national layer (half a million centers) at a manageable size.
    """
    centers = res.centers
    radius = res.spec.cutoff_m
    angle = -2.0 * np.pi * np.arange(4 * quad_segs + 1) / (4 * quad_segs)
    ring = np.column_stack([np.cos(angle), np.sin(angle)]) * radius
    ring[-1] = ring[0]
    xy = _point_xy(centers.geometry.values)
    if xy is None:
        circles = centers.geometry.buffer(radius, quad_segs=quad_segs).to_numpy()
    else:
        circles = shapely.polygons(xy[:, None, :] + ring[None, :, :])
    return gpd.GeoDataFrame(
        {
            "center_id": centers["id"].to_numpy(),
            "level": res.level,
            "radius_m": radius,
            "mode": "euclidean",
        },
        geometry=circles,
        crs=centers.crs,
    )


def gaps(villages: gpd.GeoDataFrame, results: dict[str, LevelResult]) -> gpd.GeoDataFrame:
    """One row per village and level it is not covered at (long format)."""
    parts = []
    keep = [
        c
        for c in ("id", "name", "population", "households", "township_id")
        if c in villages.columns
    ]
    for level, res in results.items():
        miss = ~res.covered
        if not miss.any():
            continue
        part = villages.loc[miss, [*keep, villages.geometry.name]].copy()
        part["level"] = level
        part["nearest_center_id"] = res.center_ids.to_numpy()[miss]
        part["dist_m"] = np.round(res.nearest.dist_m[miss], 1)
        part["radius_m"] = res.village_radius_m()[miss]
        parts.append(part)
    if not parts:
        return gpd.GeoDataFrame(
            {"level": pd.Series(dtype="string")},
            geometry=gpd.GeoSeries([], crs=villages.crs),
            crs=villages.crs,
        )
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=villages.crs)


def unit_of(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None) -> pd.Series:
    """Id of the unit polygon each point lies in, aligned on ``points``; missing outside
    every unit or without ``units``."""
    out = pd.Series(pd.NA, index=points.index, dtype="string")
    if units is None or not len(points) or not len(units):
        return out
    hit, poly = shapely.STRtree(units.geometry.values).query(
        points.geometry.values, predicate="within"
    )
    out.iloc[hit[::-1]] = units["id"].astype("string").to_numpy()[poly[::-1]]  # first wins
    return out


def township_of(points: gpd.GeoDataFrame, townships: gpd.GeoDataFrame | None) -> pd.Series:
    """Township code of each point: its ``township_id`` where given, else the township
    polygon it lies in (missing when neither says)."""
    stated = (
        points["township_id"].astype("string")
        if "township_id" in points.columns
        else pd.Series(pd.NA, index=points.index, dtype="string")
    )
    if not stated.isna().any():
        return stated
    return stated.fillna(unit_of(points, townships))


def county_of(villages: gpd.GeoDataFrame, townships: gpd.GeoDataFrame | None) -> pd.Series:
    """County code per village: through its township, else the first 6 code digits."""
    county = pd.Series(pd.NA, index=villages.index, dtype="string")
    if (
        townships is not None
        and "county_id" in townships.columns
        and "township_id" in villages.columns
    ):
        lookup = townships.set_index("id")["county_id"]
        county = villages["township_id"].map(lookup).astype("string")
    return county.fillna(villages["id"].astype("string").str.slice(0, 6))


def rates(
    villages: gpd.GeoDataFrame, results: dict[str, LevelResult], by: pd.Series, unit: str
) -> pd.DataFrame:
    """Coverage by population and by village count per unit (township or county) and
    level; every level's covered flags and population are summed in one grouping."""
    pop = villages["population"].fillna(0).to_numpy(dtype=float)
    covered = {f"cov{i}": res.covered for i, res in enumerate(results.values())}
    weighted = {f"pop{i}": np.where(cov, pop, 0.0) for i, cov in enumerate(covered.values())}
    grouped = pd.DataFrame({unit: by.to_numpy(), "pop": pop, **covered, **weighted}).groupby(
        unit, dropna=False
    )
    size, sums = grouped.size(), grouped.sum()
    per_level = [
        {
            "level": level,
            "villages": size,
            "villages_covered": sums[f"cov{i}"],
            "population": sums["pop"],
            "population_covered": sums[f"pop{i}"],
        }
        for i, level in enumerate(results)
    ]
    table = pd.concat([pd.DataFrame(c).reset_index() for c in per_level], ignore_index=True)
    villages_n, population = table["villages"], table["population"]
    table["village_rate"] = table["villages_covered"] / villages_n.where(villages_n > 0)
    table["population_rate"] = table["population_covered"] / population.where(population > 0)
    return table


def level_summary(villages: gpd.GeoDataFrame, res: LevelResult) -> dict[str, Any]:
    """Headline figures of one level for ``summary.json``."""
    pop = villages["population"].fillna(0).to_numpy(dtype=float)
    total = float(pop.sum())
    covered = float(pop[res.covered].sum())
    summary: dict[str, Any] = {
        "radius_m": res.spec.cutoff_m,
        "mode": res.spec.mode,
        "centers": len(res.centers),
        "population_total": total,
        "population_covered": covered,
        "population_rate": covered / total if total else 0.0,
        "villages_total": len(villages),
        "villages_covered": int(res.covered.sum()),
        "villages_uncovered": int((~res.covered).sum()),
        "village_rate": float(res.covered.mean()) if len(villages) else 0.0,
    }
    if res.parts:  # groups serving with radii of their own (e.g. village centers, stations)
        summary["radii_m"] = [part.spec.cutoff_m for part in res.parts]
    if res.straight_covered is not None:
        summary["villages_road_barrier"] = int((res.straight_covered & ~res.covered).sum())
    finite = res.nearest.dist_m[np.isfinite(res.nearest.dist_m)]
    if finite.size:
        summary["dist_m_median"] = float(np.median(finite))
        summary["dist_m_p90"] = float(np.percentile(finite, 90))
    return summary
