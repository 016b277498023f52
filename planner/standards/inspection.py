"""Inspection rounds: a stratified, weighted random sample of centers and a short route.

Yueyang's unannounced inspections (seed 000) visited 60+ centers and found unfinished works,
missing equipment, wrong signage, nobody on duty, no service ledger and stale notice boards.
This module draws such a round: :func:`~planner.standards.sampling.sample_inspection`
picks centers (every county × level stratum represented when the sample is large enough,
non-compliant and unknown centers more likely), :func:`plan_route` orders them into a
short tour over Euclidean or caller-supplied (road network) costs, and
:func:`inspection_table` lays the stops out as a checklist. :func:`solve_tour` is the
geometry-free core behind :func:`plan_route`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely import LineString

from planner.errors import PlannerError, warn
from planner.standards.sampling import sample_inspection

if TYPE_CHECKING:
    from planner.network import RoadNetwork

_FULL_SEARCH = 30  # up to this many stops, local search starts from every nearest-neighbour tour
_MULTI_STARTS = 10
_WORK_BUDGET = 2e7  # ~m³ per started tour; keeps 200 stops near a second
_LEVEL_ZH = {"city": "市级", "county": "县级", "township": "乡镇（街道）", "subcenter": "分中心",
             "village": "村（社区）", "station": "驿站"}  # fmt: skip
_CHECKLIST = (  # the findings of Yueyang's unannounced inspections (seed 000)
    ("works finished", "扫尾工程"),
    ("equipment (computer, printer)", "设施配套（电脑、打印机）"),
    ("signage", "标识标牌"),
    ("staff on duty", "值班在岗"),
    ("service ledger", "便民服务台账"),
    ("notice board up to date", "公开栏更新"),
)


# --------------------------------------------------------------------------------------
# Tour solver (no geometry)
# --------------------------------------------------------------------------------------
def _tour_cost(d: np.ndarray, tour: np.ndarray) -> float:
    return float(d[tour, np.roll(tour, -1)].sum())


def _nearest_neighbour(d: np.ndarray, start: int) -> np.ndarray:
    m = len(d)
    visited = np.zeros(m, bool)
    tour = np.empty(m, dtype=int)
    tour[0] = start
    visited[start] = True
    for k in range(1, m):
        nxt = int(np.argmin(np.where(visited, np.inf, d[tour[k - 1]])))
        tour[k] = nxt
        visited[nxt] = True
    return tour


def _two_opt(d: np.ndarray, t: np.ndarray) -> tuple[float, Callable[[], np.ndarray]]:
    """Best segment reversal t[i..j] (1 <= i < j <= m-1), exact for asymmetric costs."""
    m = len(t)
    nxt = np.roll(t, -1)
    cf = np.concatenate([[0.0], np.cumsum(d[t, nxt])])
    cb = np.concatenate([[0.0], np.cumsum(d[nxt, t])])
    i = np.arange(1, m - 1)[:, None]
    j = np.arange(2, m)[None, :]
    a, b, c, e = t[i - 1], t[i], t[j], t[(j + 1) % m]
    delta = d[a, c] + d[b, e] - d[a, b] - d[c, e] + (cb[j] - cb[i]) - (cf[j] - cf[i])
    delta = np.where(j > i, delta, np.inf)
    k = np.unravel_index(np.argmin(delta), delta.shape)
    lo, hi = int(i[k[0], 0]), int(j[0, k[1]])

    def apply() -> np.ndarray:
        return np.concatenate([t[:lo], t[lo : hi + 1][::-1], t[hi + 1 :]])

    return float(delta[k]), apply


def _or_opt(d: np.ndarray, t: np.ndarray, length: int) -> tuple[float, Callable[[], np.ndarray]]:
    """Best move of a segment of ``length`` stops to another edge, either way round."""
    m = len(t)
    nxt = np.roll(t, -1)
    cf = np.concatenate([[0.0], np.cumsum(d[t, nxt])])
    cb = np.concatenate([[0.0], np.cumsum(d[nxt, t])])
    i = np.arange(1, m - length + 1)[:, None]  # segment t[i : i+length], t[0] stays
    j = np.arange(m)[None, :]  # insert between t[j] and t[j+1]
    p, s0, sl, q = t[i - 1], t[i], t[i + length - 1], t[(i + length) % m]
    tj, tj1 = t[j], t[(j + 1) % m]
    removed = d[p, s0] + d[sl, q] - d[p, q]
    forward = d[tj, s0] + d[sl, tj1] - d[tj, tj1] - removed
    inner = (cb[i + length - 1] - cb[i]) - (cf[i + length - 1] - cf[i])
    backward = d[tj, sl] + d[s0, tj1] - d[tj, tj1] + inner - removed
    valid = (j < i - 1) | (j > i + length - 1)
    deltas = np.where(valid, np.stack([forward, backward]), np.inf)
    if length == 1:
        deltas[1] = np.inf
    k = np.unravel_index(np.argmin(deltas), deltas.shape)
    rev, lo, at = bool(k[0]), int(i[k[1], 0]), int(j[0, k[2]])

    def apply() -> np.ndarray:
        seg = t[lo : lo + length][::-1] if rev else t[lo : lo + length]
        rest = np.delete(t, np.arange(lo, lo + length))
        pos = at if at < lo else at - length
        return np.concatenate([rest[: pos + 1], seg, rest[pos + 1 :]])

    return float(deltas[k]), apply


def _local_search(d: np.ndarray, tour: np.ndarray, tol: float) -> np.ndarray:
    """2-opt and Or-opt (segments of 1-3 stops), best improvement, until a local optimum."""
    m = len(tour)
    while True:
        moves = [_two_opt(d, tour)] if m >= 4 else []
        moves += [_or_opt(d, tour, length) for length in (1, 2, 3) if m >= length + 3]
        if not moves:
            return tour
        delta, apply = min(moves, key=lambda mv: mv[0])
        if delta >= -tol:
            return tour
        tour = apply()


def _best_tour(d: np.ndarray) -> np.ndarray:
    m = len(d)
    tol = 1e-10 * max(float(d.max()), 1.0)
    if m <= _FULL_SEARCH:
        starts = np.arange(m)
    else:  # a local search costs ~m³ steps: fewer starts for long tours
        count = max(1, min(_MULTI_STARTS, int(_WORK_BUDGET / m**3)))
        starts = np.unique(np.linspace(0, m - 1, count).astype(int))
    best = _local_search(d, _nearest_neighbour(d, int(starts[0])), tol)
    best_cost = _tour_cost(d, best)
    for s in starts[1:]:
        tour = _local_search(d, _nearest_neighbour(d, int(s)), tol)
        cost = _tour_cost(d, tour)
        if cost < best_cost - tol:
            best, best_cost = tour, cost
    return best


def _validate_cost(cost: object) -> np.ndarray:
    d = np.array(cost, dtype=float)
    if d.ndim != 2 or d.shape[0] != d.shape[1] or len(d) == 0:
        raise PlannerError(f"cost matrix must be square and non-empty, got shape {d.shape}")
    np.fill_diagonal(d, 0.0)
    if np.isnan(d).any() or (d < 0).any():
        raise PlannerError("cost matrix must hold non-negative numbers (found NaN or < 0)")
    if np.isinf(d).any():
        a, b = np.argwhere(np.isinf(d))[0]
        raise PlannerError(
            f"cost matrix: stop {a} cannot reach stop {b} (infinite cost); connect the road "
            "network or drop the stop"
        )
    return d


def solve_tour(cost: np.ndarray, *, closed: bool = True, start: int | None = None) -> np.ndarray:
    """Order stops into a short tour (heuristic; exact for up to 3 stops).

    Nearest-neighbour tours from every stop (above 30 stops from up to 10 spread stops,
    fewer as tours grow, one above 215) improved by
    2-opt and Or-opt moves evaluated in bulk with numpy; asymmetric costs (one-way roads)
    are handled exactly. The result is never longer than the nearest-neighbour tour from
    any start it tried, which includes ``start`` (or stop 0).

    Parameters
    ----------
    cost
        Square matrix, ``cost[a, b]`` = cost of going from stop ``a`` to stop ``b``.
    closed
        True for a round trip back to the first stop; False for an open path.
    start
        Index of the first stop; for an open path without it the best start is chosen.

    Returns
    -------
    numpy.ndarray
        Stop indices in visiting order (starting with ``start`` when given, else with 0
        for a closed tour).
    """
    d = _validate_cost(cost)
    n = len(d)
    if start is not None and not 0 <= start < n:
        raise PlannerError(f"start stop {start} is out of range for {n} stops")
    first = 0 if start is None else int(start)
    if n == 1:
        return np.array([0])
    if closed:
        work = d
    elif start is not None:
        work = d.copy()
        work[:, first] = 0.0  # the return to the start is free: a path from `start`
    else:
        work = np.zeros((n + 1, n + 1))  # a free dummy stop n joins the path's two ends
        work[:n, :n] = d
        first = n
    tour = _best_tour(work)
    tour = np.roll(tour, -int(np.flatnonzero(tour == first)[0]))
    return tour[1:] if first == n else tour


# --------------------------------------------------------------------------------------
# Routes on GeoDataFrames
# --------------------------------------------------------------------------------------
def _stop_ids(stops: pd.DataFrame) -> pd.Series:
    source = stops["id"] if "id" in stops.columns else pd.Series(stops.index, index=stops.index)
    return source.astype("string").fillna("")


def _euclidean(stops: gpd.GeoDataFrame) -> np.ndarray:
    if stops.crs is not None and stops.crs.is_geographic:
        raise PlannerError(
            f"stops are in a geographic CRS ({stops.crs.to_string()}); project them to the "
            "working metric CRS or pass a cost matrix"
        )
    geom = stops.geometry
    if geom.isna().any() or geom.is_empty.any() or (geom.geom_type != "Point").any():
        raise PlannerError("every stop needs a point geometry for a Euclidean route")
    xy = np.column_stack([geom.x.to_numpy(), geom.y.to_numpy()])
    return np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))


def _cost_matrix(stops: gpd.GeoDataFrame, ids: pd.Series, cost: object) -> np.ndarray:
    if cost is None:
        return _euclidean(stops)
    if isinstance(cost, pd.DataFrame):
        labels = cost.index.astype(str), cost.columns.astype(str)
        if absent := sorted(set(ids) - set(labels[0]) | set(ids) - set(labels[1])):
            raise PlannerError(f"cost matrix has no row/column for stop(s) {', '.join(absent)}")
        frame = cost.set_axis(labels[0], axis=0).set_axis(labels[1], axis=1)
        return frame.loc[list(ids), list(ids)].to_numpy(dtype=float)
    d = np.asarray(cost, dtype=float)
    if d.shape != (len(stops), len(stops)):
        raise PlannerError(f"cost matrix must be {len(stops)}×{len(stops)}, got {d.shape}")
    return d


def plan_route(
    stops: gpd.GeoDataFrame,
    *,
    cost: np.ndarray | pd.DataFrame | None = None,
    closed: bool = True,
    start: str | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Order stops into a short inspection route.

    Parameters
    ----------
    stops
        Points (e.g. from :func:`sample_inspection`) in a metric CRS, with an ``id`` column
        (the index is used without one).
    cost
        None for straight-line distances; else an n×n matrix aligned with the rows of
        ``stops``, or a DataFrame indexed and labelled by stop id (e.g. road distances in
        metres; may be asymmetric).
    closed
        True for a round trip back to the first stop, False for an open path.
    start
        Id of the stop to start from (default: the first row for a closed tour, the best
        start for an open path).

    Returns
    -------
    ordered, route
        ``ordered``: the stops in visiting order with ``order`` (1-based), ``center_id``,
        ``leg_m`` (cost from the previous stop, 0 for the first) and ``cum_m`` leading.
        ``route``: one row with ``stops``, ``length_m`` (including the return leg when
        closed), ``return_m`` and ``closed``; its geometry is the LineString through the
        stops in order (straight segments even when ``cost`` follows roads), None for a
        single stop.
    """
    if len(stops) == 0:
        raise PlannerError("no stops to route")
    ids = _stop_ids(stops)
    d = _validate_cost(_cost_matrix(stops, ids, cost))
    begin = None
    if start is not None:
        hits = np.flatnonzero(ids.to_numpy() == str(start))
        if len(hits) == 0:
            raise PlannerError(f"start stop {start!r} is not among the stops")
        begin = int(hits[0])
    order = solve_tour(d, closed=closed, start=begin)
    legs = np.concatenate([[0.0], d[order[:-1], order[1:]]])
    back = float(d[order[-1], order[0]]) if closed and len(order) > 1 else 0.0
    ordered = stops.iloc[order].copy()
    lead = {"order": np.arange(1, len(order) + 1), "center_id": ids.iloc[order].to_numpy(),
            "leg_m": legs, "cum_m": np.cumsum(legs)}  # fmt: skip
    for k, (col, values) in enumerate(lead.items()):
        if col in ordered.columns:
            ordered = ordered.drop(columns=col)
        ordered.insert(k, col, values)
    geom = stops.geometry.iloc[order]
    line = None
    if len(order) > 1 and not (geom.isna() | geom.is_empty).any():
        pts = geom.representative_point()
        xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
        line = LineString(np.vstack([xy, xy[:1]]) if closed else xy)
    route = gpd.GeoDataFrame(
        {
            "stops": [len(order)],
            "length_m": [float(legs.sum()) + back],
            "return_m": [back],
            "closed": [closed],
        },
        geometry=[line],
        crs=stops.crs,
    )
    return ordered, route


