"""Standards profiles and compliance checks (planner.standards).

Thresholds are checked against the published figures of the seed documents (DOMAIN.md);
the three-valued logic is checked exhaustively against every completion of the missing
attributes.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from planner.errors import PlannerError
from planner.standards.checks import check_centers
from planner.standards.profiles import available_profiles, load_profile, normalize_name
from planner.standards.summary import summarize_compliance


def centers(*rows: dict) -> gpd.GeoDataFrame:
    """Centers from attribute dicts; ids c0, c1, ... unless given."""
    frame = pd.DataFrame(list(rows))
    if "id" not in frame:
        frame.insert(0, "id", [f"c{i}" for i in range(len(frame))])
    points = [Point(100.0 * i, 0.0) for i in range(len(frame))]
    return gpd.GeoDataFrame(frame, geometry=points, crs="EPSG:4547")


def verdict(profile: str, rule: str, **attrs) -> str | None:
    """The verdict of one rule for one center, None when the rule does not apply."""
    _, results = check_centers(centers(attrs), profile)
    hit = results.loc[results["rule"] == rule, "verdict"]
    return None if hit.empty else hit.item()


# --------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------
def test_builtin_profiles_load():
    assert available_profiles() == ("benxi", "generic", "tongliao", "yantai", "yueyang")
    for name in available_profiles():
        profile = load_profile(name)
        assert profile.name == name
        assert profile.title("zh") and profile.title("en")
    assert load_profile("YANTAI").name == "yantai"


def test_unknown_profile_name_lists_builtins():
    with pytest.raises(PlannerError, match="built-in profiles: benxi, generic"):
        load_profile("shanghai")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
[profile]
name = "mine"
title_zh = "自定义"
title_en = "custom"

[vocabulary.rooms.library]
zh = "图书室"
en = "library"

[[rules]]
id = "area"
kind = "number"
attribute = "area_m2"
label_zh = "面积"
label_en = "area"
[[rules.cases]]
when = { level = "村" }
min = 150
"""


def test_custom_profile_file_relative_to_base_dir(tmp_path):
    _write(tmp_path, GOOD)
    profile = load_profile("mine.toml", base_dir=tmp_path)
    assert profile.rules[0].cases[0].when == {"level": ("village",)}
    assert verdict(profile, "area", level="village", area_m2=150) == "pass"
    assert verdict(profile, "area", level="village", area_m2=149) == "fail"


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ("min = 150", 'min = "big"', "rules[0].cases[0].min", "valid number"),
        ("min = 150", "require = ['library']", "rules[0]", "needs exactly one of min / above"),
        ('level = "村"', 'level = "planet"', "rules[0].cases[0].when", "unknown level 'planet'"),
        ('level = "村"', "urban = 'yes'", "rules[0].cases[0].when", "must be true/false"),
        ('kind = "number"', 'kind = "ratio"', "rules[0].kind", "'number', 'includes' or"),
        ('title_en = "custom"', 'title_en = "custom"\ncolour = 1', "profile.colour", "Extra"),
    ],
)
def test_bad_profile_names_file_and_key(tmp_path, old, new, key, message):
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(PlannerError) as err:
        load_profile(path)
    text = str(err.value)
    assert str(path) in text
    assert f"key {key}" in text
    assert message in text


def test_profile_requiring_undefined_term(tmp_path):
    text = (
        GOOD.replace('kind = "number"', 'kind = "includes"')
        .replace('attribute = "area_m2"', 'attribute = "rooms"')
        .replace("min = 150", "require = ['library', 'gym']")
    )
    with pytest.raises(PlannerError, match=r"rules\[0\] \(area\): gym not defined under \[voc"):
        load_profile(_write(tmp_path, text))


def test_conflicting_aliases_and_bad_toml(tmp_path):
    clash = GOOD + '\n[vocabulary.rooms.reading]\nzh = "阅览室"\nen = "Library"\n'
    with pytest.raises(PlannerError, match="'Library' names both 'library' and 'reading'"):
        load_profile(_write(tmp_path, clash))
    with pytest.raises(PlannerError, match="not valid TOML"):
        load_profile(_write(tmp_path, "[profile\nname="))
    with pytest.raises(PlannerError, match="file not found"):
        load_profile(tmp_path / "absent.toml")


