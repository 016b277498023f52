"""The Dask engine against the in-process engine, on a synthetic region of three counties."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dask_helpers import levels_both_ways, read_dataset
from typer.testing import CliRunner

from planner.catchment import annotate_villages, county_of
from planner.cli import app
from planner.distributed import compute_levels_dask, dask_client, halo_m
from planner.errors import PlannerError
from planner.layers import load_layers
from planner.outputs.writers import write_grid_outputs, write_outputs
from planner.pipeline import grid_plan, run
from planner.scenario import LevelSpec, NetworkSettings, load_scenario
from planner.steps import coverage_levels
from planner.synth.region import generate_region, write_region

# Road levels by length and by time, straight-line levels, and a level served by two.
LEVELS = """
[levels.county]
radius_m = 20000
[levels.township]
minutes = 15
mode = "network"
travel = "drive"
[levels.village]
radius_m = 3000
mode = "network"
travel = "walk"
also = ["station"]
[levels.station]
radius_m = 1500
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    folder = tmp_path_factory.mktemp("region")
    region = generate_region(
        villages=500, townships=24, counties=3, seed=5, village_areas=False, road_detail=2.0
    )
    path = write_region(region, folder)
    text = path.read_text(encoding="utf-8")
    head, _, tail = text.partition("\n[levels.")
    rest = tail[tail.index("[siting.") :]
    path.write_text(head + LEVELS + "\n" + rest, encoding="utf-8")
    return load_scenario(path)


@pytest.fixture(scope="module")
def layers(scenario):
    return load_layers(scenario)


def coverage_columns(villages):
    ends = ("_center_id", "_dist_m", "_time_min", "_covered", "_road_barrier")
    return [c for c in villages.columns if c.endswith(ends)]


def test_dask_equals_in_process_on_every_column(scenario, layers, client):
    villages, centers = layers["villages"], layers["centers"]
    local, spread = levels_both_ways(scenario, layers, client)
    assert list(spread) == list(local)
    a = annotate_villages(villages.drop(columns="_row"), local)
    b = annotate_villages(villages.drop(columns="_row"), spread)
    columns = coverage_columns(a)
    assert columns == coverage_columns(b)
    assert len(columns) == 4 * 3 + 2 * 2  # every level; time and barriers for road levels
    pd.testing.assert_frame_equal(a[columns], b[columns])
    for level in local:
        assert local[level].centers["id"].tolist() == spread[level].centers["id"].tolist()

    # the halo matters: some nearest centers lie in another county, along roads too
    county = county_of(villages, layers["townships"]).to_numpy()
    center_county = centers.set_index("id")["county_id"]
    for level in ("county", "township", "station"):
        ids = a[f"{level}_center_id"]
        found = ids.notna().to_numpy()
        assert (center_county.reindex(ids[found]).to_numpy() != county[found]).any(), level


def test_straight_line_gaps_beyond_the_halo_are_exact(scenario, layers, client):
    """Uncovered villages get their true nearest center even when it lies farther than
    the halo (checked against a brute-force distance matrix)."""
    villages, centers = layers["villages"], layers["centers"]
    station = centers[centers["level"] == "station"].reset_index(drop=True)
    found = compute_levels_dask(
        villages, station, coverage_levels(scenario), network=scenario.network,
        roads=layers["roads"], client=client,
    )  # fmt: skip
    res = found["station"]
    vxy = np.column_stack([villages.geometry.x, villages.geometry.y])
    cxy = np.column_stack([station.geometry.x, station.geometry.y])
    d = np.hypot(*(vxy[:, None, :] - cxy[None, :, :]).transpose(2, 0, 1))
    far = ~res.covered
    assert far.sum() > 0 and (res.nearest.dist_m[far] > 1500).all()
    assert np.array_equal(res.nearest.index, d.argmin(axis=1))
    np.testing.assert_allclose(res.nearest.dist_m, d.min(axis=1), rtol=0, atol=1e-6)


def test_halo_covers_every_path_within_the_search_budget():
    network = NetworkSettings(speeds={"drive": {"motorway": 120}})
    assert halo_m(LevelSpec(radius_m=900), network) == 900
    assert halo_m(LevelSpec(radius_m=900, mode="network"), network) == 1800
    spec = LevelSpec(minutes=10, mode="network", travel="drive")
    assert halo_m(spec, network) == pytest.approx(2 * 10 / 60 * 120_000)  # fastest: 120 km/h


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(PlannerError, match="cannot connect to the Dask scheduler"):
        with dask_client("tcp://127.0.0.1:9", timeout_s=0.5):
            pass
    with pytest.raises(PlannerError, match=r"cannot connect.*'nonsense'"):
        with dask_client("nonsense"):
            pass


