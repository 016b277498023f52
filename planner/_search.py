"""Private search machinery for :mod:`planner.network`.

Virtual nodes on edges, extension of the cached base CSR matrix, sums along shortest-path
trees (pointer doubling) and the reached parts of edges for service areas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra

from planner._noding import group_starts

#: Dense distance cells per Dijkstra batch in :func:`pairs_within` (~160 MB of float64).
CHUNK_CELLS = 20_000_000

if TYPE_CHECKING:
    from planner.network import RoadNetwork


@dataclass(frozen=True)
class Base:
    """Directed edges of one (mode, weight), deduplicated to the cheapest, in CSR order."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    other: np.ndarray
    rows: np.ndarray
    keys: np.ndarray


def build_base(net: RoadNetwork, mode: str, weight: str) -> Base:
    """Directed edges a mode may use, cheapest of parallel ones, as CSR arrays."""
    forward, backward = net.directions(mode)
    u = net.edges["u"].to_numpy()
    v = net.edges["v"].to_numpy()
    cost = net.edge_cost(mode, weight)
    other = net.edge_cost(mode, "time" if weight == "length" else "length")
    rows = np.concatenate([u[forward], v[backward]])
    cols = np.concatenate([v[forward], u[backward]])
    w = np.concatenate([cost[forward], cost[backward]])
    o = np.concatenate([other[forward], other[backward]])
    keys = rows.astype(np.int64) * net.n_nodes + cols
    order = np.argsort(keys, kind="stable")
    start = group_starts(keys[order])
    if not start.all():  # parallel edges: keep the cheapest (then the shortest other way)
        order = order[np.lexsort((o[order], w[order], np.cumsum(start)))]
    first = order[start]
    rows, cols = rows[first].astype(np.int32), cols[first].astype(np.int32)
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=net.n_nodes))].astype(np.int32)
    return Base(indptr, cols, w[first], o[first], rows, keys[first])


class Points(Protocol):
    """What the search needs of a snap: edge (-1 if none), offset along it, access leg."""

    edge: np.ndarray
    offset: np.ndarray
    access_m: np.ndarray


@dataclass(frozen=True)
class Augmented:
    """A base graph plus virtual nodes for snapped points and access nodes for sources.

    Node numbering: network nodes ``0..n_base-1``, then one on-road node per usable point
    (in the order the point groups were given), then one access node per usable source.
    """

    graph: csr_matrix
    n_base: int
    nodes: list[np.ndarray]
    access: np.ndarray
    source_of: np.ndarray
    keys: np.ndarray
    other: np.ndarray
    base: Base
    chain: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    hosted: np.ndarray