# --------------------------------------------------------------------------------------
# Yantai thresholds (seed 004) at their edges
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"level": "county", "area_m2": 1999, "with_gov_center": False}, "fail"),
        ({"level": "county", "area_m2": 2000, "with_gov_center": False}, "pass"),
        ({"level": "county", "area_m2": 4999, "with_gov_center": True}, "fail"),
        ({"level": "county", "area_m2": 5000, "with_gov_center": True}, "pass"),
        ({"level": "county", "area_m2": 2000, "with_gov_center": True}, "fail"),
        # flag unknown: decided only where both thresholds agree
        ({"level": "county", "area_m2": 1999, "with_gov_center": None}, "fail"),
        ({"level": "county", "area_m2": 3000, "with_gov_center": None}, "unknown"),
        ({"level": "county", "area_m2": 5000, "with_gov_center": None}, "pass"),
        ({"level": "县级", "area_m2": 3000}, "unknown"),  # no flag column at all
        ({"level": "township", "area_m2": 999}, "fail"),
        ({"level": "街道", "area_m2": 1000}, "pass"),
        ({"level": "village", "urban": True, "built_year": 2014, "area_m2": 299}, "fail"),
        ({"level": "village", "urban": True, "built_year": 2014, "area_m2": 300}, "pass"),
        ({"level": "village", "urban": True, "built_year": 2015, "area_m2": 300}, "fail"),
        ({"level": "village", "urban": True, "built_year": 2015, "area_m2": 599}, "fail"),
        ({"level": "社区", "urban": True, "built_year": 2015, "area_m2": 600}, "pass"),
        ({"level": "village", "urban": True, "built_year": None, "area_m2": 450}, "unknown"),
        ({"level": "village", "urban": True, "built_year": None, "area_m2": 299}, "fail"),
        ({"level": "village", "urban": False, "demo_area": True, "area_m2": 599}, "fail"),
        ({"level": "village", "urban": False, "demo_area": True, "area_m2": 600}, "pass"),
        ({"level": "village", "urban": False, "demo_area": False, "area_m2": 10}, None),
        ({"level": "village", "urban": False, "area_m2": 10}, None),  # demo_area assumed false
        ({"level": "village", "urban": None, "area_m2": 450}, "unknown"),
        ({"level": "village", "urban": None, "area_m2": 600}, "pass"),
        ({"level": "county", "area_m2": None, "with_gov_center": False}, "unknown"),
        ({"level": "station", "area_m2": 1}, None),
    ],
)
def test_yantai_area_edges(attrs, expected):
    assert verdict("yantai", "area", **attrs) == expected


YANTAI_ZONES_5 = "日常办公区;综合服务区;党群活动区;宣传教育区;办事休息区"


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"level": "county", "zones": YANTAI_ZONES_5}, "pass"),
        ({"level": "township", "zones": YANTAI_ZONES_5}, "fail"),  # co-governance missing
        ({"level": "township", "zones": YANTAI_ZONES_5 + "；共治理事区"}, "pass"),
        ({"level": "village", "urban": True, "zones": YANTAI_ZONES_5 + "、议事区"}, "pass"),
        (
            {
                "level": "county",
                "zones": "Daily office, comprehensive service, activities, education, rest zone",
            },
            "pass",
        ),
        ({"level": "county", "zones": None}, "unknown"),
        ({"level": "county", "zones": "  "}, "unknown"),
        ({"level": "county", "zones": "无"}, "fail"),  # recorded as none
    ],
)
def test_yantai_zones(attrs, expected):
    assert verdict("yantai", "zones", **attrs) == expected


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"level": "township", "windows": "综合业务;帮办代办;咨询投诉"}, "pass"),
        ({"level": "township", "windows": "专门业务窗口、帮办代办窗口"}, "fail"),
        ({"level": "village", "urban": True, "windows": "business; help and agency"}, "pass"),
        ({"level": "village", "urban": True, "windows": "business"}, "fail"),
        ({"level": "county", "windows": ""}, None),  # national/provincial rules apply
    ],
)
def test_yantai_windows(attrs, expected):
    assert verdict("yantai", "windows", **attrs) == expected


def _completions(attrs: dict) -> list[dict]:
    """Every way of filling the missing yes/no flags and build year of a center.

    Yantai's profile assumes ``demo_area = false`` where it is not recorded.
    """
    options = {
        "urban": (True, False),
        "with_gov_center": (True, False),
        "demo_area": (False,),
        "built_year": (2010, 2020),
    }
    keys = [k for k in options if attrs.get(k) is None]
    return [
        attrs | dict(zip(keys, combo, strict=True))
        for combo in itertools.product(*(options[k] for k in keys))
    ]


