"""Summary sheets, plots and the HTML report (planner.outputs.sheets, plots, report).

Numbers drawn or printed are checked against an independent recomputation from the
annotated villages frame (``<level>_covered``, ``<level>_dist_m``, ``population``).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from conftest import NO_SITING, SCENARIO, tiny_frames
from matplotlib import font_manager
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from shapely.geometry import Point

from planner.errors import PlannerError
from planner.outputs import plots, report
from planner.outputs.sheets import canonical_sheets, summary_sheets
from planner.outputs.writers import write_outputs
from planner.pipeline import run
from planner.plan import Plan
from planner.scenario import load_scenario
from planner.service_load import SERVICE_TABLES
from planner.siting import budget_curve
from planner.standards.checks import check_centers

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAKE_PLOTS = {"coverage_by_township": PNG_MAGIC, "distance_distribution": PNG_MAGIC}
EVIL = "<script>alert(1)</script>"


def write_region(
    folder: Path, frames: dict[str, gpd.GeoDataFrame], text: str = SCENARIO + NO_SITING
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, frame in frames.items():
        frame.to_file(folder / f"{kind}.gpkg", driver="GPKG")
    path = folder / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return run(load_scenario(write_region(tmp_path_factory.mktemp("tiny"), tiny_frames())))


def village_rates(plan: Plan, level: str) -> pd.Series:
    """Population rate (%) per township, from the villages frame."""
    v = plan.villages
    covered = v["population"].where(v[f"{level}_covered"], 0.0)
    grouped = pd.DataFrame({"t": v["township_id"], "p": v["population"], "c": covered})
    sums = grouped.groupby("t")[["p", "c"]].sum()
    return 100 * sums["c"] / sums["p"]


@pytest.fixture(scope="module")
def full_plan(plan: Plan) -> Plan:
    """The tiny plan with proposals, after-coverage, budget curve, compliance and grids.

    Two stations at 二村 and 三社区 bring both within the 500 m village radius, so village
    coverage after the plan is 800 + 600 + 1200 + 5000 = 7600 people, 2 villages left.
    """
    v = plan.villages
    sites = v[v["name"].isin(["二村", "三社区"])]
    proposals = gpd.GeoDataFrame(
        {"kind": ["station", "station"], "rank": [1, 2], "site_id": sites["id"].to_numpy()[::-1],
         "name": sites["name"].to_numpy()[::-1], "new_population_covered": [5000.0, 1200.0],
         "reason": ["gap", "gap"]},
        geometry=sites.geometry.to_numpy()[::-1], crs=v.crs,
    )  # fmt: skip
    after = {lvl: dict(s) for lvl, s in plan.summary["levels"].items()}
    after["village"].update(population_covered=7600.0, villages_covered=4, villages_uncovered=2)
    xy = np.column_stack([v.geometry.x, v.geometry.y])
    cover = np.linalg.norm(xy[:, None] - xy[None], axis=2) <= 500  # village × site
    curve = budget_curve(cover, v["population"].to_numpy(), 3, fixed=[0, 3])
    _, compliance = check_centers(plan.centers, "yantai")
    grids = gpd.GeoDataFrame(
        {"id": ["150521100000001", "150521100000002", "150521101003001"],
         "name": ["一村第1网格", "一村第2网格", "四村第1网格"],
         "village_id": ["150521100000", "150521100000", "150521101003"],
         "households": [150.0, 150.0, 230.0], "workers": [2.0, 1.0, 2.0]},
        geometry=[Point(0, 0).buffer(10)] * 3, crs=v.crs,
    )  # fmt: skip
    return dataclasses.replace(plan, proposals=proposals, after=after, budget_curve=curve,
                               compliance=compliance, grids=grids)  # fmt: skip


class Tables(HTMLParser):
    """Every <table> of a page as a list of rows of cell texts; <img> sources."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.images: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs)["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(page: str) -> Tables:
    parser = Tables()
    parser.feed(page)
    return parser


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=60)
    return buffer.getvalue()


def visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


# ---------------------------------------------------------------------------- plots


def test_coverage_bars_equal_rates_recomputed_from_villages(plan: Plan):
    fig = report.plot_coverage_by_township(plan, lang="en")
    names = tiny_frames()["townships"].set_index("name")["id"]
    axes = visible_axes(fig)
    assert len(axes) == len(plan.levels) == 3
    for ax, level in zip(axes, ["county", "township", "village"], strict=True):
        covered, rest = ax.containers[0], ax.containers[1]
        assert len(ax.patches) == 2 * 2 and len(covered.patches) == 2
        ticks = [t.get_text() for t in ax.get_yticklabels()]
        codes = [names.get(t, t) for t in ticks]  # names with a CJK font, else codes
        plotted = pd.Series([p.get_width() for p in covered.patches], index=codes)
        expected = village_rates(plan, level)
        assert plotted.sort_index().to_numpy() == pytest.approx(expected.sort_index().to_numpy())
        totals = [a.get_width() + b.get_width() for a, b in zip(covered, rest, strict=True)]
        assert totals == pytest.approx([100.0, 100.0])
        tops = [p.get_y() for p in covered.patches]
        assert plotted.to_numpy()[np.argmax(tops)] == pytest.approx(expected.min())  # worst on top


def test_coverage_plot_keeps_the_lowest_townships(plan: Plan):
    fig = report.plot_coverage_by_township(plan, lang="en", max_units=1)
    for ax, level in zip(visible_axes(fig), ["county", "township", "village"], strict=True):
        (bar,) = ax.containers[0].patches
        assert bar.get_width() == pytest.approx(village_rates(plan, level).min())
        assert "lowest 1 of 2" in ax.get_title()


def test_budget_curve_plot_equals_table(full_plan: Plan):
    curve = full_plan.budget_curve
    fig = report.plot_budget_curve(full_plan, lang="en")
    ax, gains = fig.axes
    line = ax.lines[0]
    assert np.array_equal(line.get_xdata(), curve["sites"].to_numpy())
    assert np.allclose(line.get_ydata(), 100 * curve["coverage_share"].to_numpy())
    # independent: greedy from the fixed sites 一村 and 四村 adds 三社区 first (5,000 people)
    assert line.get_ydata()[1] == pytest.approx(100 * (800 + 600 + 5000) / 8800)
    heights = [p.get_height() for p in gains.patches]
    assert len(heights) == len(curve) - 1
    assert heights == pytest.approx(curve["marginal_gain"].to_numpy()[1:].tolist())
    assert ax.lines[1].get_xdata()[0] == 2  # the two proposed stations


def test_budget_curve_plot_is_none_without_a_curve(plan: Plan):
    assert report.plot_budget_curve(plan) is None


def test_distance_histograms_count_every_village(plan: Plan):
    fig = report.plot_distance_distribution(plan, lang="en")
    for ax, (level, res) in zip(visible_axes(fig), plan.levels.items(), strict=True):
        heights = np.array([p.get_height() for p in ax.patches])
        assert heights.sum() == len(plan.villages)
        beyond = np.array([p.get_x() >= res.spec.cutoff_m / 1000 - 1e-9 for p in ax.patches])
        orange = np.array([to_hex(p.get_facecolor()) == "#e67e22" for p in ax.patches])
        assert np.array_equal(orange, beyond)
        # bars beyond the radius hold exactly the villages not covered at this level
        assert heights[beyond].sum() == (~plan.villages[f"{level}_covered"]).sum()
        assert ax.lines[0].get_xdata()[0] == pytest.approx(res.spec.cutoff_m / 1000)


