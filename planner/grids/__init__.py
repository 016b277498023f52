"""Governance grids (网格): generation, numbering, worker counts and checks.

Generation
    Each village/community polygon is cut into ``k`` grids, ``k = round(households /
    households_per_grid)`` (at least 1), by recursive bisection: a piece that must hold
    ``k`` grids is cut by a line perpendicular to the long side of its minimum rotated
    rectangle, at the weighted quantile ``⌊k/2⌋ / k`` of its households (household,
    building or population points when given, otherwise area, i.e. households spread
    uniformly), and the two sides get ``⌊k/2⌋`` and ``⌈k/2⌉`` grids. The cross cut
    (along the long axis) is taken instead when its sides are clearly more compact, as in
    a C-shaped village; a cut within 2 % of a boundary edge parallel to it moves onto that
    edge rather than leave a thin strip. Points steer a cut only where a piece holds at
    least as many points as grids to make. Both sides of a cut come from one half-plane
    (intersection and difference), so grids tile the village exactly. When a cut leaves
    a side in several parts (concave villages), every part but the largest is merged into
    the grid it shares the longest border with, so each grid is one polygon (except where
    the village itself is in several parts). All pieces of a recursion level are cut
    together with vectorised shapely/numpy calls; a piece of one ring that the cut
    crosses twice is split in numpy, bit for bit as the GEOS overlay would split it
    (:mod:`planner.grids.halfplane`), the others by the overlay.

Defaults (scenario settings override them)
    Tongliao (seed 003) counts ≈ 8.7 grids per rural village with ≈ 1.65 workers per
    grid, and ≈ 10.3 grids per urban community with ≈ 2.2 workers per grid. Assuming a
    rural administrative village of ≈ 260 households (about one villager group, 村民小组,
    per grid) and an urban community of ≈ 2,600 households, this gives
    :data:`RURAL_HOUSEHOLDS_PER_GRID` = 30 and :data:`URBAN_HOUSEHOLDS_PER_GRID` = 250
    (inside the 200–500 households common in city grid rules). Workers: a village gets
    ``round(workers_per_grid × households / households_per_grid)`` workers, at least one
    per grid, spread over its grids by households (largest remainder); with the defaults
    that is one worker per ≈ 18 rural or ≈ 114 urban households. When only population is
    known, households = population / :data:`HOUSEHOLD_SIZE` (2.62, China's 2020 census).

Village polygons and points
    Without village areas, village polygons are Voronoi cells of the village points,
    clipped to the township polygon each point lies in, whatever the ledger's
    ``township_id`` says: every village lies in its own grids. Conflicts (ledger township
    vs polygon, both named, with a fix) and villages that get no grid (point in no
    township, same point as another village) are noted and listed per village. With
    village areas, each area is gridded under its own code; a village point outside its
    area is noted with the area it lies in.

Arithmetic
    Households, population and workers are apportioned in float64 (exact whole numbers up
    to 2**53, never negative); negative or infinite counts are treated as unknown.

Numbering (编号管理)
    Grid code = 12-digit village code + 3-digit sequence. The sequence follows reading
    order inside the village: rows of height √(village area / grids) from the north, each
    row west to east, by grid centroid. Names: ``"<village>第3网格"`` (zh) or
    ``"<village> grid 3"`` (en). The method is deterministic, so re-running on the same
    input gives the same codes.
"""

from planner.grids.bisect import polsby_popper
from planner.grids.checks import check_grids
from planner.grids.derive import derive_village_areas
from planner.grids.generate import (
    HOUSEHOLD_SIZE,
    RURAL_HOUSEHOLDS_PER_GRID,
    RURAL_WORKERS_PER_GRID,
    URBAN_HOUSEHOLDS_PER_GRID,
    URBAN_WORKERS_PER_GRID,
    GridResult,
    generate_grids,
)
from planner.grids.locate import locate_villages
from planner.grids.numbering import number_grids

__all__ = [
    "HOUSEHOLD_SIZE",
    "RURAL_HOUSEHOLDS_PER_GRID",
    "RURAL_WORKERS_PER_GRID",
    "URBAN_HOUSEHOLDS_PER_GRID",
    "URBAN_WORKERS_PER_GRID",
    "GridResult",
    "check_grids",
    "derive_village_areas",
    "generate_grids",
    "locate_villages",
    "number_grids",
    "polsby_popper",
]