def test_three_valued_logic_agrees_with_every_completion():
    """pass/fail only when all completions of the missing attributes agree, else unknown."""
    grid = itertools.product(
        ("county", "township", "village"),
        (True, False, None),
        (True, False, None),
        (True, False, None),
        (2010, 2020, None),
        (250, 300, 599, 600, 1000, 2000, 4999, 5000),
    )
    base = [
        dict(
            zip(
                ("level", "urban", "with_gov_center", "demo_area", "built_year", "area_m2"),
                row,
                strict=True,
            )
        )
        for row in grid
    ]
    filled = [(i, c) for i, attrs in enumerate(base) for c in _completions(attrs)]
    frame = centers(*base, *(c for _, c in filled))
    frame["built_year"] = frame["built_year"].astype("Int64")
    for col in ("urban", "with_gov_center", "demo_area"):
        frame[col] = frame[col].astype("boolean")
    _, results = check_centers(frame, "yantai")
    area = results[results["rule"] == "area"].set_index("center_id")["verdict"]
    got = area.reindex([f"c{i}" for i in range(len(base))])
    outcomes: dict[int, set] = {}
    for k, (i, _) in enumerate(filled):
        outcomes.setdefault(i, set()).add(area.get(f"c{len(base) + k}", "n/a"))
    for i, seen in outcomes.items():
        if seen == {"n/a"}:
            expected = None
        elif seen <= {"pass", "n/a"}:
            expected = "pass"
        elif seen == {"fail"}:
            expected = "fail"
        else:
            expected = "unknown"
        assert (None if pd.isna(got.iloc[i]) else got.iloc[i]) == expected, base[i]
    assert set(got.dropna()) == {"pass", "fail", "unknown"}


# --------------------------------------------------------------------------------------
# Benxi, Tongliao, Yueyang, generic
# --------------------------------------------------------------------------------------
BENXI_VILLAGE = "便民服务中心;办公室;综合活动室;“两代表一委员”工作室;警务和矛盾纠纷调解室;卫生站"
BENXI_VILLAGE_EN = (
    "service center, office, activity room, deputies' studio, police and mediation room, clinic"
)
BENXI_COMMUNITY = (
    "社区服务站、办公室、两代表一委员工作室、卫生服务中心（室）、警务室、图书室、综合活动室"
)


@pytest.mark.parametrize(
    ("rule", "attrs", "expected"),
    [
        ("area", {"level": "村", "urban": False, "area_m2": 199}, "fail"),
        ("area", {"level": "村", "urban": False, "area_m2": 200}, "pass"),
        ("plaza", {"level": "村", "urban": False, "plaza_m2": 999}, "fail"),
        ("plaza", {"level": "村", "urban": False, "plaza_m2": 1000}, "pass"),
        ("plaza", {"level": "社区", "urban": True, "plaza_m2": 0}, None),
        ("area", {"level": "社区", "urban": True, "area_m2": 399}, "fail"),
        ("area", {"level": "社区", "urban": True, "area_m2": 400}, "pass"),
        ("rooms", {"level": "村", "urban": False, "rooms": BENXI_VILLAGE}, "pass"),
        ("rooms", {"level": "村", "urban": False, "rooms": BENXI_VILLAGE_EN}, "pass"),
        ("rooms", {"level": "村", "urban": False, "rooms": "办公室;卫生站"}, "fail"),
        ("rooms", {"level": "社区", "urban": True, "rooms": BENXI_COMMUNITY}, "pass"),
        ("rooms", {"level": "社区", "urban": True, "rooms": BENXI_VILLAGE}, "fail"),
        ("rooms", {"level": "township", "rooms": ""}, None),
    ],
)
def test_benxi(rule, attrs, expected):
    assert verdict("benxi", rule, **attrs) == expected


