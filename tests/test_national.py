"""The province/national preset of a synthetic region: straight lines, no heavy steps."""

from __future__ import annotations

import json
from pathlib import Path

from planner.outputs.writers import write_outputs
from planner.pipeline import run
from planner.scenario import load_scenario
from planner.synth.region import generate_region, write_region


def test_national_scenario_measures_straight_lines_and_skips_heavy_steps(tmp_path):
    region = generate_region(villages=120, townships=10, seed=2, village_areas=False)
    scenario = load_scenario(write_region(region, tmp_path, national=True))
    assert {spec.mode for spec in scenario.levels.values()} == {"euclidean"}
    assert not (scenario.siting.subcenters.enabled or scenario.siting.stations.enabled)
    assert not (scenario.grids.enabled or scenario.outputs.map or scenario.outputs.report)
    assert set(scenario.layers) == {
        "centers", "villages", "townships", "counties", "merged_townships",
        "merged_township_areas",
    }  # fmt: skip
    assert not Path(tmp_path / "roads.gpkg").exists()
    plan = run(scenario)
    write_outputs(plan)
    assert set(plan.summary["levels"]) == set(scenario.levels)
    summary = json.loads((Path(scenario.out_dir) / "summary.json").read_text(encoding="utf-8"))
    assert summary["levels"] == plan.summary["levels"]
    assert not (Path(scenario.out_dir) / "map.html").exists()
