"""Random siting instances, brute-force helpers and the San Francisco reference data."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from planner.siting import SitingResult

SF = Path(__file__).resolve().parents[2] / "shared" / "data" / "sf_facility_location"
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sf_costs() -> tuple[np.ndarray, np.ndarray]:
    """Network distances (205 tracts × 16 stores) and POP2000, rows sorted by NAME."""
    dist = SF / "SF_network_distance_candidateStore_16_censusTract_205_new.csv"
    demand = SF / "SF_demand_205_centroid_uniform_weight.csv"
    if not (dist.exists() and demand.exists()):
        pytest.skip("San Francisco reference data absent")
    table = pd.read_csv(dist).pivot_table(
        values="distance", index="DestinationName", columns="name"
    )
    tracts = pd.read_csv(demand).sort_values("NAME").reset_index(drop=True)
    return table.loc[tracts["NAME"]].to_numpy(), tracts["POP2000"].to_numpy(dtype=float)


@st.composite
def instances(draw, *, unreachable: bool = True):
    """Small random instances: integer costs (some unreachable), weights, p, fixed."""
    n = draw(st.integers(1, 8))
    m = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    cost = rng.integers(0, 10, size=(n, m)).astype(float)
    if unreachable:
        cost[rng.random((n, m)) < 0.2] = np.inf
    weights = rng.integers(0, 20, size=n).astype(float)
    n_fixed = draw(st.integers(0, min(2, m)))
    fixed = np.sort(rng.choice(m, size=n_fixed, replace=False))
    p = draw(st.integers(0, m - n_fixed))
    radius = float(draw(st.integers(0, 9)))
    return cost, weights, fixed, p, radius


def as_sparse(cost: np.ndarray) -> sp.coo_array:
    """The finite entries of ``cost`` as a sparse matrix, zero costs stored explicitly."""
    rows, cols = np.nonzero(np.isfinite(cost))
    return sp.coo_array((cost[rows, cols], (rows, cols)), shape=cost.shape)


def new_site_sets(m, fixed, p):
    free = [j for j in range(m) if j not in set(fixed.tolist())]
    for new in itertools.combinations(free, p):
        yield np.array(sorted([*fixed.tolist(), *new]), dtype=int)


def check_solution(result: SitingResult, fixed, size):
    assert set(fixed.tolist()) <= set(result.selected.tolist())
    assert result.selected.size == size
    assert np.all(np.diff(result.selected) > 0)


def min_open_groups(m: int, seed: int) -> list[tuple[np.ndarray, int]]:
    """Disjoint random groups of sites (some sites in none) with random minimums."""
    rng = np.random.default_rng(seed)
    label = rng.integers(-1, 3, size=m)
    return [
        (np.flatnonzero(label == g), int(rng.integers(0, (label == g).sum() + 1)))
        for g in range(3)
        if (label == g).any()
    ]


def meets(sites: np.ndarray, groups) -> bool:
    return all(np.isin(members, sites).sum() >= count for members, count in groups)


def random_villages(seed: int, n: int, extent: tuple[float, float], crs: str) -> gpd.GeoDataFrame:
    """``n`` villages ``V0``… with 100–2,000 residents, uniform over ``extent`` (metres)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform([0, 0], extent, size=(n, 2))
    return gpd.GeoDataFrame(
        {
            "id": [f"V{i}" for i in range(n)],
            "name": [f"村{i}" for i in range(n)],
            "population": rng.integers(100, 2000, size=n).astype(float),
        },
        geometry=[Point(x, y) for x, y in xy],
        crs=crs,
    )


def spopt_solver():
    """A PuLP solver for spopt's models: HiGHS when PuLP has it, else CBC (skips the test
    without PuLP)."""
    pulp = pytest.importorskip("pulp")
    if "HiGHS" in pulp.listSolvers(onlyAvailable=True):
        return pulp.HiGHS(msg=False)
    return pulp.PULP_CBC_CMD(msg=False)