def test_chinese_text_renders_with_every_glyph(plan: Plan):
    family = report.cjk_font()
    if family is None:
        pytest.skip("no CJK font installed (Debian: apt-get install fonts-noto-cjk)")
    fig = report.plot_coverage_by_township(plan, lang="zh")
    title = fig.get_suptitle()
    assert title == "各乡镇人口覆盖率"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert png_bytes(fig).startswith(PNG_MAGIC)
    assert not [w for w in caught if "missing" in str(w.message).lower()]
    ticks = {t.get_text() for ax in visible_axes(fig) for t in ax.get_yticklabels()}
    assert ticks == {"甲镇", "乙乡"}
    font = FT2Font(
        font_manager.findfont(fig._suptitle.get_fontproperties(), fallback_to_default=False)
    )
    assert all(font.get_char_index(ord(ch)) for ch in title + "甲镇乙乡")


def test_without_a_cjk_font_plots_fall_back_to_english_and_codes(plan, monkeypatch):
    monkeypatch.setattr(plots, "cjk_font", lambda: None)
    fig = report.plot_coverage_by_township(plan, lang="zh")
    assert fig.get_suptitle() == "Population coverage by township"
    ticks = {t.get_text() for ax in visible_axes(fig) for t in ax.get_yticklabels()}
    assert ticks == {"150521100", "150521101"}
    assert png_bytes(fig).startswith(PNG_MAGIC)  # filterwarnings=error: no glyph warning


# ---------------------------------------------------------------------------- sheets


def test_summary_sheets_of_a_plain_plan(plan: Plan):
    sheets = summary_sheets(plan, lang="en")
    assert list(sheets) == ["coverage_by_township", "coverage_by_county",
                            "uncovered_villages", "grids", "grids_by_village",
                            "audit", *SERVICE_TABLES]  # fmt: skip
    # grids are generated by default: every household lands in exactly one grid
    assert sheets["grids"]["households"].sum() == pytest.approx(plan.villages["households"].sum())
    per_village = canonical_sheets(plan)["grids_by_village"]
    counted = plan.grids.groupby("village_id").size()
    assert per_village.set_index("village_id")["grids"].loc[counted.index].tolist() == (
        counted.tolist()
    )
    town = sheets["coverage_by_township"]
    for level, level_name in [("township", "township"), ("village", "village/community")]:
        part = town[town["level"] == level_name].set_index("township id")
        expected = village_rates(plan, level).round(2)
        assert part["population covered (%)"].sort_index().tolist() == pytest.approx(
            expected.sort_index().tolist()
        )
    assert set(town["township"]) == {"甲镇", "乙乡"}
    uncovered = sheets["uncovered_villages"]
    expected = sum((~plan.villages[f"{lvl}_covered"]).sum() for lvl in plan.levels)
    assert len(uncovered) == expected
    beyond = uncovered["distance (m)"] - uncovered["radius (m)"]
    assert (uncovered["beyond radius (m)"] - beyond).abs().max() < 0.11
    county = sheets["coverage_by_county"]
    assert county["county"].tolist() == ["科左中旗"] * 3


def test_summary_sheets_in_chinese_with_every_part(full_plan: Plan):
    sheets = summary_sheets(full_plan, lang="zh")
    assert list(sheets) == ["coverage_by_township", "coverage_by_county", "uncovered_villages",
                            "proposals", "budget_curve", "compliance", "compliance_issues",
                            "grids", "grids_by_village", "audit", *SERVICE_TABLES]  # fmt: skip
    assert "人口覆盖率（%）" in sheets["coverage_by_township"].columns
    assert set(sheets["coverage_by_township"]["层级"]) == {"县级", "乡镇（街道）级", "村（社区）级"}
    props = sheets["proposals"]
    assert props["类型"].tolist() == ["便民服务驿站"] * 2
    assert props["站点编号"].tolist() == full_plan.proposals["site_id"].tolist()
    to_wgs84 = pyproj.Transformer.from_crs(full_plan.villages.crs, 4326, always_xy=True)
    lon, lat = to_wgs84.transform(full_plan.proposals.geometry.x, full_plan.proposals.geometry.y)
    assert np.allclose(props["经度(WGS84)"], lon, atol=1e-6)
    assert np.allclose(props["纬度(WGS84)"], lat, atol=1e-6)
    assert not {"经度", "纬度", "经度(GCJ-02)"} & set(props.columns)  # WGS84 input: no offsets
    counts = sheets["compliance"]
    assert counts[["达标", "不达标", "待核实"]].to_numpy().sum() == len(full_plan.compliance)
    issues = sheets["compliance_issues"]
    assert len(issues) == (full_plan.compliance["verdict"] != "pass").sum()
    assert sheets["grids"]["网格员"].sum() == 5
    assert report.labels("zh")["sheets"]["uncovered_villages"] == "未覆盖村"


