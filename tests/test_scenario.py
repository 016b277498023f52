from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.scenario import (
    LevelSpec,
    also_levels,
    load_scenario,
    parse_scenario,
    serving_groups,
    station_spec,
)

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
    (own, own_spec), (stations, stations_spec) = scenario.serving_groups("village")
    assert own == ("village",) and own_spec.radius_m == 1000
    assert stations == ("station",) and stations_spec.radius_m == 300
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


def test_siting_groups_are_the_scenarios():
    scenario = parse(
        {
            "levels": {"village": {"radius_m": 1000}, "township": {"radius_m": 5000}},
            "siting": {"stations": {"radius_m": 300}},
        }
    )
    stations = scenario.siting.stations
    for level in scenario.levels:
        groups = serving_groups(scenario.levels, stations, level)
        assert groups == scenario.serving_groups(level)
        assert also_levels(scenario.levels, level) == scenario.also_levels(level)
        assert station_spec(scenario.levels, stations, level) == scenario.station_spec(level)
    assert [g for g, _ in serving_groups(scenario.levels, stations, "village")] == [
        ("village",),
        ("station",),
    ]
    assert also_levels(scenario.levels, "township") == ("township", "subcenter")


@pytest.mark.parametrize(
    ("level", "seconds"),
    [
        ({"minutes": 5, "mode": "network"}, 300.0),
        ({"minutes": 5, "mode": "euclidean"}, None),
        ({"radius_m": 500, "mode": "network"}, None),
    ],
)
def test_cutoff_s_is_the_road_travel_time(level, seconds):
    spec = LevelSpec(**level)
    assert spec.cutoff_s == seconds
    assert spec.uses_time == (seconds is not None)


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


# --- issue 13: every bad scenario is refused with one readable message ----------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"levels": {"village": {"radius_m": float("inf")}}},
         "levels.village.radius_m: expected a finite number, got inf"),
        ({"levels": {"village": {"radius_m": float("nan")}}},
         "levels.village.radius_m: expected a finite number, got nan"),
        ({"levels": {"village": {"radius_m": True}}},
         "levels.village.radius_m: expected a number, got true"),
        ({"levels": {"village": {"radius_m": "500"}}},
         'levels.village.radius_m: expected a number, got "500"'),
        ({"levels": {"village": {"radius_m": 1e12}}}, "levels.village.radius_m"),
        ({"siting": {"stations": {"budget": True}}},
         "siting.stations.budget: expected a whole number, got true"),
        ({"siting": {"stations": {"budget": 3.5}}},
         "siting.stations.budget: expected a whole number, got 3.5"),
        ({"siting": {"stations": {"budget": 10**30}}}, "siting.stations.budget"),
        ({"grids": {"enabled": 1}}, "grids.enabled: expected true or false, got 1"),
        ({"outputs": {"crs": "EPSG:999999"}}, 'outputs.crs: unknown CRS "EPSG:999999"'),
        ({"outputs": {"crs": "EPSG:4978"}}, "outputs.crs: .*not a map CRS"),
        ({"outputs": {"crs": True}}, "outputs.crs: expected text or a whole number, got true"),
        ({"scenario": {"crs": 4326}}, "scenario.crs: 4326 .*not a projected CRS in metres"),
        ({"scenario": {"crs": "nonsense"}}, 'scenario.crs: unknown CRS "nonsense"'),
        ({"scenario": {"name": "a\x00b"}}, "scenario.name: control characters"),
        ({"scenario": {"name": " "}}, "scenario.name: the name is empty"),
        ({"layers": {"villages": {"path": "v.gpkg", "encoding": "rot13"}}},
         'layers.villages.encoding: "rot13" is not a text encoding'),
        ({"layers": {"villages": {"path": "v.gpkg", "encoding": "klingon"}}},
         'layers.villages.encoding: unknown encoding "klingon"'),
        ({"layers": {"villages": {"path": "v.gpkg", "encoding": "gbk"}}},
         "layers.villages.encoding: a .gpkg file carries its own text encoding"),
        ({"[": []}, r"\n  \[: unknown key$"),
        ({"layers": {"villages": {"path": "v.gpkg", "crs": "EPSG:0"}}},
         "layers.villages.crs: unknown CRS"),
        ({"layers": {"villages": {"path": "v.gpkg", "id": "geometry"}}},
         'layers.villages.id: "geometry" is the geometry or row number'),
        ({"layers": {"villages": {"path": "v.gpkg", "id": "_row"}}},
         'layers.villages.id: "_row" is the geometry or row number'),
        ({"layers": {"villages": {"path": "v.gpkg", "geometry": "x"}}},
         "layers.villages.geometry: reserved for the planner"),
        ({"layers": {"villages": {"path": "v.gpkg", "_x": "x"}}},
         "layers.villages._x: reserved for the planner"),
        ({"layers": {"villages": {"path": "v.gpkg", "population": 5}}},
         "layers.villages.population: expected the name of a source column"),
        ({"layers": {"villages": {"path": "v.gpkg", "id": "code", "name": "code"}}},
         "layers.villages.name: column \"code\" is already mapped to id"),
        ({"layers": {"villages": {"path": "v\x00.gpkg"}}}, "layers.villages.path: .*NUL"),
        ({"standards": {"profile": "yantai", "file": "p.toml"}},
         "standards: give profile or file, not both"),
        ({"base_dir": "/"}, "base_dir: unknown key"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_with_the_key_path(data, message):
    with pytest.raises(PlannerError, match=message):
        parse(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"levels": {"township": {"radius": 5000}}},
         r"levels\.township\.radius: unknown key \(did you mean radius_m\?\)"),
        ({"level": {}},
         r"^scenario: invalid scenario\n  level: unknown key \(did you mean levels\?\)"),
        ({"siting": {"station": {}}}, r"siting\.station: unknown key \(did you mean stations\?\)"),
        ({"outputs": {"format": ["gpkg"]}},
         r"outputs\.format: unknown key \(did you mean formats\?\)"),
        ({"levels": {"townshp": {"radius_m": 1}}},
         r"levels\.townshp: unknown level 'townshp'.*\(did you mean township\?\)"),
        ({"levels": {"village": {"radius_m": 1, "mode": "netwrok"}}},
         r"levels\.village\.mode: expected 'euclidean' or 'network', got \"netwrok\" "
         r"\(did you mean network\?\)"),
        ({"outputs": {"formats": ["gpkg", "geojsn"]}},
         r"outputs\.formats\.1: .*got \"geojsn\" \(did you mean geojson\?\)"),
        ({"layers": {"villages": {"path": "v.gpkg"}, "center": {"path": "c.gpkg"}}},
         r"layers\.center: unknown layer kind \(did you mean centers\?\)"),
        ({"layers": {"villages": {"path": "v.gpkg", "populaton": "人口"}}},
         r"layers\.villages\.populaton: unknown key \(did you mean population\?\)"),
        ({"layers": {"villages": {"path": "v.gpkg", "encodng": "gbk"}}},
         r"layers\.villages\.encodng: unknown key \(did you mean encoding\?\)"),
    ],
)  # fmt: skip
def test_unknown_keys_and_choices_suggest_the_closest(data, message):
    with pytest.raises(PlannerError, match=message):
        parse(data)


