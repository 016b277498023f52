"""Tests of planner.synth.write: the demo formats and single formats round trip."""

from __future__ import annotations

import pandas as pd
import pytest

from planner.errors import PlannerError
from planner.synth import KINDS, ZH_HEADERS, generate_region, write_region


def test_write_region_demo_formats_round_trip(tmp_path):
    from planner.layers import collect_layers
    from planner.scenario import load_scenario

    r = generate_region(villages=120, townships=8, seed=11, name="tiny")
    path = write_region(r, tmp_path, formats="demo", outputs_dir="out")
    assert (tmp_path / "villages.xlsx").exists() and (tmp_path / "candidates.csv").exists()
    assert (tmp_path / "village_areas.cpg").read_text() == "GBK"
    dbf = (tmp_path / "village_areas.dbf").read_bytes()
    assert "乡镇编码".encode("gbk") in dbf[:400]
    assert all(len(name.encode("gbk")) <= 10 for name in ZH_HEADERS.values())
    header = pd.read_excel(tmp_path / "villages.xlsx").columns
    assert {"编码", "名称", "经度", "纬度", "人口", "户数", "乡镇编码", "城乡"} <= set(header)
    scenario = load_scenario(path)
    assert scenario.out_dir == (tmp_path / "out").resolve()
    assert scenario.layers["villages"].coords == "gcj02"
    layers = collect_layers(scenario)
    assert not [p for p in layers.problems if p.severity == "error"]
    got = layers["villages"].set_index("id")
    want = r.villages.to_crs(layers.crs).set_index("id")
    assert got.index.equals(want.index)
    assert want.distance(got.geometry).max() < 0.05  # GCJ-02 offset removed again
    assert (got["population"] == want["population"]).all()
    assert (got["urban"].astype(bool) == want["urban"]).all()
    assert layers["village_areas"]["name"].equals(r.village_areas["name"].astype("string"))


def test_write_region_single_format(tmp_path):
    r = generate_region(villages=60, townships=5, seed=1)
    path = write_region(r, tmp_path, formats="fgb")
    assert sorted(p.name for p in tmp_path.glob("*.fgb")) == sorted(f"{k}.fgb" for k in KINDS)
    assert 'path = "roads.fgb"' in path.read_text(encoding="utf-8")
    with pytest.raises(PlannerError, match="points only"):
        write_region(r, tmp_path, formats={"townships": "csv"})