def test_unknown_language_is_refused(plan: Plan):
    with pytest.raises(PlannerError, match="lang must be one of zh, en"):
        summary_sheets(plan, lang="fr")


# ---------------------------------------------------------------------------- report


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_headline_numbers(plan: Plan, lang: str):
    page = report.report_html(plan, lang=lang, plots=FAKE_PLOTS)
    headline = parse(page).tables[0]
    header, rows = headline[0], headline[1:]
    col = {name: header.index(report.labels(lang)["headers"].get(name, name.replace("_", " ")))
           for name in ("population_covered", "population_rate", "villages_uncovered")}  # fmt: skip
    v = plan.villages
    assert len(rows) == 3
    for row, level in zip(rows, ["county", "township", "village"], strict=True):
        covered = v.loc[v[f"{level}_covered"], "population"].sum()
        assert row[0] == report.labels(lang)["levels"][level]
        assert row[col["population_covered"]] == f"{covered:,.0f}"
        assert row[col["population_rate"]] == f"{100 * covered / v['population'].sum():.1f}"
        assert row[col["villages_uncovered"]] == str((~v[f"{level}_covered"]).sum())
    assert f"{v['population'].sum():,.0f}" in page  # the headline card
    title = {"zh": "tiny 党群服务中心覆盖规划报告", "en": "tiny: service-center coverage report"}
    assert f"<title>{title[lang]}</title>" in page
    assert f'<html lang="{lang}">' in page


def test_report_with_every_part_is_self_contained(full_plan: Plan, tmp_path: Path):
    plots = report.write_plots(full_plan, tmp_path)
    assert set(plots) == {"coverage_by_township", "distance_distribution", "budget_curve"}
    for path in plots.values():
        assert path.read_bytes().startswith(PNG_MAGIC)
    path = report.write_report(full_plan, tmp_path, plots=plots)
    assert path == tmp_path / "report.html"
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "<link" not in page and "<script" not in page
    parsed = parse(page)
    assert len(parsed.images) == 3
    for src in parsed.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :]) in {p.read_bytes() for p in plots.values()}
    headline = parsed.tables[0]
    village = next(row for row in headline if row[0] == "村（社区）级")
    assert village[headline[0].index("规划后覆盖人口")] == "7,600"
    assert village[headline[0].index("规划后人口覆盖率（%）")] == f"{100 * 7600 / 8800:.1f}"
    assert "15.9% → 86.4%" in page  # village card: before → after
    for text in ("规划新建站点", "建设标准核查", "网格", "三社区"):
        assert text in page
    results = full_plan.compliance
    worst = results["verdict"].map({"pass": 0, "unknown": 1, "fail": 2})
    n = worst.groupby(results["center_id"]).max().value_counts().reindex([0, 1, 2], fill_value=0)
    note = f"已核查中心 {n.sum()} 个：达标 {n[0]} 个，不达标 {n[2]} 个，待核实 {n[1]} 个。"
    assert note in page
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "budget_curve.png", "coverage_by_township.png", "distance_distribution.png",
        "report.html",
    ]  # fmt: skip


