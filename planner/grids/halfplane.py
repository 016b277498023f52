"""Both sides of a straight cut through simple polygons, in numpy.

A piece made of one polygon without holes whose ring crosses the cut line exactly twice
(no vertex near the line) splits into one polygon per side: the vertices on that side, in
ring order, plus the two crossing points. The sides are built here exactly as GEOS overlay
(OverlayNG, floating precision) builds ``intersection``/``difference`` with the half-plane
rectangle: the same crossing points (its double-double line intersection), clockwise rings
starting at the same vertex. Their areas and lengths are summed as GEOS sums them. Results
are therefore bit-for-bit those of the overlay, at a fraction of its cost; other pieces
are left to the overlay.

Sides are kept as ring sets until needed: ``(coords, size)``, the closed rings one after
another and the number of points of each.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import shapely

__all__ = ["Rings", "outer_rings", "polygons_of", "ring_area", "ring_length", "split_simple"]

# Pieces with a vertex nearer the cut line than this fraction of their size, or than
# _NEAR_M metres (far above the rounding of coordinates and of the cut edge), go to the
# overlay: there the side of the vertex is for GEOS's robust predicates to decide.
_NEAR = 1e-9
_NEAR_M = 1e-6


class Rings(NamedTuple):
    """The ring of every piece made of one polygon without holes."""

    #: pieces (indices into the array of pieces)
    piece: np.ndarray
    #: their closed rings one after another, as stored
    coords: np.ndarray
    #: number of points of each ring
    size: np.ndarray
    #: whether each ring runs counter-clockwise
    ccw: np.ndarray


def outer_rings(geoms: np.ndarray) -> Rings:
    """The rings of the 2-D pieces made of one polygon without holes (a polygon, or a
    multipolygon of one part)."""
    kind = shapely.get_type_id(geoms)
    plain = (kind == shapely.GeometryType.POLYGON) & (shapely.get_num_interior_rings(geoms) == 0)
    multi = np.flatnonzero(
        (kind == shapely.GeometryType.MULTIPOLYGON) & (shapely.get_num_geometries(geoms) == 1)
    )
    inner = shapely.get_geometry(geoms[multi], 0)
    multi = multi[shapely.get_num_interior_rings(inner) == 0]
    plain[multi] = True
    piece = np.flatnonzero(plain & ~shapely.has_z(geoms))  # the overlay keeps z
    if not len(piece):
        return Rings(piece, np.empty((0, 2)), np.zeros(0, dtype=np.int64), np.zeros(0, bool))
    coords, owner = shapely.get_coordinates(geoms[piece], return_index=True)
    size = np.bincount(owner, minlength=len(piece))
    signed = _signed_area(coords, size)
    ccw = signed > 0
    unsure = np.flatnonzero(np.abs(signed) <= 1e-9 * _box_area(coords, size))
    if len(unsure):
        exterior = shapely.get_exterior_ring(_first_polygon(geoms[piece[unsure]]))
        ccw[unsure] = shapely.is_ccw(exterior)
    return Rings(piece, coords, size, ccw)


def _first_polygon(geoms: np.ndarray) -> np.ndarray:
    multi = shapely.get_type_id(geoms) == shapely.GeometryType.MULTIPOLYGON
    return np.where(multi, shapely.get_geometry(geoms, 0), geoms)


def _box_area(coords: np.ndarray, size: np.ndarray) -> np.ndarray:
    start = np.cumsum(size) - size
    lo = np.minimum.reduceat(coords, start)
    hi = np.maximum.reduceat(coords, start)
    return (hi - lo).prod(axis=1)


def _signed_area(coords: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Area of each closed ring as GEOS ``Area::ofRingSigned`` sums it, with the sign of
    the shoelace formula (positive when counter-clockwise)."""
    m = len(size)
    owner = np.repeat(np.arange(m), size)
    start = np.cumsum(size) - size
    end = start + size - 1
    prev_y = np.r_[coords[-1:, 1], coords[:-1, 1]]
    next_y = np.r_[coords[1:, 1], coords[:1, 1]]
    term = (coords[:, 0] - coords[start, 0][owner]) * (prev_y - next_y)
    term[start] = 0.0
    term[end] = 0.0
    return -np.bincount(owner, term, minlength=m) / 2.0


