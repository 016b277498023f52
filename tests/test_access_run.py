"""``[access]`` in a scenario and a run, and :func:`planner.access_scores` on layers:
checked against PySAL ``access`` on brute-force shapely distances, a road that runs
straight, and the README's output contract."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from access import weights
from access_helpers import pysal
from shapely.geometry import LineString
from test_output_contract import README, _matcher, parse_contract

import planner as pl
from planner.accessibility import access_summary, weighted_gini
from planner.errors import PlannerError, PlannerWarning
from planner.outputs.maps import build_map
from planner.outputs.writers import write_outputs
from planner.scenario import load_scenario

METRIC = "EPSG:4550"
ACCESS = '\n[access]\nsupply = "area_m2"\n'


def pysal_e2sfca(cost, pop, supply, zones) -> np.ndarray:
    """PySAL ``access`` E2SFCA with ``zones`` (upper bound → weight) on a dense cost."""
    return pysal(cost, pop, supply, enhanced=True, weight_fn=weights.step_fn(zones))


def thirds(radius: float) -> dict[float, float]:
    return {radius / 3: 1.0, 2 * radius / 3: 0.68, radius: 0.22}


def points(xy, **columns) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=METRIC)


def random_layers(seed: int, n: int = 80, m: int = 9):
    rng = np.random.default_rng(seed)
    villages = points(rng.uniform(0, 10_000, (n, 2)), population=rng.integers(50, 3000, n))
    centers = points(rng.uniform(0, 10_000, (m, 2)), area_m2=rng.uniform(100, 2000, m))
    return villages, centers


# ---------------------------------------------------------------------------- on layers


@pytest.mark.parametrize("seed", [0, 1])
def test_access_scores_match_pysal_on_shapely_distances(seed):
    villages, centers = random_layers(seed)
    cost = shapely.distance(villages.geometry.to_numpy()[:, None],
                            centers.geometry.to_numpy()[None, :])  # fmt: skip
    expected = pysal_e2sfca(cost, villages["population"].to_numpy(float),
                            centers["area_m2"].to_numpy(), thirds(3000.0))  # fmt: skip
    access, ratio = pl.access_scores(villages, centers, radius_m=3000, supply="area_m2")
    np.testing.assert_allclose(access.to_numpy(), expected, rtol=1e-9)
    assert access.index.equals(villages.index) and ratio.index.equals(centers.index)
    pop = villages["population"].to_numpy(float)
    reaching = np.isfinite(ratio.to_numpy())
    assert (pop * access).sum() == pytest.approx(centers["area_m2"][reaching].sum())


def test_along_a_straight_road_equals_straight_line():
    """Villages and centers on one straight road: road distance is the straight line."""
    xs = np.array([0.0, 400, 1_000, 1_700, 2_600, 3_900, 5_000])
    villages = points(np.column_stack([xs, np.zeros_like(xs)]),
                      population=[300, 800, 120, 950, 60, 400, 700])  # fmt: skip
    centers = points([[200.0, 0.0], [3_000.0, 0.0]], staff=[3.0, 5.0])
    roads = gpd.GeoDataFrame(geometry=[LineString([(-100, 0), (5_100, 0)])], crs=METRIC)
    net = pl.build_network(roads, min_component_nodes=1)
    options = {"radius_m": 2_000, "supply": "staff", "decay": "gaussian"}
    road, road_ratio = pl.access_scores(villages, centers, mode="network", network=net,
                                        **options)  # fmt: skip
    line, line_ratio = pl.access_scores(villages, centers, **options)
    np.testing.assert_allclose(road.to_numpy(), line.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(road_ratio.to_numpy(), line_ratio.to_numpy(), rtol=1e-9)
    assert road.iloc[0] > 0 and road.iloc[6] > 0


def test_supply_problems_are_named():
    villages, centers = random_layers(3, m=4)
    centers["area_m2"] = [100.0, np.nan, -5.0, "big"]
    centers.index = ["a", "b", "c", "d"]
    with pytest.warns(PlannerWarning, match=r"'area_m2' .* 3 center\(s\) \(b, c, d\)"):
        _, ratio = pl.access_scores(villages, centers, radius_m=20_000, supply="area_m2")
    assert ratio[["b", "c", "d"]].eq(0).all() and ratio["a"] > 0
    with pytest.raises(PlannerError, match="no column 'staff'"):
        pl.access_scores(villages, centers, radius_m=3000, supply="staff")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "3sfca"}, "method"),
        ({"decay": "linear"}, "decay"),
        ({"zones": [1000, 500, 2000]}, "zone bounds must increase"),
        ({"zones": [1000]}, "one bound per weight"),
        ({"weights": [0.5, 1.0]}, "may not increase"),
        ({"minutes": 10}, "exactly one"),
    ],
)
def test_bad_options_are_refused(options, message):
    villages, centers = random_layers(4)
    with pytest.raises(PlannerError, match=message):
        pl.access_scores(villages, centers, radius_m=3000, **options)


# ---------------------------------------------------------------------------- scenario


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('method = "3sfca"', "access.method"),
        ('method = "2sfca"\ndecay = "gaussian"', 'applies to method = "e2sfca" only'),
        ("levels = []", "at least one level"),
        ('levels = ["city"]', "level(s) city have no [levels.*] table"),
        ("zones.township = [1000, 2000]", "one bound per weight"),
        ("zones.village = [300, 200, 500]", "zone bounds must increase"),
        ('decay = "gaussian"\nweights = [1.0]', "weights apply to"),
        ("sigma = 0.2", 'sigma applies to decay = "gaussian" only'),
        ('supply = ""', "access.supply: expected non-empty text"),
        ("radius = 3", "access.radius: unknown key"),
    ],
)
def test_invalid_access_exits_2(tiny_region, table, message):
    path = tiny_region.with_name("bad.toml")
    path.write_text(tiny_region.read_text(encoding="utf-8") + f"\n[access]\n{table}\n",
                    encoding="utf-8")  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "planner.cli", "validate", str(path)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_absent_supply_column_stops_the_run(tiny_region):
    path = tiny_region.with_name("staff.toml")
    path.write_text(tiny_region.read_text(encoding="utf-8") + '\n[access]\nsupply = "staff"\n',
                    encoding="utf-8")  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "planner.cli", "run", str(path)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "no column 'staff'" in result.stderr and "area_m2" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_level_without_centers_scores_zero(tiny_region):
    path = tiny_region.with_name("station.toml")
    text = tiny_region.read_text(encoding="utf-8") + "\n[levels.station]\nradius_m = 800\n"
    path.write_text(text + ACCESS + 'levels = ["station", "village"]\n', encoding="utf-8")
    with pytest.warns(PlannerWarning, match="no centers of this level"):
        plan = pl.run(load_scenario(path))
    assert set(plan.summary["access"]) == {"village", "station"}
    assert (plan.villages["station_access"] == 0).all()
    assert plan.summary["access"]["station"]["population_without_access"] == pytest.approx(
        plan.villages["population"].sum()
    )
    assert plan.summary["access"]["station"]["gini"] == 0.0


def test_scenario_settings(tiny_region):
    path = tiny_region.with_name("ok.toml")
    extra = '[access]\nlevels = ["乡镇", "village"]\nzones.township = [1000, 2000, 4000]\n'
    path.write_text(tiny_region.read_text(encoding="utf-8") + extra, encoding="utf-8")
    access = load_scenario(path).access
    assert access is not None and access.levels == ("township", "village")
    assert access.zones == {"township": (1000.0, 2000.0, 4000.0)}
    assert access.method == "e2sfca" and access.stepped and access.supply is None
    assert load_scenario(tiny_region).access is None


# ---------------------------------------------------------------------------- a run


@pytest.fixture(scope="module")
def access_run(tmp_path_factory):
    from conftest import SCENARIO, tiny_frames

    folder = tmp_path_factory.mktemp("access_run")
    for kind, frame in tiny_frames().items():
        frame.to_file(folder / f"{kind}.gpkg", driver="GPKG")
    path = folder / "scenario.toml"
    path.write_text(SCENARIO + ACCESS, encoding="utf-8")
    plan = pl.run(load_scenario(path))
    write_outputs(plan)
    return plan, folder / "out"


def test_run_scores_match_pysal(access_run):
    plan, _ = access_run
    villages = plan.villages
    pop = villages["population"].to_numpy(float)
    assert set(plan.summary["access"]) == set(plan.levels) == {"county", "township", "village"}
    for level, res in plan.levels.items():
        cost = shapely.distance(villages.geometry.to_numpy()[:, None],
                                res.centers.geometry.to_numpy()[None, :])  # fmt: skip
        supply = res.centers["area_m2"].to_numpy(float)
        expected = pysal_e2sfca(cost, pop, supply, thirds(res.spec.cutoff_m))
        np.testing.assert_allclose(villages[f"{level}_access"], expected, rtol=1e-9)
        summary = plan.summary["access"][level]
        assert summary["gini"] == pytest.approx(weighted_gini(expected, pop))
        assert {k: summary[k] for k in ("mean", "p10", "p50", "p90")} == pytest.approx(
            {k: v for k, v in access_summary(expected, pop).items() if k != "gini"}
        )
        assert summary["supply"] == "area_m2" and summary["method"] == "e2sfca"


def test_run_centers_and_files(access_run):
    plan, out = access_run
    centers = gpd.read_file(out / "coverage.gpkg", layer="centers").set_index("id")
    ratio = plan.summary["access"]["village"]
    assert ratio["centers"] == 2
    served = centers["village_supply_ratio"].dropna()
    assert set(served.index) == {"V1", "V2"}
    pop = plan.villages["population"].to_numpy(float)
    total = (pop * plan.villages["village_access"].to_numpy()).sum()
    assert total == pytest.approx(centers.loc[["V1", "V2"], "area_m2"].sum())
    table = pd.read_csv(out / "access.csv", encoding="utf-8-sig")
    assert table["level"].tolist() == ["county", "township", "village"]
    assert table["gini"].tolist() == pytest.approx(
        [plan.summary["access"][lvl]["gini"] for lvl in ("county", "township", "village")]
    )
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["access"]["township"]["p50"] == pytest.approx(
        plan.summary["access"]["township"]["p50"]
    )
    assert "access" in summary["timings"]
    sheets = pd.read_excel(out / "summary.xlsx", sheet_name=None)
    assert "可达性" in sheets and len(sheets["可达性"]) == 3
    layers = build_map(plan).data_layers()
    spec = json.loads(layers["可达性：村级（每千人供给）"].payload)
    bands = np.array(spec["s"])
    assert len(bands) == len(plan.villages) and set(bands) <= set(range(6))
    scores = plan.villages["village_access"].to_numpy()
    assert ((bands == 0) == (scores == 0)).all()
    reached = scores > 0
    assert (np.diff(bands[reached][np.argsort(scores[reached])]) >= 0).all()
    assert (
        "Accessibility: township level (supply per 1,000 residents)"
        in build_map(plan, lang="en").data_layers()
    )
    assert "可达性（两步移动搜索法）" in (out / "report.html").read_text(encoding="utf-8")


def test_run_outputs_are_documented(access_run):
    """What ``[access]`` adds is in the README's Outputs tables, and the README's access
    columns are written (the demo has no ``[access]``)."""
    plan, out = access_run
    contract = parse_contract(README.read_text(encoding="utf-8"))
    assert "access.csv" in contract.files
    levels = list(plan.levels)
    for target in [("coverage.gpkg", "villages"), ("coverage.gpkg", "centers"),
                   ("access.csv", None), ("summary.json", None)]:  # fmt: skip
        file, layer = target
        if file.endswith(".csv"):
            written = set(pd.read_csv(out / file, nrows=0, encoding="utf-8-sig").columns)
        elif file.endswith(".json"):
            written = set(json.loads((out / file).read_text(encoding="utf-8")))
        else:
            written = set(pyogrio.read_info(out / file, layer=layer)["fields"])
        new = {c for c in written if "access" in c or "supply_ratio" in c}
        matchers = [_matcher(name, levels) for name in contract.columns[target]]
        assert new and all(any(m.match(c) for m in matchers) for c in new), (target, new)


def test_no_access_adds_nothing(tiny_region):
    plan = pl.run(load_scenario(tiny_region))
    assert "access" not in plan.summary and not plan.access
    assert not [c for c in plan.villages if c.endswith("_access")]
    assert not [c for c in plan.centers if c.endswith("_supply_ratio")]


def test_public_name_and_examples():
    import planner.accessibility.api
    import planner.accessibility.fca

    assert pl.access_scores.__module__ == "planner.accessibility.api"
    assert "access_scores" in pl.__all__
    for module in (planner.accessibility.api, planner.accessibility.fca):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
