"""Private search machinery for :mod:`planner.network`.

Virtual nodes on edges, extension of the cached base CSR matrix, one multi-source Dijkstra,
sums along shortest-path trees (pointer doubling) and batched bounded searches for the pairs
within a cutoff. Service-area geometry is in :mod:`planner.network.areas`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra

from planner.network.graph import Base, RoadNetwork
from planner.network.noding import group_starts, spatial_order

#: Dense distance cells per Dijkstra batch in :func:`pairs_within` (~160 MB of float64).
CHUNK_CELLS = 20_000_000
#: Above this many cells (16 MB) a batch is searched one source at a time: touching a large
#: fresh block costs more than the searches (the costs are the same either way).
DENSE_CELLS = 2_000_000
#: Sources per batch in :func:`pairs_within` (halved while a batch exceeds CHUNK_CELLS).
_BATCH = 64


class Points(Protocol):
    """What the search needs of a snap: edge (-1 if none), offset along it, access leg."""

    @property
    def edge(self) -> np.ndarray: ...

    @property
    def offset(self) -> np.ndarray: ...

    @property
    def access_m(self) -> np.ndarray: ...


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
    groups = [sources, *others]
    edge, offset, node = _on_road_nodes(net, mode, groups)
    usable = node >= 0
    n_points = int(usable.sum())
    (a, b, host, ta, tb), hosted = _chain_pieces(net, edge[usable], offset[usable], node[usable])
    w, o = _costs(tb - ta, net.speed_kph(mode)[host] / 3.6, weight)
    forward, backward = net.directions(mode)
    along, against = forward[host], backward[host]
    src_node = node[: len(sources.edge)]
    has = src_node >= 0
    access = np.full(len(src_node), -1, dtype=np.int64)
    access[has] = n + n_points + np.arange(has.sum())
    aw, ao = _costs(
        np.asarray(sources.access_m, dtype=float)[has], net.access_speed_kph / 3.6, weight
    )
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
    base = net._base(mode, weight)
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
        hosted=hosted,
        on_edge=(edge[usable], offset[usable]),
    )


def _on_road_nodes(
    net: RoadNetwork, mode: str, groups: list[Points]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge, offset and on-road node of every point of the groups, in order.

    Usable points (snapped to an edge the mode may use) get nodes ``n_nodes, n_nodes + 1,
    …`` and their offsets clipped to the edge; the others get node -1.
    """
    length = net.edges["length"].to_numpy(dtype=float)
    edge = np.concatenate([group.edge for group in groups]).astype(np.int64)
    offset = np.concatenate([group.offset for group in groups])
    usable = edge >= 0
    usable[usable] = net.speed_kph(mode)[edge[usable]] > 0
    node = np.full(len(edge), -1, dtype=np.int64)
    node[usable] = net.n_nodes + np.arange(int(usable.sum()))
    offset[usable] = np.clip(offset[usable], 0.0, length[edge[usable]])
    return edge, offset, node


def _chain_pieces(
    net: RoadNetwork, e: np.ndarray, t: np.ndarray, ids: np.ndarray
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Chains ``u→p1→…→pk→v`` of the edges ``e`` holding on-road nodes ``ids`` at offsets
    ``t`` → ((from node, to node, edge, from offset, to offset) per piece, edges held)."""
    length = net.edges["length"].to_numpy(dtype=float)
    u, v = net.edges["u"].to_numpy(), net.edges["v"].to_numpy()
    order = np.lexsort((t, e))
    e, t, ids = e[order], t[order], ids[order]
    start = group_starts(e)
    last = np.r_[start[1:], True][: len(e)]
    a = np.concatenate([np.where(start, u[e], np.roll(ids, 1)), ids[last]])
    b = np.concatenate([ids, v[e[last]]])
    host = np.concatenate([e, e[last]])
    ta = np.concatenate([np.where(start, 0.0, np.roll(t, 1)), t[last]])
    tb = np.concatenate([t, length[e[last]]])
    return (a, b, host, ta, tb), e[start]


def _costs(metres: np.ndarray, mps: np.ndarray | float, weight: str) -> tuple[np.ndarray, ...]:
    """(search cost, other metric) of stretches of ``metres`` travelled at ``mps``."""
    seconds = metres / mps
    return (metres, seconds) if weight == "length" else (seconds, metres)


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
    whole graph, with dense ``batch × nodes`` blocks that stay small (a batch whose block
    would be large is searched one source at a time, see :func:`_batch_costs`).
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
        near = on[local[node[on]] >= 0]
        sub = aug.graph[keep][:, keep]
        cost = _batch_costs(sub, local[aug.access[block]], local[node[near]], cutoff) + walk[near]
        r, c = np.nonzero(np.isfinite(cost) & (cost <= cutoff))
        rows.append(near[c])
        cols.append(block[r])
        values.append(cost[r, c])
        local[keep] = -1
        first, size = first + len(block), _BATCH
    data = (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols)))
    return coo_matrix(data, shape=shape).tocsr()


def _batch_costs(
    graph: csr_matrix, starts: np.ndarray, targets: np.ndarray, cutoff: float
) -> np.ndarray:
    """``len(starts) × len(targets)`` costs within ``cutoff`` (inf beyond): one dense
    bounded Dijkstra for a small block, else one search per start keeping only the
    target columns."""
    if len(starts) * graph.shape[0] <= DENSE_CELLS:
        return dijkstra(graph, directed=True, indices=starts, limit=cutoff)[:, targets]
    rows = [
        dijkstra(graph, directed=True, indices=start, limit=cutoff, min_only=True)[targets]
        for start in starts
    ]
    return np.stack(rows)


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