def test_an_unrelated_key_gets_no_suggestion():
    with pytest.raises(PlannerError) as err:
        parse({"outputs": {"zzzzzz": 1}})
    assert str(err.value).endswith("outputs.zzzzzz: unknown key")


def test_integers_still_pass_as_numbers_and_text_crs_codes_as_codes():
    scenario = parse({"levels": {"village": {"radius_m": 500}}, "outputs": {"crs": 4490},
                      "layers": {"villages": {"path": "v.csv", "crs": "EPSG:4527",
                                              "sheet": 0, "encoding": "GBK"}}})  # fmt: skip
    assert scenario.levels["village"].cutoff_m == 500.0
    assert scenario.outputs.crs == 4490 and scenario.layers["villages"].sheet == 0


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("../../x", "_.._x"),
        ("..", "scenario"),
        ("/etc", "_etc"),
        ("a/b", "a_b"),
        ("a\\b", "a_b"),
        ('科左中旗 2025: "规划"?', "科左中旗 2025_ _规划__"),
        ("CON", "CON_"),
        ("nul.txt", "nul.txt_"),
        ("...hidden", "hidden"),
        ("通辽" * 100, "通辽" * 20),
    ],
)
def test_the_name_is_never_a_path(name, folder):
    scenario = parse({"scenario": {"name": name}})
    assert scenario.scenario.name == name  # shown as given
    assert scenario.out_dir == Path("/data/region/outputs") / folder
    assert scenario.out_dir.parent == Path("/data/region/outputs")


def write_scenario(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "s.toml"
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


@pytest.mark.parametrize("depth", [17, 500, 5_000, 100_000])
def test_deep_nesting_is_refused(tmp_path, depth):
    arrays = write_scenario(tmp_path, f"x = {'[' * depth}{']' * depth}\n")
    with pytest.raises(PlannerError, match="nested more than 16 levels"):
        load_scenario(arrays)
    tables = write_scenario(tmp_path, f"x = {'{a=' * depth}1{'}' * depth}\n")
    with pytest.raises(PlannerError, match="nested more than 16 levels"):
        load_scenario(tables)
    dotted = write_scenario(tmp_path, "a" + ".a" * depth + " = 1\n")
    with pytest.raises(PlannerError, match="nested more than 16 levels"):
        load_scenario(dotted)


def test_nesting_up_to_the_cap_is_parsed(tmp_path):
    # the document and 15 tables (16 levels) are parsed; the unknown key is then named
    key = "a" + ".a" * 15
    path = write_scenario(tmp_path, f"{key} = 1\n[layers.villages]\npath = 'v.gpkg'\n")
    with pytest.raises(PlannerError, match=r"\n  a: unknown key$"):
        load_scenario(path)
    deeper = write_scenario(tmp_path, f"{key}.a = 1\n[layers.villages]\npath = 'v.gpkg'\n")
    with pytest.raises(PlannerError, match="nested more than 16 levels"):
        load_scenario(deeper)


def test_large_file_is_refused_before_parsing(tmp_path):
    path = write_scenario(tmp_path, "# " + "x" * 1_000_000 + "\n")
    with pytest.raises(PlannerError, match="larger than 1,000,000 bytes"):
        load_scenario(path)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "s.toml"
    os.mkfifo(fifo)  # nobody writes: reading it would block for ever
    with pytest.raises(PlannerError, match="not a regular file"):
        load_scenario(fifo)


def test_folder_is_refused(tmp_path):
    with pytest.raises(PlannerError, match="is a folder"):
        load_scenario(tmp_path)


def test_byte_order_mark_is_accepted(tmp_path):
    path = write_scenario(tmp_path, b"\xef\xbb\xbf[layers.villages]\npath = 'v.gpkg'\n")
    assert load_scenario(path).layers["villages"].path == Path("v.gpkg")


def test_home_of_an_unknown_user_is_kept_as_written():
    scenario = parse({})
    assert scenario.path("~no_such_user_x/v.gpkg") == Path("/data/region/~no_such_user_x/v.gpkg")
