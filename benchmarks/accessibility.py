"""Accessibility benchmark: planner.accessibility against PySAL ``access`` on the same
20,000 villages × 2,000 centers, same process.

The instance is the siting benchmark's (b): villages in Gaussian clusters over a
100 km square with log-normal populations, 2,000 centers at random villages with floor
areas of 100–2,000 m², catchments of 3,000 m (the siting benchmark's radius) and
10,000 m. PySAL gets the pairs within the catchment as
its long cost table (its best case: it filters by ``max_cost`` itself); planner gets the
same pairs as a sparse matrix, and also the full dense 20,000 × 2,000 matrix. Both
2SFCA and E2SFCA (Luo & Qi's stepped weights on thirds of the catchment) are timed;
CPU seconds (``time.process_time``), best of ``--repeat`` runs for planner, one run for
PySAL (its weights are applied row by row in Python). Results must agree to 1e-9.

Run: ``.venv/bin/python benchmarks/accessibility.py [--repeat 3]`` (not ``access.py``: that
name would shadow PySAL's ``access`` package). The last line printed is
``access_ratio_<method>_<km>km=<PySAL / planner CPU seconds>`` for each.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from access import Access, weights
from scipy.spatial.distance import cdist
from siting import villages, within_radius

from planner.accessibility import e2sfca, two_sfca

#: Catchments (m): the siting benchmark's radius, and a wider one with ~10× the pairs.
RADII = (3_000.0, 10_000.0)


def thirds(radius: float) -> dict[float, float]:
    """Luo & Qi's stepped weights on thirds of the catchment."""
    return {radius / 3: 1.0, 2 * radius / 3: 0.68, radius: 0.22}


def cpu(func: Callable[[], np.ndarray], repeat: int) -> tuple[float, np.ndarray]:
    """Best CPU seconds of ``repeat`` calls, and the last result."""
    best, out = float("inf"), np.empty(0)
    for _ in range(repeat):
        start = time.process_time()
        out = func()
        best = min(best, time.process_time() - start)
    return best, out


def pysal(
    pairs, pop: np.ndarray, supply: np.ndarray, *, radius: float, enhanced: bool
) -> np.ndarray:
    """PySAL scores on the stored pairs (villages no center reaches: 0)."""
    coo = pairs.tocoo()
    with warnings.catch_warnings():  # PySAL access 1.1 passes inplace= to pandas
        warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
        model = Access(
            demand_df=pd.DataFrame({"geoid": np.arange(len(pop)), "pop": pop}),
            demand_index="geoid",
            demand_value="pop",
            supply_df=pd.DataFrame({"geoid": np.arange(len(supply)), "supply": supply}),
            supply_index="geoid",
            supply_value="supply",
            cost_df=pd.DataFrame({"origin": coo.row, "dest": coo.col, "cost": coo.data}),
            cost_origin="origin",
            cost_dest="dest",
            cost_name="cost",
        )
        if enhanced:
            out = model.enhanced_two_stage_fca(weight_fn=weights.step_fn(thirds(radius)))
        else:
            out = model.two_stage_fca(max_cost=radius)
    return out.iloc[:, 0].reindex(range(len(pop))).fillna(0.0).to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    points, pop, sites = villages(20_000, 2_000, side=100_000.0)
    supply = np.random.default_rng(7).uniform(100, 2_000, len(sites))
    dense = cdist(points, sites)
    ratios = {}
    for radius in RADII:
        pairs = within_radius(points, sites, radius)
        print(f"20,000 × 2,000, catchment {radius:,.0f} m: {pairs.nnz:,} pairs within it")
        ratios |= compare(dense, pairs, pop, supply, radius, args.repeat)
    print(" ".join(f"access_ratio_{k}={v:.1f}" for k, v in ratios.items()))


def compare(dense, pairs, pop, supply, radius: float, repeat: int) -> dict[str, float]:
    """Time both methods on both inputs against PySAL; the ratios PySAL / planner."""
    zones = tuple(thirds(radius).items())
    ratios = {}
    for name, ours, enhanced in (
        ("2sfca", lambda c: two_sfca(c, pop, supply, max_cost=radius).access, False),
        ("e2sfca", lambda c: e2sfca(c, pop, supply, zones=zones).access, True),
    ):
        sparse_s, ours_sparse = cpu(lambda f=ours: f(pairs), repeat)
        dense_s, ours_dense = cpu(lambda f=ours: f(dense), repeat)
        peer_s, peer = cpu(
            lambda e=enhanced: pysal(pairs, pop, supply, radius=radius, enhanced=e), 1
        )
        np.testing.assert_allclose(ours_sparse, peer, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(ours_dense, peer, rtol=1e-9, atol=1e-15)
        key = f"{name}_{radius / 1000:g}km"
        ratios[key] = peer_s / sparse_s
        print(f"  {name}: planner {sparse_s:.3f} s (sparse), {dense_s:.3f} s (dense) | "
              f"PySAL access {peer_s:.2f} s | ratio {ratios[key]:.0f}× | results agree "
              f"(max |Δ| {np.abs(ours_sparse - peer).max():.1e})")  # fmt: skip
    return ratios


if __name__ == "__main__":
    main()
