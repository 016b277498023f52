"""Grids on Dask and the per-county parts against the in-process step, on synthetic
regions of three counties: a local cluster of threads, one of processes (slow), and a
``dask scheduler`` with ``dask worker`` processes started here."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from dask_helpers import levels_both_ways, read_dataset
from distributed import Client, LocalCluster
from geopandas.testing import assert_geodataframe_equal

from planner.catchment import CoverageLevels, annotate_villages
from planner.distributed import (
    CoverageSession,
    balanced_batches,
    build_grids_dask,
    dask_client,
    village_counties,
    write_parts,
)
from planner.distributed import coverage as coverage_module
from planner.layers import load_layers
from planner.pipeline import run
from planner.road_coverage import RoadSearch
from planner.scenario import load_scenario
from planner.steps import build_grids, compute_levels, coverage_levels, road_network
from planner.synth.region import generate_region, write_region


def region(folder: Path, *, village_areas: bool) -> Path:
    made = generate_region(
        villages=300, townships=18, counties=3, seed=11, village_areas=village_areas
    )
    return write_region(made, folder)


@pytest.fixture(scope="module")
def with_areas(tmp_path_factory):
    return load_scenario(region(tmp_path_factory.mktemp("areas"), village_areas=True))


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    return load_scenario(region(tmp_path_factory.mktemp("derived"), village_areas=False))


def assert_same_grids(scenario, client):
    layers = load_layers(scenario)
    local = build_grids(scenario, layers)
    spread = build_grids_dask(scenario, layers, client=client)
    assert local.grids is not None and spread.grids is not None
    assert_geodataframe_equal(local.grids, spread.grids)
    pd.testing.assert_frame_equal(local.by_village, spread.by_village)
    assert local.stats == spread.stats
    assert sorted(local.notes) == sorted(spread.notes)
    return layers, local


def test_grids_from_village_areas_equal_one_run(with_areas, client):
    layers, local = assert_same_grids(with_areas, client)
    county = village_counties(layers["villages"], layers["townships"])
    assert county.nunique() == 3  # three partitions, each with grids
    assert local.grids["village_id"].str.slice(0, 6).nunique() == 3


def test_derived_village_areas_equal_one_run(derived, client):
    layers, local = assert_same_grids(derived, client)
    assert local.stats["derived_village_areas"] is True
    assert local.stats["grids"] == len(local.grids) > len(layers["villages"])


def test_user_grids_are_checked_as_in_one_run(with_areas, client):
    layers = load_layers(with_areas)
    made = build_grids(with_areas, layers).grids
    frames = {**layers.frames, "grids": made.assign(_row=np.arange(len(made)))}
    given = type(layers)(crs=layers.crs, frames=frames, sources={})
    local = build_grids(with_areas, given)
    spread = build_grids_dask(with_areas, given, client=client)
    assert spread.stats == local.stats == {"source": "user", "grids": len(made), "issues": 0}


def test_parts_hold_every_village_and_grid_once(with_areas, client, tmp_path):
    plan = run(with_areas)
    written = write_parts(plan, tmp_path, client=client)
    parts = tmp_path / "parts"
    assert not (tmp_path / "parts.staging").exists()
    villages = read_dataset(parts / "villages")
    grids = read_dataset(parts / "grids")
    expected = plan.villages.to_crs(with_areas.outputs.crs)
    order = pd.Index(expected["id"]).get_indexer(villages["id"])
    assert sorted(order) == list(range(len(expected)))
    back = villages.iloc[np.argsort(order)].reset_index(drop=True)
    assert_geodataframe_equal(back, expected.reset_index(drop=True))
    assert len(grids) == len(plan.grids) and set(grids["id"]) == set(plan.grids["id"])
    # each county folder holds only its own villages, and its GeoPackage the same rows
    county = village_counties(plan.villages, plan.layers["townships"])
    for code, rows in written["by_county"].items():
        share = gpd.read_parquet(parts / "villages" / f"county={code}" / "part.parquet")
        assert set(share["id"]) == set(plan.villages["id"][county == code])
        gpkg = gpd.read_file(parts / "counties" / f"{code}.gpkg", layer="villages")
        assert len(gpkg) == rows["villages"] == len(share)
    assert written["rows"] == {"villages": len(plan.villages), "grids": len(plan.grids)}
    assert written["counties"] == 3


def coverage_equal(scenario, client):
    layers = load_layers(scenario)
    villages = layers["villages"]
    local, spread = levels_both_ways(scenario, layers, client)
    a = annotate_villages(villages.drop(columns="_row"), local)
    b = annotate_villages(villages.drop(columns="_row"), spread)
    pd.testing.assert_frame_equal(a, b)
    assert a["township_covered"].any() and not a["township_covered"].all()


@pytest.mark.slow
def test_grids_on_worker_processes(with_areas):
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster, set_as_default=False) as c,
    ):
        assert_same_grids(with_areas, c)


#: the ``dask`` command of this environment
DASK = str(Path(sys.executable).with_name("dask"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def scheduler_address():
    """A ``dask scheduler`` and two ``dask worker`` processes on free ports."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    started = [
        subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1",
             "--port", str(port), "--dashboard-address", ":0", "--no-show"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        with Client(address, timeout=60, set_as_default=False) as probe:
            for _ in range(2):
                started.append(
                    subprocess.Popen(
                        [DASK, "worker", address,
                         "--nthreads", "1", "--no-nanny", "--dashboard-address", ":0"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )
                )  # fmt: skip
            probe.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in reversed(started):  # the workers, then the scheduler
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.slow
def test_separate_scheduler_and_workers(with_areas, scheduler_address):
    with dask_client(scheduler_address) as c:
        assert len(c.nthreads()) == 2
        assert_same_grids(with_areas, c)
        coverage_equal(with_areas, c)


def test_balanced_batches_spread_the_load():
    sizes = [5, 1, 9, 3, 3, 7, 2, 8]
    batches = balanced_batches(sizes, 3)
    assert sorted(i for b in batches for i in b) == list(range(len(sizes)))
    loads = [sum(sizes[i] for i in b) for b in batches]
    assert max(loads) == -(-sum(sizes) // 3) == 13  # the lower bound: no batch can do better
    assert balanced_batches([4, 2], 5) == [[0], [1]]  # never an empty batch


def test_coverage_with_counties_joined_into_regions(with_areas, client, monkeypatch):
    """Two regions for three counties (one task per worker thread): the same coverage."""
    monkeypatch.setattr("planner.distributed.coverage.TASKS_PER_THREAD", 1)
    made = []
    real = coverage_module.make_region

    def counted(*args, **kwargs):
        made.append(len(args[0]))  # the villages of the region
        return real(*args, **kwargs)

    monkeypatch.setattr(coverage_module, "make_region", counted)
    coverage_equal(with_areas, client)
    assert len(made) == 2 and sum(made) == 300


def wider(levels: CoverageLevels, level: str, factor: float) -> CoverageLevels:
    """``levels`` with the radius of ``level`` multiplied by ``factor``."""
    spec = levels.specs[level]
    spec = spec.model_copy(update={"radius_m": spec.radius_m * factor})
    serving = {**levels.serving, level: [(g, spec) for g, _ in levels.serving[level]]}
    return CoverageLevels(specs={**levels.specs, level: spec}, serving=serving)


def test_a_session_keeps_its_regions_for_every_set_of_centers(with_areas, client):
    """Regions (and their road networks) are made once for the centers and for a subset
    of them, and again only for a road level reaching farther; every call equals the
    in-process coverage with its centers."""
    layers = load_layers(with_areas)
    villages, centers = layers["villages"], layers["centers"]
    levels = coverage_levels(with_areas)
    net = road_network(with_areas, layers)
    roads = RoadSearch(net, villages, with_areas.network.max_access_m)
    session = CoverageSession(
        villages, network=with_areas.network, roads=layers["roads"],
        townships=layers["townships"], client=client,
    )  # fmt: skip
    calls = [(centers, levels, 1), (centers.iloc[::3], levels, 1)]
    calls.append((centers.iloc[::2], wider(levels, "township", 1.5), 2))
    for subset, asked, made in calls:
        local = compute_levels(villages, subset, asked, roads=roads)
        spread = session(subset, asked)
        a = annotate_villages(villages.drop(columns="_row"), local)
        b = annotate_villages(villages.drop(columns="_row"), spread)
        pd.testing.assert_frame_equal(a, b)
        assert a["township_covered"].any() and not a["township_covered"].all()
        assert session.made == made