def test_run_rejects_unknown_engine_and_lone_scheduler(tiny_region):
    scenario = load_scenario(tiny_region)
    with pytest.raises(PlannerError, match="engine must be one of inprocess, dask"):
        run(scenario, engine="spark")
    with pytest.raises(PlannerError, match="needs the Dask engine"):
        run(scenario, scheduler="tcp://127.0.0.1:9")


def test_cli_bad_scheduler_exits_2(tiny_region):
    command = ["run", str(tiny_region), "--engine", "dask", "--scheduler", "nonsense"]
    result = CliRunner().invoke(app, command, env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "cannot connect to the Dask scheduler at 'nonsense'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not Path(tiny_region.parent / "out").exists()


def test_run_with_the_dask_engine_gives_the_in_process_plan(tiny_region, client, monkeypatch):
    @contextmanager
    def given_client(scheduler=None):
        yield client

    monkeypatch.setattr("planner.distributed.dask_client", given_client)
    scenario = load_scenario(tiny_region)
    local = run(scenario)
    spread = run(scenario, engine="dask")
    assert (local.summary["engine"], spread.summary["engine"]) == ("inprocess", "dask")
    columns = coverage_columns(local.villages)
    pd.testing.assert_frame_equal(local.villages[columns], spread.villages[columns])
    assert local.summary["levels"] == spread.summary["levels"]
    assert local.summary["grids"] == spread.summary["grids"]
    assert len(local.grids) > 0
    pd.testing.assert_frame_equal(
        local.grids.drop(columns="geometry"), spread.grids.drop(columns="geometry")
    )
    assert local.grids.geometry.geom_equals_exact(spread.grids.geometry, 0).all()


def test_a_dask_run_writes_county_parts_into_its_result(tiny_region, client, monkeypatch,
                                                        tmp_path):  # fmt: skip
    """The workers' county files are part of the result: written in its staging folder,
    listed in its marker, kept by a later ``planner grids`` and gone after an in-process
    ``planner run``."""

    @contextmanager
    def given_client(scheduler=None):
        yield client

    monkeypatch.setattr("planner.distributed.dask_client", given_client)
    monkeypatch.setattr("planner.distributed.parts.dask_client", given_client)
    scenario = load_scenario(tiny_region)
    out = tmp_path / "out"
    plan = run(scenario, engine="dask")
    write_outputs(plan, out)
    villages = read_dataset(out / "parts" / "villages")
    assert sorted(villages["id"]) == sorted(plan.villages["id"])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["parts"]["rows"]["villages"] == len(plan.villages)
    assert "parts" in json.loads((out / ".planner-output.json").read_text())["files"]
    write_grid_outputs(grid_plan(scenario), out, scenario=scenario)
    assert sorted(pd.read_parquet(out / "parts" / "villages")["id"]) == sorted(villages["id"])
    write_outputs(run(scenario), out)
    assert not (out / "parts").exists()


def test_dask_equals_in_process_with_a_station_radius(scenario, layers, client):
    stations = scenario.siting.stations.model_copy(update={"radius_m": 6000.0})
    own = scenario.model_copy(
        update={"siting": scenario.siting.model_copy(update={"stations": stations})}
    )
    assert len(own.serving_groups("village")) == 2
    villages = layers["villages"]
    local, spread = levels_both_ways(own, layers, client)
    a = annotate_villages(villages.drop(columns="_row"), local)
    b = annotate_villages(villages.drop(columns="_row"), spread)
    pd.testing.assert_frame_equal(a[coverage_columns(a)], b[coverage_columns(b)])
    # two groups along roads: village centers within 3 km, the 5 stations within 6 km
    village_part, station_part = local["village"].parts
    assert station_part.spec.radius_m == 6000.0 and len(station_part.centers) == 5
    assert station_part.covered.any()
    assert (station_part.covered == (station_part.nearest.dist_m <= 6000.0)).all()
    assert (local["village"].covered == (village_part.covered | station_part.covered)).all()
    assert (station_part.covered & ~(station_part.nearest.dist_m <= 3000.0)).any()
