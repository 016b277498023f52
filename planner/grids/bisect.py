"""Recursive bisection of village polygons into grids (the core of :mod:`planner.grids`).

See :mod:`planner.grids` for the method. All pieces of one recursion level are cut
together with vectorised shapely/numpy calls; pieces are indexed by position and
household points carry the index of the piece they lie in.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import shapely

from planner.grids.halfplane import (
    Rings,
    outer_rings,
    polygons_of,
    ring_area,
    ring_length,
    split_simple,
)

__all__ = ["group_polygons", "household_shares", "merge_strays", "partition", "polsby_popper"]

_BISECT_STEPS = 60
_SNAP_M = 1e-6  # metres; vertex mismatch left by floating-point cuts is ~1e-9 m


def polsby_popper(geoms: np.ndarray) -> np.ndarray:
    """Polsby-Popper compactness ``4πA / P²``: 1 for a disc, π/4 for a square."""
    perimeter = shapely.length(geoms)
    area = shapely.area(geoms)
    return np.divide(4 * np.pi * area, perimeter**2, out=np.zeros_like(area), where=perimeter > 0)


def group_polygons(parts: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """One MultiPolygon per owner ``0..n-1`` from polygon parts (empty when none)."""
    out = np.array([shapely.MultiPolygon()] * n, dtype=object)
    order = np.argsort(owner, kind="stable")
    if len(order):
        shapely.multipolygons(parts[order], indices=owner[order], out=out)
    return out


# ---------------------------------------------------------------------------- bisection


def partition(geoms, k, pts_xy, pts_w, pts_vil):
    """Recursive bisection of every village into its ``k`` pieces, level by level."""
    out_geoms, out_vil = [], []
    vil = np.arange(len(geoms))
    pt_piece = pts_vil
    while len(geoms):
        finished = k == 1
        out_geoms.append(geoms[finished])
        out_vil.append(vil[finished])
        pt_piece, pts_xy, pts_w = _drop_points(pt_piece, pts_xy, pts_w, ~finished)
        geoms, k, vil = geoms[~finished], k[~finished], vil[~finished]
        if not len(geoms):
            break
        k1 = k // 2
        left, right, to_left = _bisect(geoms, k, pts_xy, pts_w, pt_piece)
        pt_piece = np.where(to_left, pt_piece, pt_piece + len(geoms))
        geoms = np.concatenate([left, right])
        k = np.concatenate([k1, k - k1])
        vil = np.concatenate([vil, vil])
    return np.concatenate(out_geoms), np.concatenate(out_vil)


def _drop_points(pt_piece, xy, w, keep_piece):
    """Keep the points of the pieces still to cut, renumbering their piece index."""
    remap = np.full(len(keep_piece), -1)
    remap[keep_piece] = np.arange(int(keep_piece.sum()))
    new = remap[pt_piece]
    keep = new >= 0
    return new[keep], xy[keep], w[keep]


def _bisect(geoms, k, pts_xy, pts_w, pt_piece):
    """Cut each piece across its long axis, or across its short axis when that gives
    clearly (10 %) more compact sides, as in a C-shaped village. The two candidate cuts
    are made in two threads.

    Returns the left and right sides and, per point, whether it went left.
    """
    u_long, origin = _long_axis(geoms)
    u_short = _fixed_sense(np.stack([-u_long[:, 1], u_long[:, 0]], axis=1))
    rings = outer_rings(geoms)
    shape = (geoms, rings, _boundary(geoms, rings), shapely.area(geoms))
    with ThreadPoolExecutor(max_workers=1) as pool:  # GEOS overlays run without the GIL
        across = pool.submit(_cut_along, shape, u_long, origin, k, pts_xy, pts_w, pt_piece)
        b = _cut_along(shape, u_short, origin, k, pts_xy, pts_w, pt_piece)
        a = across.result()
    better = b.score > 1.1 * a.score
    return (
        _chosen(a, b, better, 0),
        _chosen(a, b, better, 1),
        np.where(better[pt_piece], b.to_left, a.to_left),
    )


class _Cut(NamedTuple):
    """One candidate cut of every piece: the pieces split in numpy (``ok``) with their
    sides as ring sets, the other pieces' sides as geometries, per point whether it lies
    on the left, and the score of each piece's cut."""

    ok: np.ndarray
    fast: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    slow: tuple[np.ndarray, np.ndarray]
    to_left: np.ndarray
    score: np.ndarray


