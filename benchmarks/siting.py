"""Siting benchmark: planner.siting against spopt on the same instances, same process.

Instances
---------
a. San Francisco (spopt's test data): 205 tracts × 16 stores, network distances,
   radius 5,000 m, p = 4 (MCLP), plus LSCP, p-median, p-center (p = 4) and LSCP-B on the
   same matrix (spopt's LSCP-B objective less the tracts with one store in reach, which
   it counts as covered twice).
b. 20,000 villages × 2,000 candidate sites in Gaussian clusters, radius 3,000 m,
   p = 100: MCLP certified within 0.1 % (``mip_gap=1e-3``) in at most 30 s; then again
   with spopt's HiGHS default gap (``mip_gap=1e-4``), still capped at 30 s.
c. 200,000 villages × 20,000 candidates, p = 1,000, MCLP by the heuristic with its
   Lagrangian bound (no spopt: its dense model would not fit).

spopt is solved through PuLP with HiGHS when PuLP offers it, else PuLP's bundled CBC.

Run: ``.venv/bin/python benchmarks/siting.py [--skip-spopt-large] [--skip-huge]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from planner.siting import SitingResult, lscp, lscp_backup, mclp, pcenter, pmedian

SF = Path(__file__).resolve().parents[2] / "shared" / "data" / "sf_facility_location"


def villages(
    n: int, m: int, *, side: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` villages in Gaussian clusters (σ = 2 km, ~50 per cluster) over a square of
    ``side`` metres, log-normal populations, and ``m`` candidate sites at random villages.
    """
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, side, size=(max(1, n // 50), 2))
    points = centers[rng.integers(0, len(centers), size=n)] + rng.normal(0, 2_000, (n, 2))
    population = np.round(rng.lognormal(6.5, 0.8, size=n))
    return points, population, points[rng.choice(n, size=m, replace=False)]


def within_radius(points: np.ndarray, sites: np.ndarray, radius: float) -> sp.csr_array:
    """Sparse distances of the pairs within ``radius`` (a stored 0 is a zero distance)."""
    pairs = cKDTree(points).sparse_distance_matrix(cKDTree(sites), radius, output_type="ndarray")
    return sp.csr_array((pairs["v"], (pairs["i"], pairs["j"])), shape=(len(points), len(sites)))


def sf_instance() -> tuple[np.ndarray, np.ndarray] | None:
    """SF network distances (tracts sorted by NAME × stores) and POP2000, if present."""
    dist = SF / "SF_network_distance_candidateStore_16_censusTract_205_new.csv"
    demand = SF / "SF_demand_205_centroid_uniform_weight.csv"
    if not (dist.exists() and demand.exists()):
        return None
    table = pd.read_csv(dist).pivot_table(
        values="distance", index="DestinationName", columns="name"
    )
    tracts = pd.read_csv(demand).sort_values("NAME").reset_index(drop=True)
    return table.loc[tracts["NAME"]].to_numpy(), tracts["POP2000"].to_numpy(dtype=float)


def spopt_solver(time_limit: float):
    """PuLP's HiGHS interface when available, else its bundled CBC."""
    import pulp

    if "HiGHS" in pulp.listSolvers(onlyAvailable=True):
        return pulp.HiGHS(msg=False, timeLimit=time_limit), "HiGHS (pulp)"
    return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit), "CBC (pulp)"


def run_spopt(model: str, cost: np.ndarray, weights: np.ndarray, radius: float, p: int,
              time_limit: float) -> tuple[float, float, str]:  # fmt: skip
    """Build and solve one spopt model from the cost matrix: (objective, seconds, solver)."""
    from spopt.locate import LSCP, LSCPB, MCLP, PCenter, PMedian

    solver, name = spopt_solver(time_limit)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if model == "mclp":
            built = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=p)
        elif model == "lscp":
            built = LSCP.from_cost_matrix(cost, service_radius=radius)
        elif model == "pcenter":
            built = PCenter.from_cost_matrix(cost, p_facilities=p)
        elif model == "lscpb":  # spopt counts demand with one covering site as covered twice
            built = LSCPB.from_cost_matrix(cost, radius, solver)
            single = float(((cost <= radius).sum(axis=1) < 2).sum())
        else:
            built = PMedian.from_cost_matrix(cost, weights, p_facilities=p)
        built.solve(solver)
    objective = float(built.problem.objective.value()) - (single if model == "lscpb" else 0.0)
    return objective, time.perf_counter() - start, name