def augment(
    net: RoadNetwork, mode: str, weight: str, sources: Points, others: list[Points]
) -> Augmented:
    """Cut the edges holding points into chains of virtual nodes; link sources' access nodes.

    A point is usable when it snapped to an edge the mode may use. The chain of an edge
    ``u→v`` with points at offsets ``t1 ≤ … ≤ tk`` is ``u→p1→…→pk→v`` with the partial
    lengths (or times) and the edge's allowed directions; the edge itself is kept.
    """
    n = net.n_nodes
    base = net._base(mode, weight)
    length = net.edges["length"].to_numpy(dtype=float)
    mps = net.speed_kph(mode) / 3.6
    forward, backward = net.directions(mode)
    u, v = net.edges["u"].to_numpy(), net.edges["v"].to_numpy()
    groups = [sources, *others]
    edge = np.concatenate([group.edge for group in groups]).astype(np.int64)
    offset = np.concatenate([group.offset for group in groups])
    usable = edge >= 0
    usable[usable] = mps[edge[usable]] > 0
    n_points = int(usable.sum())
    node = np.full(len(edge), -1, dtype=np.int64)
    node[usable] = n + np.arange(n_points)
    e, ids = edge[usable], node[usable]
    t = np.clip(offset[usable], 0.0, length[e])
    order = np.lexsort((t, e))
    e, t, ids = e[order], t[order], ids[order]
    start = group_starts(e)
    last = np.r_[start[1:], True][: len(e)]
    a = np.concatenate([np.where(start, u[e], np.roll(ids, 1)), ids[last]])
    b = np.concatenate([ids, v[e[last]]])
    host = np.concatenate([e, e[last]])
    ta = np.concatenate([np.where(start, 0.0, np.roll(t, 1)), t[last]])
    tb = np.concatenate([t, length[e[last]]])
    piece_len = tb - ta
    piece_time = piece_len / mps[host]
    w, o = (piece_len, piece_time) if weight == "length" else (piece_time, piece_len)
    along, against = forward[host], backward[host]
    src_node = node[: len(sources.edge)]
    has = src_node >= 0
    access = np.full(len(src_node), -1, dtype=np.int64)
    access[has] = n + n_points + np.arange(has.sum())
    walk = np.asarray(sources.access_m, dtype=float)[has]
    walk_time = walk / (net.access_speed_kph / 3.6)
    aw, ao = (walk, walk_time) if weight == "length" else (walk_time, walk)
    rows = np.concatenate([a[along], b[against], access[has]])
    cols = np.concatenate([b[along], a[against], src_node[has]])
    data = np.concatenate([w[along], w[against], aw])
    other = np.concatenate([o[along], o[against], ao])
    m = n + n_points + int(has.sum())
    keys = rows * m + cols
    order = np.argsort(keys)
    source_of = np.full(m, -1, dtype=np.int64)
    source_of[access[has]] = np.flatnonzero(has)
    splits = np.cumsum([len(group.edge) for group in groups])[:-1]
    return Augmented(
        graph=_extend(base, n, m, rows, cols, data),
        n_base=n,
        nodes=np.split(node, splits),
        access=access,
        source_of=source_of,
        keys=keys[order],
        other=other[order],
        base=base,
        chain=(a, b, host, ta, tb),
        hosted=e[start],
    )


def _extend(
    base: Base, n: int, m: int, rows: np.ndarray, cols: np.ndarray, data: np.ndarray
) -> csr_matrix:
    """Base CSR (``n`` rows) plus extra entries, as an ``m × m`` CSR without re-sorting."""
    order = np.argsort(rows, kind="stable")
    rows, cols, data = rows[order], cols[order], data[order]
    nnz = len(base.indices)
    extra = np.bincount(rows, minlength=m)
    before = np.r_[0, np.cumsum(extra)]
    counts = extra.copy()
    counts[:n] += np.diff(base.indptr)
    indptr = np.r_[0, np.cumsum(counts)].astype(np.int32)
    base_end = np.full(m, nnz, dtype=np.int64)
    base_end[:n] = base.indptr[1:]
    indices = np.empty(nnz + len(rows), dtype=np.int32)
    values = np.empty(nnz + len(rows))
    at = np.arange(nnz) + before[base.rows]
    indices[at], values[at] = base.indices, base.data
    at = base_end[rows] + np.arange(len(rows))
    indices[at], values[at] = cols, data
    return csr_matrix((values, indices, indptr), shape=(m, m))