def _chosen(a: _Cut, b: _Cut, better: np.ndarray, side: int) -> np.ndarray:
    """The left (``side`` 0) or right (1) side of every piece, from cut ``b`` where it
    is better, else from cut ``a``; polygons are built from ring sets in one call."""
    out = np.where(better, b.slow[side], a.slow[side])
    parts = [
        (_take(*c.fast[side], use[c.ok]), np.flatnonzero(c.ok & use))
        for c, use in ((a, ~better), (b, better))
    ]
    coords = np.concatenate([p[0][0] for p in parts])
    size = np.concatenate([p[0][1] for p in parts])
    out[np.concatenate([p[1] for p in parts])] = polygons_of(coords, size)
    return out


def _take(coords: np.ndarray, size: np.ndarray, keep: np.ndarray):
    """The rings of a ring set that ``keep`` marks."""
    return coords[np.repeat(keep, size)], size[keep]


def _cut_along(shape, u, origin, k, pts_xy, pts_w, pt_piece) -> _Cut:
    """One cut per piece across axis ``u``.

    ``shape`` holds the pieces, their outer rings (see
    :func:`~planner.grids.halfplane.outer_rings`), their boundary (see :func:`_boundary`)
    and their areas.
    """
    geoms, rings = shape[0], shape[1]
    cut = _cut_positions(shape, u, origin, k, pts_xy, pts_w, pt_piece)
    ring = _half_plane_rings(geoms, u, origin, cut)
    ok, left, right = split_simple(
        rings,
        len(geoms),
        lambda xy, i: np.einsum("ij,ij->i", xy - origin[i], u[i]) - cut[i],
        ring[:, 1],
        ring[:, 2],
    )
    score = np.zeros(len(geoms))
    score[ok] = np.minimum(_ring_compactness(*left), _ring_compactness(*right))
    slow_left = np.full(len(geoms), None, dtype=object)
    slow_right = np.full(len(geoms), None, dtype=object)
    rest = np.flatnonzero(~ok)
    if len(rest):
        half = shapely.polygons(ring[rest])
        slow_left[rest] = _only_polygons(shapely.intersection(geoms[rest], half))
        slow_right[rest] = _only_polygons(shapely.difference(geoms[rest], half))
        score[rest] = _score(geoms[rest], slow_left[rest], slow_right[rest])
    t = np.einsum("ij,ij->i", pts_xy - origin[pt_piece], u[pt_piece])
    return _Cut(ok, (left, right), (slow_left, slow_right), t <= cut[pt_piece], score)


def _ring_compactness(coords: np.ndarray, size: np.ndarray) -> np.ndarray:
    """:func:`polsby_popper` of the polygons of a ring set, without building them."""
    perimeter = ring_length(coords, size)
    area = ring_area(coords, size)
    return np.divide(4 * np.pi * area, perimeter**2, out=np.zeros_like(area), where=perimeter > 0)


def _score(geoms, left, right) -> np.ndarray:
    """The worse compactness of the two sides of each cut.

    Parts beyond the piece's own count must later be merged into neighbours, which
    upsets the balance: each one halves the score.
    """
    extra = (
        shapely.get_num_geometries(left)
        + shapely.get_num_geometries(right)
        - shapely.get_num_geometries(geoms)
        - 1
    )
    return np.minimum(polsby_popper(left), polsby_popper(right)) / 2.0 ** np.maximum(extra, 0)


def _only_polygons(geoms: np.ndarray) -> np.ndarray:
    """Drop lines and points that overlay operations may add; keep (multi)polygons."""
    kinds = shapely.get_type_id(geoms)
    odd = ~np.isin(kinds, [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON])
    if odd.any():
        parts, owner = shapely.get_parts(geoms[odd], return_index=True)
        poly = shapely.get_type_id(parts) == shapely.GeometryType.POLYGON
        geoms = geoms.copy()
        geoms[odd] = group_polygons(parts[poly], owner[poly], int(odd.sum()))
    return geoms


