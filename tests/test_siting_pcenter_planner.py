"""p-center and backup stations through the planner (``[siting.stations] objective``),
checked against brute force over candidate subsets on small straight-line regions."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from conftest import SCENARIO, tiny_frames
from pydantic import ValidationError
from siting_helpers import random_villages

from planner.errors import PlannerError
from planner.pipeline import run
from planner.scenario import LevelSpec, Siting, StationSiting, SubcenterSiting, load_scenario
from planner.siting.proposals import propose_for
from planner.siting.station_objectives import objective_note

METRIC = "EPSG:4550"
RADIUS = 1_500.0


def _region(seed: int, n: int = 9) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """``n`` villages over 6 × 4 km and one existing village center at village 0."""
    villages = random_villages(seed, n, (6_000, 4_000), METRIC)
    centers = gpd.GeoDataFrame(
        {"id": ["C0"], "name": ["现状"], "level": ["village"]},
        geometry=[villages.geometry.iloc[0]],
        crs=METRIC,
    )
    return villages, centers


def _within(villages: gpd.GeoDataFrame) -> np.ndarray:
    """Village × village metres, ``inf`` beyond the radius (column 0 = the center too)."""
    xy = np.column_stack((villages.geometry.x, villages.geometry.y))
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    return np.where(d <= RADIUS, d, np.inf)


def _feasible_sets(d: np.ndarray, k: int):
    """Station subsets of size ``k`` that, with the center at village 0, reach every
    village some site reaches."""
    reach = np.isfinite(d).any(axis=1)
    for subset in itertools.combinations(range(d.shape[1]), k):
        near = np.minimum(d[:, 0], d[:, list(subset)].min(axis=1, initial=np.inf))
        if np.isfinite(near[reach]).all():
            yield list(subset), near, reach


def _least(d: np.ndarray) -> int:
    return next(k for k in range(d.shape[1] + 1) if any(True for _ in _feasible_sets(d, k)))


def _propose(villages, centers, objective: str, budget: int | None, lang: str = "en"):
    siting = Siting(subcenters=SubcenterSiting(enabled=False),
                    stations=StationSiting(budget=budget, objective=objective))  # fmt: skip
    levels = {"village": LevelSpec(radius_m=RADIUS)}
    return propose_for(villages, levels=levels, siting=siting, centers=centers, lang=lang)


def _chosen(villages, outcome) -> list[int]:
    return villages.index[villages["id"].isin(outcome.proposals["site_id"])].tolist()


@pytest.mark.parametrize(("seed", "extra"), [(1, 0), (2, 0), (3, 1), (4, 1), (10, 0)])
def test_pcenter_stations_match_brute_force(seed, extra):
    villages, centers = _region(seed)
    d = _within(villages)
    p = _least(d) + extra
    best = min(float(near[reach].max()) for _, near, reach in _feasible_sets(d, p))
    outcome = _propose(villages, centers, "pcenter", None if extra == 0 else p)
    cert = outcome.solver["stations"]
    assert cert["model"] == "pcenter" and cert["status"] == "optimal"
    assert cert["new_sites"] == p
    assert cert["worst_cost_after"] == pytest.approx(best) == pytest.approx(cert["objective"])
    assert cert["villages_unreached_after"] == 0
    reach = np.isfinite(d).any(axis=1)
    assert cert["villages_unreached_before"] == int((~np.isfinite(d[:, 0]) & reach).sum())
    assert cert["villages_beyond_every_site"] == int((~reach).sum())
    chosen = _chosen(villages, outcome)
    near = np.minimum(d[:, 0], d[:, chosen].min(axis=1, initial=np.inf))
    assert float(near[reach].max()) == pytest.approx(best)
    assert all("worst distance minimised" in r for r in outcome.proposals["reason"])


@pytest.mark.parametrize(("seed", "extra"), [(1, 0), (2, 1), (9, 0), (7, 1), (11, 0)])
def test_backup_stations_match_brute_force(seed, extra):
    villages, centers = _region(seed)
    d = _within(villages)
    pop = villages["population"].to_numpy()
    p = _least(d) + extra
    cover = np.isfinite(d)

    def twice(subset):
        return float(pop[(cover[:, [0]].sum(1) + cover[:, subset].sum(1)) >= 2].sum())

    best = max(twice(s) for s, _, _ in _feasible_sets(d, p))
    outcome = _propose(villages, centers, "backup", None if extra == 0 else p, lang="zh")
    cert = outcome.solver["stations"]
    assert cert["model"] == "backup" and cert["status"] == "optimal"
    assert cert["population_covered_twice_after"] == pytest.approx(best)
    assert cert["objective"] == pytest.approx(best)
    assert cert["population_covered_twice_before"] == 0.0  # a single existing center
    assert twice(_chosen(villages, outcome)) == pytest.approx(best)
    assert len(outcome.proposals) == p
    backs_up = outcome.proposals["reason"].str.contains("双重覆盖")
    adds = outcome.proposals["new_population_covered"] > 0
    assert (backs_up | adds).all()


def test_budget_below_the_minimum_is_refused():
    villages, centers = _region(1)
    least = _least(_within(villages))
    assert least >= 2
    with pytest.raises(PlannerError, match=f"needs {least} new station"):
        _propose(villages, centers, "pcenter", least - 1)


def test_objective_refuses_mclp_only_settings():
    with pytest.raises(ValidationError, match="takes a budget, not target_coverage"):
        StationSiting(objective="backup", target_coverage=0.9)
    with pytest.raises(ValidationError, match="takes a budget, not capacity"):
        StationSiting(objective="pcenter", capacity=1000.0)


def test_run_reports_the_objective_in_the_summary(tmp_path: Path):
    for kind, frame in tiny_frames().items():
        frame.to_file(tmp_path / f"{kind}.gpkg")
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO + '\n[siting.stations]\nobjective = "pcenter"\n', encoding="utf-8")
    plan = run(load_scenario(path))
    cert = plan.summary["solver"]["steps"]["stations"]
    assert cert["model"] == "pcenter" and cert["villages_unreached_after"] == 0
    stations = plan.proposals[plan.proposals["kind"] == "station"]
    assert len(stations) == cert["new_sites"]
    after = plan.summary["after"]["levels"]["village"]
    assert after["villages_covered"] == after["villages_total"] - cert["villages_beyond_every_site"]
    steps = plan.summary["solver"]["steps"]
    covering = [step for step in steps.values() if "model" not in step]
    expected = sum(step["objective"] for step in covering) if covering else None
    assert plan.summary["solver"]["objective"] == expected


def test_report_note_states_before_and_after(tmp_path: Path):
    for kind, frame in tiny_frames().items():
        frame.to_file(tmp_path / f"{kind}.gpkg")
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO + '\n[siting.stations]\nobjective = "backup"\n', encoding="utf-8")
    plan = run(load_scenario(path))
    cert = plan.summary["solver"]["steps"]["stations"]
    before, after = cert["villages_covered_twice_before"], cert["villages_covered_twice_after"]
    assert f"{before} → {after} villages" in objective_note(plan.summary, "en")
    assert f"{before} → {after} 个村" in objective_note(plan.summary, "zh")
    plain = {"solver": {"steps": {"stations": {"objective": 1.0}}}}
    assert objective_note(plain, "zh") is None
