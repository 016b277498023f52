"""Tests of planner.network.search: bounded searches in batches match networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from network_helpers import CLASSES, WALK_MPS, access, frame, line, points, reference_nearest

from planner.network import build_network, sites_within, snap
from planner.network import search as _search


@pytest.mark.parametrize("weight", ["length", "time"])
def test_sites_within_in_many_small_batches_matches_networkx(monkeypatch, weight):
    rng = np.random.default_rng(7)
    side, spacing = 16, 100.0
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1) * spacing
    grid = grid + rng.uniform(-20, 20, grid.shape)
    across = [line(grid[i, j], grid[i, j + 1]) for i in range(side) for j in range(side - 1)]
    down = [line(grid[i, j], grid[i + 1, j]) for i in range(side - 1) for j in range(side)]
    lines = across + down
    net = build_network(
        frame(lines, highway=rng.choice(CLASSES[:2], len(lines))), min_component_nodes=1
    )
    extent = (side - 1) * spacing
    sites = snap(net, points(rng.uniform(0, extent, (40, 2)).tolist()))
    demand = snap(net, points(rng.uniform(0, extent, (150, 2)).tolist()))
    cutoff = 350.0 if weight == "length" else 350.0 / WALK_MPS
    whole = sites_within(net, demand, sites, cutoff=cutoff, weight=weight)
    monkeypatch.setattr(_search, "_BATCH", 6)  # many batches, each on its own part
    small = sites_within(net, demand, sites, cutoff=cutoff, weight=weight)
    monkeypatch.setattr(_search, "CHUNK_CELLS", 50)  # batches halve down to single sites
    single = sites_within(net, demand, sites, cutoff=cutoff, weight=weight)
    monkeypatch.setattr(_search, "DENSE_CELLS", 0)  # every batch one source at a time
    one_by_one = sites_within(net, demand, sites, cutoff=cutoff, weight=weight)
    assert (one_by_one != single).nnz == 0
    graph, _ = reference_nearest(net, sites, demand, cutoff=cutoff, weight=weight, mode="walk")
    expected = {}
    for k in range(len(sites)):
        if not graph.has_node(("a", k)):
            continue
        reach = nx.single_source_dijkstra_path_length(graph, ("a", k), cutoff=cutoff, weight="w")
        for j in range(len(demand)):
            if (1, j) in reach and reach[(1, j)] + access(demand, j, weight) <= cutoff:
                expected[j, k] = reach[(1, j)] + access(demand, j, weight)
    assert 50 < len(expected) < len(sites) * len(demand) / 4
    for matrix in (whole, small, single, one_by_one):
        coo = matrix.tocoo()
        got = {(int(r), int(c)): v for r, c, v in zip(coo.row, coo.col, coo.data, strict=True)}
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, abs=1e-6)