def search(aug: Augmented, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One multi-source Dijkstra from all access nodes → (cost, predecessor, source)."""
    m = aug.graph.shape[0]
    starts = aug.access[aug.access >= 0]
    if len(starts) == 0:
        return np.full(m, np.inf), np.full(m, -9999, np.int32), np.full(m, -1, np.int64)
    dist, pred, src = dijkstra(
        aug.graph,
        directed=True,
        indices=starts,
        min_only=True,
        limit=cutoff,
        return_predecessors=True,
    )
    source = np.full(m, -1, dtype=np.int64)
    found = src >= 0
    source[found] = aug.source_of[src[found]]
    return dist, pred, source


def path_sums(aug: Augmented, pred: np.ndarray) -> np.ndarray:
    """The other metric (time for length searches, length for time) summed along the
    shortest-path tree from the root to every node, by pointer doubling."""
    m = len(pred)
    node = np.arange(m)
    has = pred >= 0
    total = np.zeros(m)
    total[has] = _other_weight(aug, pred[has].astype(np.int64), node[has])
    jump = np.where(has, pred, node)
    while True:
        nxt = jump[jump]
        if np.array_equal(nxt, jump):
            return total
        total = total + total[jump]
        jump = nxt


def _other_weight(aug: Augmented, p: np.ndarray, v: np.ndarray) -> np.ndarray:
    n, m = aug.n_base, aug.graph.shape[0]
    out = np.empty(len(p))
    inner = (p < n) & (v < n)
    out[inner] = aug.base.other[np.searchsorted(aug.base.keys, p[inner] * n + v[inner])]
    outer = ~inner
    out[outer] = aug.other[np.searchsorted(aug.keys, p[outer] * m + v[outer])]
    return out


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


def substrings(lines: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Vectorised ``shapely.ops.substring``: the part of each line between two offsets."""
    if len(lines) == 0:
        return np.empty(0, dtype=object)
    first = shapely.get_coordinates(shapely.line_interpolate_point(lines, start))
    final = shapely.get_coordinates(shapely.line_interpolate_point(lines, end))
    xy, which = shapely.get_coordinates(lines, return_index=True)
    step = np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)]
    starts = group_starts(which)
    step[starts] = 0.0
    along = np.cumsum(step)
    along -= along[np.flatnonzero(starts)][which]
    inner = (along > start[which]) & (along < end[which])
    n = len(lines)
    group = np.concatenate([np.arange(n), which[inner], np.arange(n)])
    rank = np.concatenate([np.full(n, -1), np.flatnonzero(inner), np.full(n, len(xy))])
    order = np.lexsort((rank, group))
    points = np.concatenate([first, xy[inner], final])[order]
    return shapely.linestrings(points, indices=group[order])


def pairs_within(
    aug: Augmented, walk: np.ndarray, cutoff: float, *, shape: tuple[int, int]
) -> csr_matrix:
    """Source → point-group-1 costs within ``cutoff`` by batched bounded Dijkstras."""
    node = aug.nodes[1]
    on = np.flatnonzero(node >= 0)
    ready = np.flatnonzero(aug.access >= 0)
    batch = max(1, CHUNK_CELLS // aug.graph.shape[0])
    rows, cols, values = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for first in range(0, len(ready), batch):
        block = ready[first : first + batch]
        dist = dijkstra(aug.graph, directed=True, indices=aug.access[block], limit=cutoff)
        cost = dist[:, node[on]] + walk[on]
        r, c = np.nonzero(np.isfinite(cost) & (cost <= cutoff))
        rows.append(on[c])
        cols.append(block[r])
        values.append(cost[r, c])
    data = (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols)))
    return coo_matrix(data, shape=shape).tocsr()


def buffered_groups(lines: np.ndarray, owner: np.ndarray, n: int, distance: float) -> np.ndarray:
    """Union of the buffered lines of each owner ``0..n-1``; empty polygons for the others.

    Each owner's lines are merged where they chain, buffered one by one (round ends, four
    segments per quarter circle) and united: several times faster than buffering one
    multi-line per owner. Cost grows with the reached road, O(k log k) for k pieces.
    """
    shapes = np.full(n, shapely.Polygon(), dtype=object)
    if len(lines) == 0:
        return shapes
    order = np.argsort(owner, kind="stable")
    present, first = np.unique(owner[order], return_index=True)
    group = np.repeat(np.arange(len(present)), np.diff(np.r_[first, len(order)]))
    merged = shapely.line_merge(shapely.multilinestrings(lines[order], indices=group))
    parts, which = shapely.get_parts(merged, return_index=True)
    polygons = shapely.buffer(parts, distance, quad_segs=4)
    starts = np.flatnonzero(group_starts(which))
    for k, chunk in zip(which[starts], np.split(polygons, starts[1:]), strict=True):
        shapes[present[k]] = shapely.union_all(chunk)
    return shapes
