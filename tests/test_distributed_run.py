"""One Dask cluster per ``planner run``, and the per-county parts written from the rows of
a few counties per task: the same files as one ``groupby`` over the whole layers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import distributed
import geopandas as gpd
import numpy as np
import pytest
from geopandas.testing import assert_geodataframe_equal
from typer.testing import CliRunner

from planner.cli import app
from planner.distributed import cluster as cluster_module
from planner.distributed import dask_client, run_cluster, village_counties, write_parts
from planner.pipeline import run
from planner.scenario import load_scenario
from planner.synth.region import generate_region, write_region


class CountedCluster(distributed.LocalCluster):
    """A local cluster of threads that records every one started."""

    started: ClassVar[list[CountedCluster]] = []

    def __init__(self, **kwargs):
        kwargs.update(n_workers=2, threads_per_worker=1, processes=False)
        super().__init__(**kwargs)
        CountedCluster.started.append(self)


@pytest.fixture
def counted(monkeypatch):
    CountedCluster.started = []
    monkeypatch.setattr(distributed, "LocalCluster", CountedCluster)
    return CountedCluster.started


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory):
    made = generate_region(villages=300, townships=18, counties=3, seed=11, village_areas=True)
    return write_region(made, tmp_path_factory.mktemp("region"))


def test_dask_client_hands_out_the_run_cluster(counted):
    with run_cluster() as outer:
        with dask_client() as inner, dask_client() as again:
            assert inner is outer and again is outer
        assert outer.status == "running"  # not closed by the inner blocks
    assert len(counted) == 1
    assert outer.status == "closed" and counted[0].status.name == "closed"
    with dask_client() as fresh:  # after the run: a cluster of its own again
        assert fresh is not outer
    assert len(counted) == 2


def test_run_cluster_is_closed_when_the_run_fails(counted):
    with pytest.raises(RuntimeError, match="boom"), run_cluster() as client:
        raise RuntimeError("boom")
    assert client.status == "closed" and counted[0].status.name == "closed"
    assert cluster_module._open_client(None) is None


def test_planner_run_starts_one_cluster(counted, scenario_path, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["run", str(scenario_path), "--out", str(out), "--engine", "dask"]
    )
    assert result.exit_code == 0, result.output
    assert len(counted) == 1  # steps and parts on the same cluster
    assert counted[0].status.name == "closed"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["engine"] == "dask" and summary["parts"]["counties"] == 3
    assert (out / "parts" / "counties").is_dir()


def expected_shares(frame: gpd.GeoDataFrame, county: np.ndarray, crs) -> dict:
    """The previous writer's shares: the whole layer in the output CRS, split by county."""
    out = frame.to_crs(crs)
    return {str(code): part for code, part in out.groupby(county, sort=True)}


def assert_parts_as_before(plan, written, folder: Path) -> None:
    """Every part file against the shares of the whole layers (parquet as they are, the
    GeoPackage layers as the previous row-by-row writer gives them)."""
    crs = plan.scenario.outputs.crs
    county = village_counties(plan.villages, plan.layers["townships"]).to_numpy()
    by_id = dict(zip(plan.villages["id"].astype(str), county, strict=True))
    grid_county = plan.grids["village_id"].astype(str).map(by_id).to_numpy()
    expected = {
        "villages": expected_shares(plan.villages, county, crs),
        "grids": expected_shares(plan.grids, grid_county, crs),
    }
    parts = folder / "parts"
    assert sorted(written["by_county"]) == sorted(expected["villages"])
    for name, shares in expected.items():
        for code, share in shares.items():
            back = gpd.read_parquet(parts / name / f"county={code}" / "part.parquet")
            assert_geodataframe_equal(back, share.reset_index(drop=True))
            reference = folder / "reference" / f"{code}-{name}.gpkg"
            reference.parent.mkdir(exist_ok=True)
            share.to_file(reference, layer=name, driver="GPKG", engine="pyogrio")
            got = gpd.read_file(parts / "counties" / f"{code}.gpkg", layer=name)
            assert_geodataframe_equal(got, gpd.read_file(reference, layer=name))
            assert written["by_county"][code][name] == len(share) > 0


@pytest.fixture(scope="module")
def plan(scenario_path):
    return run(load_scenario(scenario_path))


def test_parts_equal_one_groupby_over_the_whole_layers(plan, tmp_path):
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster, set_as_default=False) as client:  # fmt: skip
        written = write_parts(plan, tmp_path, client=client)
    assert_parts_as_before(plan, written, tmp_path)


@pytest.mark.slow
def test_parts_written_by_worker_processes(plan, tmp_path):
    with dask_client() as client:  # the frames pickled to the workers and back
        written = write_parts(plan, tmp_path, client=client)
    assert_parts_as_before(plan, written, tmp_path)
