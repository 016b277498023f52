"""Planner-level proposals checked against brute force over candidate subsets."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from conftest import SCENARIO, lonlat, tiny_frames
from shapely.geometry import Point

from planner.layers import load_layers
from planner.pipeline import run
from planner.proposals import pairs_within
from planner.scenario import LevelSpec, load_scenario

METRIC = "EPSG:4550"


def write(tmp_path: Path, extra: str, frames: dict | None = None, *,
          wide_village_level: bool = False) -> Path:
    for kind, frame in (frames or tiny_frames()).items():
        frame.to_file(tmp_path / f"{kind}.gpkg")
    path = tmp_path / "scenario.toml"
    text = SCENARIO.replace("[levels.village]\nradius_m = 500", "[levels.village]\nradius_m = 3500")
    path.write_text((text if wide_village_level else SCENARIO) + extra, encoding="utf-8")
    return path


def brute_force_gain(tmp_path: Path, radius: float, k: int) -> float:
    """Best new population over all k-subsets of villages as station sites."""
    frames = {kind: f.to_crs(METRIC) for kind, f in tiny_frames().items()}
    villages, centers = frames["villages"], frames["centers"]
    existing = centers[centers["id"].isin(["V1", "V2"])].geometry  # the village centers
    d_existing = np.array([[p.distance(c) for c in existing] for p in villages.geometry])
    covered = (d_existing <= radius).any(axis=1)
    pop = villages["population"].to_numpy()
    d = np.array([[p.distance(q) for q in villages.geometry] for p in villages.geometry])
    best = 0.0
    for subset in itertools.combinations(range(len(villages)), k):
        reach = covered | (d[:, list(subset)] <= radius).any(axis=1)
        best = max(best, float(pop[reach & ~covered].sum()))
    return best


@pytest.mark.parametrize("budget", [1, 2, 3])
def test_stations_match_brute_force(tmp_path, budget):
    path = write(tmp_path, f"\n[siting.stations]\nbudget = {budget}\n",
                 wide_village_level=True)
    plan = run(load_scenario(path), write=False)
    stations = plan.proposals[plan.proposals["kind"] == "station"]
    assert len(stations) <= budget
    assert stations["new_population_covered"].sum() == pytest.approx(
        brute_force_gain(tmp_path, 3500, budget)
    )
    assert stations["rank"].tolist() == list(range(1, len(stations) + 1))
    gains = stations["new_population_covered"].to_numpy()
    assert (np.diff(gains) <= 0).all()  # ranked by marginal gain
    assert plan.summary["solver"]["gap"] <= 1e-4


def test_after_adds_exactly_the_proposed_gains(tmp_path):
    path = write(tmp_path, "\n[siting.stations]\nbudget = 2\n")
    plan = run(load_scenario(path), write=False)
    before = plan.summary["levels"]["village"]["population_covered"]
    after = plan.summary["after"]["levels"]["village"]["population_covered"]
    gained = plan.proposals.loc[plan.proposals["kind"] == "station", "new_population_covered"].sum()
    assert after == pytest.approx(before + gained)
    assert plan.summary["proposals"][0]["kind"] == "station"


def test_target_coverage_uses_the_fewest_stations(tmp_path):
    path = write(tmp_path, "\n[siting.stations]\ntarget_coverage = 0.9\n")
    plan = run(load_scenario(path), write=False)
    n = len(plan.proposals)
    pop = plan.villages["population"].sum()
    before = plan.summary["levels"]["village"]["population_covered"]
    # brute force: the fewest stations whose best choice reaches 90 %
    fewest = next(
        k for k in range(0, 7) if before + brute_force_gain(tmp_path, 500, k) >= 0.9 * pop
    )
    assert n == fewest
    assert plan.summary["after"]["levels"]["village"]["population_rate"] >= 0.9


def test_sub_centers_go_to_seats_that_add_township_coverage(tmp_path):
    frames = tiny_frames()
    frames["merged_townships"] = gpd.GeoDataFrame(
        {
            "id": ["150521101900", "150521101901"],
            "name": ["旧甲乡", "旧乙乡"],
            "township_id": ["150521101", "150521101"],
        },
        geometry=[Point(lonlat(15_000, 5_000)), Point(lonlat(5_200, 5_000))],
        crs="EPSG:4326",
    )
    path = write(tmp_path, '\n[layers.merged_townships]\npath = "merged_townships.gpkg"\n', frames)
    plan = run(load_scenario(path), write=False)
    subs = plan.proposals[plan.proposals["kind"] == "subcenter"]
    # 旧乙乡 sits beside the existing township center and adds nothing
    assert subs["name"].tolist() == ["旧甲乡"]
    villages = plan.villages
    seat = frames["merged_townships"].to_crs(villages.crs).geometry.iloc[0]
    newly = (villages.distance(seat) <= 4500) & ~villages["township_covered"]
    assert newly.sum() >= 2
    assert subs["new_population_covered"].iloc[0] == pytest.approx(
        villages.loc[newly, "population"].sum()
    )
    after = plan.summary["after"]["levels"]["township"]
    assert (
        after["villages_uncovered"]
        == plan.summary["levels"]["township"]["villages_uncovered"] - newly.sum()
    )


def test_euclidean_pairs_equal_brute_force_including_zero_distances(tiny_region):
    layers = load_layers(load_scenario(tiny_region))
    villages = layers["villages"]
    sites = villages.geometry.iloc[[0, 2, 4]].reset_index(drop=True)
    cost = pairs_within(villages.geometry, sites, LevelSpec(radius_m=4100), roads=None)
    d = np.array([[p.distance(q) for q in sites] for p in villages.geometry])
    dense = np.full(d.shape, np.nan)
    rows, cols = cost.nonzero()
    stored = cost.tocoo()
    dense[stored.row, stored.col] = stored.data
    assert ((d <= 4100) == ~np.isnan(dense)).all()
    assert np.allclose(dense[d <= 4100], d[d <= 4100])
    assert (stored.data == 0).sum() == 3  # each site at its own village: kept as a pair
    assert len(rows) == len(cols)