def test_aliases_resolve_in_both_languages():
    frame = centers(
        {"level": "village", "rooms": "党员活动室;图书室"},
        {"level": "village", "rooms": "party member room; library"},
        {"level": "village", "rooms": "PARTY-MEMBER ROOM，图书阅览室；阅览室"},
    )
    _, results = check_centers(frame, "tongliao", lang="en")
    rooms = results[results["rule"] == "rooms"]
    assert rooms["measured"].tolist() == ["party member room, library"] * 3
    assert rooms["value"].tolist() == [2.0, 2.0, 2.0]
    assert rooms["required"].tolist() == [6.0] * 3
    assert (rooms["verdict"] == "fail").all()
    assert rooms["detail"].str.startswith("missing service hall").all()
    assert normalize_name("“两代表一委员”工作室") == normalize_name("两代表一委员工作室")


def test_tongliao_one_hall_five_rooms_passes_and_reports_unrecognised():
    full = "便民服务大厅、党员活动室、综治办公室、文体活动室、图书阅览室、多功能会议室"
    checked, results = check_centers(
        centers(
            {"level": "嘎查", "rooms": full, "windows": "党员服务,综合业务,帮办代办,咨询投诉"},
            {"level": "苏木", "rooms": "党员之家、棋牌室", "windows": "党员服务"},
        ),
        "tongliao",
        lang="zh",
    )
    assert checked["compliant"].tolist() == [True, False]
    detail = results.set_index(["center_id", "rule"]).loc[("c1", "rooms"), "detail"]
    assert detail.startswith("缺少 便民服务大厅、综治办公室")
    assert detail.endswith("未识别：棋牌室")


@pytest.mark.parametrize(
    ("rooms", "plaza", "expected"),
    [
        ("便民服务大厅;讲习堂;党员活动室;图书室;a;b;c;d", 500, ("pass", "pass", "pass")),
        ("便民服务大厅;讲习堂;党员活动室;图书室;a;b;c", 500, ("pass", "fail", "pass")),
        # aliases of one room, the hall and the plaza do not count as rooms
        ("服务大厅;广场;讲习堂;党员活动室;图书室;阅览室;a;b;c", 0, ("pass", "fail", "fail")),
        ("讲习堂;党员活动室;图书室;a;b;c;d", None, ("fail", "pass", "unknown")),
    ],
)
def test_yueyang_seven_rooms_one_hall_one_plaza(rooms, plaza, expected):
    attrs = {"level": "村", "urban": False, "rooms": rooms, "plaza_m2": plaza}
    got = tuple(verdict("yueyang", rule, **attrs) for rule in ("hall", "rooms", "plaza"))
    assert got == expected


def test_generic_uses_the_lowest_published_thresholds():
    assert verdict("generic", "area", level="village", urban=False, area_m2=200) == "pass"
    assert verdict("generic", "area", level="village", urban=False, area_m2=199) == "fail"
    assert verdict("generic", "area", level="village", urban=True, area_m2=300) == "pass"
    assert verdict("generic", "area", level="county", area_m2=1999) == "fail"
    assert verdict("generic", "hall", level="county", rooms="综合服务区") == "pass"


# --------------------------------------------------------------------------------------
# Outputs, unknowns and summaries
# --------------------------------------------------------------------------------------
def test_unknowns_are_never_passed_and_compliant_is_nullable():
    frame = centers(
        {
            "level": "township",
            "area_m2": 1200,
            "zones": YANTAI_ZONES_5 + ";共治理事区",
            "windows": "综合业务;帮办代办;咨询投诉",
        },
        {"level": "township", "area_m2": 1200, "zones": YANTAI_ZONES_5 + ";共治理事区"},
        {"level": "township", "area_m2": 800},
        {"level": "city"},
    )
    checked, results = check_centers(frame, "yantai")
    assert str(checked["compliant"].dtype) == "boolean"
    assert checked["compliant"].tolist()[:2] == [True, None] or (
        checked["compliant"].iloc[0] and pd.isna(checked["compliant"].iloc[1])
    )
    assert checked["compliant"].iloc[2] is np.False_ or checked["compliant"].iloc[2] == False  # noqa: E712
    assert bool(checked["compliant"].iloc[3])  # no Yantai rule covers a city center
    c1 = results[results["center_id"] == "c1"].set_index("rule")
    assert c1.loc["windows", "verdict"] == "unknown"
    assert c1.loc["windows", "detail"] == "no data in windows"
    assert checked["compliance_issues"].tolist()[0] == ""
    assert checked["compliance_issues"].iloc[1] == "service windows: unknown, no data in windows"
    assert (
        checked["compliance_issues"].iloc[2].startswith("floor area: 800 m², required ≥ 1,000 m²")
    )
    assert checked.index.equals(frame.index)
    assert isinstance(checked, gpd.GeoDataFrame) and checked.crs == frame.crs
    assert set(results["verdict"]) <= {"pass", "fail", "unknown"}


