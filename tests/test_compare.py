"""Side-by-side comparison of two scenarios (planner.outputs.compare)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from conftest import NO_SITING, SCENARIO, tiny_frames

from planner.outputs.compare import compare, plot_compare, write_compare
from planner.pipeline import run
from planner.plan import Plan
from planner.scenario import load_scenario

WIDE = SCENARIO.replace('name = "tiny"', 'name = "wide"').replace(
    "radius_m = 4500", "radius_m = 8000"
)
NO_VILLAGE_LEVEL = SCENARIO.replace('name = "tiny"', 'name = "coarse"').split("[levels.village]")[0]


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("region")
    for kind, frame in tiny_frames().items():
        frame.to_file(folder / f"{kind}.gpkg", driver="GPKG")
    for name, text in {"a": SCENARIO, "b": WIDE, "c": NO_VILLAGE_LEVEL}.items():
        (folder / f"{name}.toml").write_text(text + NO_SITING, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def plans(region: Path) -> dict[str, Plan]:
    return {k: run(load_scenario(region / f"{k}.toml")) for k in ("a", "b", "c")}


def with_proposals(plan: Plan, kinds: list[str], *, after: bool) -> Plan:
    v = plan.villages.iloc[: len(kinds)]
    proposals = gpd.GeoDataFrame(
        {"kind": kinds, "rank": range(1, len(kinds) + 1), "site_id": v["id"].to_numpy()},
        geometry=v.geometry.to_numpy(),
        crs=v.crs,
    )
    levels = {lvl: dict(s) for lvl, s in plan.summary["levels"].items()}
    levels["village"].update(population_covered=8000.0, villages_uncovered=1)
    return dataclasses.replace(plan, proposals=proposals, after=levels if after else {})


def cell(table: pd.DataFrame, level: str, metric: str, column: str) -> float:
    row = table[(table["level"] == level) & (table["metric"] == metric)]
    assert len(row) == 1, (level, metric)
    return float(row[column].iloc[0])


def test_compare_equals_the_two_summaries(plans: dict[str, Plan]):
    a, b = plans["a"], plans["b"]
    table = compare(a, b, lang="en")
    assert list(table.columns) == ["level", "metric", "A: tiny", "B: wide", "difference (B − A)"]
    for level, name in [("county", "county"), ("township", "township"),
                        ("village", "village/community")]:  # fmt: skip
        for plan, column in [(a, "A: tiny"), (b, "B: wide")]:
            s = plan.summary["levels"][level]
            rate = 100 * s["population_covered"] / s["population_total"]
            for stage in ("before", "after"):  # no proposals: after = before
                got = cell(table, name, f"population covered (%), {stage}", column)
                assert got == pytest.approx(rate)
                got = cell(table, name, f"villages uncovered, {stage}", column)
                assert got == s["villages_uncovered"]
    # independent: an 8 km township radius reaches 四村 (7,008 m) but not 五嘎查 (10,011 m)
    diff = cell(table, "township", "villages uncovered, before", "difference (B − A)")
    assert diff == -1
    rate_diff = cell(table, "township", "population covered (%), before", "difference (B − A)")
    assert rate_diff == pytest.approx(100 * 600 / 8800)
    for metric in ("proposed sub-centers", "proposed stations", "new sites (cost)"):
        assert cell(table, "all", metric, "A: tiny") == 0 == cell(table, "all", metric, "B: wide")


def test_compare_counts_proposals_and_uses_after(plans: dict[str, Plan]):
    b = with_proposals(plans["b"], ["station", "station", "subcenter"], after=True)
    table = compare(plans["a"], b, lang="en")
    assert cell(table, "all", "proposed stations", "B: wide") == 2
    assert cell(table, "all", "proposed sub-centers", "B: wide") == 1
    assert cell(table, "all", "new sites (cost)", "B: wide") == 3
    assert cell(table, "all", "new sites (cost)", "difference (B − A)") == 3
    after = cell(table, "village/community", "population covered (%), after", "B: wide")
    assert after == pytest.approx(100 * 8000 / 8800)
    assert cell(table, "village/community", "villages uncovered, after", "B: wide") == 1
    assert table["metric"].iloc[-1] == "new sites (cost)"


def test_compare_without_after_coverage_leaves_it_empty(plans: dict[str, Plan]):
    b = with_proposals(plans["b"], ["station"], after=False)
    table = compare(plans["a"], b, lang="en")
    after = table[table["metric"].str.endswith(", after")]
    assert after["B: wide"].isna().all() and after["A: tiny"].notna().all()
    assert after["difference (B − A)"].isna().all()


def test_compare_levels_missing_in_one_plan(plans: dict[str, Plan]):
    table = compare(plans["a"], plans["c"], lang="en")
    village = table[table["level"] == "village/community"]
    assert len(village) == 4
    assert village["B: coarse"].isna().all() and village["A: tiny"].notna().all()


def test_compare_in_chinese(plans: dict[str, Plan]):
    table = compare(plans["a"], plans["b"], lang="zh")
    assert list(table.columns) == ["层级", "指标", "A: tiny", "B: wide", "差值（B − A）"]
    assert table["指标"].iloc[-3:].tolist() == [
        "规划乡镇分中心数", "规划便民服务驿站数", "新建站点数（成本）",
    ]  # fmt: skip
    assert table["层级"].iloc[0] == "县级" and table["层级"].iloc[-1] == "全部"


def test_compare_plot_bars_equal_the_table(plans: dict[str, Plan]):
    a, b = plans["a"], plans["b"]
    fig = plot_compare(a, b, lang="en")
    (ax,) = fig.axes
    assert len(ax.containers) == 4  # A before, A after, B before, B after
    for container, plan in zip(ax.containers, [a, a, b, b], strict=True):
        rates = [100 * s["population_covered"] / s["population_total"]
                 for s in plan.summary["levels"].values()]  # fmt: skip
        assert [p.get_height() for p in container.patches] == pytest.approx(rates)


def test_write_compare(region: Path, tmp_path: Path, plans: dict[str, Plan]):
    out = tmp_path / "cmp"
    sources = (region / "a.toml", region / "b.toml")
    written = write_compare(plans["a"], plans["b"], out, sources=sources)
    assert written == {"xlsx": out / "compare.xlsx", "csv": out / "compare.csv",
                       "html": out / "compare.html", "map": out / "compare_map.html"}  # fmt: skip
    expected = compare(plans["a"], plans["b"])  # the scenario's language: zh
    csv = pd.read_csv(written["csv"], encoding="utf-8-sig")
    assert list(csv.columns) == list(expected.columns)
    assert np.allclose(csv.iloc[:, 2:].to_numpy(float), expected.iloc[:, 2:].to_numpy(float))
    book = openpyxl.load_workbook(written["xlsx"], read_only=True)
    assert book.sheetnames == ["方案比较"]
    page = written["html"].read_text(encoding="utf-8")
    assert "方案比较：tiny 与 wide" in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert page.count('src="data:image/png;base64,') == 1
    assert "新建站点数（成本）" in page


def named(plan: Plan, name: str) -> Plan:
    meta = plan.scenario.scenario.model_copy(update={"name": name})
    return dataclasses.replace(plan, scenario=plan.scenario.model_copy(update={"scenario": meta}))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_compare_csv_runs_no_formula(plans: dict[str, Plan], tmp_path: Path, lang: str):
    import csv

    from planner.outputs.tables import write_csv

    evil_a, evil_b = "=cmd|' /C calc'!A0", "@SUM(A1)"
    table = compare(named(plans["a"], evil_a), named(plans["b"], evil_b), lang=lang)
    assert table.columns[2] == f"A: {evil_a}"  # the names are in the headers, as given
    path = write_csv(tmp_path / "compare.csv", table)
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [str(c) for c in table.columns]  # "A: …" does not start a formula
    numbers = table.iloc[:, 2:].to_numpy(float)
    for i, row in enumerate(rows[1:]):
        assert all(not cell.startswith(("=", "+", "@", "\t", "\r")) for cell in row)
        for cell, want in zip(row[2:], numbers[i], strict=True):  # numbers stay numbers
            assert (cell == "" and np.isnan(want)) or float(cell) == pytest.approx(want)


def test_compare_map_has_each_scenarios_layers(plans):
    from planner.outputs.maps import build_compare_map, render_map

    a = plans["a"]
    b = with_proposals(plans["b"], ["station", "station", "subcenter"], after=False)
    m = build_compare_map(a, b, lang="en")
    layers = m.data_layers()
    b_titles = [name for name in layers if name.startswith("B: ")]
    a_titles = [name for name in layers if name.startswith("A: ")]
    assert a_titles and b_titles
    stations = [layers[n] for n in b_titles if "station" in n.lower() and "propos" in n.lower()]
    assert [layer.size for layer in stations] == [2]
    assert not any("propos" in n.lower() for n in a_titles)  # plan A has no proposals
    assert render_map(m).startswith("<!DOCTYPE html>")  # raises if anything loads externally
