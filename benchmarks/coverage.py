"""Benchmark: bounded multi-source network search, planner vs networkx, same graph and cutoff.

Builds a perturbed-grid road network (default 450 × 450 = 202,500 nodes, 808,200 directed
edges) with :func:`planner.network.build_network`, picks 200 source nodes and a cutoff, then
times :func:`planner.network.node_costs` (one bounded multi-source Dijkstra on CSR arrays)
against ``networkx.multi_source_dijkstra_path_length`` on an equivalent ``DiGraph``, in the
same process, and asserts identical distances. Run::

    .venv/bin/python benchmarks/coverage.py [--side 450] [--sources 200] [--cutoff 3000]

Each side runs ``--repeat`` times and the best counts. Both are single-threaded, so the
ratio uses CPU time of the process, which a busy machine disturbs less than wall time; the
wall-clock ratio is printed too. The last line printed is
``ratio_vs_networkx=<networkx CPU seconds / planner CPU seconds>``.
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from planner.network import build_network, nearest_facility, node_costs, snap


def grid_lines(side: int, spacing: float, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Street segments of a ``side × side`` grid with jittered intersections."""
    x, y = np.meshgrid(np.arange(side) * spacing, np.arange(side) * spacing)
    xy = np.stack([x, y], axis=-1) + rng.uniform(-0.2, 0.2, (side, side, 2)) * spacing
    across = np.stack([xy[:, :-1], xy[:, 1:]], axis=2).reshape(-1, 2, 2)
    down = np.stack([xy[:-1, :], xy[1:, :]], axis=2).reshape(-1, 2, 2)
    segments = shapely.linestrings(np.concatenate([across, down]))
    highway = np.full(len(segments), "residential")
    return gpd.GeoDataFrame({"highway": highway}, geometry=segments, crs="EPSG:32650")


def timed(label: str, func, *args, **kwargs):
    """Run once; print and return (result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = func(*args, **kwargs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<46} wall {wall:7.3f} s   cpu {cpu:7.3f} s")
    return out, wall, cpu


def best_of(repeat: int, label: str, func, *args, **kwargs):
    """Best wall and best CPU time of ``repeat`` runs (machines are noisy)."""
    runs = [timed(label, func, *args, **kwargs) for _ in range(repeat)]
    return runs[0][0], min(r[1] for r in runs), min(r[2] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=450)
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--cutoff", type=float, default=3000.0)
    parser.add_argument("--targets", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(42)

    lines, *_ = timed("synthetic grid lines", grid_lines, args.side, 100.0, rng)
    net, *_ = timed(f"build_network ({len(lines):,} segments)", build_network, lines)
    n_directed = 2 * len(net.edges)
    print(f"network: {net.n_nodes:,} nodes, {n_directed:,} directed edges")
    assert net.n_nodes >= 200_000 and n_directed >= 500_000

    start_nodes = rng.choice(net.n_nodes, args.sources, replace=False)
    at_nodes = gpd.GeoSeries(shapely.points(net.node_xy[start_nodes]), crs=net.crs)
    sources, *_ = timed(f"snap {args.sources} sources", snap, net, at_nodes)
    _, cold, cold_cpu = timed(
        "planner node_costs (first call, builds CSR)", node_costs, net, sources, cutoff=args.cutoff
    )
    ours, wall, cpu = best_of(
        args.repeat, "planner node_costs", node_costs, net, sources, cutoff=args.cutoff
    )

    graph = nx.DiGraph()
    graph.add_nodes_from(range(net.n_nodes))
    u, v, length = (net.edges[c].to_numpy() for c in ("u", "v", "length"))
    graph.add_weighted_edges_from(zip(u.tolist(), v.tolist(), length.tolist(), strict=True))
    graph.add_weighted_edges_from(zip(v.tolist(), u.tolist(), length.tolist(), strict=True))
    theirs, nx_wall, nx_cpu = best_of(
        args.repeat,
        "networkx multi_source_dijkstra_path_length",
        nx.multi_source_dijkstra_path_length,
        graph,
        set(start_nodes.tolist()),
        cutoff=args.cutoff,
    )

    expected = np.full(net.n_nodes, np.inf)
    expected[list(theirs)] = list(theirs.values())
    reached = np.isfinite(expected)
    assert np.array_equal(reached, np.isfinite(ours.cost)), "reached sets differ"
    assert np.allclose(ours.cost[reached], expected[reached], rtol=0, atol=1e-6), "distances differ"
    print(f"identical distances: {reached.sum():,} nodes within {args.cutoff:g} m")

    spots = gpd.GeoSeries(
        shapely.points(rng.uniform(net.node_xy.min(0), net.node_xy.max(0), (args.targets, 2))),
        crs=net.crs,
    )
    targets, *_ = timed(f"snap {args.targets:,} targets", snap, net, spots)
    timed(
        f"nearest_facility to {args.targets:,} targets",
        nearest_facility,
        net,
        sources,
        targets,
        cutoff=args.cutoff,
    )

    print(f"planner  best wall {wall:.3f} s, cpu {cpu:.3f} s")
    print(f"planner  first call (builds the CSR) wall {cold:.3f} s, cpu {cold_cpu:.3f} s")
    print(f"networkx best wall {nx_wall:.3f} s, cpu {nx_cpu:.3f} s")
    print(f"ratio_first_call_vs_networkx={nx_cpu / cold_cpu:.1f}")
    print(f"ratio_wall_vs_networkx={nx_wall / wall:.1f}")
    # both sides are single-threaded: CPU time is the load-independent measure
    print(f"ratio_vs_networkx={nx_cpu / cpu:.1f}")


if __name__ == "__main__":
    main()
