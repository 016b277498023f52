"""Preflight: everything a run needs, checked before any layer is read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import SCENARIO, tiny_frames

from planner.errors import ValidationError
from planner.outputs.writers import write_outputs
from planner.pipeline import run
from planner.preflight import NO_LEVELS, check_scenario, unreadable_layers
from planner.scenario import load_scenario

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny region's layers (read-only for these tests)."""
    folder = tmp_path_factory.mktemp("region")
    for kind, frame in tiny_frames().items():
        frame.to_file(folder / f"{kind}.gpkg", driver="GPKG")
    return folder


def scenario_in(folder: Path, text: str = SCENARIO, *, layers: Path | None = None):
    """A scenario file in ``folder`` whose layer paths point into ``layers``."""
    if layers is not None:
        for kind in ("townships", "villages", "centers"):
            text = text.replace(f'"{kind}.gpkg"', f'"{(layers / kind).as_posix()}.gpkg"')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return load_scenario(path)


def texts(problems) -> list[str]:
    return [p.problem for p in problems]


def test_a_good_scenario_has_no_problem(region, tmp_path):
    scenario = scenario_in(tmp_path / "s", layers=region)
    assert check_scenario(scenario) == []
    assert check_scenario(scenario, out_dir=tmp_path / "new" / "deeper") == []


def test_missing_layer_and_folder_as_layer(region, tmp_path):
    text = SCENARIO.replace('"centers.gpkg"', '"nope.gpkg"').replace('"townships.gpkg"', '"."')
    problems = check_scenario(scenario_in(tmp_path / "s", text, layers=region))
    by_layer = {p.layer: p for p in problems}
    assert set(by_layer) == {"centers", "townships"} == unreadable_layers(problems)
    assert by_layer["centers"].problem == "file not found"
    assert by_layer["centers"].file == str(tmp_path / "s" / "nope.gpkg")
    assert by_layer["townships"].problem == "is a folder, not a file"


@needs_fifo
def test_fifo_layer_is_refused_and_never_opened(region, tmp_path):
    os.mkfifo(tmp_path / "villages.gpkg")  # opening it for reading would block
    text = SCENARIO.replace('"villages.gpkg"', f'"{(tmp_path / "villages.gpkg").as_posix()}"')
    problems = check_scenario(scenario_in(tmp_path / "s", text, layers=region))
    assert [(p.layer, p.severity) for p in problems] == [("villages", "error")]
    assert "not a regular file" in problems[0].problem


@needs_fifo
def test_fifo_beside_a_shapefile_is_refused(tmp_path):
    tiny_frames()["villages"].to_file(tmp_path / "v.shp")
    (tmp_path / "v.dbf").unlink()
    os.mkfifo(tmp_path / "v.dbf")
    text = '[layers.villages]\npath = "v.shp"\n[levels.village]\nradius_m = 500\n'
    problems = check_scenario(scenario_in(tmp_path, text), out_dir=tmp_path / "out")
    assert [p.file for p in problems] == [str(tmp_path / "v.dbf")]


def test_no_levels(region, tmp_path):
    text = SCENARIO.split("[levels.county]")[0]
    scenario = scenario_in(tmp_path / "s", text, layers=region)
    assert texts(check_scenario(scenario)) == [NO_LEVELS]
    assert check_scenario(scenario, need_levels=False) == []


@pytest.mark.parametrize(
    ("standards", "message"),
    [
        ('profile = "yantia"', "unknown standards profile 'yantia'"),
        ('file = "missing.toml"', "standards profile: file not found"),
        ('file = "bad.toml"', "bad.toml: not valid TOML"),
        ('file = "."', "standards profile: is a folder"),
    ],
)
def test_standards_are_checked(region, tmp_path, standards, message):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "bad.toml").write_text("[profile\n", encoding="utf-8")
    scenario = scenario_in(tmp_path / "s", SCENARIO + f"[standards]\n{standards}\n", layers=region)
    problems = check_scenario(scenario)
    assert len(problems) == 1 and message in problems[0].problem


@needs_fifo
def test_fifo_standards_file_is_never_read(region, tmp_path):
    (tmp_path / "s").mkdir()
    os.mkfifo(tmp_path / "s" / "p.toml")
    scenario = scenario_in(
        tmp_path / "s", SCENARIO + '[standards]\nfile = "p.toml"\n', layers=region
    )
    assert "not a regular file" in texts(check_scenario(scenario))[0]


def test_a_builtin_profile_passes(region, tmp_path):
    scenario = scenario_in(
        tmp_path / "s", SCENARIO + '[standards]\nprofile = "Yantai"\n', layers=region
    )
    assert check_scenario(scenario) == []


def test_out_dir_may_not_be_or_hold_an_input(region, tmp_path):
    scenario = scenario_in(tmp_path / "s", layers=region)
    for out in (region, region.parent, Path("/")):
        (problem,) = check_scenario(scenario, out_dir=out)
        assert "contains inputs" in problem.problem and "villages.gpkg" in problem.problem
    (problem,) = check_scenario(scenario, out_dir=region / "villages.gpkg")
    assert problem.problem.endswith("is a file")
    (problem,) = check_scenario(scenario, out_dir=region / "villages.gpkg" / "out")
    assert "lies inside a file" in problem.problem


def test_out_dir_may_not_hold_the_scenario_file(region, tmp_path):
    scenario = scenario_in(tmp_path / "s", SCENARIO.replace('out_dir = "out"', 'out_dir = "."'),
                           layers=region)  # fmt: skip
    (problem,) = check_scenario(scenario)
    assert "contains the scenario's own folder" in problem.problem
    assert str(tmp_path / "s") in problem.problem


def test_out_dir_holding_foreign_files_is_refused(region, tmp_path):
    scenario = scenario_in(tmp_path / "s", layers=region)
    out = tmp_path / "results"
    out.mkdir()
    for name in ("summary.json", "coverage.gpkg", "grids.shp", "grids.fields.csv", "map.html",
                 "coverage_by_township.png", ".lock"):  # fmt: skip
        (out / name).write_text("x")
    assert check_scenario(scenario, out_dir=out) == []  # a previous run's outputs
    (out / "thesis.docx").write_text("mine")
    (problem,) = check_scenario(scenario, out_dir=out)
    assert "holds files the planner did not write" in problem.problem


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_parent(region, tmp_path):
    scenario = scenario_in(tmp_path / "s", layers=region)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        (problem,) = check_scenario(scenario, out_dir=locked / "out")
        assert f"cannot write into {locked}" in problem.problem
    finally:
        locked.chmod(0o700)


def test_write_false_ignores_the_out_dir(region, tmp_path):
    scenario = scenario_in(tmp_path / "s", layers=region)
    assert check_scenario(scenario, out_dir=region, write=False) == []


def test_writing_into_the_input_folder_is_refused_before_any_file(region, tmp_path):
    scenario = scenario_in(tmp_path / "s", layers=region)
    before = sorted(p.name for p in region.iterdir())
    plan = run(scenario)
    with pytest.raises(ValidationError) as err:
        write_outputs(plan, region)
    assert "contains inputs" in err.value.problems[0].problem
    assert sorted(p.name for p in region.iterdir()) == before
