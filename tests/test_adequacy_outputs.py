"""End to end: the adequacy and equity files of a run against the library functions and
against figures worked out by hand on the tiny region (tests/conftest.py)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import planner as pl
from planner.adequacy import ADEQUACY_COLUMNS, adequacy, adequacy_rules
from planner.equity import EQUITY_COLUMNS, equity_by_unit, worst_served
from planner.outputs.labels import labels
from planner.outputs.maps import build_map
from planner.outputs.report import report_html
from planner.steps import village_units

SETTINGS = """
[siting.subcenters]
enabled = false
[siting.stations]
enabled = false
[grids]
enabled = false

[adequacy]
m2_per_1000 = { village = 400, "乡镇" = 30 }

[equity]
worst = 3
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tests.conftest import SCENARIO, tiny_frames

    folder = tmp_path_factory.mktemp("tiny")
    for kind, frame in tiny_frames().items():
        frame.to_file(folder / f"{kind}.gpkg", driver="GPKG")
    (folder / "scenario.toml").write_text(SCENARIO + SETTINGS, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = pl.run(pl.read_scenario(folder / "scenario.toml"))
        pl.write_outputs(plan, folder / "out")
    return plan, folder / "out"


def _csv(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / name, encoding="utf-8-sig", dtype={"center_id": str, "id": str,
                       "township_id": str, "county_id": str})  # fmt: skip


def test_adequacy_csv_has_the_figures_worked_out_by_hand(run):
    _, out = run
    table = _csv(out, "adequacy.csv").set_index(["level", "center_id"])
    v1, v2 = table.loc[("village", "V1")], table.loc[("village", "V2")]
    # V1 serves 一村 (800 people) with 250 m²: 400 m² per 1,000 needs 320 m²
    assert (v1["served_population"], v1["required_m2"], v1["shortfall_m2"]) == (800, 320, 70)
    assert (v1["residents_supported"], v1["residents_over"], v1["status"]) == (
        625, 175, "overloaded")  # fmt: skip
    assert (v2["served_population"], v2["shortfall_m2"], v2["status"]) == (600, 60, "overloaded")
    # T1 serves 一村, 二村 and 三社区 (7,000) with 900 m²; 30 per 1,000 needs 210 m²
    t1 = table.loc[("township", "T1")]
    assert (t1["served_population"], t1["required_m2"], t1["status"]) == (7000, 210, "adequate")
    assert table.loc[("county", "C1"), "status"] == "no_rule"
    assert table.loc[("township", "T1"), "township_name"] == "甲镇"


def test_files_equal_the_library_functions(run):
    plan, out = run
    villages = plan.villages
    pop = villages["population"].to_numpy(dtype=float)
    rules = adequacy_rules({"village": 400.0, "township": 30.0})
    expected = pd.DataFrame(adequacy(plan.levels, pop, rules).drop(columns="geometry"))
    got = _csv(out, "adequacy.csv").drop(columns="township_name")
    assert list(got.columns) == list(ADEQUACY_COLUMNS)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    township, county = village_units(villages, plan.layers)
    for unit, codes in (("township", township), ("county", county)):
        lib = equity_by_unit(plan.levels, pop, codes, unit)
        csv = _csv(out, f"equity_by_{unit}.csv").rename(columns={f"{unit}_id": "key"})
        lib = lib.rename(columns={f"{unit}_id": "key"})
        assert csv["key"].astype(str).tolist() == lib["key"].astype(str).tolist()
        np.testing.assert_allclose(csv[list(EQUITY_COLUMNS)].to_numpy(float),
                                   lib[list(EQUITY_COLUMNS)].to_numpy(float))  # fmt: skip
    worst = worst_served(villages, plan.levels, n=3, county=county)
    csv = _csv(out, "worst_served.csv")
    assert csv["id"].tolist() == worst["id"].tolist()
    assert csv.groupby("level").size().eq(3).all()
    layer = gpd.read_file(out / "coverage.gpkg", layer="worst_served")
    assert layer["id"].tolist() == worst["id"].tolist()
    assert gpd.read_file(out / "coverage.gpkg", layer="adequacy")["status"].tolist() == (
        expected["status"].tolist()
    )


def test_summary_json_holds_the_step(run):
    plan, out = run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["adequacy"]["m2_per_1000"] == {"village": 400.0, "township": 30.0}
    village = summary["adequacy"]["levels"]["village"]
    assert (village["overloaded"], village["shortfall_m2"], village["residents_over"]) == (
        2, 130.0, 325.0)  # fmt: skip
    assert summary["equity"]["worst"] == 3
    # the village level: 一村 and 四村 have a center on the spot; the rest are farther
    assert summary["equity"]["levels"]["village"]["villages"] == 6
    assert summary["equity"] == plan.summary["equity"]


def test_sheets_report_and_map_in_both_languages(run):
    plan, out = run
    sheets = pd.read_excel(out / "summary.xlsx", sheet_name=None)
    zh = labels("zh")
    for key in ("adequacy", "equity_by_county", "equity_by_township", "worst_served"):
        assert zh["sheets"][key] in sheets
    assert zh["headers"]["served_population"] in sheets[zh["sheets"]["adequacy"]].columns
    assert zh["values"]["overloaded"] in set(sheets[zh["sheets"]["adequacy"]]["状态"])
    for lang in ("zh", "en"):
        text = labels(lang)["text"]
        png = {name: b"\x89PNG" for name in ("coverage_by_township", "distance_distribution")}
        page = report_html(plan, lang=lang, plots=png)
        assert text["adequacy"] in page and text["worst"] in page
        names = set(build_map(plan, lang=lang).data_layers())
        from planner.outputs.map_page import TEXT

        assert {TEXT[lang]["overloaded"], TEXT[lang]["worst_served"]} <= names


def test_every_new_label_exists_in_both_languages():
    from planner.outputs.map_page import FIELDS, TEXT

    columns = {*ADEQUACY_COLUMNS, *EQUITY_COLUMNS, "covered", "unreached"}
    for lang in ("zh", "en"):
        lab = labels(lang)
        assert {"adequacy", "adequacy_note", "adequacy_rule", "equity", "equity_note",
                "worst"} <= set(lab["text"])  # fmt: skip
        assert {"overloaded", "adequate", "no_rule", "unknown"} <= set(lab["values"])
        assert {"adequacy", "equity_by_county", "equity_by_township", "worst_served"} <= set(
            lab["sheets"]
        )
        assert {"overloaded", "no_overloaded", "worst_served", "worst_item"} <= set(TEXT[lang])
        assert {"served_population", "floor_area_m2", "shortfall_m2"} <= set(FIELDS[lang])
    missing = columns - set(labels("zh")["headers"])
    assert not missing, missing  # every column has a Chinese header
