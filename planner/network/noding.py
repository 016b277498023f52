"""Private noding of road lines: split lines where they cross or touch, vectorised.

Works on the individual straight segments of all lines at once (numpy and STRtree bbox
queries), in three passes:

A. dangling line ends (ends that share their point with no other vertex) within
   ``tolerance`` of a vertex of another line are clustered with it, and all members of a
   cluster move to one point (an existing junction when there is one);
B. remaining dangling ends within ``tolerance`` of the interior of another line's segment
   are inserted into that segment, at the end's own coordinates (T-junctions);
C. segments that properly cross get their intersection point inserted into both (unless
   they are on different layers: a bridge does not meet the road below).

Lines are then cut at every vertex that is a line end, an inserted point or shared by two
or more vertices (same coordinates), giving pieces that meet only at their ends. A piece
that closes on itself is cut once more at its middle vertex. Cost is dominated by the
STRtree bbox query of all segments against each other, O(S log S) for S segments.

Also here: dropping small disconnected fragments (:func:`drop_fragments`); the input lines
are checked and exploded by :func:`planner.network.lines.prepare_lines`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from planner.errors import PlannerError


@dataclass
class Noded:
    """Result of :func:`node_lines`.

    Attributes
    ----------
    pieces
        LineStrings that meet only at their end points.
    line
        For each piece, the position of the input line it comes from.
    ends
        ``(2, n_pieces, 2)``: first and last coordinates of every piece.
    counts
        ``zero_length_segments`` (repeated input vertices dropped), ``snapped_ends`` (vertices
        moved in pass A), ``t_junctions`` (pass B), ``crossings`` (pass C), ``self_loops``
        (pieces that closed on themselves and were cut in two).
    """

    pieces: np.ndarray
    line: np.ndarray
    ends: np.ndarray
    counts: dict[str, int]


@dataclass(frozen=True)
class _Source:
    """The input lines with their vertices, to reuse a line's own geometry wherever noding
    leaves it unchanged (creating GEOS geometries is the costly part of noding)."""

    lines: np.ndarray
    xy: np.ndarray
    line: np.ndarray
    #: position of each line's first vertex in ``xy``, and its vertex count
    start: np.ndarray
    count: np.ndarray
    #: lines that are plain 2D LineStrings (a copy made from ``xy`` would equal them)
    plain: np.ndarray

    @classmethod
    def of(cls, lines: np.ndarray) -> _Source:
        """Vertices of ``lines`` and which lines can stand for their own copies."""
        xy, line = shapely.get_coordinates(lines, return_index=True)
        count = np.bincount(line, minlength=len(lines))
        start = np.r_[0, np.cumsum(count)[:-1]]
        plain = (shapely.get_type_id(lines) == shapely.GeometryType.LINESTRING) & (
            shapely.get_coordinate_dimension(lines) == 2
        )
        return cls(np.asarray(lines), xy, line, start, count, plain)

    def segments(self, xy: np.ndarray, line: np.ndarray, seg: np.ndarray) -> np.ndarray:
        """Two-point LineStrings ``xy[seg]``-``xy[seg + 1]``: a line's own geometry when it
        is that segment, unchanged."""
        held = np.bincount(line, minlength=len(self.lines))[line[seg]]
        own = (held == 2) & (self.count[line[seg]] == 2) & self.plain[line[seg]]
        out = self.lines[line[seg]]
        new = np.flatnonzero(~own)
        if len(new):
            out[new] = shapely.linestrings(np.stack([xy[seg[new]], xy[seg[new] + 1]], axis=1))
        return out

    def pieces(self, xy: np.ndarray, line: np.ndarray, piece: np.ndarray) -> np.ndarray:
        """LineStrings of the vertices ``xy`` grouped by ``piece`` (sorted), each from
        ``line``: the line's own geometry when the piece is the whole line, unchanged."""
        first = np.flatnonzero(group_starts(piece))
        n = np.diff(np.r_[first, len(piece)])
        of = line[first]
        own = self.plain[of] & (self.count[of] == n)
        own &= np.bincount(of, minlength=len(self.lines))[of] == 1
        rank = np.arange(len(piece)) - first[piece]
        at = self.start[line] + np.minimum(rank, self.count[line] - 1)
        moved = np.any(self.xy[at] != xy, axis=1)
        own &= np.bincount(piece[moved], minlength=len(first)) == 0
        out = self.lines[of]
        new = np.flatnonzero(~own)
        if len(new):
            redo = ~own[piece]
            out[new] = shapely.linestrings(
                xy[redo], indices=np.cumsum(group_starts(piece[redo])) - 1
            )
        return out