def inspection_round(
    centers: gpd.GeoDataFrame,
    n: int,
    *,
    seed: int,
    weight_noncompliant: float = 3.0,
    strata: Sequence[str] = ("county_id", "level"),
    cost: Callable[[gpd.GeoDataFrame], np.ndarray | pd.DataFrame] | None = None,
    closed: bool = True,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Sample ``n`` centers (:func:`sample_inspection`) and route them (:func:`plan_route`).

    ``cost``, when given, is called with the sampled stops and returns their cost matrix
    (e.g. road-network distances); straight-line distances are used otherwise.
    """
    sample = sample_inspection(
        centers, n, seed=seed, weight_noncompliant=weight_noncompliant, strata=strata
    )
    return plan_route(sample, cost=None if cost is None else cost(sample), closed=closed)


def inspection_table(stops: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """The ordered stops as a printable checklist (headers in ``lang``).

    Keeps order, id, name, level, township, county, leg and cumulative distance (km),
    compliance and its issues where present, and adds one empty column per item of the
    on-site checklist (works finished, equipment, signage, staff on duty, service ledger,
    notice board).
    """
    if lang not in ("zh", "en"):
        raise PlannerError(f"lang must be zh or en, got {lang!r}")
    zh = lang == "zh"
    columns = [("order", "序号", None), ("center_id", "中心编号", None), ("name", "名称", None),
               ("level", "级别", None), ("township_id", "乡镇代码", None),
               ("county_id", "县级代码", None), ("leg_m", "上段距离（km）", "km"),
               ("cum_m", "累计距离（km）", "km"), ("compliant", "是否达标", "verdict"),
               ("compliance_issues", "问题", None)]  # fmt: skip
    out = pd.DataFrame(index=range(len(stops)))
    for col, zh_name, conv in columns:
        if col not in stops.columns:
            continue
        values = stops[col].reset_index(drop=True)
        if conv == "km":
            values = (values.astype(float) / 1000.0).round(2)
        elif conv == "verdict":
            flags = values.astype("boolean")
            yes, no, unk = ("是", "否", "待核实") if zh else ("yes", "no", "to verify")
            values = pd.Series(np.where(flags.isna(), unk, np.where(flags.fillna(False), yes, no)))
        elif col == "level" and zh:
            values = values.map(_LEVEL_ZH).fillna(values)
        name = zh_name if zh else col.removesuffix("_m") + ("_km" if conv == "km" else "")
        out[name] = values.to_numpy()
    for en_item, zh_item in _CHECKLIST:
        out[zh_item if zh else en_item] = ""
    return out


def road_cost(net: RoadNetwork, *, mode: str = "drive") -> Callable[[gpd.GeoDataFrame], np.ndarray]:
    """A ``cost`` for :func:`inspection_round`: road distances (m) between the stops.

    Pairs the road network cannot connect (a stop on a cut-off road) fall back to three
    times their straight-line distance, so a round can always be ordered; the fallback is
    logged.
    """
    from planner.network import sites_within, snap

    def cost(stops: gpd.GeoDataFrame) -> np.ndarray:
        joined = snap(net, stops.geometry, mode=mode)
        pairs = sites_within(net, joined, joined, cutoff=np.inf, weight="length", mode=mode)
        dense = np.full((len(stops), len(stops)), np.inf)
        coo = pairs.tocoo()
        dense[coo.row, coo.col] = coo.data  # row: to, column: from
        dense = dense.T
        np.fill_diagonal(dense, 0.0)
        missing = ~np.isfinite(dense)
        if missing.any():
            xy = np.column_stack([stops.geometry.x, stops.geometry.y])
            straight = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
            dense[missing] = 3.0 * straight[missing]
            warn(
                f"inspection route: {int(missing.sum())} stop pair(s) not connected by road; "
                "using 3 × the straight-line distance for them"
            )
        return dense

    return cost
