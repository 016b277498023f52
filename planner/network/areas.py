"""Service-area geometry: the reached stretches of edges, chains of edges joined end to
end, vectorised substrings and buffered unions per source."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from planner.network.graph import RoadNetwork
from planner.network.noding import group_starts
from planner.network.search import Augmented

#: Share of the buffer distance by which reached road is simplified before it is buffered
#: (:func:`buffered_groups`).
SIMPLIFY_SHARE = 0.008
#: Vertices this close (m) to the end of a substring are dropped (:func:`substrings`).
_NEAR_M = 1e-6


def reached_parts(
    net: RoadNetwork,
    aug: Augmented,
    dist: np.ndarray,
    source: np.ndarray,
    *,
    cutoff: float,
    weight: str,
    mode: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reached stretches of edges → (edge, start offset, end offset, source).

    A stretch between nodes ``a`` and ``b`` is entered from each end the mode may leave
    by; each end's source covers the points it reaches within ``cutoff`` that are no
    farther from it than from the other end's source.
    """
    length = net.edges["length"].to_numpy(dtype=float)
    forward, backward = net.directions(mode)
    free = forward.copy()  # edges the mode may use and that hold no point
    free[aug.hosted] = False
    edge_ids = np.flatnonzero(free)
    ca, cb, ch, cta, ctb = aug.chain
    a = np.concatenate([ca, net.edges["u"].to_numpy()[free]])
    b = np.concatenate([cb, net.edges["v"].to_numpy()[free]])
    host = np.concatenate([ch, edge_ids])
    ta = np.concatenate([cta, np.zeros(len(edge_ids))])
    tb = np.concatenate([ctb, length[free]])
    span = tb - ta
    per_m = np.ones(len(host)) if weight == "length" else 3.6 / net.speed_kph(mode)[host]
    da = np.where(forward[host], dist[a], np.inf)
    db = np.where(backward[host], dist[b], np.inf)
    fa, fb = np.isfinite(da), np.isfinite(db)
    split = np.where(fa, span, 0.0)
    both = fa & fb
    split[both] = np.clip(((db[both] - da[both]) / per_m[both] + span[both]) / 2, 0, span[both])
    reach_a = np.zeros(len(host))
    reach_a[fa] = np.minimum(split[fa], (cutoff - da[fa]) / per_m[fa])
    reach_b = np.zeros(len(host))
    reach_b[fb] = np.minimum(span[fb] - split[fb], (cutoff - db[fb]) / per_m[fb])
    pa, pb = reach_a > 0, reach_b > 0
    return (
        np.concatenate([host[pa], host[pb]]),
        np.concatenate([ta[pa], tb[pb] - reach_b[pb]]),
        np.concatenate([ta[pa] + reach_a[pa], tb[pb]]),
        np.concatenate([source[a[pa]], source[b[pb]]]),
    )


@dataclass(frozen=True)
class Chains:
    """Edges a mode may use, strung into chains through the nodes where exactly two of
    them meet (a closed ring of such nodes is opened at the ``u`` end of its lowest edge).

    Attributes
    ----------
    chain
        Chain of each edge; -1 for edges the mode may not use.
    start
        Offset along its chain (m) of the edge's end nearer the chain's start.
    reverse
        The edge's geometry runs against its chain.
    lines
        One LineString per chain: its edges' geometries joined end to end.
    """

    chain: np.ndarray
    start: np.ndarray
    reverse: np.ndarray
    lines: np.ndarray


def chains_of(net: RoadNetwork, mode: str) -> Chains:
    """The :class:`Chains` of a mode, built once per network."""
    return net.cached(("chains", mode), lambda: build_chains(net, mode))


def build_chains(net: RoadNetwork, mode: str) -> Chains:
    """Chains of the edges ``mode`` may use (see :class:`Chains`), by pointer doubling."""
    usable = np.flatnonzero(net.speed_kph(mode) > 0)
    k, n = len(usable), net.n_nodes
    if k == 0:
        none = np.full(len(net.edges), -1, dtype=np.int64)
        return Chains(none, np.zeros(len(none)), none >= 0, np.empty(0, dtype=object))
    length = net.edges["length"].to_numpy(dtype=float)[usable]
    eu, ev = net.edges["u"].to_numpy()[usable], net.edges["v"].to_numpy()[usable]
    # darts: 0..k-1 run along the edges (u → v), k..2k-1 against them
    tail, head = np.concatenate([eu, ev]), np.concatenate([ev, eu])
    link = np.bincount(tail, minlength=n) == 2
    comp = _link_components(tail, link, k)
    ring = np.ones(comp.max() + 1, dtype=bool)
    ring[comp[~link[eu] | ~link[ev]]] = False  # chains with an end are not rings
    first = np.full(len(ring), k, dtype=np.int64)
    np.minimum.at(first, comp, np.arange(k))
    link[eu[first[ring]]] = False  # open each ring at the u end of its lowest edge
    nxt = _next_darts(tail, head, link, k)
    total, steps, last = _to_path_end(nxt, np.concatenate([length, length]))
    heads = np.flatnonzero(~link[tail])  # darts leaving a chain end
    canon = np.full(len(ring), 2 * k, dtype=np.int64)
    np.minimum.at(canon, comp[heads % k], heads)  # one direction per chain
    dart = np.arange(2 * k)
    along = dart[last == last[canon[comp[dart % k]]]]  # darts of that direction
    edge = along % k
    chain = np.full(len(net.edges), -1, dtype=np.int64)
    start = np.zeros(len(net.edges))
    reverse = np.zeros(len(net.edges), dtype=bool)
    chain[usable[edge]] = comp[edge]
    start[usable[edge]] = total[canon[comp[edge]]] - total[along]
    reverse[usable[edge]] = along >= k
    lines = _join_edges(net, usable[edge], comp[edge], -steps[along], along >= k)
    return Chains(chain, start, reverse, lines)


