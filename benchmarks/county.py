"""Benchmark: the whole ``planner run`` on a county-sized region, and the road search
against networkx on the same graph.

The region is :func:`planner.synth.generate_region` with 2,340 villages, 116 townships in
9 counties and ``road_detail=35`` (about 310,000 road segments), written as GeoPackages
into a folder under ``outputs/bench/``. By default every road line is cut at each
vertex (``--roads segments``), like data digitised segment by segment, so the
noded network really has ~300,000 edges; ``--roads lines`` keeps the synthetic polylines,
whose network has only a few thousand edges (same roads, same results). The scenario
measures EVERY level along roads: drive for city, county and township, walk for village
and station; siting, grids, map and report are on, grids are written in all six formats.

Each run is a fresh interpreter that imports planner and calls
:func:`planner.pipeline.run` in-process (so lazy imports count, as in ``planner run``).
Bytecode is cached under ``outputs/bench/pycache`` even where the environment sets
``PYTHONDONTWRITEBYTECODE``, as a normal install caches it, so only the first run also
compiles. Wall and CPU time are printed per run, with the per-step timings of the plan.
The machine may be shared: CPU time is the less disturbed measure.

Then, as the peer, one level's search (township: drive, by length, from the township
centers and sub-centers) is timed with :func:`planner.network.node_costs` and with
``networkx.multi_source_dijkstra_path_length`` on the same directed graph (each source
joined to its edge's ends by its access leg plus the part of the edge), and the distances
are checked to be identical. Run::

    .venv/bin/python benchmarks/county.py [--repeat 3] [--roads segments|lines] [--reuse]

The last line printed is ``county_run_seconds=<best wall> cpu=<best CPU>``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "outputs" / "bench"
#: Travel mode of every level in the benchmark scenario.
TRAVEL = {"city": "drive", "county": "drive", "township": "drive", "village": "walk",
          "station": "walk"}  # fmt: skip
TARGET_S = 20.0


# ------------------------------------------------------------------------------ region


def region_dir(args: argparse.Namespace) -> Path:
    """Cached folder of the region with these arguments."""
    key = (
        f"county-v{args.villages}-t{args.townships}-c{args.counties}-s{args.seed}"
        f"-d{args.road_detail:g}-{args.roads}"
    )
    return BENCH / key


def make_region(args: argparse.Namespace, folder: Path) -> Path:
    """Generate and write the region and the benchmark scenario (``--reuse``: keep the
    ones written before, e.g. to time another version of planner on the same files)."""
    scenario = folder / "bench.toml"
    if args.reuse and scenario.exists():
        print(f"region: reused from {folder}")
        return scenario
    from planner.synth.region import generate_region, write_region

    start = time.perf_counter()
    region = generate_region(
        villages=args.villages,
        townships=args.townships,
        counties=args.counties,
        seed=args.seed,
        road_detail=args.road_detail,
    )
    written = write_region(region, folder, formats="gpkg", outputs_dir="out")
    if args.roads == "segments":
        write_segments(folder / "roads.gpkg")
    settings = tomllib.loads(written.read_text("utf-8"))
    for level, spec in settings["levels"].items():
        spec.update(mode="network", travel=TRAVEL.get(level, "walk"))
    scenario.write_text(to_toml(settings), "utf-8")
    print(f"region: generated in {time.perf_counter() - start:.1f} s into {folder}")
    return scenario


def write_segments(path: Path) -> None:
    """Replace a road layer by its single segments (one line per pair of vertices)."""
    import geopandas as gpd
    import numpy as np
    import shapely

    from planner.outputs.vector import write_gpkg

    roads = gpd.read_file(path)
    xy, line = shapely.get_coordinates(roads.geometry.values, return_index=True)
    first = np.flatnonzero(line[1:] == line[:-1])
    pieces = shapely.linestrings(np.stack([xy[first], xy[first + 1]], axis=1))
    table = roads.drop(columns=roads.geometry.name).iloc[line[first]].reset_index(drop=True)
    write_gpkg(path, {"roads": gpd.GeoDataFrame(table, geometry=pieces, crs=roads.crs)})


def to_toml(table: dict[str, Any], prefix: str = "") -> str:
    """TOML text of nested tables of strings, numbers, booleans and lists of those."""
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and scalars else []
    lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in scalars.items()]
    text = "\n".join(lines) + ("\n\n" if lines else "")
    for key, value in table.items():
        if isinstance(value, dict):
            text += to_toml(value, f"{prefix}.{key}" if prefix else key)
    return text


# ------------------------------------------------------------------------------ runs


def child(scenario: str, out: str, profile: str | None) -> None:
    """One measured run in this (fresh) interpreter; prints one JSON line."""
    wall, cpu = time.perf_counter(), time.process_time()
    from planner.outputs.writers import write_outputs
    from planner.pipeline import run
    from planner.scenario import load_scenario

    loaded = load_scenario(Path(scenario))
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        plan = profiler.runcall(run, loaded)
        profiler.runcall(write_outputs, plan, Path(out))
        profiler.dump_stats(profile)
    else:
        plan = run(loaded)
        write_outputs(plan, Path(out))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    written = json.loads((Path(out) / "summary.json").read_text("utf-8"))
    result = {"wall": wall, "cpu": cpu, "timings": plan.timings, "summary": written["timings"]}
    print("RESULT " + json.dumps(result))


def measured_run(scenario: Path, out: Path, profile: Path | None = None) -> dict[str, Any]:
    """Run :func:`child` in a fresh interpreter; return its result."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PLANNER_QUIET="1", PYTHONPYCACHEPREFIX=str(BENCH / "pycache"))
    command = [sys.executable, __file__, "--child", str(scenario), "--out", str(out)]
    if profile is not None:
        command += ["--profile-to", str(profile)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"run failed:\n{done.stderr[-4000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def print_runs(runs: list[dict[str, Any]]) -> None:
    """Per-step wall seconds of every run, then the totals."""
    steps = list(runs[0]["timings"])
    print(f"\n{'step':<16}" + "".join(f"{f'run {i + 1}':>10}" for i in range(len(runs))))
    for step in steps:
        print(f"{step:<16}" + "".join(f"{r['timings'].get(step, 0.0):>10.2f}" for r in runs))
    stepped = [sum(r["timings"].values()) for r in runs]
    print(f"{'sum of steps':<16}" + "".join(f"{s:>10.2f}" for s in stepped))
    print(f"{'total wall':<16}" + "".join(f"{r['wall']:>10.2f}" for r in runs))
    print(f"{'total CPU':<16}" + "".join(f"{r['cpu']:>10.2f}" for r in runs))
    print("(total = fresh interpreter: imports, reading the scenario, every step, "
          "service areas and tables between steps)")  # fmt: skip


def print_profile(path: Path, limit: int = 40) -> None:
    """Largest cumulative times under planner's own functions."""
    import pstats

    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(r"planner/", limit)
    stats.sort_stats("tottime").print_stats(limit // 2)


# ------------------------------------------------------------------------------ peer


def road_graph(scenario: Path) -> tuple[Any, Any, Any]:
    """The run's road network, built as ``planner run`` builds it; prints its size."""
    import shapely

    from planner.layers import load_layers
    from planner.scenario import load_scenario
    from planner.steps import road_network

    settings = load_scenario(scenario)
    layers = load_layers(settings, kinds=("roads", "centers", "villages"))
    roads = layers["roads"]
    segments = int((shapely.get_num_coordinates(roads.geometry.values) - 1).sum())
    net, build_wall, _ = timed(road_network, settings, layers)
    print(
        f"\nroads: {len(roads):,} input lines, {segments:,} segments; after noding "
        f"{net.n_nodes:,} nodes, {len(net.edges):,} edges (built in {build_wall:.2f} s)"
    )
    return settings, layers, net


def networkx_peer(settings: Any, layers: Any, net: Any, repeat: int) -> None:
    """Township-level search: planner ``node_costs`` vs networkx, same graph, same sources."""
    import networkx as nx
    import numpy as np

    from planner.network import node_costs, snap

    centers = layers["centers"]
    centers = centers[centers["level"].isin(["township", "subcenter"])]
    cutoff = settings.levels["township"].cutoff_m * 1.0
    sources = snap(net, centers.geometry, mode="drive")
    node_costs(net, sources, cutoff=cutoff, mode="drive")  # builds the cached CSR
    runs = [timed(node_costs, net, sources, cutoff=cutoff, mode="drive") for _ in range(repeat)]
    ours = runs[0][0]
    wall, cpu = min(r[1] for r in runs), min(r[2] for r in runs)

    graph, starts = peer_graph(net, sources)
    runs = [
        timed(nx.multi_source_dijkstra_path_length, graph, starts, cutoff=cutoff)
        for _ in range(repeat)
    ]
    theirs = runs[0][0]
    nx_wall, nx_cpu = min(r[1] for r in runs), min(r[2] for r in runs)
    expected = np.full(net.n_nodes, np.inf)
    found = [k for k in theirs if isinstance(k, int)]
    expected[found] = [theirs[k] for k in found]
    reached = np.isfinite(expected)
    assert np.array_equal(reached, np.isfinite(ours.cost)), "reached sets differ"
    assert np.allclose(ours.cost[reached], expected[reached], rtol=0, atol=1e-6), "distances differ"
    print(
        f"township level ({len(centers)} centers, drive, {cutoff:,.0f} m): identical distances "
        f"at {reached.sum():,} of {net.n_nodes:,} nodes"
    )
    print(f"{'planner node_costs':<44} best wall {wall:7.3f} s, cpu {cpu:7.3f} s")
    print(f"{'networkx multi_source_dijkstra_path_length':<44} best wall {nx_wall:7.3f} s, "
          f"cpu {nx_cpu:7.3f} s")  # fmt: skip
    print(f"ratio_vs_networkx={nx_cpu / cpu:.1f} (CPU; wall {nx_wall / wall:.1f})")


def peer_graph(net: Any, sources: Any) -> tuple[Any, set]:
    """networkx DiGraph of the drivable edges (cheapest of parallel ones) plus one node
    per source linked to its edge's ends by access leg + part of the edge."""
    import networkx as nx
    import numpy as np

    forward, backward = net.directions("drive")
    u, v = net.edges["u"].to_numpy(), net.edges["v"].to_numpy()
    length = net.edges["length"].to_numpy()
    graph = nx.DiGraph()
    graph.add_nodes_from(range(net.n_nodes))
    arcs = [(a, b, w) for a, b, w in zip(u[forward], v[forward], length[forward], strict=True)]
    arcs += [(b, a, w) for a, b, w in zip(u[backward], v[backward], length[backward], strict=True)]
    for a, b, w in arcs:
        if not graph.has_edge(a, b) or graph[a][b]["weight"] > w:
            graph.add_edge(int(a), int(b), weight=float(w))
    starts = set()
    for i in np.flatnonzero(sources.ok):
        e, t, walk = sources.edge[i], sources.offset[i], sources.access_m[i]
        node = ("source", int(i))
        starts.add(node)
        if forward[e]:
            graph.add_edge(node, int(v[e]), weight=walk + length[e] - t)
        if backward[e]:
            graph.add_edge(node, int(u[e]), weight=walk + t)
    return graph, starts


def timed(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


# ------------------------------------------------------------------------------ main


def region_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the benchmark region (shared with ``outputs.py``)."""
    parser.add_argument("--villages", type=int, default=2340)
    parser.add_argument("--townships", type=int, default=116)
    parser.add_argument("--counties", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--road-detail", type=float, default=35.0)
    parser.add_argument("--roads", choices=("segments", "lines"), default="segments")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    region_arguments(parser)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="one more run under cProfile")
    parser.add_argument("--skip-networkx", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep the region written before")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.out, args.profile_to)
        return

    folder = region_dir(args)
    scenario = make_region(args, folder)
    settings, layers, net = road_graph(scenario)
    runs = []
    for i in range(args.repeat):
        runs.append(measured_run(scenario, folder / "out"))
        r = runs[-1]
        print(f"run {i + 1}: wall {r['wall']:.2f} s, cpu {r['cpu']:.2f} s", flush=True)
    if runs:
        print_runs(runs)
    if args.profile:
        path = folder / "run.prof"
        measured_run(scenario, folder / "out", profile=path)
        print_profile(path)
    if not args.skip_networkx:
        networkx_peer(settings, layers, net, repeat=2)
    if not runs:
        return
    best_wall, best_cpu = min(r["wall"] for r in runs), min(r["cpu"] for r in runs)
    verdict = "meets" if best_wall <= TARGET_S else "misses"
    print(f"\nbest of {len(runs)}: wall {best_wall:.2f} s, cpu {best_cpu:.2f} s "
          f"({verdict} the {TARGET_S:g} s target)")  # fmt: skip
    print(f"county_run_seconds={best_wall:.2f} cpu={best_cpu:.2f}")


if __name__ == "__main__":
    main()