def _long_axis(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector along the long side of each minimum rotated rectangle, and its centre."""
    rect = shapely.get_coordinates(shapely.oriented_envelope(geoms)).reshape(len(geoms), -1, 2)
    side_a = rect[:, 1] - rect[:, 0]
    side_b = rect[:, 2] - rect[:, 1]
    longer = np.where((np.hypot(*side_a.T) >= np.hypot(*side_b.T))[:, None], side_a, side_b)
    u = _fixed_sense(longer / np.hypot(*longer.T)[:, None])
    return u, rect[:, :4].mean(axis=1)


def _fixed_sense(u: np.ndarray) -> np.ndarray:
    """Point axes east (else north), so results do not depend on vertex order."""
    flip = (u[:, 0] < -1e-12) | ((np.abs(u[:, 0]) <= 1e-12) & (u[:, 1] < 0))
    return np.where(flip[:, None], -u, u)


def _cut_positions(shape, u, origin, k, pts_xy, pts_w, pt_piece) -> np.ndarray:
    """Cut position along ``u`` (relative to ``origin``) for a ``⌊k/2⌋ : ⌈k/2⌉`` split."""
    geoms, _, boundary, area = shape
    frac = (k // 2) / k
    edges = _edges(boundary, len(geoms), u, origin)
    lo, hi = edges[5], edges[6]
    cut = _area_quantile(edges, area, frac)
    t = np.einsum("ij,ij->i", pts_xy - origin[pt_piece], u[pt_piece])
    if len(pt_piece):
        by_points, has = _weighted_quantile(t, pts_w, pt_piece, frac, len(geoms), k)
        cut = np.where(has, by_points, cut)
    margin = 1e-3 * (hi - lo)
    cut = _snap_to_parallel_edges(cut, edges, t, pt_piece)
    return np.clip(cut, lo + margin, hi - margin)


def _boundary(geoms, rings: Rings):
    """Ring coordinates of every piece, exterior counter-clockwise and holes clockwise
    (as ``shapely.orient_polygons`` turns them), with their piece and ring numbers."""
    simple, coords, size, ccw = rings
    ring = np.repeat(np.arange(len(simple)), size)
    if not ccw.all():
        start = np.cumsum(size) - size
        pos = np.arange(len(ring))
        flip = ~ccw[ring]
        pos[flip] = (2 * start + size - 1)[ring[flip]] - pos[flip]
        coords = coords[pos]
    owner = simple[ring]
    plain = np.zeros(len(geoms), dtype=bool)
    plain[simple] = True
    rest = np.flatnonzero(~plain)
    if len(rest):
        oriented = shapely.orient_polygons(geoms[rest], exterior_cw=False)
        parts, part_owner = shapely.get_parts(oriented, return_index=True)
        loops, ring_part = shapely.get_rings(parts, return_index=True)
        more, ring_of = shapely.get_coordinates(loops, return_index=True)
        order = np.argsort(np.r_[owner, rest[part_owner[ring_part[ring_of]]]], kind="stable")
        coords = np.concatenate([coords, more])[order]
        ring = np.r_[ring, ring_of + len(simple)][order]
        owner = np.r_[owner, rest[part_owner[ring_part[ring_of]]]][order]
    return coords, owner, ring


def _edges(boundary, m, u, origin):
    """Boundary edges of each piece in its frame (x along ``u``), and the x-extent."""
    coords, owner, ring_of = boundary
    n = np.stack([-u[:, 1], u[:, 0]], axis=1)
    rel = coords - origin[owner]
    x = np.einsum("ij,ij->i", rel, u[owner])
    y = np.einsum("ij,ij->i", rel, n[owner])
    edge = ring_of[:-1] == ring_of[1:]
    lo = np.full(m, np.inf)
    hi = np.full(m, -np.inf)
    np.minimum.at(lo, owner, x)
    np.maximum.at(hi, owner, x)
    return x[:-1][edge], y[:-1][edge], x[1:][edge], y[1:][edge], owner[:-1][edge], lo, hi


def _area_quantile(edges, area, frac) -> np.ndarray:
    """Position ``c`` where the part of the piece with ``x ≤ c`` holds ``frac`` of its area.

    The area left of ``c`` is ``-∮ y dx`` over the boundary clipped to ``x ≤ c`` (the
    closing segments on ``x = c`` add nothing); it grows with ``c`` and is solved by
    bisection for all pieces at once.
    """
    x1, y1, x2, y2, piece, lo, hi = edges
    m = len(area)
    target = frac * area
    dx = x2 - x1
    slope = np.divide(y2 - y1, dx, out=np.zeros_like(dx), where=dx != 0)
    a, b = lo.copy(), hi.copy()
    for _ in range(_BISECT_STEPS):
        c = (a + b) / 2
        ce = c[piece]
        xa, xb = np.minimum(x1, ce), np.minimum(x2, ce)
        ya, yb = y1 + slope * (xa - x1), y1 + slope * (xb - x1)
        left_area = -np.bincount(piece, weights=(xb - xa) * (ya + yb) / 2, minlength=m)
        small = left_area < target
        a, b = np.where(small, c, a), np.where(small, b, c)
    return (a + b) / 2


def _snap_to_parallel_edges(cut, edges, t, pt_piece) -> np.ndarray:
    """Move a cut onto a nearby boundary edge parallel to it, so no thin strip is left.

    Only edges longer than 5 % of the piece's width, closer than 2 % of its length,
    and with no household point between them and the cut, qualify.
    """
    x1, y1, x2, y2, piece, lo, hi = edges
    length = hi - lo
    ymin = np.full(len(cut), np.inf)
    ymax = np.full(len(cut), -np.inf)
    np.minimum.at(ymin, piece, np.minimum(y1, y2))
    np.maximum.at(ymax, piece, np.maximum(y1, y2))
    xe = (x1 + x2) / 2
    dist = np.abs(xe - cut[piece])
    ok = np.abs(x2 - x1) <= 1e-9 * length[piece]
    ok &= np.abs(y2 - y1) >= 0.05 * (ymax - ymin)[piece]
    ok &= (dist > 0) & (dist <= 0.02 * length[piece])
    ok &= (xe > lo[piece] + 1e-3 * length[piece]) & (xe < hi[piece] - 1e-3 * length[piece])
    cand = np.flatnonzero(ok)
    if not len(cand):
        return cut
    cand = cand[np.lexsort((dist[cand], piece[cand]))]
    cand = cand[np.unique(piece[cand], return_index=True)[1]]
    target = np.full(len(cut), np.nan)
    target[piece[cand]] = xe[cand]
    between = (t - cut[pt_piece]) * (t - target[pt_piece]) <= 0
    blocked = np.bincount(pt_piece[between], minlength=len(cut)) > 0
    return np.where(np.isnan(target) | blocked, cut, target)


def _weighted_quantile(t, w, piece, frac, m, k):
    """Cut between the two points that split each piece's weight nearest to ``frac``.

    Pieces with fewer weighted points than grids to make are left to the area rule.
    """
    order = np.lexsort((t, piece))
    t, w, piece = t[order], w[order], piece[order]
    total = np.bincount(piece, weights=w, minlength=m)
    cum = np.cumsum(w)
    before = np.concatenate([[0.0], cum])[np.searchsorted(piece, np.arange(m))]
    cum_in = cum - before[piece]
    target = frac[piece] * total[piece]
    reach = np.flatnonzero(cum_in >= target)
    owners, first = np.unique(piece[reach], return_index=True)
    q = reach[first]
    prev = q - 1
    use_prev = (prev >= 0) & (piece[np.maximum(prev, 0)] == owners)
    use_prev &= cum_in[np.maximum(prev, 0)] > 0
    use_prev &= (target[q] - cum_in[np.maximum(prev, 0)]) < (cum_in[q] - target[q])
    q = np.where(use_prev, prev, q)
    nxt = np.minimum(q + 1, len(t) - 1)
    same = (q + 1 < len(t)) & (piece[nxt] == owners)
    cut = np.full(m, np.nan)
    cut[owners] = np.where(same, (t[q] + t[nxt]) / 2, t[q])
    has = (np.bincount(piece, weights=w > 0, minlength=m) >= k) & ~np.isnan(cut)
    has[owners[~same]] = False  # every point would fall on one side: use area instead
    return cut, has


def _half_plane_rings(geoms, u, origin, cut) -> np.ndarray:
    """Rings (n, 5, 2) of rectangles covering ``t ≤ cut`` over each piece's extent (world
    coordinates); corners 1 and 2 lie on the cut."""
    xmin, ymin, xmax, ymax = shapely.bounds(geoms).T
    reach = 2 * np.hypot(xmax - xmin, ymax - ymin) + 1
    n = np.stack([-u[:, 1], u[:, 0]], axis=1)
    corners_t = np.stack([cut - reach, cut, cut, cut - reach, cut - reach], axis=1)
    corners_s = np.stack([-reach, -reach, reach, reach, -reach], axis=1)
    return (
        origin[:, None, :]
        + corners_t[:, :, None] * u[:, None, :]
        + corners_s[:, :, None] * n[:, None, :]
    )


# ---------------------------------------------------------------------------- strays and shares


def merge_strays(geoms: np.ndarray, vil: np.ndarray) -> np.ndarray:
    """Give every part but the largest of a grid to the neighbour it borders most.

    Repeats while some stray part borders another grid's main part, so chains of strays
    are absorbed too; parts bordering nothing (islands of a multi-part village) stay.
    """
    geoms = geoms.copy()
    for _ in range(20):
        parts, owner = shapely.get_parts(geoms, return_index=True)
        area = shapely.area(parts)
        order = np.lexsort((-area, owner))
        main = np.zeros(len(parts), dtype=bool)
        main[order[np.unique(owner[order], return_index=True)[1]]] = True
        strays = np.flatnonzero(~main)
        if not len(strays):
            break
        mains = np.flatnonzero(main)
        reach = 1e-6 * np.sqrt(np.maximum(area[strays], 1.0)) + 1e-6
        grown = shapely.buffer(parts[strays], reach, quad_segs=1)
        s_idx, m_idx = shapely.STRtree(parts[mains]).query(grown, predicate="intersects")
        m_idx = mains[m_idx]
        ok = (vil[owner[m_idx]] == vil[owner[strays[s_idx]]]) & (
            owner[m_idx] != owner[strays[s_idx]]
        )
        s_idx, m_idx = s_idx[ok], m_idx[ok]
        border = shapely.area(shapely.intersection(grown[s_idx], parts[m_idx]))
        ok = border > 0
        s_idx, m_idx, border = s_idx[ok], m_idx[ok], border[ok]
        if not len(s_idx):
            break
        best = np.lexsort((-border, s_idx))
        best = best[np.unique(s_idx[best], return_index=True)[1]]
        new_owner = owner.copy()
        new_owner[strays[s_idx[best]]] = owner[m_idx[best]]
        geoms = _regroup(parts, owner, new_owner, geoms)
    return geoms


def _regroup(parts, owner, new_owner, geoms) -> np.ndarray:
    """Rebuild the grids whose parts changed owner, by coverage union (edges match)."""
    moved = new_owner != owner
    out = geoms.copy()
    for g in np.unique(np.concatenate([owner[moved], new_owner[moved]])):
        group = parts[new_owner == g]
        try:
            out[g] = shapely.coverage_union_all(group)
        except shapely.errors.GEOSException:
            out[g] = shapely.MultiPolygon()
        if shapely.get_num_geometries(out[g]) != 1:
            # A later cut left a vertex on one side of a shared edge only (a T-junction),
            # which coverage union does not see: snap every part onto the others'
            # vertices so that the overlay union finds one common edge.
            snapped = shapely.snap(group, shapely.multipolygons(group), _SNAP_M)
            out[g] = shapely.union_all(snapped)
    return out


def household_shares(geoms, vil, pts_xy, pts_w, pts_vil, n_villages) -> np.ndarray:
    """Share of its village's households for every grid: by points, else by area."""
    area = shapely.area(geoms)
    share = area / np.bincount(vil, weights=area, minlength=n_villages)[vil]
    if len(pts_xy):
        pts = shapely.points(pts_xy)
        hit_pt, hit_grid = shapely.STRtree(geoms).query(pts, predicate="intersects")
        first = np.unique(hit_pt, return_index=True)[1]
        hit_pt, hit_grid = hit_pt[first], hit_grid[first]
        weight = np.bincount(hit_grid, weights=pts_w[hit_pt], minlength=len(geoms))
        total = np.bincount(vil, weights=weight, minlength=n_villages)[vil]
        share = np.where(
            total > 0, np.divide(weight, total, out=np.zeros_like(weight), where=total > 0), share
        )
    return share