def _link_components(tail: np.ndarray, link: np.ndarray, k: int) -> np.ndarray:
    """Component of each edge when edges are joined at the link nodes."""
    order = np.argsort(tail, kind="stable")
    at = order[link[tail[order]]].reshape(-1, 2) % k  # the two edges at each link node
    graph = coo_matrix((np.ones(len(at)), (at[:, 0], at[:, 1])), shape=(k, k))
    return connected_components(graph, directed=False)[1]


def _next_darts(tail: np.ndarray, head: np.ndarray, link: np.ndarray, k: int) -> np.ndarray:
    """Dart that continues each dart through its head node (-1 at a chain end)."""
    twin = np.r_[np.arange(k, 2 * k), np.arange(k)]
    order = np.argsort(tail, kind="stable")
    pairs = order[link[tail[order]]].reshape(-1, 2)  # the two darts leaving each link node
    nxt = np.full(len(tail), -1, dtype=np.int64)
    nxt[twin[pairs[:, 0]]] = pairs[:, 1]
    nxt[twin[pairs[:, 1]]] = pairs[:, 0]
    return nxt


def _to_path_end(nxt: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per dart, by pointer doubling: weight summed to the end of its path (itself
    included), number of darts to that end and the last dart."""
    total, steps, last = weight.copy(), np.ones(len(nxt), dtype=np.int64), np.arange(len(nxt))
    jump = nxt.copy()
    while (on := np.flatnonzero(jump >= 0)).size:
        to = jump[on]
        total[on] += total[to]
        steps[on] += steps[to]
        last[on] = last[to]
        jump[on] = jump[to]
    return total, steps, last


def _join_edges(
    net: RoadNetwork, edge: np.ndarray, chain: np.ndarray, rank: np.ndarray, reverse: np.ndarray
) -> np.ndarray:
    """LineStrings of edge geometries joined end to end: per chain, edges in ``rank``
    order, each reversed where asked."""
    if len(edge) == 0:
        return np.empty(0, dtype=object)
    order = np.lexsort((rank, chain))
    chain, reverse = chain[order], reverse[order]
    xy, which = shapely.get_coordinates(
        np.asarray(net.edges.geometry.values)[edge[order]], return_index=True
    )
    count = np.bincount(which, minlength=len(order))
    first = np.r_[0, np.cumsum(count)[:-1]][which]
    pos = np.arange(len(xy)) - first
    xy = xy[first + np.where(reverse[which], count[which] - 1 - pos, pos)]
    keep = (pos > 0) | group_starts(chain)[which]  # joints once
    return shapely.linestrings(xy[keep], indices=chain[which][keep])


def chain_runs(
    chains: Chains,
    length: np.ndarray,
    host: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    label: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parts of edges as stretches of chains, where touching parts of one label along a
    chain are joined into one → (chain, start offset, end offset, label)."""
    base, flip = chains.start[host], chains.reverse[host]
    a = np.where(flip, base + length[host] - end, base + start)
    b = np.where(flip, base + length[host] - start, base + end)
    chain = chains.chain[host]
    if len(host) == 0:
        return chain, a, b, label
    # ties of chain, label and start need no order: they fall in one run
    order = np.lexsort((a, chain * (label.max() + 1) + label))
    chain, label, a, b = chain[order], label[order], a[order], b[order]
    group = np.r_[True, (chain[1:] != chain[:-1]) | (label[1:] != label[:-1])]
    reach = pd.Series(b).groupby(np.cumsum(group)).cummax().to_numpy()  # farthest end so far
    runs = np.flatnonzero(group | np.r_[False, a[1:] > reach[:-1] + _NEAR_M])
    return chain[runs], a[runs], np.maximum.reduceat(b, runs), label[runs]


def substrings(
    lines: np.ndarray, which: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """Vectorised ``shapely.ops.substring``: the part of ``lines[which[i]]`` between the
    offsets ``start[i]`` and ``end[i]``, for every ``i``.

    Each line's vertices are read once however many parts it gives; the end points are
    interpolated on the segments found by binary search. Vertices within a micrometre of
    an end point are left out (no near-zero segment of arbitrary direction at the ends).
    """
    if len(which) == 0:
        return np.empty(0, dtype=object)
    xy, line = shapely.get_coordinates(lines, return_index=True)
    step = np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)]
    first = group_starts(line)
    step[first] = 1.0  # a gap between lines keeps the running offset increasing
    along = np.cumsum(step)
    head = np.flatnonzero(first)
    tail = np.r_[head[1:], len(xy)] - 1
    base = along[head][which]
    # inner vertices lie past start and before end by more than the rounding of ``along``
    lo = np.searchsorted(along, base + start + _NEAR_M, side="right")
    hi = np.searchsorted(along, base + end - _NEAR_M, side="left")
    lo = np.minimum(lo, tail[which] + 1)
    hi = np.clip(hi, lo, tail[which] + 1)
    inner = hi - lo
    a = _point_at(xy, along, base + start, lo - 1, head[which], tail[which])
    b = _point_at(xy, along, base + end, hi - 1, head[which], tail[which])
    part = np.repeat(np.arange(len(which)), inner + 2)
    pos = np.arange(len(part)) - np.repeat(np.cumsum(inner + 2) - (inner + 2), inner + 2)
    at = np.clip(lo[part] + pos - 1, 0, len(xy) - 1)
    points = np.where((pos == 0)[:, None], a[part], xy[at])
    points = np.where((pos == inner[part] + 1)[:, None], b[part], points)
    return shapely.linestrings(points, indices=part)  # type: ignore[return-value]  # indices: array


