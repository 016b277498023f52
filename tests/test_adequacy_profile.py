"""Adequacy rules from a standards profile's ``[adequacy]`` table and the scenario's."""

from __future__ import annotations

import pytest

from planner.adequacy import DEFAULT_M2_PER_1000
from planner.errors import PlannerError
from planner.standards.profiles import available_profiles, load_profile
from planner.steps import service_load_step, village_units

PROFILE = """
[profile]
name = "mine"
title_zh = "我的标准"
title_en = "mine"

[adequacy]
m2_per_1000 = { "村" = 50, township = 20 }

[[rules]]
id = "area"
kind = "number"
attribute = "area_m2"
label_zh = "面积"
label_en = "area"

[[rules.cases]]
when = { level = "village" }
min = 200
"""


def _scenario(tmp_path, extra: str = ""):
    from tests.conftest import SCENARIO, tiny_frames

    for kind, frame in tiny_frames().items():
        frame.to_file(tmp_path / f"{kind}.gpkg", driver="GPKG")
    (tmp_path / "mine.toml").write_text(PROFILE, encoding="utf-8")
    return _load(tmp_path, SCENARIO + '\n[standards]\nfile = "mine.toml"\n' + extra)


def _load(folder, text):
    from planner.scenario import load_scenario

    (folder / "scenario.toml").write_text(text, encoding="utf-8")
    return load_scenario(folder / "scenario.toml")


def test_profile_table_is_read_with_level_aliases(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(PROFILE, encoding="utf-8")
    assert load_profile(path).adequacy.m2_per_1000 == {"village": 50.0, "township": 20.0}


@pytest.mark.parametrize("bad", ["{ village = -1 }", '{ village = "50" }', "{ hamlet = 5 }",
                                 "{ village = true }"])  # fmt: skip
def test_profile_table_refuses_bad_values(tmp_path, bad):
    path = tmp_path / "bad.toml"
    path.write_text(PROFILE.replace('{ "村" = 50, township = 20 }', bad), encoding="utf-8")
    with pytest.raises(PlannerError, match="adequacy"):
        load_profile(path)


def test_builtin_profiles_load_and_set_no_rule_of_their_own():
    for name in available_profiles():
        assert load_profile(name).adequacy.m2_per_1000 == {}


def test_scenario_overrides_profile_overrides_default(tmp_path):
    from planner.layers import load_layers
    from planner.steps import compute_levels, coverage_levels

    scenario = _scenario(tmp_path, "\n[adequacy]\nm2_per_1000 = { village = 70 }\n")
    layers = load_layers(scenario)
    villages = layers["villages"].drop(columns="_row")
    results = compute_levels(villages, layers.get("centers"), coverage_levels(scenario))
    load = service_load_step(scenario, villages, results, village_units(villages, layers))
    assert load.summary["adequacy"]["m2_per_1000"] == {"village": 70.0, "township": 20.0}
    table = load.tables["adequacy"]
    village = table[table["level"] == "village"]
    assert set(village["m2_per_1000"]) == {70.0}
    assert DEFAULT_M2_PER_1000 == {"village": 100.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[adequacy]\nm2_per_1000 = { village = -5 }", "greater than or equal"),
        ("[adequacy]\nm2_per_1000 = { hamlet = 5 }", "hamlet"),
        ("[adequacy]\nm2_per_100 = { village = 5 }", "m2_per_1000"),
        ("[equity]\nworst = -1", "greater than or equal"),
        ("[equity]\nworst = 2.5", "worst"),
    ],
)
def test_scenario_keys_are_validated(tmp_path, text, message):
    from tests.conftest import SCENARIO

    with pytest.raises(PlannerError, match=message):
        _load(tmp_path, SCENARIO + "\n" + text + "\n")