def test_report_escapes_names_from_the_data(tmp_path: Path):
    frames = tiny_frames()
    frames["villages"].loc[1, "name"] = EVIL
    frames["townships"].loc[1, "name"] = "乙乡 $x$ & <b>"
    plan = run(load_scenario(write_region(tmp_path, frames)))
    page = report.report_html(plan, lang="en", plots=FAKE_PLOTS)
    assert EVIL not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "乙乡 $x$ &amp; &lt;b&gt;" in page
    fig = report.plot_coverage_by_township(plan, lang="en")  # "$x$" is no mathtext
    ticks = {t.get_text() for t in visible_axes(fig)[0].get_yticklabels()}
    if report.cjk_font() is not None:
        assert r"乙乡 \$x\$ & <b>" in ticks
    assert png_bytes(fig).startswith(PNG_MAGIC)


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_web_map_coordinates_come_back_as_typed(tmp_path: Path, system: str):
    """A ledger typed in Amap (GCJ-02) or Baidu (BD-09) coordinates: the uncovered villages
    and the proposals carry the same coordinates back, in headers that name the datum."""
    from planner.crs import wgs84_to_bd09, wgs84_to_gcj02

    frames = tiny_frames()
    villages = frames.pop("villages")
    forward = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}[system]
    lon, lat = forward(villages.geometry.x.to_numpy(), villages.geometry.y.to_numpy())
    ledger = pd.DataFrame(villages.drop(columns="geometry"))
    ledger["经度"], ledger["纬度"] = np.round(lon, 6), np.round(lat, 6)  # as typed
    ledger.to_csv(tmp_path / "villages.csv", index=False)
    for kind, frame in frames.items():
        frame.to_file(tmp_path / f"{kind}.gpkg")
    text = SCENARIO.replace('path = "villages.gpkg"', f'path = "villages.csv"\ncoords = "{system}"')
    (tmp_path / "scenario.toml").write_text(text + "[siting.stations]\nbudget = 2\n", "utf-8")
    plan = run(load_scenario(tmp_path / "scenario.toml"))
    write_outputs(plan)
    typed = ledger.assign(id=ledger["id"].astype(str)).set_index("id")
    out = tmp_path / "out"
    for name, key in (("uncovered_villages", "id"), ("proposals", "site_id")):
        table = pd.read_csv(out / f"{name}.csv", dtype={key: str})
        assert len(table) > 0
        back = typed.loc[table[key]]
        assert np.abs(table[f"lon_{system}"].to_numpy() - back["经度"].to_numpy()).max() < 1e-6
        assert np.abs(table[f"lat_{system}"].to_numpy() - back["纬度"].to_numpy()).max() < 1e-6
        wgs = villages.set_index(villages["id"].astype(str)).geometry.loc[table[key]]
        assert np.abs(table["lon_wgs84"].to_numpy() - wgs.x.to_numpy()).max() < 1e-6
        assert {"lon", "lat"}.isdisjoint(table.columns)
    zh = summary_sheets(plan, lang="zh")["uncovered_villages"]
    label = {"gcj02": "GCJ-02", "bd09": "BD-09"}[system]
    assert {"经度(WGS84)", "纬度(WGS84)", f"经度({label})", f"纬度({label})"} <= set(zh.columns)


def test_plot_process_returns_the_files_write_plots_writes(full_plan: Plan, tmp_path: Path):
    with plots.PlotProcess(full_plan) as job:
        pngs = job.result()
    files = plots.write_plots(full_plan, tmp_path)
    assert set(pngs) == set(files)
    for name, path in files.items():
        assert pngs[name] == path.read_bytes(), name


def test_plot_process_raises_the_error_of_the_child(plan: Plan):
    data = dataclasses.replace(plots.plot_data(plan), lang="xx")
    with plots.PlotProcess(data) as job, pytest.raises(PlannerError, match="lang must be one of"):
        job.result()


def test_plot_process_draws_in_process_without_a_python_executable(
    plan: Plan, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("planner.outputs.child.sys.executable", "")
    with plots.PlotProcess(plan) as job:
        assert job._child is None
        assert job.result() == plots.render_plots(plan)
