"""``[siting.expansion]`` through the planner: new stations, relocations and upgrades on
small straight-line regions, checked against brute force over every action set, and the
after-coverage of a run without the closed stations."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import SCENARIO, lonlat, tiny_frames
from pydantic import ValidationError
from shapely.geometry import Point
from siting_helpers import random_villages

from planner.outputs.writers import write_outputs
from planner.pipeline import run
from planner.scenario import LevelSpec, Siting, StationSiting, SubcenterSiting, load_scenario
from planner.scenario.expansion import ExpansionSiting
from planner.siting.proposals import propose_for

METRIC = "EPSG:4550"
VILLAGE_M, TOWNSHIP_M = 1_500.0, 3_000.0
PRICES = {"new_cost": 1.0, "relocation_cost": 0.6, "upgrade_cost": 1.5}


def _region(seed: int, n: int = 9) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """``n`` villages over 8 × 5 km; stations at villages 1 and 2, a village center at 0,
    a township center at village 3."""
    villages = random_villages(seed, n, (8_000, 5_000), METRIC)
    centers = gpd.GeoDataFrame(
        {"id": ["C0", "S1", "S2", "T3"], "name": ["村中心", "驿站1", "驿站2", "镇中心"],
         "level": ["village", "station", "station", "township"]},
        geometry=[villages.geometry.iloc[i] for i in range(4)], crs=METRIC,
    )  # fmt: skip
    return villages, centers


def _distances(villages: gpd.GeoDataFrame, points: gpd.GeoSeries) -> np.ndarray:
    a = np.column_stack((villages.geometry.x, villages.geometry.y))
    b = np.column_stack((points.x, points.y))
    return np.hypot(*(a[:, None, :] - b[None, :, :]).transpose(2, 0, 1))


def _brute_force(villages, centers, budget: float, k: int) -> float:
    """Best village-level plus township-level covered population over every action set."""
    pop = villages["population"].to_numpy()
    near_v = _distances(villages, villages.geometry) <= VILLAGE_M  # candidates = villages
    near_c = _distances(villages, centers.geometry)
    serves_v, serves_t = near_c[:, :3] <= VILLAGE_M, near_c[:, 3] <= TOWNSHIP_M
    up_t = near_c[:, :3] <= TOWNSHIP_M  # upgrades of C0, S1, S2
    best = -1.0
    for n_open in range(len(villages) + 1):
        for closed in itertools.chain.from_iterable(
            itertools.combinations((1, 2), r) for r in range(min(k, n_open) + 1)
        ):
            for ups in itertools.chain.from_iterable(
                itertools.combinations((0, 1, 2), r) for r in range(4)
            ):
                spent = (PRICES["new_cost"] * (n_open - len(closed))
                         + PRICES["relocation_cost"] * len(closed)
                         + PRICES["upgrade_cost"] * len(ups))  # fmt: skip
                if spent > budget + 1e-9 or set(ups) & set(closed):
                    continue
                kept = [j for j in range(3) if j not in closed]
                v_base = serves_v[:, kept].any(axis=1)
                t_cov = serves_t | up_t[:, list(ups)].any(axis=1)
                t_value = float(pop[t_cov].sum())
                for opened in itertools.combinations(range(len(villages)), n_open):
                    v_cov = v_base | near_v[:, list(opened)].any(axis=1)
                    best = max(best, float(pop[v_cov].sum()) + t_value)
    return best


def _siting(budget: float, k: int) -> Siting:
    return Siting(
        subcenters=SubcenterSiting(enabled=False), stations=StationSiting(),
        expansion=ExpansionSiting(budget=budget, max_relocations=k, **PRICES),
    )  # fmt: skip


def _plan_value(villages, centers, proposals) -> float:
    """Village- plus township-level covered population of the proposed plan, measured
    from the geometry."""
    pop = villages["population"].to_numpy()
    kept = centers[~centers["id"].isin(proposals["closes"].dropna())]
    lower = kept[kept["level"].isin(["village", "station"])].geometry
    stations = proposals[proposals["kind"] == "station"].geometry
    v_sites = pd.concat([lower, stations])
    upper = pd.concat([kept[kept["level"] == "township"].geometry,
                       proposals[proposals["kind"] == "subcenter"].geometry])  # fmt: skip
    v_cov = (_distances(villages, v_sites) <= VILLAGE_M).any(axis=1)
    t_cov = (_distances(villages, upper) <= TOWNSHIP_M).any(axis=1)
    return float(pop[v_cov].sum() + pop[t_cov].sum())


@pytest.mark.parametrize(
    ("seed", "budget", "k"),
    [(1, 2.0, 1), (2, 3.0, 1), (3, 1.6, 2), (4, 2.5, 0), (5, 0.6, 1), (6, 0.0, 1)],
)
def test_expansion_matches_brute_force(seed, budget, k):
    villages, centers = _region(seed)
    levels = {"township": LevelSpec(radius_m=TOWNSHIP_M), "village": LevelSpec(radius_m=VILLAGE_M)}
    outcome = propose_for(villages, levels=levels, siting=_siting(budget, k), centers=centers,
                          lang="en")  # fmt: skip
    cert = outcome.solver["stations"]
    best = _brute_force(villages, centers, budget, k)
    assert cert["model"] == "expansion" and cert["status"] == "optimal"
    assert cert["objective"] == pytest.approx(best)
    props = outcome.proposals
    if budget == 0.0:
        assert props.empty and cert["objective"] == cert["before"]
        return
    assert _plan_value(villages, centers, props) == pytest.approx(best)
    assert cert["spent"] == pytest.approx(props["cost"].sum()) and cert["spent"] <= budget + 1e-9
    assert set(props["action"]) <= {"new", "relocate", "upgrade"}
    assert (props["gain"] > 0).all() and (props["gain"] == props["new_population_covered"]).all()
    relocated = props[props["action"] == "relocate"]
    assert set(relocated["closes"]) <= {"S1", "S2"} and len(relocated) <= k
    assert (props.loc[props["action"] != "relocate", "closes"].isna()).all()
    assert (props.loc[props["action"] == "upgrade", "kind"] == "subcenter").all()
    assert props["rank"].tolist() == list(range(1, len(props) + 1))


def test_expansion_refuses_station_budget_beside_it():
    with pytest.raises(ValidationError, match="has its own budget"):
        Siting(stations=StationSiting(budget=3), expansion=ExpansionSiting(budget=2.0))
    with pytest.raises(ValidationError, match="upgrade_levels"):
        ExpansionSiting(budget=1.0, upgrade_levels=("county",))


def test_run_after_coverage_leaves_out_the_closed_station(tmp_path: Path):
    frames = tiny_frames()
    centers = frames["centers"]
    station = centers.iloc[[3]].assign(id="S1", name="五嘎查驿站", level="station")
    station["geometry"] = frames["villages"].geometry.iloc[[4]].to_numpy()  # 五嘎查, 900 people
    frames["centers"] = gpd.GeoDataFrame(pd.concat([centers, station], ignore_index=True),
                                         crs=centers.crs)  # fmt: skip
    for kind, frame in frames.items():
        frame.to_file(tmp_path / f"{kind}.gpkg")
    path = tmp_path / "scenario.toml"
    expansion = ("\n[siting.expansion]\nbudget = 1\nnew_cost = 2\nrelocation_cost = 1\n"
                 "max_relocations = 1\nupgrade_cost = 5\n")  # fmt: skip
    path.write_text(SCENARIO + expansion, encoding="utf-8")
    plan = run(load_scenario(path))
    props = plan.proposals
    # the one affordable move: the station at 五嘎查 (900) to 三社区 (5,000)
    assert props[["action", "name", "closes"]].values.tolist() == [["relocate", "三社区", "S1"]]
    assert props["gain"].tolist() == [4100.0]
    before = plan.summary["levels"]["village"]["population_covered"]
    after = plan.summary["after"]["levels"]["village"]["population_covered"]
    assert after == before - 900.0 + 5000.0
    cert = plan.summary["solver"]["steps"]["stations"]
    assert cert["actions"] == {"new": 0, "relocate": 1, "upgrade": 0}


def test_outputs_show_the_actions_in_zh(tmp_path: Path):
    frames = tiny_frames()
    for kind, frame in frames.items():
        frame.to_file(tmp_path / f"{kind}.gpkg")
    path = tmp_path / "scenario.toml"
    # upgrading 四村中心 (x = 12 km) to a sub-center (4.5 km) newly reaches 四村 and 五嘎查
    path.write_text(SCENARIO + "\n[siting.expansion]\nbudget = 1\nnew_cost = 2\n",
                    encoding="utf-8")  # fmt: skip
    plan = run(load_scenario(path))
    write_outputs(plan, tmp_path / "out")
    out = tmp_path / "out"
    gpkg = gpd.read_file(out / "proposals.gpkg", layer="proposals")
    assert gpkg[["kind", "action", "site_id", "cost"]].values.tolist() == [
        ["subcenter", "upgrade", "V2", 1.0]
    ]
    assert gpkg["gain"].tolist() == [600.0 + 900.0]
    csv = pd.read_csv(out / "proposals.csv", encoding="utf-8-sig")
    assert {"action", "gain", "cost", "closes"} <= set(csv.columns)
    assert csv["action"].tolist() == ["upgrade"]
    after = plan.summary["after"]["levels"]["township"]["population_covered"]
    assert after == plan.summary["levels"]["township"]["population_covered"] + 1500.0
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "升级为分中心" in page and "规划动作" in page
    report = next(out.glob("report*.html")).read_text(encoding="utf-8")
    assert "规划动作" in report and "升级为分中心" in report


def test_seat_sub_centers_beside_an_expansion_plan_are_new(tmp_path: Path):
    frames = tiny_frames()
    frames["merged_townships"] = gpd.GeoDataFrame(
        {"id": ["150521101900"], "name": ["旧甲乡"], "township_id": ["150521101"]},
        geometry=[Point(lonlat(15_000, 5_000))],
        crs="EPSG:4326",
    )
    for kind, frame in frames.items():
        frame.to_file(tmp_path / f"{kind}.gpkg")
    path = tmp_path / "scenario.toml"
    path.write_text(
        SCENARIO + '\n[layers.merged_townships]\npath = "merged_townships.gpkg"\n'
        "\n[siting.expansion]\nbudget = 0\n",
        encoding="utf-8",
    )
    plan = run(load_scenario(path))
    seat = plan.proposals[plan.proposals["kind"] == "subcenter"]
    assert seat["name"].tolist() == ["旧甲乡"]
    assert seat["action"].tolist() == ["new"]
    assert seat["gain"].tolist() == seat["new_population_covered"].tolist()
    assert seat["gain"].iloc[0] > 0
    written = tmp_path / "out"
    write_outputs(plan, written)
    read = gpd.read_file(written / "proposals.gpkg", layer="proposals")
    assert read["action"].tolist() == ["new"] and read["gain"].dtype == float
    listed = plan.summary["proposals"]
    assert [(p["name"], p["action"], p["closes"]) for p in listed] == [("旧甲乡", "new", None)]