def test_chinese_issue_text():
    checked, _ = check_centers(centers({"level": "乡镇", "area_m2": 900}), "yantai", lang="zh")
    assert checked["compliance_issues"].iloc[0].startswith("建筑面积：900 m²，要求 ≥ 1,000 m²")


def test_bad_center_values_name_column_and_center():
    with pytest.raises(PlannerError, match=r"column 'area_m2', center 'c1'.*'about 300'"):
        check_centers(
            centers({"level": "village"}, {"level": "village", "area_m2": "about 300"}), "generic"
        )
    with pytest.raises(PlannerError, match=r"column 'urban', center 'c0'.*'maybe'"):
        check_centers(centers({"level": "village", "urban": "maybe"}), "generic")
    with pytest.raises(PlannerError, match=r"column 'level', center 'c0'"):
        check_centers(centers({"level": "galaxy"}), "generic")
    with pytest.raises(PlannerError, match="lang must be"):
        check_centers(centers({"level": "village"}), "generic", lang="fr")


def test_text_values_are_read_like_the_ledgers_write_them():
    frame = centers(
        {"level": "village", "urban": "是", "area_m2": "1,200"},
        {"level": "village", "urban": "否", "area_m2": " 150 "},
    )
    _, results = check_centers(frame, "generic")
    area = results[results["rule"] == "area"]
    assert area["value"].tolist() == [1200.0, 150.0]
    assert area["verdict"].tolist() == ["pass", "fail"]


def test_summary_matches_an_independent_count():
    rng = np.random.default_rng(7)
    n = 60
    frame = centers(
        *(
            {
                "level": "village",
                "urban": bool(rng.random() < 0.3),
                "area_m2": float(rng.choice([100, 250, 500, np.nan])),
                "rooms": rng.choice(["便民服务大厅", "党员活动室", None]),
            }
            for _ in range(n)
        )
    )
    frame["county_id"] = rng.choice(["150521", "150522"], n)
    frame["township_id"] = frame["county_id"] + rng.choice(["100", "101", "102"], n)
    frame.loc[3, "township_id"] = None
    checked, results = check_centers(frame, "generic")
    summary = summarize_compliance(results, checked)
    status = checked["compliant"].map({True: "compliant", False: "non_compliant"}).fillna("unknown")
    for col in ("county_id", "township_id"):
        expected = pd.crosstab(checked[col].fillna("(none)"), status)
        got = summary[summary["scope"] == col].set_index("key")
        for s in ("compliant", "non_compliant", "unknown"):
            assert got[s].to_dict() == expected[s].to_dict()
        assert got["centers"].sum() == n
    total = summary[summary["scope"] == "total"].iloc[0]
    fails = results[results["verdict"] == "fail"]
    assert total["fail_area"] == fails.loc[fails["rule"] == "area", "center_id"].nunique()
    assert total["compliance_rate"] == pytest.approx(total["compliant"] / n)
    by_level = summarize_compliance(results, checked, by=[("county_id", "level")])
    assert set(by_level["key"]) >= {"150521/village", "150522/village"}
    with pytest.raises(PlannerError, match="missing column"):
        summarize_compliance(results, checked, by=("grid_id",))


def test_numeric_flags_and_an_empty_layer():
    frame = centers(
        {"level": "county", "area_m2": 3000.0, "with_gov_center": 1.0},
        {"level": "county", "area_m2": 3000.0, "with_gov_center": 0.0},
        {"level": "county", "area_m2": 3000.0, "with_gov_center": np.nan},
    )
    _, results = check_centers(frame, "yantai")
    assert results.loc[results["rule"] == "area", "verdict"].tolist() == ["fail", "pass", "unknown"]
    with pytest.raises(PlannerError, match="yes/no"):
        check_centers(frame.assign(with_gov_center=2.0), "yantai")
    empty = centers({"level": "county"}).iloc[:0]
    checked, results = check_centers(empty, "yantai")
    assert len(checked) == 0 and len(results) == 0
    assert "issue" in results.columns
    summary = summarize_compliance(results, checked.assign(county_id=[], township_id=[]))
    assert summary["scope"].tolist() == ["total"] and summary["centers"].item() == 0
