"""Vectorised geometry for the synthetic region generator (:mod:`planner.synth`).

Everything works on numpy arrays of metric coordinates and shapely 2 geometry arrays; the
only Python loops run over rejection-sampling rounds or a handful of groups, never over
villages.

The key trick is :func:`group_triangulation`: to get, for every township at once, the
Voronoi diagram and Euclidean minimum spanning tree of *its own* villages, each township's
points are moved into a separate slot of a coarse grid, far enough apart that no group
influences another inside its own polygon, and one Delaunay triangulation is computed for
all of them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import Delaunay, cKDTree

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_MAX_ROUNDS = 200  # rejection-sampling rounds before giving up
_GHOSTS = 64  # points on the outer ring that bound every real Voronoi cell


def region_polygon(
    rng: np.random.Generator, *, center: tuple[float, float], area_m2: float
) -> shapely.Polygon:
    """A smooth, irregular blob of the given area around ``center``.

    The radius varies with the angle as a short random Fourier series, so the outline
    looks like a region rather than a circle but stays star-shaped around its center.
    """
    theta = np.linspace(0.0, 2.0 * np.pi, 360, endpoint=False)
    k = np.arange(2, 7)
    amp = rng.uniform(0.25, 1.0, k.size) * 0.22 / k
    phase = rng.uniform(0.0, 2.0 * np.pi, k.size)
    radius = 1.0 + (amp[:, None] * np.cos(k[:, None] * theta + phase[:, None])).sum(axis=0)
    stretch = rng.uniform(1.0, 1.35)
    shape = shapely.Polygon(np.c_[radius * np.cos(theta) * stretch, radius * np.sin(theta)])
    scale = np.sqrt(area_m2 / shape.area)
    xy = shapely.get_coordinates(shape) * scale + np.asarray(center)
    return shapely.Polygon(xy)


def sample_in(
    rng: np.random.Generator,
    polygons: NDArray[np.object_],
    owner: IntArray,
    *,
    around: FloatArray | None = None,
    sigma: float = 0.0,
) -> FloatArray:
    """One random point inside ``polygons[owner[i]]`` for every ``i``.

    Points are uniform in their polygon, or, when ``around`` (one point per row) is
    given, normally distributed around it with standard deviation ``sigma`` and kept only
    when inside (after 30 unsuccessful rounds a row falls back to uniform sampling).
    """
    shapely.prepare(polygons)
    bounds = shapely.bounds(polygons)[owner]
    out = np.full((owner.size, 2), np.nan)
    todo = np.arange(owner.size)
    for round_ in range(_MAX_ROUNDS):
        if todo.size == 0:
            return out
        if around is not None and round_ < 30:
            xy = around[todo] + rng.normal(0.0, sigma, (todo.size, 2))
        else:
            b = bounds[todo]
            xy = b[:, :2] + rng.random((todo.size, 2)) * (b[:, 2:] - b[:, :2])
        ok = shapely.contains_xy(polygons[owner[todo]], xy[:, 0], xy[:, 1])
        out[todo[ok]] = xy[ok]
        todo = todo[~ok]
    raise RuntimeError(f"could not place {todo.size} point(s) inside their polygons")


def spread_points(rng: np.random.Generator, region: shapely.Polygon, n: int) -> FloatArray:
    """``n`` well-spread points inside ``region``: a jittered grid, trimmed or topped up."""
    spacing = np.sqrt(region.area / n)
    x0, y0, x1, y1 = region.bounds
    gx, gy = np.meshgrid(np.arange(x0 + spacing / 2, x1, spacing), np.arange(y0, y1, spacing))
    xy = np.c_[gx.ravel(), gy.ravel()] + rng.uniform(-0.4, 0.4, (gx.size, 2)) * spacing
    xy = xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]
    if len(xy) > n:
        xy = xy[np.sort(rng.choice(len(xy), n, replace=False))]
    elif len(xy) < n:
        regions = np.array([region], dtype=object)
        extra = sample_in(rng, regions, np.zeros(n - len(xy), dtype=np.int64))
        xy = np.vstack([xy, extra])
    return xy


def kmeans_seats(
    rng: np.random.Generator, xy: FloatArray, k: int, *, iterations: int = 8
) -> IntArray:
    """Indices of ``k`` distinct points of ``xy`` near the centres of a k-means clustering."""
    centres = xy[np.sort(rng.choice(len(xy), k, replace=False))]
    for _ in range(iterations):
        label = cKDTree(centres).query(xy)[1]
        counts = np.bincount(label, minlength=k)
        sums = np.stack([np.bincount(label, xy[:, d], minlength=k) for d in (0, 1)], axis=1)
        moved = counts > 0
        centres[moved] = sums[moved] / counts[moved, None]
    width = min(len(xy), 16)
    candidates = cKDTree(xy).query(centres, k=width)[1].reshape(k, width)
    choice = np.zeros(k, dtype=np.int64)
    while True:
        seats = candidates[np.arange(k), choice]
        first = np.zeros(k, dtype=bool)
        first[np.unique(seats, return_index=True)[1]] = True
        if first.all():
            return seats
        choice[~first] += 1
        exhausted = choice >= width
        if exhausted.any():  # every near candidate taken: fall back to any free point
            free = np.setdiff1d(np.arange(len(xy)), seats[first])
            candidates[exhausted, -1] = rng.choice(free, exhausted.sum(), replace=False)
            choice[exhausted] = width - 1


def voronoi_in(points: FloatArray, region: shapely.Polygon) -> NDArray[np.object_]:
    """Voronoi cells of ``points`` clipped to ``region``, in the order of ``points``."""
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(points), extend_to=region, ordered=True)
    )
    return polygonal(shapely.intersection(cells, region))


def polygonal(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """Keep only the polygonal parts of overlay results (drop stray lines and points)."""
    odd = ~np.isin(shapely.get_type_id(geoms), (3, 6))
    if not odd.any():
        return geoms
    parts, index = shapely.get_parts(geoms[odd], return_index=True)
    keep = shapely.get_type_id(parts) == 3
    present, dense = np.unique(index[keep], return_inverse=True)
    fixed = np.full(int(odd.sum()), shapely.MultiPolygon(), dtype=object)
    if present.size:
        fixed[present] = shapely.multipolygons(parts[keep], indices=dense)
    out = geoms.copy()
    out[odd] = fixed
    return out


@dataclass(frozen=True)
class GroupTriangulation:
    """Delaunay triangulations of point groups kept apart (see :func:`group_triangulation`).

    Attributes
    ----------
    points
        The real points moved into their group's slot, then the ghost rings.
    offset
        Per real point, the vector that moved it into its slot.
    simplices
        Triangles as indices into ``points``.
    n
        Number of real points (ghosts have larger indices).
    """

    points: FloatArray
    offset: FloatArray
    simplices: IntArray
    n: int


def group_triangulation(
    xy: FloatArray, group: IntArray, anchor: FloatArray, reach: FloatArray, *, chunk: int = 2_000
) -> GroupTriangulation:
    """Triangulate every group on its own, in a few large batches.

    Group ``g`` (its points lie within ``reach[g]`` of ``anchor[g]``; ``group`` must be
    sorted) is translated so that its anchor sits on a slot of a square grid whose spacing
    exceeds four times the largest reach. Inside a group's reach, every point is then
    nearer to its own group than to any other, so the Voronoi cells restricted to the
    reach and the Euclidean minimum spanning tree (a subgraph of the Gabriel graph) are
    those of the group alone. Groups are batched into triangulations of about ``chunk``
    points (Qhull grows faster than linearly), each closed by a ring of ghost points
    that keeps every real cell bounded.
    """
    spacing = 4.2 * float(reach.max()) + 1.0
    starts = np.searchsorted(group, np.arange(len(anchor) + 1))  # point range of each group
    bounds = np.unique(np.searchsorted(starts, np.arange(0, len(xy), chunk), side="right") - 1)
    bounds = np.r_[bounds, len(anchor)]
    offset = np.empty_like(xy)
    points, simplices, ghost_base = [xy], [], len(xy)
    for g0, g1 in itertools.pairwise(bounds):
        ids = np.arange(g1 - g0)
        cols = int(np.ceil(np.sqrt(ids.size)))
        slots = np.c_[ids % cols, ids // cols] * spacing
        lo, hi = starts[g0], starts[g1]
        offset[lo:hi] = (slots - anchor[g0:g1])[group[lo:hi] - g0]
        angle = np.linspace(0.0, 2.0 * np.pi, _GHOSTS, endpoint=False)
        ghosts = (
            slots.mean(axis=0) + 2.0 * (cols + 1) * spacing * np.c_[np.cos(angle), np.sin(angle)]
        )
        batch = Delaunay(np.vstack([xy[lo:hi] + offset[lo:hi], ghosts]), qhull_options="Qbb Qc Qz")
        if len(batch.coplanar):
            raise RuntimeError("duplicate points in the synthetic region; try another seed")
        local = batch.simplices.astype(np.int64)
        real = local < hi - lo
        simplices.append(np.where(real, local + lo, local - (hi - lo) + ghost_base))
        points.append(ghosts)
        ghost_base += _GHOSTS
    points[0] = xy + offset
    return GroupTriangulation(np.vstack(points), offset, np.vstack(simplices), len(xy))


def _unique_rows(keys: IntArray) -> IntArray:
    """Sorted unique values (faster than ``np.unique`` on large integer arrays)."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys


def triangulation_edges(tri: GroupTriangulation, group: IntArray) -> IntArray:
    """Unique edges ``(i, j)``, ``i < j``, between real points of the same group, sorted."""
    s = tri.simplices
    e = np.concatenate([s[:, [0, 1]], s[:, [1, 2]], s[:, [2, 0]]])
    e.sort(axis=1)
    e = e[e[:, 1] < tri.n]
    e = e[group[e[:, 0]] == group[e[:, 1]]]
    key = _unique_rows(e[:, 0] * np.int64(tri.n) + e[:, 1])
    return np.c_[key // tri.n, key % tri.n]


def minimum_spanning_forest(xy: FloatArray, edges: IntArray) -> NDArray[np.bool_]:
    """Mask of ``edges`` (sorted as from :func:`triangulation_edges`) that form a
    Euclidean minimum spanning forest."""
    n = len(xy)
    length = np.hypot(*(xy[edges[:, 0]] - xy[edges[:, 1]]).T) + 1e-9  # no zero weights
    graph = sparse.csr_matrix((length, (edges[:, 0], edges[:, 1])), shape=(n, n))
    tree = csgraph.minimum_spanning_tree(graph).tocoo()
    chosen = np.minimum(tree.row, tree.col) * np.int64(n) + np.maximum(tree.row, tree.col)
    mask = np.zeros(len(edges), dtype=bool)
    mask[np.searchsorted(edges[:, 0] * np.int64(n) + edges[:, 1], chosen)] = True
    return mask


def voronoi_cells(tri: GroupTriangulation) -> NDArray[np.object_]:
    """Voronoi cell of every real point within its own group, in original coordinates.

    Built from the triangulation: a cell's vertices are the circumcentres of the
    triangles around the point, in angular order, moved back by the point's offset.
    """
    p = tri.points[tri.simplices]
    a, b, c = p[:, 0], p[:, 1], p[:, 2]
    d = 2.0 * (
        a[:, 0] * (b[:, 1] - c[:, 1])
        + b[:, 0] * (c[:, 1] - a[:, 1])
        + c[:, 0] * (a[:, 1] - b[:, 1])
    )
    sa, sb, sc = (a**2).sum(1), (b**2).sum(1), (c**2).sum(1)
    ux = (sa * (b[:, 1] - c[:, 1]) + sb * (c[:, 1] - a[:, 1]) + sc * (a[:, 1] - b[:, 1])) / d
    uy = (sa * (c[:, 0] - b[:, 0]) + sb * (a[:, 0] - c[:, 0]) + sc * (b[:, 0] - a[:, 0])) / d
    point = tri.simplices.ravel()
    triangle = np.repeat(np.arange(len(tri.simplices)), 3)
    real = point < tri.n
    point, triangle = point[real], triangle[real]
    angle = np.arctan2(uy[triangle] - tri.points[point, 1], ux[triangle] - tri.points[point, 0])
    order = np.argsort(point * 7.0 + (angle + np.pi))
    point, triangle = point[order], triangle[order]
    count = np.bincount(point, minlength=tri.n)
    if (count < 3).any():
        raise RuntimeError("a synthetic village has no Voronoi cell; try another seed")
    start = np.r_[0, np.cumsum(count)[:-1]]
    ring = np.repeat(np.arange(tri.n), count + 1)
    pos = np.arange(ring.size) - np.repeat(start + np.arange(tri.n), count + 1)
    pos = np.where(pos == count[ring], 0, pos)  # close each ring on its first vertex
    src = triangle[start[ring] + pos]
    xy = np.c_[ux[src], uy[src]] - tri.offset[ring]
    return shapely.polygons(shapely.linearrings(xy, indices=ring))


def clip_cells(
    cells: NDArray[np.object_], polygons: NDArray[np.object_], owner: IntArray
) -> NDArray[np.object_]:
    """``cells[i] ∩ polygons[owner[i]]``, skipping the overlay when the cell is inside."""
    shapely.prepare(polygons)
    inside = shapely.contains_properly(polygons[owner], cells)
    out = cells.copy()
    todo = ~inside
    out[todo] = shapely.intersection(cells[todo], polygons[owner[todo]])
    return polygonal(out)


def connect_components(xy: FloatArray, edges: IntArray) -> IntArray:
    """Extra edges joining every connected component to the largest one (nearest pairs)."""
    n = len(xy)
    graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    count, label = csgraph.connected_components(graph, directed=False)
    if count == 1:
        return np.empty((0, 2), dtype=np.int64)
    main = np.argmax(np.bincount(label))
    inside = np.flatnonzero(label == main)
    outside = np.flatnonzero(label != main)
    dist, nearest = cKDTree(xy[inside]).query(xy[outside])
    order = np.lexsort((dist, label[outside]))
    first = order[np.unique(label[outside][order], return_index=True)[1]]
    return np.c_[outside[first], inside[nearest[first]]]


def polylines(
    rng: np.random.Generator,
    a: FloatArray,
    b: FloatArray,
    *,
    per_km: float,
    wiggle: FloatArray,
) -> NDArray[np.object_]:
    """Gently curving line strings from ``a[i]`` to ``b[i]``.

    Each line gets about ``per_km`` vertices per kilometre (at least its two ends); the
    interior vertices are pushed sideways by two random sine waves whose size is
    ``wiggle[i]`` times the line's length. The end points are exactly ``a`` and ``b``, so
    lines meeting at a node share that coordinate bit for bit.
    """
    vec = b - a
    length = np.hypot(vec[:, 0], vec[:, 1])
    segments = np.maximum(1, np.ceil(length / 1000.0 * per_km)).astype(np.int64)
    line = np.repeat(np.arange(len(a)), segments + 1)
    start = np.concatenate([[0], np.cumsum(segments + 1)[:-1]])
    pos = np.arange(line.size) - start[line]
    t = pos / segments[line]
    amp = rng.normal(0.0, 1.0, (len(a), 2)) * (wiggle * length)[:, None] * np.array([1.0, 0.5])
    side = amp[line, 0] * np.sin(np.pi * t) + amp[line, 1] * np.sin(2.0 * np.pi * t)
    normal = np.c_[-vec[:, 1], vec[:, 0]] / np.maximum(length, 1e-9)[:, None]
    xy = a[line] + t[:, None] * vec[line] + side[:, None] * normal[line]
    xy[pos == 0] = a
    xy[pos == segments[line]] = b
    return shapely.linestrings(xy, indices=line)


def half_planes(
    f: NDArray[np.float64], p: NDArray[np.float64], size: NDArray[np.float64]
) -> NDArray[np.object_]:
    """Squares of side ``2*size`` covering the side of the bisector of ``f``/``p`` nearer ``f``."""
    mid = (f + p) / 2
    normal = (f - p) / np.hypot(*(f - p).T)[:, None]
    along = np.c_[-normal[:, 1], normal[:, 0]] * size[:, None]
    out = normal * 2 * size[:, None]
    ring = np.stack([mid - along, mid + along, mid + along + out, mid - along + out], axis=1)
    return shapely.polygons(ring)  # type: ignore[return-value]  # 3-D rings: an array
