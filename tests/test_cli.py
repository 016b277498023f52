"""The planner command as a user runs it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from conftest import tiny_frames

from planner.errors import Problem


def planner(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "planner.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_run_writes_the_contract_outputs(tiny_region):
    result = planner("run", str(tiny_region))
    assert result.returncode == 0, result.stderr
    out = tiny_region.parent / "out"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    villages = gpd.read_file(out / "coverage.gpkg", layer="villages")
    for level in ("county", "township", "village"):
        s = summary["levels"][level]
        covered = villages[f"{level}_covered"].astype(bool)
        assert s["population_covered"] == pytest.approx(villages.loc[covered, "population"].sum())
        assert s["villages_uncovered"] == int((~covered).sum())
        assert {f"{level}_center_id", f"{level}_dist_m"} <= set(villages.columns)
    assert villages["name"].tolist() == tiny_frames()["villages"]["name"].tolist()
    assert set(summary["timings"]) >= {"read layers", "coverage"}


def test_validate_ok(tiny_region):
    result = planner("validate", str(tiny_region))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stderr


@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_input_exits_2_without_traceback(tmp_path, command):
    frames = tiny_frames()
    frames["centers"].loc[2, "level"] = "省级"
    for kind, frame in frames.items():
        frame.to_file(tmp_path / f"{kind}.gpkg")
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        '[scenario]\nout_dir = "out"\n[layers.villages]\npath = "villages.gpkg"'
        '\n[layers.centers]\npath = "centers.gpkg"\n[levels.village]\n'
        "radius_m = 500\n",
        encoding="utf-8",
    )
    result = planner(command, str(scenario))
    assert result.returncode == 2
    assert "unknown level '省级'" in result.stderr and "centers.gpkg" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out").exists()


def test_failed_run_keeps_previous_outputs(tiny_region):
    assert planner("run", str(tiny_region)).returncode == 0
    summary = tiny_region.parent / "out" / "summary.json"
    before = summary.read_bytes()
    (tiny_region.parent / "villages.gpkg").write_bytes(b"broken")
    result = planner("run", str(tiny_region))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert summary.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[scenario\n", "not valid TOML"),
        (
            '[layers.villages]\npath = "v.gpkg"\n[levels.township]\nradius_m = "5km"\n',
            'levels.township.radius_m: expected a number, got "5km"',
        ),
    ],
)
def test_bad_scenario(tmp_path, text, message):
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    result = planner("validate", str(path))
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_scenario_file(tmp_path):
    result = planner("run", str(tmp_path / "nope.toml"))
    assert result.returncode == 2 and "scenario file not found" in result.stderr


def test_inspect_round_is_a_closed_tour_of_the_sample(tiny_region):
    result = planner("inspect", str(tiny_region), "--sample", "3", "--seed", "7")
    assert result.returncode == 0, result.stderr
    stops = gpd.read_file(tiny_region.parent / "out" / "inspection.gpkg", layer="stops")
    route = gpd.read_file(tiny_region.parent / "out" / "inspection.gpkg", layer="route")
    assert len(stops) == 3 and stops["id"].is_unique
    metric = stops.to_crs("EPSG:4550")
    xy = list(zip(metric.geometry.x, metric.geometry.y, strict=True))
    legs = [
        ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
        for (x0, y0), (x1, y1) in zip(xy, xy[1:] + xy[:1], strict=True)
    ]
    assert float(route["length_m"].iloc[0]) == pytest.approx(sum(legs), rel=1e-3)
    again = planner("inspect", str(tiny_region), "--sample", "3", "--seed", "7")
    assert again.stdout + again.stderr == result.stdout + result.stderr


def test_run_checks_standards_when_a_profile_is_chosen(tiny_region):
    text = tiny_region.read_text(encoding="utf-8") + '\n[standards]\nprofile = "yantai"\n'
    tiny_region.write_text(text, encoding="utf-8")
    assert planner("run", str(tiny_region)).returncode == 0
    centers = gpd.read_file(tiny_region.parent / "out" / "coverage.gpkg", layer="centers")
    by_id = centers.set_index("id")
    # the township center has 900 m² < Yantai's 1,000 m² for townships: a definite failure
    assert by_id.loc["T1", "compliant"] == 0
    assert "1000" in by_id.loc["T1", "compliance_issues"].replace(",", "")


def test_summary_rates_per_county_and_township(tiny_region):
    assert planner("run", str(tiny_region)).returncode == 0
    out = tiny_region.parent / "out"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    villages = gpd.read_file(out / "coverage.gpkg", layer="villages")
    for record in summary["rates"]["township"]["village"]:
        mine = villages[villages["township_id"] == record["township_id"]]
        covered = mine["village_covered"].astype(bool)
        assert record["population_covered"] == pytest.approx(mine.loc[covered, "population"].sum())
        assert record["village_rate"] == pytest.approx(covered.mean())
    county = summary["rates"]["county"]["township"]
    assert [r["county_id"] for r in county] == ["150521"]
    assert county[0]["population"] == pytest.approx(villages["population"].sum())


# --- issue 13: bad scenarios, preflight, the problem report ---------------------------


def _render(problems: list, width: int) -> list[str]:
    import io

    from rich.console import Console

    from planner.cli import problem_report

    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(problem_report(problems, width=width))
    return console.export_text().splitlines()


def _squeeze(text: str) -> str:
    return "".join(text.split())


REPORT = [
    Problem("error", "scenario", "", None, "", "no [levels] table: give at least one level, "
            "e.g. [levels.village] radius_m = 2000"),
    *[Problem("error", "villages", "/very/long/path/to/the/county/ledgers/村级台账_2025.xlsx",
              row, "常住人口", f"not a number: '{row}000人' in a rather long sentence that wraps",
              "write plain numbers (no units or text) — e.g. 3000, not 3000人") for row in (2, 3)],
    Problem("error", "villages", "/very/long/path/to/the/county/ledgers/村级台账_2025.xlsx",
            None, "常住人口", "... and 98 more rows with: not a number: '…'", count=98),
    Problem("warning", "centers", "c.gpkg", 7, "level", "unknown level 'x'" + "y" * 120, ""),
]  # fmt: skip


def test_problem_report_fits_80_columns_and_keeps_every_text():
    from rich.cells import cell_len

    lines = _render(REPORT, 80)
    assert max(cell_len(line) for line in lines) <= 80
    text = _squeeze("\n".join(lines))
    for p in REPORT:
        assert _squeeze(p.problem) in text and _squeeze(p.fix) in text
        assert _squeeze(p.file) in text
    assert text.count(_squeeze(REPORT[1].file)) == 1  # the file is named once, as a heading
    assert "row2·column'常住人口'" in text


def test_problem_report_is_a_table_when_wide():
    lines = _render(REPORT, 160)
    assert any("no [levels] table: give at least one level" in line for line in lines)
    header = next(line for line in lines if "problem" in line and "what to do" in line)
    assert "row" in header and "column" in header
    assert any("│ 3 " in line and "常住人口" in line for line in lines)


def test_tally_counts_the_rows_a_summary_stands_for():
    from planner.cli import tally

    assert tally(REPORT) == "101 error(s) in the scenario and 1 layer, 1 warning(s)"
    rows = [p for p in REPORT if p.layer == "villages"]
    assert tally(rows) == "100 error(s) in 1 layer"


def test_validate_is_readable_in_80_columns(tmp_path):
    frames = tiny_frames()
    frames["centers"].loc[2, "level"] = "省级"
    frames["villages"]["population"] = frames["villages"]["population"].astype(object)
    frames["villages"].loc[[1, 3], "population"] = "3000人"
    for kind, frame in frames.items():
        frame.to_file(tmp_path / f"{kind}.gpkg")
    from conftest import SCENARIO

    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "planner.cli", "validate", str(scenario)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"}, check=False,
    )  # fmt: skip
    from rich.cells import cell_len

    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert max(cell_len(line) for line in result.stderr.splitlines()) <= 80
    assert "unknown level '省级'" in result.stderr
    assert "error: 3 error(s) in 2 layers" in result.stderr


def test_validate_checks_the_out_folder_given(tiny_region):
    result = planner("validate", str(tiny_region), "--out", str(tiny_region.parent))
    assert result.returncode == 2
    assert "contains inputs" in result.stderr and "villages.gpkg" in result.stderr
    assert (
        planner("validate", str(tiny_region), "--out", str(tiny_region.parent / "o")).returncode
        == 0
    )


@pytest.mark.parametrize("command", ["validate", "run"])
def test_fifo_layer_exits_2_without_hanging(tmp_path, command):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    os.mkfifo(tmp_path / "v.gpkg")
    scenario = tmp_path / "s.toml"
    scenario.write_text('[layers.villages]\npath = "v.gpkg"\n[levels.village]\nradius_m = 1\n')
    result = planner(command, str(scenario), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "not a regular file" in result.stderr
    assert not (tmp_path / "out").exists()


def test_run_without_levels_is_refused_before_reading(tiny_region):
    text = tiny_region.read_text(encoding="utf-8").split("[levels.county]")[0]
    tiny_region.write_text(text, encoding="utf-8")
    result = planner("run", str(tiny_region))
    assert result.returncode == 2 and "no [levels] table" in result.stderr
    assert "1 error(s) in the scenario; nothing was written" in result.stderr
    assert not (tiny_region.parent / "out").exists()
    assert planner("grids", str(tiny_region)).returncode == 0  # grids need no level


def test_a_name_with_a_path_in_it_stays_one_folder(tiny_region):
    text = tiny_region.read_text(encoding="utf-8")
    text = text.replace('name = "tiny"\nout_dir = "out"', 'name = "../../x"')
    tiny_region.write_text(text, encoding="utf-8")
    result = planner("run", str(tiny_region))
    assert result.returncode == 0, result.stderr
    out = tiny_region.parent / "outputs" / "_.._x"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["scenario"] == "../../x"
    folders = [p.name for p in (tiny_region.parent / "outputs").iterdir() if p.is_dir()]
    assert folders == ["_.._x"]
    assert not (tiny_region.parent.parent / "x").exists()  # where ../../x would have led


def test_misspelt_key_gets_a_suggestion(tiny_region):
    text = tiny_region.read_text(encoding="utf-8").replace("radius_m = 4500", "radius = 4500")
    tiny_region.write_text(text, encoding="utf-8")
    result = planner("validate", str(tiny_region))
    assert result.returncode == 2
    assert "levels.township.radius: unknown key (did you mean radius_m?)" in result.stderr


# --- issue 14: --out, synth, grids, compare -------------------------------------------


def _levels(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))["levels"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_out_writes_into_the_given_folder_and_leaves_out_dir_alone(tiny_region):
    assert planner("run", str(tiny_region)).returncode == 0
    own = tiny_region.parent / "out"
    before = _snapshot(own)
    other = tiny_region.parent / "elsewhere" / "o"
    result = planner("run", str(tiny_region), "--out", str(other))
    assert result.returncode == 0, result.stderr
    assert _snapshot(own) == before  # not one byte of the scenario's out_dir changed
    assert _levels(other) == _levels(own)
    marker = json.loads((other / ".planner-output.json").read_text(encoding="utf-8"))
    written = {p.name for p in other.iterdir()} - {".planner-output.json"}
    assert set(marker["files"]) == written and {"summary.json", "coverage.gpkg"} <= written


def _synth(out: Path, seed: int) -> subprocess.CompletedProcess:
    return planner(
        "synth", "--villages", "30", "--townships", "3", "--seed", str(seed), "--out", str(out)
    )


def _layers(folder: Path) -> dict[str, gpd.GeoDataFrame]:
    return {p.stem: gpd.read_file(p) for p in sorted(folder.glob("*.gpkg"))}


def test_synth_is_deterministic_and_runs(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        assert _synth(tmp_path / name, seed).returncode == 0
    a, b, c = (_layers(tmp_path / name) for name in "abc")
    assert set(a) >= {"villages", "centers", "townships", "roads"} and set(a) == set(b)
    for kind in a:
        pd.testing.assert_frame_equal(a[kind].to_wkt(), b[kind].to_wkt(), check_dtype=False)
    scenario = (tmp_path / "a" / "scenario.toml").read_text(encoding="utf-8")
    assert scenario == (tmp_path / "b" / "scenario.toml").read_text(encoding="utf-8")
    assert not a["villages"].geometry.equals(c["villages"].geometry)  # another seed
    result = planner("run", str(tmp_path / "a" / "scenario.toml"), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    population = float(a["villages"]["population"].sum())
    for summary in _levels(tmp_path / "o").values():
        assert summary["villages_total"] == len(a["villages"]) == 30
        assert summary["population_total"] == pytest.approx(population)


def test_grids_balance_households_and_a_user_grid_layer_is_checked(tiny_region):
    out = tiny_region.parent / "g"
    result = planner("grids", str(tiny_region), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert not (out / "summary.json").exists()  # grids write only the grid files
    grids = gpd.read_file(out / "grids.gpkg")
    villages = tiny_frames()["villages"].set_index("id")
    households = grids.groupby("village_id")["households"].sum()
    assert households.to_dict() == pytest.approx(villages["households"].to_dict())
    assert grids["id"].is_unique
    assert (grids["id"] == grids["village_id"] + grids["seq"].map("{:03d}".format)).all()
    by_village = pd.read_csv(out / "grids_by_village.csv", dtype={"village_id": str})
    counts = grids["village_id"].value_counts()
    assert by_village.set_index("village_id")["grids"].to_dict() == counts.to_dict()

    village = counts.idxmax()
    mine = grids.index[grids["village_id"] == village]
    dropped = grids.loc[mine[0]]
    user = grids.drop(index=mine[0])
    user.loc[mine[2], "id"] = user.loc[mine[1], "id"]  # a duplicate code
    user.to_file(tiny_region.parent / "user_grids.gpkg")
    text = tiny_region.read_text(encoding="utf-8")
    tiny_region.write_text(text + '\n[layers.grids]\npath = "user_grids.gpkg"\n', "utf-8")
    result = planner("grids", str(tiny_region), "--out", str(tiny_region.parent / "u"))
    assert result.returncode == 0, result.stderr
    issues = gpd.read_file(tiny_region.parent / "u" / "grid_issues.gpkg")
    assert set(issues["kind"]) == {"gap", "code"}
    gap = issues[issues["kind"] == "gap"]
    assert gap["village_id"].tolist() == [village]
    metric = gap.to_crs("EPSG:4550").area.iloc[0]
    assert metric == pytest.approx(dropped["area_m2"], rel=1e-3)
    assert set(issues.loc[issues["kind"] == "code", "grid_id"]) == {user.loc[mine[1], "id"]}


def test_compare_equals_each_runs_summary(tiny_region):
    text = tiny_region.read_text(encoding="utf-8") + "[outputs]\nmap = false\nreport = false\n"
    tiny_region.write_text(text, encoding="utf-8")
    b = tiny_region.with_name("b.toml")
    b.write_text(text.replace("radius_m = 500", "radius_m = 3500").replace('"out"', '"out_b"'))
    summaries = {}
    for path, out in ((tiny_region, "out"), (b, "out_b")):
        assert planner("run", str(path)).returncode == 0
        summaries[path] = json.loads((tiny_region.parent / out / "summary.json").read_text())
    out = tiny_region.parent / "cmp"
    result = planner("compare", str(tiny_region), str(b), "--out", str(out), "--lang", "en")
    assert result.returncode == 0, result.stderr
    assert {"compare.csv", "compare.xlsx", "compare.html"} <= {p.name for p in out.iterdir()}
    table = pd.read_csv(out / "compare.csv")
    a_col, b_col, diff = table.columns[2:5]

    def expected(summary: dict) -> list[float]:
        values = []
        for level, before in summary["levels"].items():
            after = summary["after"]["levels"][level]
            values += [100 * before["population_covered"] / before["population_total"],
                       100 * after["population_covered"] / after["population_total"],
                       before["villages_uncovered"], after["villages_uncovered"]]  # fmt: skip
        kinds = [p["kind"] for p in summary["proposals"]]
        return [*values, kinds.count("subcenter"), kinds.count("station"), len(kinds)]

    assert table[a_col].tolist() == pytest.approx(expected(summaries[tiny_region]))
    assert table[b_col].tolist() == pytest.approx(expected(summaries[b]))
    assert table[diff].tolist() == pytest.approx((table[b_col] - table[a_col]).tolist())