def _point_at(
    xy: np.ndarray,
    along: np.ndarray,
    offset: np.ndarray,
    seg: np.ndarray,
    head: np.ndarray,
    tail: np.ndarray,
) -> np.ndarray:
    """Points at running offsets, each on the segment starting at vertex ``seg`` (clipped
    to its line's segments, ``head``..``tail``)."""
    seg = np.clip(seg, head, np.maximum(tail - 1, head))
    nxt = np.minimum(seg + 1, tail)
    span = along[nxt] - along[seg]
    frac = np.divide(offset - along[seg], span, out=np.zeros(len(seg)), where=span > 0)
    frac = np.clip(frac, 0.0, 1.0)[:, None]
    return xy[seg] + frac * (xy[nxt] - xy[seg])


def buffered_groups(
    pool: Executor, lines: np.ndarray, owner: np.ndarray, n: int, distance: float
) -> Callable[[], np.ndarray]:
    """Union of the buffered lines of each owner ``0..n-1``; empty polygons for the others.
    The geometry work is submitted to ``pool``; the function returned waits for it and
    gives the shapes.

    Each owner's lines are merged where they chain, buffered one by one (round ends, four
    segments per quarter circle) and united: several times faster than buffering one
    multi-line per owner. Cost grows with the reached road, O(k log k) for k pieces.
    Owners are split into two halves of about equal vertex counts, buffered and united
    as two tasks (GEOS runs without the GIL). Several calls may share one pool, so that
    the shapes of one set of owners are made while the caller prepares the next; each
    owner's shape is the same however its work is scheduled.

    The merged lines are first simplified (Douglas-Peucker) by :data:`SIMPLIFY_SHARE` of
    ``distance``: the outline moves by at most that (0.4 m for a 50 m buffer, less than
    the 0.96 m by which four segments per quarter circle already cut round ends), while
    roads drawn with dense vertices lose most of them: on a county of 310,000 road
    segments the result has about half the vertices of a 0.1 m simplification and is
    united in about two thirds of the time, every polygon within 0.5 % of its area
    (symmetric difference) and about 2 m (Hausdorff distance) of the 0.1 m drawing.
    """
    shapes = np.full(n, shapely.Polygon(), dtype=object)
    if len(lines) == 0:
        return lambda: shapes
    order = np.argsort(owner, kind="stable")
    present, first = np.unique(owner[order], return_index=True)
    group = np.repeat(np.arange(len(present)), np.diff(np.r_[first, len(order)]))
    merged: np.ndarray = shapely.line_merge(  # type: ignore[assignment]  # indices: array
        shapely.multilinestrings(lines[order], indices=group)
    )
    merged = shapely.simplify(merged, SIMPLIFY_SHARE * distance, preserve_topology=False)
    weight = np.cumsum(shapely.get_num_coordinates(merged))
    half = np.searchsorted(weight, weight[-1] / 2)
    halves = [h for h in (np.arange(half), np.arange(half, len(merged))) if len(h)]
    futures = [pool.submit(_buffer_union, merged, distance, which) for which in halves]

    def result() -> np.ndarray:
        for which, future in zip(halves, futures, strict=True):
            shapes[present[which]] = future.result()
        return shapes

    return result


def _buffer_union(merged: np.ndarray, distance: float, which: np.ndarray) -> np.ndarray:
    """Buffered union of the parts of each of ``merged[which]``."""
    parts, at = shapely.get_parts(merged[which], return_index=True)
    polygons = shapely.buffer(parts, distance, quad_segs=4)
    starts = np.flatnonzero(group_starts(at))
    united = np.full(len(which), shapely.Polygon(), dtype=object)
    for k, chunk in zip(at[starts], np.split(polygons, starts[1:]), strict=True):
        united[k] = shapely.union_all(chunk)
    return united
