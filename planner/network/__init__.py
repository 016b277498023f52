"""Road networks: building a graph from road lines, snapping, and bounded searches.

:mod:`~planner.network.graph` builds a :class:`RoadNetwork` from road lines (noded by
:mod:`~planner.network.noding` after the checks of
:mod:`~planner.network.lines`, read by :mod:`~planner.network.osm`);
:mod:`~planner.network.snapping` joins points to it; :mod:`~planner.network.queries` runs
the bounded searches (on the private machinery of :mod:`~planner.network.search` and
:mod:`~planner.network.areas`).
"""

from planner.network.graph import (
    DEFAULT_SPEEDS,
    MODES,
    WEIGHTS,
    RoadNetwork,
    build_network,
    network_from_graphml,
    to_networkx,
)
from planner.network.osm import read_road_lines
from planner.network.queries import (
    NearestResult,
    NodeCosts,
    nearest_facility,
    node_costs,
    service_areas,
    sites_within,
)
from planner.network.snapping import Snap, snap

__all__ = [
    "DEFAULT_SPEEDS",
    "MODES",
    "WEIGHTS",
    "NearestResult",
    "NodeCosts",
    "RoadNetwork",
    "Snap",
    "build_network",
    "nearest_facility",
    "network_from_graphml",
    "node_costs",
    "read_road_lines",
    "service_areas",
    "sites_within",
    "snap",
    "to_networkx",
]