def point_ids(xy: np.ndarray) -> tuple[np.ndarray, int]:
    """Identify equal coordinate pairs: (id per row, number of distinct points)."""
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64), 0
    order = np.argsort(xy[:, 0] + 1j * xy[:, 1])  # complex sort: by x, then y
    s = xy[order]
    new = np.r_[True, (s[1:, 0] != s[:-1, 0]) | (s[1:, 1] != s[:-1, 1])]
    ids = np.empty(len(xy), dtype=np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids, int(new.sum())


def spatial_order(xy: np.ndarray) -> np.ndarray:
    """Permutation putting points in Z-order (Morton code on a 2^16 grid).

    Numbering graph nodes this way keeps neighbours close in memory, which makes the
    Dijkstra searches markedly faster than in coordinate-sorted order.
    """
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64)
    span = np.maximum(np.ptp(xy, axis=0), 1e-9)
    cell = ((xy - xy.min(axis=0)) / span * 65535).astype(np.uint64)
    code = _spread_bits(cell[:, 0]) | (_spread_bits(cell[:, 1]) << np.uint64(1))
    return np.argsort(code, kind="stable")


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """Bit ``i`` of each 16-bit value moved to bit ``2i`` (the Morton interleave)."""
    for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def group_starts(keys: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal values in a sorted array."""
    return np.r_[True, keys[1:] != keys[:-1]][: len(keys)]


def _drop_repeats(
    xy: np.ndarray, line: np.ndarray, flag: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Drop consecutive equal vertices within a line (OR-ing their node flags)."""
    repeat = np.r_[False, (line[1:] == line[:-1]) & np.all(xy[1:] == xy[:-1], axis=1)]
    starts = np.flatnonzero(~repeat)
    merged = np.maximum.reduceat(flag, starts) if len(starts) else flag
    return xy[starts], line[starts], merged.astype(bool), int(repeat.sum())


def _ends(line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    change = line[1:] != line[:-1]
    return np.r_[True, change], np.r_[change, True]


def _dangle_pairs(
    xy: np.ndarray, dangle: np.ndarray, seg: np.ndarray, tree: shapely.STRtree, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """(dangling vertex, segment) pairs whose bounding boxes are within ``tolerance``."""
    vertex = np.flatnonzero(dangle)
    lo = xy[vertex] - tolerance
    hi = xy[vertex] + tolerance
    found, target = tree.query(shapely.box(*lo.T, *hi.T))
    vertex = vertex[found]
    own = (seg[target] == vertex) | (seg[target] + 1 == vertex)
    return vertex[~own], target[~own]


def _cluster_ends(
    xy: np.ndarray,
    pid: np.ndarray,
    line: np.ndarray,
    dangle: np.ndarray,
    near: tuple[np.ndarray, np.ndarray],
    seg: np.ndarray,
    tolerance: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Pass A: join dangling ends with vertices of other lines within ``tolerance``.

    Each cluster moves to one member, preferring a point that is not a dangling end and is
    shared by most vertices. Returns the new coordinates and a mask of clustered vertices.
    """
    n_points = int(pid.max()) + 1
    vertex, target = near
    p = np.concatenate([vertex, vertex])
    q = np.concatenate([seg[target], seg[target] + 1])
    keep = (line[p] != line[q]) & (pid[p] != pid[q])
    p, q = p[keep], q[keep]
    close = np.hypot(*(xy[p] - xy[q]).T) <= tolerance
    p, q = pid[p[close]], pid[q[close]]
    clustered = np.zeros(len(xy), dtype=bool)
    if len(p) == 0:
        return xy, clustered
    graph = coo_matrix((np.ones(len(p)), (p, q)), shape=(n_points, n_points))
    _, label = connected_components(graph, directed=False)
    multiplicity = np.bincount(pid, minlength=n_points)
    is_dangle = np.zeros(n_points, dtype=bool)
    is_dangle[pid[dangle]] = True
    order = np.lexsort((np.arange(n_points), -multiplicity, is_dangle, label))
    first = group_starts(label[order])
    representative = np.empty(label.max() + 1, dtype=np.int64)
    representative[label[order][first]] = order[first]
    point_xy = np.empty((n_points, 2))
    point_xy[pid] = xy
    clustered = np.bincount(label)[label[pid]] > 1
    new = xy.copy()
    new[clustered] = point_xy[representative[label[pid[clustered]]]]
    return new, clustered


def _project(xy: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parameter (0..1) and distance of points ``xy`` projected on segments ``a``-``b``."""
    d = b - a
    den = np.einsum("ij,ij->i", d, d)
    t = np.clip(np.einsum("ij,ij->i", xy - a, d) / np.where(den > 0, den, 1.0), 0.0, 1.0)
    foot = a + t[:, None] * d
    return t, np.hypot(*(xy - foot).T)


def _t_junctions(
    xy: np.ndarray,
    line: np.ndarray,
    free: np.ndarray,
    near: tuple[np.ndarray, np.ndarray],
    seg: np.ndarray,
    tolerance: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass B: (segment, parameter, vertex) for free dangling ends near a segment interior."""
    vertex, target = near
    keep = free[vertex] & (line[vertex] != line[seg[target]])
    vertex, target = vertex[keep], target[keep]
    t, dist = _project(xy[vertex], xy[seg[target]], xy[seg[target] + 1])
    ok = (t > 0) & (t < 1) & (dist <= tolerance)
    vertex, target, t, dist = vertex[ok], target[ok], t[ok], dist[ok]
    order = np.lexsort((dist, vertex))
    pick = order[group_starts(vertex[order])]
    return target[pick], t[pick], vertex[pick]


def _crossings(xy: np.ndarray, seg: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Pass C: proper crossings → (segment i, t_i, segment j, t_j, point)."""
    i, j = pairs
    x, y = xy[:, 0], xy[:, 1]
    ax, ay, ex, ey = x[seg[i]], y[seg[i]], x[seg[i] + 1], y[seg[i] + 1]
    ex -= ax
    ey -= ay
    cx, cy, dx, dy = x[seg[j]] - ax, y[seg[j]] - ay, x[seg[j] + 1] - ax, y[seg[j] + 1] - ay
    o1 = ex * cy - ey * cx
    o2 = ex * dy - ey * dx
    k = np.flatnonzero(np.sign(o1) * np.sign(o2) < 0)  # c and d on both sides of a-b
    fx, fy = dx[k] - cx[k], dy[k] - cy[k]
    o3 = fx * cy[k] - fy * cx[k]  # a (the origin) against c-d
    o4 = fx * (cy[k] - ey[k]) - fy * (cx[k] - ex[k])  # b against c-d
    proper = np.sign(o3) * np.sign(o4) < 0
    k, o1, o2, o3, o4 = k[proper], o1[k][proper], o2[k][proper], o3[proper], o4[proper]
    ti = o3 / (o3 - o4)
    tj = o1 / (o1 - o2)
    point = np.stack([ax[k] + ti * ex[k], ay[k] + ti * ey[k]], axis=1)
    return i[k], ti, j[k], tj, point


def _cut(xy: np.ndarray, line: np.ndarray, node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut lines at interior node vertices → (piece id per emitted vertex, emitted vertex)."""
    is_start, is_end = _ends(line)
    interior_node = node & ~is_start & ~is_end
    emit = np.repeat(np.arange(len(xy)), 1 + interior_node)
    second_copy = np.r_[False, emit[1:] == emit[:-1]]
    piece = np.cumsum(is_start[emit] | second_copy) - 1
    return piece, emit


def node_lines(lines: np.ndarray, *, tolerance: float, layer: np.ndarray | None = None) -> Noded:
    """Node road lines (see the module docstring for the method).

    Parameters
    ----------
    lines
        Non-empty LineStrings in a metric CRS.
    tolerance
        Distance (CRS units) within which a line end is joined to another line.
    layer
        Vertical layer of each line (bridges above, tunnels below): lines on different
        layers are not cut where they cross. ``None``: all on one layer.

    Returns
    -------
    Noded
    """
    source = _Source.of(lines)
    xy, line, _, zero = _drop_repeats(source.xy, source.line, np.zeros(len(source.xy), bool))
    alive = np.bincount(line)[line] >= 2
    xy, line = xy[alive], line[alive]
    if len(xy) == 0:
        counts = dict.fromkeys(("snapped_ends", "t_junctions", "crossings", "self_loops"), 0)
        empty = np.empty(0, dtype=np.int64)
        return Noded(
            np.empty(0, dtype=object),
            empty,
            np.empty((2, 0, 2)),
            {"zero_length_segments": zero, **counts},
        )
    xy, inserted, counts = _junctions(xy, line, layer, tolerance, source)
    xy, line, node = _insert(xy, line, *inserted)
    node, loops = _split_loops(xy, line, node)
    counts = {"zero_length_segments": zero, **counts, "self_loops": loops}
    return _pieces(xy, line, node, counts, source)


def _junctions(
    xy: np.ndarray, line: np.ndarray, layer: np.ndarray | None, tolerance: float, source: _Source
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], dict[str, int]]:
    """Passes A to C → (vertices after pass A, points to insert, counts).

    The points to insert are given as (vertex each follows, parameter along the segment
    starting at that vertex, coordinates).
    """
    is_start, is_end = _ends(line)
    seg = np.flatnonzero(~is_end)
    segments = source.segments(xy, line, seg)
    tree = shapely.STRtree(segments)
    pid, _ = point_ids(xy)
    dangle = (is_start | is_end) & (np.bincount(pid)[pid] == 1)
    near = _dangle_pairs(xy, dangle, seg, tree, tolerance)
    before = xy
    xy, clustered = _cluster_ends(xy, pid, line, dangle, near, seg, tolerance)
    snapped = int(np.any(xy != before, axis=1).sum())
    t_seg, t_par, t_vertex = _t_junctions(xy, line, dangle & ~clustered, near, seg, tolerance)
    level = None if layer is None else np.asarray(layer)[line[seg]]
    ci, cti, cj, ctj, cpoint = _crossings(xy, seg, _segment_pairs(tree, segments, level))
    inserted = (
        seg[np.concatenate([t_seg, ci, cj])],
        np.concatenate([t_par, cti, ctj]),
        np.concatenate([xy[t_vertex], cpoint, cpoint]),
    )
    counts = {"snapped_ends": snapped, "t_junctions": len(t_seg), "crossings": len(ci)}
    return xy, inserted, counts


def _segment_pairs(
    tree: shapely.STRtree, segments: np.ndarray, level: np.ndarray | None
) -> np.ndarray:
    """``(2, k)`` pairs ``i < j`` of segments whose boxes meet, on the same level."""
    pairs = tree.query(segments)
    pairs = pairs[:, pairs[0] < pairs[1]]
    if level is not None:
        pairs = pairs[:, level[pairs[0]] == level[pairs[1]]]
    return pairs


def _insert(
    xy: np.ndarray, line: np.ndarray, after: np.ndarray, par: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Insert points into their segments → (vertices, line, node mask).

    Nodes are line ends, inserted points and vertices shared by two or more vertices.
    """
    is_start, is_end = _ends(line)
    # every vertex and inserted point, keyed by (vertex it follows, parameter)
    key = np.concatenate([np.arange(len(xy)), after])
    par = np.concatenate([np.zeros(len(xy)), par])
    pts = np.concatenate([xy, points])
    node = np.concatenate([is_start | is_end, np.ones(len(after), dtype=bool)])
    order = np.lexsort((par, key))
    xy, line, node = pts[order], line[key[order]], node[order]
    xy, line, node, _ = _drop_repeats(xy, line, node)
    alive = np.bincount(line)[line] >= 2
    xy, line, node = xy[alive], line[alive], node[alive]
    pid, _ = point_ids(xy)
    node |= np.bincount(pid)[pid] >= 2
    return xy, line, node


def _pieces(
    xy: np.ndarray, line: np.ndarray, node: np.ndarray, counts: dict[str, int], source: _Source
) -> Noded:
    """Cut lines at their node vertices into the pieces of a :class:`Noded`."""
    piece, emit = _cut(xy, line, node)
    pieces = source.pieces(xy[emit], line[emit], piece)
    first = group_starts(piece)
    last = np.r_[first[1:], True]
    ends = np.stack([xy[emit[first]], xy[emit[last]]])
    return Noded(pieces=pieces, line=line[emit[first]], ends=ends, counts=counts)


def _split_loops(xy: np.ndarray, line: np.ndarray, node: np.ndarray) -> tuple[np.ndarray, int]:
    """Mark the middle vertex of every piece that starts and ends at the same point."""
    piece, emit = _cut(xy, line, node)
    first = np.flatnonzero(group_starts(piece))
    last = np.r_[first[1:], len(piece)] - 1
    closed = np.all(xy[emit[first]] == xy[emit[last]], axis=1) & (last - first >= 2)
    middle = emit[(first[closed] + last[closed]) // 2]
    node = node.copy()
    node[middle] = True
    return node, int(closed.sum())


def drop_fragments(
    u: np.ndarray, v: np.ndarray, n: int, min_nodes: int, report: dict[str, int]
) -> np.ndarray:
    """Mask of edges outside connected parts with fewer than ``min_nodes`` nodes."""
    graph = coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    size = np.bincount(label)
    small = size < min_nodes
    keep = ~small[label[u]]
    report.update(
        fragments_dropped=int(small.sum()),
        fragment_nodes_dropped=int(size[small].sum()),
        fragment_edges_dropped=int((~keep).sum()),
    )
    if not keep.any():
        raise PlannerError(
            f"every road part has fewer than min_component_nodes={min_nodes} nodes; "
            "lower min_component_nodes or check the roads layer"
        )
    return keep