def ring_area(coords: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Area of each closed ring, bit for bit as ``shapely.area`` gives it."""
    return np.abs(_signed_area(coords, size))


def ring_length(coords: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Length of each closed ring, bit for bit as ``shapely.length`` gives it."""
    m = len(size)
    owner = np.repeat(np.arange(m), size)
    d = coords[1:] - coords[:-1]
    seg = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])
    same = owner[1:] == owner[:-1]
    return np.bincount(owner[1:][same], seg[same], minlength=m)


def polygons_of(coords: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Polygons from a ring set."""
    offsets = np.r_[0, np.cumsum(size)]
    return shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, coords, (offsets, np.arange(len(size) + 1))
    )


def split_simple(rings: Rings, n: int, t_rel, q1, q2):
    """Sides of the cut for every piece this module can split exactly.

    Parameters
    ----------
    rings
        :func:`outer_rings` of the pieces.
    n
        Number of pieces.
    t_rel
        Callable giving, for coordinates ``xy`` of pieces ``i``, their position along the
        cut axis relative to the cut (negative on the left side).
    q1, q2
        The cut edge of each piece's half-plane rectangle, (n, 2) each.

    Returns
    -------
    ok, left, right
        Mask of the pieces split here, and their left and right sides as ring sets in
        the order of the pieces.
    """
    ok = np.zeros(n, dtype=bool)
    cand, coords, size, ccw = rings
    if not len(cand):
        nothing = (np.empty((0, 2)), np.zeros(0, dtype=np.int64))
        return ok, nothing, nothing
    owner = np.repeat(np.arange(len(cand)), size)
    t = t_rel(coords, cand[owner])
    side = t < 0
    edge = np.r_[owner[1:] == owner[:-1], False]  # edge j runs from point j to j + 1
    cross = edge & (side != np.roll(side, -1))
    good = _plain(coords, owner, t, edge, cross, len(cand))
    out_i = np.flatnonzero(cross & side)  # leaves the left side
    in_i = np.flatnonzero(cross & ~side)  # enters the left side
    x_out = _crossings(coords, owner, out_i, good, q1[cand], q2[cand])
    x_in = _crossings(coords, owner, in_i, good, q1[cand], q2[cand])
    good &= _within(x_out, x_in, coords, owner, out_i, in_i, q1[cand], q2[cand])
    ok[cand[good]] = True
    keep = good[owner]
    owner = (np.cumsum(good) - 1)[owner[keep]]
    coords, side, cross = coords[keep], side[keep], cross[keep]
    x_out, x_in, ccw = x_out[good], x_in[good], ccw[good]
    left = _side(coords, owner, side, cross, ccw, x_in, x_out)
    right = _side(coords, owner, ~side, cross, ccw, x_out, x_in)
    return ok, left, right


def _plain(coords, owner, t, edge, cross, m) -> np.ndarray:
    """Pieces whose ring crosses the line twice, with no vertex near it and no repeated
    vertex."""
    start = np.searchsorted(owner, np.arange(m))
    size = np.maximum.reduceat(np.abs(t), start) if m else np.empty(0)
    close = np.abs(t) <= np.maximum(_NEAR * size[owner], _NEAR_M)
    near = np.bincount(owner, close, minlength=m) > 0
    same = np.r_[(np.diff(coords, axis=0) == 0).all(axis=1), False] & edge
    dup = np.bincount(owner[same], minlength=m) > 0
    return (np.bincount(owner[cross], minlength=m) == 2) & ~near & ~dup


def _crossings(coords, owner, edges, good, q1, q2) -> np.ndarray:
    """Crossing point of each good piece on the given edges (NaN for the others)."""
    out = np.full((len(good), 2), np.nan)
    sel = edges[good[owner[edges]]]
    p = owner[sel]
    out[p] = _crossing(coords[sel], coords[sel + 1], q1[p], q2[p])
    return out


def _within(x_out, x_in, coords, owner, out_i, in_i, q1, q2) -> np.ndarray:
    """Whether both crossing points lie within the envelopes of their two segments (GEOS
    moves them to an end point otherwise)."""
    ok = np.ones(len(x_out), dtype=bool)
    for x, i in ((x_out, out_i), (x_in, in_i)):
        p = owner[i]
        inside = _in_box(x[p], coords[i], coords[i + 1]) & _in_box(x[p], q1[p], q2[p])
        ok[p] &= inside
    return ok


def _in_box(x, a, b) -> np.ndarray:
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return ((x >= lo) & (x <= hi)).all(axis=1)


def _side(coords, owner, side, cross, ccw, x_entry, x_exit):
    """One side of every piece (``side`` marks its vertices): those vertices and the
    crossing points, as a ring set of clockwise rings starting where the overlay starts
    them."""
    m = len(ccw)
    start = np.searchsorted(owner, np.arange(m))
    n_vert = np.bincount(owner, minlength=m) - 1  # without the closing point
    j = np.arange(len(owner)) - start[owner]
    on = side & (j < n_vert[owner])
    entry_edge = np.flatnonzero(cross & ~side)
    a = (j[entry_edge] + 1) % n_vert  # first vertex of the run on this side
    count = np.bincount(owner[on], minlength=m)
    run_piece = np.repeat(np.arange(m), count)
    run_pos = np.arange(len(run_piece)) - np.repeat(np.cumsum(count) - count, count)
    run_vert = start[run_piece] + (a[run_piece] + run_pos) % n_vert[run_piece]
    # R = [entry, run..., exit]: clockwise from the first result edge's second point
    length = count + 2
    base = np.cumsum(length) - length
    ring = np.empty((int(length.sum()), 2))
    ring[base] = x_entry
    ring[np.repeat(base, count) + 1 + run_pos] = coords[run_vert]
    ring[base + length - 1] = x_exit
    pos_v0 = 1 + (-a) % n_vert
    first = np.where(ccw, count, np.where(on[start], (pos_v0 + 1) % length, 1))
    k = np.arange(len(ring)) - np.repeat(base, length)
    step = np.where(np.repeat(ccw, length), -k, k)
    out = ring[
        np.repeat(base, length) + (np.repeat(first, length) + step) % np.repeat(length, length)
    ]
    closed = np.empty((len(out) + m, 2))
    closed[np.arange(len(out)) + np.repeat(np.arange(m), length)] = out
    closed[base + length + np.arange(m)] = out[base]
    return closed, length + 1


def _crossing(p1, p2, q1, q2):
    """Crossing of the lines through segments p and q as GEOS computes it (double-double
    arithmetic, ``CGAlgorithmsDD::intersection``)."""
    z = np.zeros(len(p1))
    p1x, p1y, p2x, p2y = (p1[:, 0], z), (p1[:, 1], z), (p2[:, 0], z), (p2[:, 1], z)
    q1x, q1y, q2x, q2y = (q1[:, 0], z), (q1[:, 1], z), (q2[:, 0], z), (q2[:, 1], z)
    qdy, qdx = _sub(*q2y, *q1y), _sub(*q2x, *q1x)
    pdy, pdx = _sub(*p2y, *p1y), _sub(*p2x, *p1x)
    denom = _sub(*_mul(*qdy, *pdx), *_mul(*qdx, *pdy))
    dy, dx = _sub(*p1y, *q1y), _sub(*p1x, *q1x)
    frac_p = _div(*_sub(*_mul(*qdx, *dy), *_mul(*qdy, *dx)), *denom)
    x = _add(*p1x, *_mul(*pdx, *frac_p))
    frac_q = _div(*_sub(*_mul(*pdx, *dy), *_mul(*pdy, *dx)), *denom)
    y = _add(*q1y, *_mul(*qdy, *frac_q))
    return np.stack([x[0] + x[1], y[0] + y[1]], axis=1)


# Double-double operations (hi, lo), as in GEOS ``geos::math::DD`` (from JTS).
_SPLIT = 134217729.0  # 2**27 + 1


def _add(ah, al, bh, bl):
    big, small = ah + bh, al + bl
    e, f = big - ah, small - al
    s = (bh - e) + (ah - (big - e))
    t = (bl - f) + (al - (small - f))
    e = s + small
    hi = big + e
    e = t + (e + (big - hi))
    top = hi + e
    return top, e + (hi - top)


def _sub(ah, al, bh, bl):
    return _add(ah, al, -bh, -bl)


def _halves(a):
    """Dekker's split of ``a`` into a high part of 26 bits and the rest."""
    c = _SPLIT * a
    high = c - (c - a)
    return high, a - high


def _mul(ah, al, bh, bl):
    hx, tx = _halves(ah)
    hy, ty = _halves(bh)
    prod = ah * bh
    low = ((((hx * hy - prod) + hx * ty) + tx * hy) + tx * ty) + (ah * bl + al * bh)
    top = prod + low
    return top, low + (prod - top)


def _div(ah, al, bh, bl):
    q = ah / bh
    hc, tc = _halves(q)
    hy, ty = _halves(bh)
    qb = q * bh
    err = (((hc * hy - qb) + hc * ty) + tc * hy) + tc * ty
    low = ((((ah - qb) - err) + al) - q * bl) / bh
    top = q + low
    return top, (q - top) + low