def report(label: str, ours: SitingResult, peer: tuple[float, float, str] | None) -> None:
    """One line per instance: our objective, bound, gap and time; spopt's; the ratios."""
    line = (
        f"{label:<28} planner {ours.objective:>14,.1f}  bound {ours.bound:>14,.1f}  "
        f"gap {100 * ours.gap:6.3f} %  {ours.status:<10} {ours.method:<9} {ours.seconds:8.2f} s"
    )
    if peer is not None:
        objective, seconds, name = peer
        line += (
            f"\n{'':<28} spopt   {objective:>14,.1f}  [{name}]{'':>16} {seconds:8.2f} s"
            f"\n{'':<28} ratio: spopt time / planner time = {seconds / ours.seconds:7.1f}x; "
            f"planner objective / spopt objective = {ours.objective / objective:.6f}"
        )
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-spopt-large", action="store_true", help="no spopt on (b)")
    parser.add_argument("--skip-huge", action="store_true", help="skip instance (c)")
    parser.add_argument("--spopt-time-limit", type=float, default=1800.0)
    args = parser.parse_args()

    sf = sf_instance()
    if sf is None:
        print("(a) San Francisco data absent: skipped")
    else:
        cost, pop = sf
        report("(a) SF MCLP p=4 r=5000", mclp(cost, pop, 5000, 4),
               run_spopt("mclp", cost, pop, 5000, 4, args.spopt_time_limit))  # fmt: skip
        report("(a) SF LSCP r=5000", lscp(cost, 5000),
               run_spopt("lscp", cost, pop, 5000, 0, args.spopt_time_limit))  # fmt: skip
        report("(a) SF p-median p=4", pmedian(cost, pop, 4),
               run_spopt("pmedian", cost, pop, 0, 4, args.spopt_time_limit))  # fmt: skip
        report("(a) SF p-center p=4", pcenter(cost, p=4),
               run_spopt("pcenter", cost, pop, 0, 4, args.spopt_time_limit))  # fmt: skip
        report("(a) SF LSCP-B r=5000", lscp_backup(cost, 5000),
               run_spopt("lscpb", cost, pop, 5000, 0, args.spopt_time_limit))  # fmt: skip

    points, pop, sites = villages(20_000, 2_000, side=100_000.0)
    cost = cdist(points, sites)
    ours = mclp(cost, pop, 3_000, 100, mip_gap=1e-3, time_limit=30.0)
    peer = None
    if not args.skip_spopt_large:
        peer = run_spopt("mclp", cost, pop, 3_000, 100, args.spopt_time_limit)
    report("(b) 20k x 2k MCLP p=100", ours, peer)
    print(f"{'':<28} covered share {ours.objective / pop.sum():.4f}", flush=True)
    tight = mclp(cost, pop, 3_000, 100, mip_gap=1e-4, time_limit=30.0)
    report("(b) same, mip_gap=1e-4", tight, peer)
    del cost

    if not args.skip_huge:
        points, pop, sites = villages(200_000, 20_000, side=316_000.0, seed=1)
        start = time.perf_counter()
        cost = within_radius(points, sites, 3_000)
        built = time.perf_counter() - start
        ours = mclp(cost, pop, 3_000, 1_000, method="heuristic", time_limit=120.0)
        report("(c) 200k x 20k MCLP p=1000", ours, None)
        print(f"{'':<28} pairs within radius {cost.nnz:,} (built in {built:.1f} s); "
              f"covered share {ours.objective / pop.sum():.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
