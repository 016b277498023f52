from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.scenario import load_scenario, parse_scenario

BASE = {"layers": {"villages": {"path": "v.gpkg"}}}


def parse(extra: dict) -> object:
    return parse_scenario({**BASE, **extra}, base_dir=Path("/data/region"))


def test_wrong_type_names_the_key_path():
    with pytest.raises(PlannerError) as err:
        parse({"levels": {"township": {"radius_m": "5km"}}})
    assert 'levels.township.radius_m: expected a number, got "5km"' in str(err.value)


def test_unknown_key_is_rejected():
    with pytest.raises(PlannerError, match=r"outputs\.colour: unknown key"):
        parse({"outputs": {"colour": "red"}})


def test_unknown_level_name_is_rejected():
    with pytest.raises(PlannerError, match="unknown level 'province'"):
        parse({"levels": {"province": {"radius_m": 1}}})


@pytest.mark.parametrize(
    ("alias", "level"),
    [
        ("县级", "county"),
        ("旗", "county"),
        ("乡镇", "township"),
        ("街道", "township"),
        ("苏木", "township"),
        ("村", "village"),
        ("社区", "village"),
        ("嘎查", "village"),
        ("分中心", "subcenter"),
        ("驿站", "station"),
        ("服务站", "station"),
    ],
)
def test_chinese_level_aliases(alias, level):
    scenario = parse({"levels": {alias: {"radius_m": 1000}}})
    assert list(scenario.levels) == [level]


def test_duplicate_level_through_alias():
    with pytest.raises(PlannerError, match="given twice"):
        parse({"levels": {"村": {"radius_m": 1}, "village": {"radius_m": 2}}})


def test_paths_are_relative_to_the_scenario_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "s.toml"
    path.write_text('[scenario]\nout_dir = "../o"\n[layers.villages]\npath = "v.gpkg"\n')
    scenario = load_scenario(path)
    assert scenario.path(scenario.layers["villages"].path) == tmp_path / "sub" / "v.gpkg"
    assert scenario.out_dir == tmp_path / "o"


def test_defaults():
    scenario = parse_scenario(
        {
            "layers": {"villages": {"path": "v.gpkg"}, "roads": {"path": "r.gpkg"}},
            "levels": {"township": {"minutes": 15, "mode": "network", "travel": "drive"}},
        },
        base_dir=Path("."),
    )
    spec = scenario.levels["township"]
    assert spec.uses_time and spec.cutoff_m == pytest.approx(15 / 60 * 40_000)
    assert scenario.outputs.lang == "zh" and scenario.outputs.crs == "EPSG:4490"
    assert scenario.also_levels("township") == ("township", "subcenter")
    assert scenario.scenario.crs == "auto"


def test_radius_and_minutes_are_exclusive():
    with pytest.raises(PlannerError, match="exactly one of radius_m or minutes"):
        parse({"levels": {"village": {"radius_m": 1, "minutes": 2}}})


def test_bad_toml_names_line_and_column(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[scenario]\nname = \n")
    with pytest.raises(PlannerError, match=r"bad\.toml: not valid TOML.*line 2"):
        load_scenario(path)


def test_missing_file():
    with pytest.raises(PlannerError, match="scenario file not found"):
        load_scenario("/nonexistent/s.toml")


def test_villages_layer_required():
    with pytest.raises(PlannerError, match=r"layers\.villages"):
        parse_scenario({"layers": {"centers": {"path": "c.gpkg"}}}, base_dir=Path("."))


def test_column_mapping_is_kept():
    scenario = parse_scenario(
        {"layers": {"villages": {"path": "v.xlsx", "coords": "gcj02", "population": "人口"}}},
        base_dir=Path("."),
    )
    assert scenario.layers["villages"].columns == {"population": "人口"}
    assert scenario.layers["villages"].coords == "gcj02"


def test_network_levels_need_roads():
    with pytest.raises(PlannerError, match=r"township use mode = \"network\".*layers\.roads"):
        parse({"levels": {"township": {"radius_m": 5000, "mode": "network"}}})


def test_station_radius_groups_the_centers_serving_villages():
    scenario = parse(
        {
            "levels": {"village": {"radius_m": 1000, "mode": "euclidean"}},
            "siting": {"stations": {"radius_m": 300}},
        }
    )
    (own, own_spec), (stations, station_spec) = scenario.serving_groups("village")
    assert own == ("village",) and own_spec.radius_m == 1000
    assert stations == ("station",) and station_spec.radius_m == 300
    plain = parse({"levels": {"village": {"radius_m": 1000}}})
    assert plain.serving_groups("village") == [(("village", "station"), plain.levels["village"])]
    timed = parse(
        {
            "levels": {"village": {"minutes": 15}},
            "siting": {"stations": {"minutes": 5}},
        }
    )
    assert timed.station_spec("village").minutes == 5
    assert timed.station_spec("village").radius_m is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"levels": {"village": {"radius_m": 1}}, "siting": {"stations": {"radius_m": 1,
          "minutes": 2}}}, "radius_m or minutes, not both"),
        ({"levels": {"station": {"radius_m": 1}}, "siting": {"stations": {"radius_m": 1}}},
         r"there is no \[levels.village\]"),
        ({"levels": {"village": {"radius_m": 1}}, "siting": {"stations": {"radius_m": -5}}},
         "siting.stations.radius_m"),
    ],
)  # fmt: skip
def test_bad_station_radius(data, message):
    with pytest.raises(PlannerError, match=message):
        parse(data)
