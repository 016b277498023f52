"""Private search machinery for :mod:`planner.network`.

Virtual nodes on edges, extension of the cached base CSR matrix, sums along shortest-path
trees (pointer doubling), chains of edges and the reached parts of edges for service
areas.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from planner.network.noding import group_starts, spatial_order

#: Share of the buffer distance by which reached road is simplified before it is buffered
#: (:func:`buffered_groups`).
SIMPLIFY_SHARE = 0.002
#: Vertices this close (m) to the end of a substring are dropped (:func:`substrings`).
_NEAR_M = 1e-6
#: Dense distance cells per Dijkstra batch in :func:`pairs_within` (~160 MB of float64).
CHUNK_CELLS = 20_000_000
#: Sources per batch in :func:`pairs_within` (halved while a batch exceeds CHUNK_CELLS).
_BATCH = 64

if TYPE_CHECKING:
    from planner.network.graph import RoadNetwork


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
    #: edge and offset along it of each on-road node, in node order
    on_edge: tuple[np.ndarray, np.ndarray]


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
        on_edge=(edge[usable], np.clip(offset[usable], 0.0, length[edge[usable]])),
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
    order = np.lexsort((b, a, label, chain))
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
    return shapely.linestrings(points, indices=part)


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


def pairs_within(
    net: RoadNetwork,
    aug: Augmented,
    walk: np.ndarray,
    cutoff: float,
    *,
    shape: tuple[int, int],
    reach_m: float,
) -> csr_matrix:
    """Source → point-group-1 costs within ``cutoff`` by batched bounded Dijkstras.

    Sources are taken in Z-order, a batch at a time, and each batch searches only the
    nodes within ``reach_m`` (straight line, the farthest a cost of ``cutoff`` can get
    along roads) of the box around its on-road points: the same costs as a search of the
    whole graph, with dense ``batch × nodes`` blocks that stay small.
    """
    node = aug.nodes[1]
    on = np.flatnonzero(node >= 0)
    ready = np.flatnonzero(aug.access >= 0)
    xy = _node_xy(net, aug)
    ready = ready[spatial_order(xy[aug.access[ready]])]
    by_x = np.argsort(xy[:, 0], kind="stable")
    xs = xy[by_x, 0]
    local = np.full(len(xy), -1, dtype=np.int64)
    rows, cols, values = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    first, size = 0, _BATCH
    while first < len(ready):
        block = ready[first : first + size]
        at = xy[aug.access[block]]
        lo, hi = at.min(axis=0) - reach_m, at.max(axis=0) + reach_m
        band = by_x[np.searchsorted(xs, lo[0], "left") : np.searchsorted(xs, hi[0], "right")]
        keep = np.sort(band[(xy[band, 1] >= lo[1]) & (xy[band, 1] <= hi[1])])
        if len(block) > 1 and len(block) * len(keep) > CHUNK_CELLS:
            size = max(1, len(block) // 2)
            continue
        local[keep] = np.arange(len(keep))
        dist = dijkstra(
            aug.graph[keep][:, keep], directed=True, indices=local[aug.access[block]], limit=cutoff
        )
        near = on[local[node[on]] >= 0]
        cost = dist[:, local[node[near]]] + walk[near]
        r, c = np.nonzero(np.isfinite(cost) & (cost <= cutoff))
        rows.append(near[c])
        cols.append(block[r])
        values.append(cost[r, c])
        local[keep] = -1
        first, size = first + len(block), _BATCH
    data = (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols)))
    return coo_matrix(data, shape=shape).tocsr()


def _node_xy(net: RoadNetwork, aug: Augmented) -> np.ndarray:
    """Position of every node of an augmented graph; an access node sits at its on-road
    node (its own point is a walk away)."""
    edge, offset = aug.on_edge
    lines = np.asarray(net.edges.geometry.values)[edge]
    on_road = shapely.get_coordinates(shapely.line_interpolate_point(lines, offset))
    xy = np.concatenate([net.node_xy, on_road, np.zeros((int((aug.access >= 0).sum()), 2))])
    has = aug.access >= 0
    xy[aug.access[has]] = xy[aug.nodes[0][has]]
    return xy


def buffered_groups(lines: np.ndarray, owner: np.ndarray, n: int, distance: float) -> np.ndarray:
    """Union of the buffered lines of each owner ``0..n-1``; empty polygons for the others.

    Each owner's lines are merged where they chain, buffered one by one (round ends, four
    segments per quarter circle) and united: several times faster than buffering one
    multi-line per owner. Cost grows with the reached road, O(k log k) for k pieces.
    Owners are split into two halves of about equal vertex counts, buffered and united
    in two threads (GEOS runs without the GIL).

    The merged lines are first simplified (Douglas-Peucker) by :data:`SIMPLIFY_SHARE` of
    ``distance``: the outline moves by at most that (0.1 m for a 50 m buffer, a tenth of
    the 0.96 m by which four segments per quarter circle already cut round ends), while
    nearly straight roads drawn with dense vertices lose most of them, which halves the
    vertices of the result and the time to unite it.
    """
    shapes = np.full(n, shapely.Polygon(), dtype=object)
    if len(lines) == 0:
        return shapes
    order = np.argsort(owner, kind="stable")
    present, first = np.unique(owner[order], return_index=True)
    group = np.repeat(np.arange(len(present)), np.diff(np.r_[first, len(order)]))
    merged = shapely.line_merge(shapely.multilinestrings(lines[order], indices=group))
    merged = shapely.simplify(merged, SIMPLIFY_SHARE * distance, preserve_topology=False)
    weight = np.cumsum(shapely.get_num_coordinates(merged))
    half = np.searchsorted(weight, weight[-1] / 2)
    halves = [h for h in (np.arange(half), np.arange(half, len(merged))) if len(h)]
    with ThreadPoolExecutor(max_workers=len(halves)) as pool:
        united = pool.map(partial(_buffer_union, merged, distance), halves)
        for which, shape in zip(halves, united, strict=True):
            shapes[present[which]] = shape
    return shapes


def _buffer_union(merged: np.ndarray, distance: float, which: np.ndarray) -> np.ndarray:
    """Buffered union of the parts of each of ``merged[which]``."""
    parts, at = shapely.get_parts(merged[which], return_index=True)
    polygons = shapely.buffer(parts, distance, quad_segs=4)
    starts = np.flatnonzero(group_starts(at))
    united = np.full(len(which), shapely.Polygon(), dtype=object)
    for k, chunk in zip(at[starts], np.split(polygons, starts[1:]), strict=True):
        united[k] = shapely.union_all(chunk)
    return united
